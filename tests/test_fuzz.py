"""Fuzzing the submission path (hypothesis, through the Flask test client): real submissions of the three PPA forms
and the test form with mutated values, renamed, dropped, duplicated and re-nested elements, other encodings;
raw garbage; and mangled multipart bodies. Every answer is a 2xx or a clean 4xx with an OpenRosaResponse body,
never a 5xx; a refused POST stores nothing; and after every example the stored data are whole (no submission
without its version, no typed row or attachment slot without its submission, typed rows for every plain
submission)."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from lxml import etree

from bench import samples
from server import catalog, create_app
from server.auth import new_token
from server.bootstrap import ensure_default_project
from server.rows import table_name

from . import factories
from .conftest import DATA, FORMS
from .helpers import counts

RESPONSE_NS = "http://openrosa.org/http/response"
PHOTO = "1732262400123.jpg"
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server(tmp_path_factory, module_database_url):
    """One app for the module: the PPA forms and the test form, a device, and valid submissions to mutate."""
    app = create_app({"DATA": str(tmp_path_factory.mktemp("fuzz")), "LOG_LEVEL": "ERROR",
                      "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS),
                      "DATABASE_URL": module_database_url})
    store = app.extensions["ppa"].store
    project = ensure_default_project(store, "Fuzz", FORMS, validate=False).project_id
    published = catalog.publish(store, project, (DATA / "ppa_community.xml").read_bytes(), "ppa_community.xml",
                                validate=False)
    store.set_form_attachment(published.def_id, "villages.csv", (DATA / "villages.csv").read_bytes())
    token = new_token()
    store.create_device(project, "Fuzz phone", token, actor="test")
    forms = {f: app.extensions["ppa"].forms.get(store, store.get_form(project, f)["current_def_id"])
             for f in ("household_income", "well_being_ranking", "poverty_nodes")}
    rng = random.Random(3)
    income = samples.household_income(rng, "chanderi-w03-fz001", members=3, on_list=False)
    income.update(node="chanderi-contract_weavers", photo_consent="yes", photo=PHOTO)
    bases = [
        samples.instance_xml(forms["household_income"], samples.fill(forms["household_income"], income, rng)),
        samples.instance_xml(forms["well_being_ranking"], samples.fill(
            forms["well_being_ranking"], samples.well_being_ranking(rng, [], new=2), rng)),
        samples.instance_xml(forms["poverty_nodes"], samples.fill(
            forms["poverty_nodes"], samples.poverty_node(rng, existing="chanderi-contract_weavers"), rng)),
        factories.community(),
    ]
    yield {"app": app, "client": app.test_client(), "store": store, "project": project, "bases": bases,
           "path": f"/v1/key/{token}/projects/{project}/submission?deviceID=collect:fuzz"}
    store.close()


# --------------------------------------------------------------------------- strategies

_XML_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20)
VALUES = st.one_of(
    st.text(_XML_CHARS, max_size=40),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "NaN", "inf", "-Infinity", "1e309", "0x10", "٣", "14.0", "2026-02-30", "2026-11-22",
                     "2026-11-22T25:00:00", "91 181", "1 2 3 4 5", "yes", "no", "dk", "maybe", "1 1", "../x.jpg",
                     "a/b.jpg", "chanderi", "atlantis", "uuid:", " a  b ", "&amp;", "x" * 300]),
)
NAMES = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True),
                  st.sampled_from(["meta", "instanceID", "deprecatedID", "member", "m_age", "hh_id", "round",
                                   "rating", "pile", "photo", "data", "group_name", "wealth_group", "cluster"]))
ENCODINGS = st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1", "ASCII", "none", "lying"])


@st.composite
def mutated_xml(draw, bases):
    """A real submission with a few mutations, serialised in some encoding."""
    root = etree.fromstring(draw(st.sampled_from(bases)))
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for _ in range(draw(st.integers(0, 5))):
        element = draw(st.sampled_from(elements))
        operation = draw(st.sampled_from(["text", "text", "text", "rename", "drop", "duplicate", "nest",
                                          "attribute", "empty", "children"]))
        parent = element.getparent()
        if operation == "text":
            element.text = draw(VALUES)
        elif operation == "rename":
            element.tag = draw(NAMES)
        elif operation == "drop" and parent is not None:
            parent.remove(element)
        elif operation == "duplicate" and parent is not None:
            parent.insert(parent.index(element), etree.fromstring(etree.tostring(element)))
        elif operation == "nest":
            target = draw(st.sampled_from(elements))
            if target is not element and element not in target.iterancestors() and parent is not None:
                target.append(element)
        elif operation == "attribute":
            element.set(draw(NAMES), draw(VALUES))
        elif operation == "empty":
            element.text = None
            for child in list(element):
                element.remove(child)
        elif operation == "children":
            for _ in range(draw(st.integers(1, 3))):
                etree.SubElement(element, draw(NAMES)).text = draw(VALUES)
    if draw(st.booleans()):  # a new instanceID, else the base's own: a resubmission or a conflict
        for node in root.iter("instanceID"):
            node.text = f"uuid:{draw(st.uuids())}"
    encoding = draw(ENCODINGS)
    if encoding == "none":
        return etree.tostring(root)
    if encoding == "lying":   # declared UTF-8, written in Latin-1
        return b"<?xml version='1.0' encoding='UTF-8'?>" + etree.tostring(root, encoding="ISO-8859-1",
                                                                           xml_declaration=False)
    return etree.tostring(root, encoding=encoding, xml_declaration=True)


PART_NAMES = st.one_of(st.sampled_from(["xml_submission_file", PHOTO, "audit.csv", "*isIncomplete*", "", "../x.jpg",
                                        "a/b.jpg", "x\x01y", 'q"uote', "é.jpg"]),
                       st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True))


@st.composite
def multipart_bodies(draw, bases):
    """A multipart POST with random parts, then maybe truncated, given another boundary, or mangled."""
    boundary = draw(st.from_regex(r"[A-Za-z0-9'()+_,./:=?-]{1,70}", fullmatch=True))
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(PART_NAMES)
        content = draw(st.one_of(st.sampled_from(bases), mutated_xml(bases), st.binary(max_size=300)))
        filename = draw(st.one_of(st.none(), PART_NAMES))
        content_type = draw(st.sampled_from([None, "text/xml", "image/jpeg", "application/octet-stream",
                                             "text/xml; charset=latin-1", "x/y; a=\"b\""]))
        parts.append(samples.Part(name, content, filename, content_type))
    body, content_type = samples.multipart(parts, okhttp=draw(st.sampled_from([4, 5])), boundary=boundary)
    mangle = draw(st.sampled_from(["none", "none", "truncate", "other boundary", "no boundary", "not multipart",
                                   "bare newlines", "garbage tail", "no content type"]))
    if mangle == "truncate":
        body = body[:draw(st.integers(0, len(body)))]
    elif mangle == "other boundary":
        content_type = "multipart/form-data; boundary=" + draw(st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True))
    elif mangle == "no boundary":
        content_type = "multipart/form-data"
    elif mangle == "not multipart":
        content_type = draw(st.sampled_from(["text/xml", "application/x-www-form-urlencoded", "multipart/mixed"]))
    elif mangle == "bare newlines":
        body = body.replace(b"\r\n", b"\n")
    elif mangle == "garbage tail":
        body += draw(st.binary(max_size=200))
    elif mangle == "no content type":
        content_type = None
    return body, content_type


# --------------------------------------------------------------------------- checks

def _post(server, body: bytes, content_type: str | None):
    headers = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/v2026.3.0 fuzz"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return server["client"].post(server["path"], data=body, headers=headers)


def _check(server, response, before: dict) -> None:
    status = response.status_code
    event(f"HTTP {status}")
    assert status < 500, response.data[:500]
    assert 200 <= status < 300 or 400 <= status < 500, status
    if status >= 400:
        assert "text/xml" in response.headers.get("Content-Type", "")
        root = etree.fromstring(response.data)
        assert root.tag == f"{{{RESPONSE_NS}}}OpenRosaResponse"
        assert root.find(f"{{{RESPONSE_NS}}}message").get("nature") == "error"
        event(f"HTTP {status}: {(root.findtext(f'{{{RESPONSE_NS}}}message') or '')[:50]}")
        assert counts(server["store"]) == before, "a refused submission left rows behind"
    else:
        after = counts(server["store"])
        assert after["submissions"] - before["submissions"] in (0, 1)
    _whole(server)


def _whole(server) -> None:
    """Nothing half-stored anywhere in the database."""
    db = server["store"].db
    assert db.execute("SELECT count(*) FROM submissions s LEFT JOIN submission_defs d ON d.id = s.current_def_id "
                      "AND d.submission_id = s.id WHERE d.id IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM submission_defs d LEFT JOIN submissions s ON s.id = d.submission_id "
                      "WHERE s.id IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM submission_attachments a LEFT JOIN submission_defs d "
                      "ON d.id = a.def_id WHERE d.id IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM submission_attachments a LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 "
                      "WHERE a.blob_sha256 IS NOT NULL AND b.sha256 IS NULL").fetchone()[0] == 0
    for form_id, xml_form_id in db.execute("SELECT id, xml_form_id FROM forms WHERE project_id = ?",
                                           [server["project"]]).fetchall():
        plain = db.execute("SELECT count(*) FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id "
                           "WHERE s.form_id = ? AND d.encrypted = 0", [form_id]).fetchone()[0]
        main = table_name(server["project"], xml_form_id)
        assert db.execute(f'SELECT count(*) FROM "{main}"').fetchone()[0] == plain, xml_form_id
    for table in [t for t in server["store"].data_tables() if "__" in t]:   # the repeat tables
        assert db.execute(f'SELECT count(*) FROM "{table}" r LEFT JOIN submissions s ON s.id = r._submission_id '
                          "WHERE s.id IS NULL").fetchone()[0] == 0, table


# --------------------------------------------------------------------------- the fuzz tests

def test_mutated_submissions_get_a_clean_answer(server):
    seen: set[int] = set()

    @FUZZ
    @given(st.data())
    def run(data):
        xml = data.draw(mutated_xml(server["bases"]))
        files = data.draw(st.sampled_from([{}, {PHOTO: b"\xff\xd8 photo"}]))
        body, content_type = samples.multipart(samples.submission_parts(xml, files))
        before = counts(server["store"])
        response = _post(server, body, content_type)
        seen.add(response.status_code)
        _check(server, response, before)
    run()
    assert 201 in seen and 400 in seen and 409 in seen, seen   # stored, refused, and conflicting examples


def test_garbage_as_the_submission_gets_a_clean_answer(server):
    @FUZZ
    @given(st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(lambda t: t.encode("utf-8", "replace")),
                     st.sampled_from(server["bases"]).map(lambda b: b[:len(b) // 2])))
    def run(garbage):
        body, content_type = samples.multipart(samples.submission_parts(garbage))
        before = counts(server["store"])
        _check(server, _post(server, body, content_type), before)
    run()


def test_mangled_multipart_bodies_get_a_clean_answer(server):
    seen: set[int] = set()

    @FUZZ
    @given(st.data())
    def run(data):
        body, content_type = data.draw(multipart_bodies(server["bases"]))
        before = counts(server["store"])
        response = _post(server, body, content_type)
        seen.add(response.status_code)
        _check(server, response, before)
    run()
    assert len([s for s in seen if 400 <= s < 500]) >= 2, seen


def test_the_real_submissions_are_accepted_first(server):
    """The bases really are valid: the mutations start from submissions the server stores."""
    for xml in server["bases"]:
        fresh = xml.replace(factories.instance_id_of(xml).encode(), f"uuid:{uuid.uuid4()}".encode())
        body, content_type = samples.multipart(samples.submission_parts(fresh, {PHOTO: b"\xff\xd8"}))
        response = _post(server, body, content_type)
        assert response.status_code == 201, response.data
