"""The poverty nodes form (issue #15, item 9): caste category and religion asked apart as shares with "not known"
left blank and the remainder shown, men computed from the women's share, no English label put into the local name,
the piece rate with a unit and a period, the counts' coverage, and "all year". Filled with JavaRosa from the form
and lists a live server serves, sent over OpenRosa, read back through the node record, the flags, the export and the
nodes page; the earlier version is still accepted."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from bench import samples
from server.catalog import publish
from server.xforms import parse_xform

from .javarosa import JavaRosaError, fill
from . import chromium
from .web import make_users

FORMS = Path(__file__).parent.parent / "forms"
OLD_FORM = Path(__file__).parent / "data" / "poverty_nodes_2026112201.xml"


def session(**changes) -> list[tuple[str, str]]:
    answers = {"cluster": "chanderi", "round": "1", "facilitators": "Anil K.", "participants_men": "9",
               "participants_women": "6", "node_is_new": "no", "node_existing": "chanderi-contract_weavers",
               "local_name": "kaarigar", "value_chain_position": "contract_worker", "est_households": "400",
               "est_workers": "1000", "size_source": "ppa_estimate", "size_coverage": "area_visited",
               "size_area": "wards 3 and 7", "women_pct": "35", "sg_st_pct": "5", "sg_sc_pct": "30",
               "sg_obc_pct": "50", "rel_hindu_pct": "55", "rel_muslim_pct": "40", "n_problems": "1",
               "problem_dimension": "credit", "problem_description": "advances tie the sale of saris",
               "problem_severity": "2", "problem_months": "all_year", "piece_rate": "450", "piece_rate_unit": "sari",
               "piece_rate_period": "lean", "advance_tied": "yes", "main_lender": "master_weaver_trader",
               "has_federation": "no", "capacity_score": "1", "n_actions": "0"}
    answers.update(changes)
    return [(k, v) for k, v in answers.items() if v is not None]


def test_the_remainder_is_shown_and_men_are_computed():
    root = fill(FORMS / "poverty_nodes.xml", FORMS, session()).xml.decode()
    assert "<women_workers>350</women_workers><men_workers>650</men_workers>" in root
    assert "<sg_general_pct_left>15</sg_general_pct_left>" in root    # shown on the general category's question
    assert "<sg_unassigned_pct>15</sg_unassigned_pct>" in root and "<rel_unassigned_pct>5</rel_unassigned_pct>" in root
    assert "<share_via_middlemen />" in root                            # not known: blank, not 0


def test_caste_shares_over_100_are_refused_at_the_question_that_passes_100():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORMS / "poverty_nodes.xml", FORMS, session(sg_obc_pct="70"))
    assert refused.value.kind == "constraint" and "sg_obc_pct" in str(refused.value)


def test_the_local_name_is_not_prefilled_from_the_list():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORMS / "poverty_nodes.xml", FORMS, session(local_name=None))
    assert refused.value.kind == "required" and "local_name" in str(refused.value)


def test_all_year_cannot_be_ticked_with_months():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORMS / "poverty_nodes.xml", FORMS, session(problem_months="all_year jun"))
    assert refused.value.kind == "constraint" and "problem_months" in str(refused.value)


def test_a_piece_rate_needs_its_unit_and_period():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORMS / "poverty_nodes.xml", FORMS, session(piece_rate_period=None))
    assert refused.value.kind == "required" and "piece_rate_period" in str(refused.value)


@pytest.fixture
def sent(phone, tmp_path):  # noqa: F811
    served = phone.download_forms()["poverty_nodes"]
    form = tmp_path / "poverty_nodes.xml"
    form.write_bytes(served["xml"])
    reply = phone.submit(fill(form, served["media"], session()).xml)
    assert reply.status == 201, reply.text
    return phone


def test_the_node_record_keeps_unknowns_as_unknown(sent, store, project):
    (record,) = store.node_records(project["id"], 1, "chanderi")
    data = record["data"]
    assert (data["women_workers"], data["men_workers"], data["women_pct"]) == (350, 650, 35)
    assert (data["sg_general_pct"], data["caste_unassigned_pct"], data["religion_unassigned_pct"]) == (None, 15, 5)
    assert data["share_via_middlemen"] is None and data["pct_bank_account"] is None
    assert (data["piece_rate_unit"], data["piece_rate_period"], data["size_coverage"]) == ("sari", "lean",
                                                                                          "area_visited")
    assert data["problems"][0]["problem_months"] == "all_year"
    def_id = store.db.execute("SELECT current_def_id FROM submissions").fetchone()[0]
    (message,) = [f["message"] for f in store.flags(def_id) if f["code"] == "not_known"]
    assert "share sold through middlemen" in message and "not counted as 0" in message
    assert "women's share" not in message


def test_the_export_carries_the_shares(sent, app, store, project):
    from server.exports import ExportFilters, ExportOptions, export_response_parts
    _name, _type, chunks = export_response_parts(store, app.extensions["ppa"].forms, project["id"], "poverty_nodes",
                                                 "jsonl", ExportFilters(), ExportOptions())
    (row,) = [json.loads(line) for line in b"".join(
        c if isinstance(c, bytes) else c.encode() for c in chunks).decode().splitlines()]
    assert (row["sg_obc_pct"], row["rel_muslim_pct"], row["piece_rate_unit"]) == (50, 40, "sari")


def test_the_nodes_page_shows_shares_and_what_is_not_known(sent, browser, live, store, project):  # noqa: F811
    make_users(store, project["id"], store.create_project("Other")["id"])
    chromium.sign_in(browser, live.url, "manager@example.org")
    browser.get(f"{live.url}/projects/{project['id']}/nodes?round=1")
    node = browser.find_element(By.ID, "node-chanderi-contract_weavers")
    shares = node.find_element(By.CLASS_NAME, "node-shares").text
    assert "OBC 50 %" in shares and "general not known" in shares and "not known 15 %" in shares
    assert "Muslim 40 %" in shares
    assert "only the area visited: wards 3 and 7" in node.find_element(By.CLASS_NAME, "node-coverage").text
    assert "per sari (lean season)" in node.find_element(By.CLASS_NAME, "node-piece-rate").text
    assert "sold through middlemen not known" in node.text


def test_the_earlier_version_with_counts_is_still_accepted(phone, store, project):  # noqa: F811
    publish(store, project["id"], OLD_FORM.read_bytes(), OLD_FORM.name, validate=False)
    answers = samples.poverty_node(random.Random(4))
    xml = samples.instance_xml(parse_xform(OLD_FORM.read_bytes()), answers)
    assert b"<sg_muslim>150</sg_muslim>" in xml and b"sg_obc_pct" not in xml
    reply = phone.submit(xml)
    assert reply.status == 201, reply.text
    (record,) = store.node_records(project["id"], 1, "chanderi")
    assert record["data"]["caste_unassigned_pct"] is None and record["data"]["local_name"]
    def_id = store.db.execute("SELECT current_def_id FROM submissions").fetchone()[0]
    assert [f["code"] for f in store.flags(def_id) if f["code"] in ("not_known", "shares_over_100")] == []
