"""The speed-ups of the ingest path keep behaviour: each fast path is checked against the code it stands in for.

- schemas.xform.load (a compiled plan) gives marshmallow's result, or marshmallow's errors, for any record;
- the multipart boundary matcher of the production server finds what werkzeug's compiled patterns find, and the
  decoder using it parses every body (or fails) as werkzeug's does;
- group commit: jobs from many threads share transactions, each stored or refused on its own;
- batched aggregate upkeep leaves the same tables as one household at a time;
- household lookups across rounds use an index instead of scanning the project;
- the WAL is emptied under steady writes instead of growing without end;
- a list name is remembered as listed only once it is committed.

The storage checks here run on SQLite only (their `ppa` fixture opens the SQLite file): group commit, the WAL and its
checkpoints, the writer's queue and SQLite's query plans are SQLite's own machinery, which PostgreSQL does not have.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import re
import sqlite3
import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import ValidationError

from schemas import xform as form_schemas
from bench import samples
from server import create_app
from server.bootstrap import ensure_default_project
from server.submissions import Upload, receive
from server.multipart import BoundaryPattern, fast_decoder_class, werkzeug_patterns
from server.xforms import Field as XFormField, FormDef, extract, parse_submission, parse_xform

from . import factories
from .conftest import FORMS
from .helpers import COMMUNITY_XML

QUICK = settings(max_examples=200, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------- validation: the compiled plan

def _every_type_form() -> FormDef:
    """A form with one question of each answer type the schemas know, one of them inside a repeat."""
    def question(name, type_, repeat=None, **more):
        return XFormField(path=f"{repeat or '/data'}/{name}", name=name, key=name, type=type_, repeat=repeat, **more)
    questions = [question("text", "string"), question("whole", "int"), question("amount", "decimal"),
                 question("day", "date"), question("when", "dateTime"), question("hour", "time"),
                 question("point", "geopoint"), question("trace", "geotrace"), question("shape", "geoshape"),
                 question("photo", "binary"), question("one", "select1", choices=frozenset({"yes", "no"})),
                 question("from_repeat", "select1"), question("many", "select", choices=frozenset({"a", "b"})),
                 question("rank", "odk:rank", choices=frozenset({"a", "b"})),
                 question("age", "int", repeat="/data/member", required=True)]
    return FormDef(form_id="every_type", version="1", title="", root_name="data", fields=questions,
                   repeats=["/data/member"], media=[])


EVERY_TYPE = {"text": "x", "whole": "7", "amount": "1.5", "day": "2026-11-22", "when": "2026-11-22T05:31:56.172Z",
              "hour": "10:00", "point": "24.7 78.1", "trace": "1 2;3 4", "shape": "1 2;3 4;5 6", "photo": "p.jpg",
              "one": "yes", "from_repeat": "anything", "many": "a b", "rank": "b a", "member": [{"age": "40"}]}


def _bases() -> list[tuple[object, dict]]:
    rng = random.Random(5)
    out = []
    for name, answers in (("household_income", samples.household_income(rng, "chanderi-w03-v1", on_list=False)),
                          ("well_being_ranking", samples.well_being_ranking(rng, ["h1", "h2", "h3"], new=1)),
                          ("poverty_nodes", samples.poverty_node(rng))):
        form = parse_xform((FORMS / f"{name}.xml").read_bytes())
        xml = samples.instance_xml(form, samples.fill(form, answers, rng))
        out.append((form, extract(parse_submission(xml).root, form).record))
    community = parse_xform(COMMUNITY_XML)
    out.append((community, extract(parse_submission(factories.community()).root, community).record))
    out.append((_every_type_form(), EVERY_TYPE))
    return out


BASES = _bases()
ODD = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", " 7 ", "+2", "-0", "0x10", "1_000", "٣", "1e3", "NaN", "-inf", "2026-11-22",
                     "2026-02-30", " 2026-11-22 ", "2026-11-22T05:31:56.172+05:30", "10:00", "24.7 78.1",
                     "91 0", "1 2 3 -1", "1 2;3 4;", "yes", "no", "dk", "a a", "../x", "x.jpg", "1", "2", "3"]),
    st.none(), st.just([]), st.just({}), st.integers(-3, 3),
)


def _canon(value):
    """Values with their types, so that 1 and 1.0 and True differ, and dict key order counts."""
    if isinstance(value, dict):
        return ("dict", [(k, _canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_canon(v) for v in value])
    return (type(value).__name__, repr(value))


def _outcome(load, form, record):
    try:
        return ("ok", _canon(load(form, record)))
    except ValidationError as exc:
        return ("error", exc.messages)


def _marshmallow(form, record):
    return form_schemas.schema_for(form).load(record)


@st.composite
def mutated_records(draw):
    form, base = draw(st.sampled_from(BASES))
    record = {k: ([dict(row) for row in v] if isinstance(v, list) else v) for k, v in base.items()}
    for _ in range(draw(st.integers(0, 4))):
        scope = record
        rows = [v for v in record.values() if isinstance(v, list) and v]
        if rows and draw(st.booleans()):
            scope = draw(st.sampled_from(draw(st.sampled_from(rows))))
        keys = sorted(scope)
        if not keys:
            continue
        key = draw(st.sampled_from(keys + ["not_in_the_form"]))
        action = draw(st.sampled_from(["set", "set", "set", "drop"]))
        if action == "drop":
            scope.pop(key, None)
        else:
            scope[key] = draw(ODD)
    return form, record


@QUICK
@given(mutated_records())
def test_the_compiled_plan_loads_exactly_as_marshmallow(case):
    form, record = case
    assert _outcome(form_schemas.load, form, record) == _outcome(_marshmallow, form, record)


def test_valid_submissions_take_the_fast_path():
    for form, record in BASES:
        assert form_schemas.load(form, record) == _marshmallow(form, record)
        assert form_schemas._run(form.derived["fast_plan"], record) is not None   # no fallback was needed


def test_whole_numbers_beyond_sqlite_are_refused_not_crashing():
    form, record = BASES[3]
    with pytest.raises(ValidationError) as caught:
        form_schemas.load(form, {**record, "participants": str(2**63)})
    assert caught.value.messages == {"participants": [f"Whole number out of range: '{2**63}'."]}
    assert form_schemas.load(form, {**record, "participants": str(2**63 - 1)})["participants"] == 2**63 - 1


def _fields_and_plan_entries(schema, plan):
    """(field, plan entry) for every answer field of a schema and its nested repeat schemas."""
    entries = {entry[0]: entry for entry in plan.entries}
    for name, field_ in schema.load_fields.items():
        if entries[name][3] is not None:
            yield from _fields_and_plan_entries(field_.inner.schema, entries[name][3])
        else:
            yield field_, entries[name]


def test_each_field_type_and_the_plan_share_one_converter():
    kinds = {}
    for form, record in BASES:
        form_schemas.load(form, record)                     # compiles the plan load uses and keeps it on the form
        pairs = list(_fields_and_plan_entries(form_schemas.schema_for(form), form.derived["fast_plan"]))
        assert len(pairs) == len(form.fields), form.form_id
        for field_, (_key, convert, _must, _nested) in pairs:
            assert convert is field_.convert, (form.form_id, type(field_).__name__)
            kinds[type(field_)] = field_.convert
    assert set(kinds) == set(form_schemas._CONVERTING)       # every field class build_schema makes was seen
    assert kinds[form_schemas.Integer] is form_schemas.whole_number
    assert kinds[form_schemas.Decimal] is form_schemas.decimal_number
    assert kinds[form_schemas.Date] is form_schemas.iso_date
    assert kinds[form_schemas.DateTime] is form_schemas.iso_date_time
    assert kinds[form_schemas.Time] is form_schemas.iso_time
    assert kinds[form_schemas.GeoPoint] is form_schemas.geopoint
    assert kinds[form_schemas.GeoTrace] is form_schemas.geotrace
    assert kinds[form_schemas.FileName] is form_schemas.file_name
    assert not [name for name in vars(form_schemas) if name.startswith("_fast") or name == "_FAST"]


def test_every_answer_type_loads_on_the_fast_path():
    form = BASES[4][0]
    loaded = form_schemas.load(form, EVERY_TYPE)
    assert loaded == _marshmallow(form, EVERY_TYPE)
    assert form_schemas._run(form.derived["fast_plan"], EVERY_TYPE) == loaded
    assert loaded["whole"] == 7 and loaded["day"] == dt.date(2026, 11, 22) and loaded["rank"] == "b a"


@pytest.mark.parametrize("key, text, convert, message", [
    ("whole", "seven", form_schemas.whole_number, "Not a whole number: 'seven'."),
    ("whole", str(2**63), form_schemas.whole_number, f"Whole number out of range: '{2**63}'."),
    ("amount", "x", form_schemas.decimal_number, "Not a number: 'x'."),
    ("amount", "NaN", form_schemas.decimal_number, "Special numeric values (nan or infinity) are not permitted."),
    ("day", "2026-02-30", form_schemas.iso_date, "Not a valid date: '2026-02-30'."),
    ("when", "yesterday", form_schemas.iso_date_time, "Not a valid date and time: 'yesterday'."),
    ("hour", "noon", form_schemas.iso_time, "Not a valid time: 'noon'."),
    ("point", "91 0", form_schemas.geopoint, "Latitude or longitude out of range in '91 0'."),
    ("trace", "1 2;3", form_schemas.geotrace, "A location is 'latitude longitude [altitude accuracy]', not '3'."),
    ("photo", "../p.jpg", form_schemas.file_name, "'../p.jpg' is not a plain file name."),
    ("one", "maybe", form_schemas.one_of(frozenset({"yes", "no"})), "'maybe' is not one of the choices."),
    ("many", "a c", form_schemas.some_of(frozenset({"a", "b"}), False), "'c' not among the choices."),
    ("rank", "a b a", form_schemas.some_of(frozenset({"a", "b"}), True), "A ranked item appears twice."),
])
def test_a_bad_answer_is_refused_with_its_converters_message(key, text, convert, message):
    with pytest.raises(ValidationError) as by_converter:
        convert(text)
    assert by_converter.value.messages == [message]
    form = _every_type_form()
    for load in (form_schemas.load, _marshmallow):
        with pytest.raises(ValidationError) as caught:
            load(form, {**EVERY_TYPE, key: text})
        assert caught.value.messages == {key: [message]}


def test_a_whole_number_too_long_for_python_is_out_of_range_not_a_crash():
    form, digits = _every_type_form(), "1" * 5000
    with pytest.raises(ValidationError) as caught:
        form_schemas.load(form, {**EVERY_TYPE, "whole": digits})
    assert caught.value.messages == {"whole": [f"Whole number out of range: {digits!r}."]}


def test_required_answers_in_a_repeat_fall_back_to_marshmallows_message():
    form = _every_type_form()
    with pytest.raises(ValidationError) as caught:
        form_schemas.load(form, {**EVERY_TYPE, "member": [{"age": "40"}, {"age": ""}]})
    assert caught.value.messages == {"member": {1: {"age": ["This answer is required."]}}}


# --------------------------------------------------------------------------- multipart: boundaries without re.compile

BOUNDARIES = st.sampled_from([b"ab", b"a-b", b"-", b"x", b"----WebKitFormBoundary7MA4YWxkTrZu0gW",
                              b"0f3c2d9e-3b7a-4c1e-9a8f-2d6b5e4c3a21", b"a.b+c"])


@st.composite
def haystacks(draw):
    boundary = draw(BOUNDARIES)
    pieces = st.sampled_from([b"\r", b"\n", b"\r\n", b"-", b"--", b" ", b"\t", b"\x0b", b"x", b"--" + boundary,
                              b"\r\n--" + boundary, b"\n--" + boundary + b"--", boundary[:2]])
    data = b"".join(draw(st.lists(pieces, max_size=14)))
    if draw(st.booleans()):
        data = bytearray(data)
    return boundary, data, draw(st.integers(0, len(data)))


@settings(max_examples=1000, deadline=None, database=None)
@given(haystacks())
def test_boundary_matcher_finds_what_werkzeugs_patterns_find(case):
    boundary, data, pos = case
    for required, pattern in ((False, werkzeug_patterns(boundary)[0]), (True, werkzeug_patterns(boundary)[1])):
        theirs = pattern.search(data, pos)
        ours = BoundaryPattern(boundary, required).search(data, pos)
        assert (None if theirs is None else (theirs.start(), theirs.end(), bytes(theirs.group(1)))) == \
               (None if ours is None else (ours.start(), ours.end(), bytes(ours.group(1))))


def _parse(decoder, body: bytes, boundary: bytes, memory: int, parts: int):
    from werkzeug import formparser
    original = formparser.MultipartDecoder
    formparser.MultipartDecoder = decoder
    try:
        parser = formparser.MultiPartParser(max_form_memory_size=memory, max_form_parts=parts, buffer_size=64)
        form, files = parser.parse(io.BytesIO(body), boundary, len(body))
        return ("ok", list(form.items(multi=True)),
                [(k, f.filename, f.mimetype, f.read()) for k, f in files.items(multi=True)])
    except Exception as exc:  # noqa: BLE001 - the outcome compared
        return ("error", type(exc).__name__, str(exc))
    finally:
        formparser.MultipartDecoder = original


@st.composite
def bodies(draw):
    boundary = draw(BOUNDARIES)
    parts = [samples.Part(draw(st.sampled_from(["xml_submission_file", "a.jpg", "f"])),
                          draw(st.binary(max_size=80) | st.sampled_from([b"--" + boundary, b"\r\n--" + boundary,
                                                                         b"line\r\nline", b"\r\n"])),
                          draw(st.none() | st.just("a.jpg")), draw(st.none() | st.just("image/jpeg")))
             for _ in range(draw(st.integers(0, 4)))]
    body, _ = samples.multipart(parts, okhttp=draw(st.sampled_from([4, 5])), boundary=boundary.decode())
    mangle = draw(st.sampled_from(["none", "truncate", "newlines", "tail", "prefix"]))
    if mangle == "truncate":
        body = body[:draw(st.integers(0, len(body)))]
    elif mangle == "newlines":
        body = body.replace(b"\r\n", draw(st.sampled_from([b"\n", b"\r"])))
    elif mangle == "tail":
        body += draw(st.binary(max_size=40))
    elif mangle == "prefix":
        body = draw(st.binary(max_size=20)) + body
    return boundary, body


@settings(max_examples=500, deadline=None, database=None)
@given(bodies(), st.sampled_from([None, 40, 100_000]), st.sampled_from([None, 2, 250]))
def test_fast_decoder_parses_every_body_as_werkzeug_does(case, memory, parts):
    from werkzeug.sansio.multipart import MultipartDecoder
    fast = fast_decoder_class()
    assert fast is not None, "this werkzeug's decoder changed: the fast path is off (see server/multipart.py)"
    boundary, body = case
    assert _parse(fast, body, boundary, memory, parts) == _parse(MultipartDecoder, body, boundary, memory, parts)


def test_werkzeug_compiles_a_pattern_per_boundary_and_the_fast_decoder_does_not():
    from werkzeug.sansio.multipart import MultipartDecoder
    boundary = str(uuid.uuid4()).encode()
    assert MultipartDecoder(boundary).boundary_re.pattern == werkzeug_patterns(boundary)[1].pattern
    decoder = fast_decoder_class()(boundary)
    assert decoder.boundary == boundary
    assert isinstance(decoder.preamble_re, BoundaryPattern) and isinstance(decoder.boundary_re, BoundaryPattern)
    assert not any(isinstance(v, re.Pattern) and boundary in v.pattern for v in vars(decoder).values())


def test_every_app_parses_multipart_bodies_with_the_one_fast_decoder(tmp_path):
    """create_app installs the decoder, so the suite's apps and the production workers parse with the same one."""
    from werkzeug import formparser
    app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING"})
    app.extensions["ppa"].store.close()
    assert formparser.MultipartDecoder is fast_decoder_class()


# --------------------------------------------------------------------------- group commit

@pytest.fixture
def ppa(tmp_path):
    app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING"})
    ext = app.extensions["ppa"]
    ensure_default_project(ext.store, "Speed", FORMS, validate=False)
    yield ext
    ext.store.close()


def test_group_commit_stores_each_job_or_refuses_it_alone(ppa):
    store = ppa.store
    store.db.execute("CREATE TABLE jobs (n INTEGER PRIMARY KEY)")
    go = threading.Barrier(16)
    results: dict[int, object] = {}

    def job(n: int):
        store.db.execute("INSERT INTO jobs (n) VALUES (?)", [n])
        if n % 5 == 0:
            raise ValueError(f"job {n} refuses")
        return n * 10

    def thread(n: int) -> None:
        go.wait()
        for k in range(n * 100, n * 100 + 20):
            try:
                results[k] = store.write_batched(lambda k=k: job(k))
            except ValueError as exc:
                results[k] = str(exc)
        store.close()

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stored = {r[0] for r in store.db.execute("SELECT n FROM jobs")}
    assert len(results) == 16 * 20
    for k, result in results.items():
        if k % 5 == 0:
            assert result == f"job {k} refuses" and k not in stored
        else:
            assert result == k * 10 and k in stored


def test_concurrent_submissions_are_each_stored_once(ppa):
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    rng = random.Random(11)
    xmls = []
    for i in range(64):
        answers = samples.household_income(rng, f"chanderi-w03-g{i:03d}", members=3, on_list=False)
        xmls.append(samples.instance_xml(form, samples.fill(form, answers, rng)))
    actions: list[str] = []

    def send(chunk: list[bytes]) -> None:
        for xml in chunk:
            actions.append(receive(ppa.store, ppa.forms, 1, Upload(xml=xml)).action)
            actions.append(receive(ppa.store, ppa.forms, 1, Upload(xml=xml)).action)   # Collect's blind retry
        ppa.store.close()

    threads = [threading.Thread(target=send, args=(xmls[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(actions) == ["created"] * 64 + ["topped_up"] * 64
    db = ppa.store.db
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 64
    assert db.execute("SELECT count(*) FROM data_1_household_income").fetchone()[0] == 64
    assert db.execute("SELECT count(*) FROM hh_income").fetchone()[0] == 64


# --------------------------------------------------------------------------- aggregates in batches

def test_batched_wellbeing_upkeep_equals_one_household_at_a_time(tmp_path):
    stores = []
    for name in ("one", "many"):
        app = create_app({"DATA": str(tmp_path / name), "LOG_LEVEL": "WARNING"})
        store = app.extensions["ppa"].store
        store.create_project("p")
        stores.append(store)
    one, many = stores
    rng = random.Random(3)
    for _ in range(40):
        items = []
        for hh in rng.sample(range(30), rng.randint(1, 12)):
            row = None if rng.random() < 0.2 else {
                "cluster": rng.choice(["c1", "c2", None]), "hamlet": rng.choice(["h1", "h2"]),
                "node": rng.choice(["", "n1", "n2"]), "n_groups": rng.randint(1, 3), "mean": rng.choice([1.0, 2.5]),
                "final": rng.choice(["happy", "average", "sad", None]), "flagged": rng.randint(0, 1), "flags": ""}
            items.append((rng.randint(1, 2), f"hh{hh}", row))
        with one.transaction():
            for round_no, hh_id, row in items:
                one.set_wb_household(1, round_no, hh_id, row)
        with many.transaction():
            many.set_wb_households(1, items)
    assert one.aggregate_snapshot(1) == many.aggregate_snapshot(1)
    for store in stores:
        store.close()


def test_household_nodes_equal_household_node(ppa):
    store = ppa.store
    store.upsert_list_items(1, "households.csv", [("h1", {"node": "listed"}), ("h2", {"node": ""}),
                                                  ("h3", {"node": "listed3"})], source="test")
    with store.transaction():
        for n, (round_no, hh_id, node) in enumerate(((1, "h1", "n-old"), (2, "h1", "n-new"), (1, "h3", ""),
                                                      (3, "h4", "n4"))):
            store.db.execute("INSERT INTO hh_income (project_id, round, hh_id, submission_id, node, size) "
                             "VALUES (1, ?, ?, ?, ?, 1)", [round_no, hh_id, -(n + 1), node])
    wanted = ["h1", "h2", "h3", "h4", "h5"]
    assert store.household_nodes(1, wanted) == {h: store.household_node(1, h) for h in wanted}
    assert store.household_nodes(1, wanted)["h1"] == "n-new"


def test_household_lookups_across_rounds_use_an_index(ppa):
    db = ppa.store.db
    plans = {
        "income": db.execute("EXPLAIN QUERY PLAN SELECT node FROM hh_income WHERE project_id = 1 AND hh_id = 'x' "
                             "AND node IS NOT NULL AND node != '' ORDER BY round DESC LIMIT 1").fetchall(),
        "wellbeing": db.execute("EXPLAIN QUERY PLAN SELECT * FROM wb_households WHERE project_id = 1 "
                                "AND hh_id = 'x' AND node IS NOT 'y'").fetchall(),
    }
    assert "hh_income_household" in str(plans["income"]) and "hh_id=?" in str(plans["income"])
    assert "wb_households_household" in str(plans["wellbeing"]) and "hh_id=?" in str(plans["wellbeing"])


def test_blank_and_zone_mixed_times_do_not_break_the_quality_checks():
    from server import quality
    assert quality.interview_minutes({"start": "2026-11-22", "end": "2026-11-22T10:00:00+05:30"}) is None
    assert quality.interview_minutes({"start": "2026-11-22T09:00:00+05:30",
                                      "end": "2026-11-22T10:00:00+05:30"}) == 60.0


def test_the_wal_is_emptied_under_steady_writes(ppa, monkeypatch):
    """Without _reset_wal, PASSIVE checkpoints never catch up with a steady writer and the WAL only grows."""
    from server.storage import sqlite_engine as sqlite_store
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(sqlite_store, "WAL_RESET_BYTES", 256 * 1024)
    store = ppa.store
    with store.transaction() as db:
        db.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, pad BLOB)")
    wal = store.path + "-wal"
    for n in range(400):   # 400 commits of ~16 KB: 6.4 MB of WAL if it were never emptied
        with store.transaction() as db:
            db.execute("INSERT INTO filler (n, pad) VALUES (?, zeroblob(16000))", [n])
    deadline = time.monotonic() + 10
    while os.path.getsize(wal) > 256 * 1024 and time.monotonic() < deadline:
        with store.transaction() as db:     # the checkpointer runs after commits: keep asking
            db.execute("UPDATE filler SET pad = pad WHERE n = 0")
        time.sleep(0.05)
    assert os.path.getsize(wal) <= 256 * 1024 + 64 * 1024, "the WAL was never emptied"
    assert store.db.execute("SELECT count(*) FROM filler").fetchone()[0] == 400
    assert store.integrity_check() == "ok"


def test_a_list_name_is_remembered_only_once_committed(ppa):
    store = ppa.store
    project_id = store.list_projects()[0]["id"]
    assert store.list_missing(project_id, "households.csv", "name", {"hh-new"}) == {"hh-new"}
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.upsert_list_items(project_id, "households.csv", [("hh-new", {"label": "New"})], source="test")
            # seen inside the transaction, but not remembered: the transaction may yet be rolled back
            assert store.list_missing(project_id, "households.csv", "name", {"hh-new"}) == set()
            raise RuntimeError("rolled back")
    assert store.list_missing(project_id, "households.csv", "name", {"hh-new"}) == {"hh-new"}
    store.upsert_list_items(project_id, "households.csv", [("hh-new", {"label": "New"})], source="test")
    assert store.list_missing(project_id, "households.csv", "name", {"hh-new", "hh-other"}) == {"hh-other"}
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    assert store.list_missing(project_id, "households.csv", "name", {"hh-new"}) == set()
    store.db.conn.set_trace_callback(None)
    assert statements == [], "a committed name is looked up once"


def test_a_long_reader_does_not_hold_up_writers_again_and_again(ppa, monkeypatch):
    """A reader on an old snapshot (an export) keeps the WAL from being emptied; the attempt holds the writers for
    WAL_RESET_WAIT_S at most, and is not made again before WAL_RESET_RETRY_S."""
    from server.storage import sqlite_engine as sqlite_store
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 2)
    monkeypatch.setattr(sqlite_store, "WAL_RESET_BYTES", 64 * 1024)
    monkeypatch.setattr(sqlite_store, "WAL_RESET_RETRY_S", 600)
    store = ppa.store
    attempts: list[bool] = []
    reset = store._reset_wal
    monkeypatch.setattr(store, "_reset_wal", lambda conn: attempts.append(reset(conn)) or attempts[-1])
    with store.transaction() as db:
        db.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, pad BLOB)")
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM filler").fetchone()   # holds its snapshot until the end of the block
    deadline = time.monotonic() + 20
    n = 0
    while (not attempts or n < 200) and time.monotonic() < deadline:
        with store.transaction() as db:
            db.execute("INSERT INTO filler (n, pad) VALUES (?, zeroblob(8000))", [n])
        n += 1
    assert attempts == [False], "one attempt while the reader lasts, and it fails"
    reader.execute("ROLLBACK")
    reader.close()
    store._wal_reset_not_before = 0.0   # as if the pause were over
    wal = store.path + "-wal"
    deadline = time.monotonic() + 20
    while os.path.getsize(wal) > 64 * 1024 + 64 * 1024 and time.monotonic() < deadline:
        with store.transaction() as db:
            db.execute("UPDATE filler SET pad = pad WHERE n = 0")
        time.sleep(0.02)
    assert os.path.getsize(wal) <= 128 * 1024
    while attempts[-1] is not True and time.monotonic() < deadline:   # the WAL is emptied just before it returns
        time.sleep(0.01)
    assert attempts[-1] is True
