"""Household income form: amounts with a status (reported, estimated, not known, refused), filled in JavaRosa and
sent over OpenRosa to a live server, through typed rows, quality flags, aggregates, exports, the API, `ppa analyse`
and the cluster page. A server that served the earlier form version keeps accepting and counting its submissions."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.request
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium.webdriver.common.by import By

from server import lists, quality
from server.analyse_cli import analyse
from server.bootstrap import ensure_default_project
from server.xforms import parse_xform

from .conftest import _collect
from .javarosa import JavaRosaError, fill
from . import chromium
from .web import make_users

DATA = Path(__file__).parent / "data"
FORMS = Path(__file__).resolve().parent.parent / "forms"
OLD_VERSION = "2026112201"
CURRENT_VERSION = parse_xform((FORMS / "household_income.xml").read_bytes()).version


@pytest.fixture
def project(store, tmp_path):
    """A server upgraded in place: it published household_income 2026112201 first, then the current forms."""
    earlier = tmp_path / "earlier-forms"
    earlier.mkdir()
    shutil.copy(DATA / f"household_income_{OLD_VERSION}.xml", earlier / "household_income.xml")
    for name in ("hamlets.csv", "nodes.csv"):
        shutil.copy(FORMS / name, earlier / name)
    ensure_default_project(store, "Test PPA", earlier, validate=False)
    report = ensure_default_project(store, "Test PPA", FORMS, validate=False)
    _columns, items = lists.read_csv((FORMS / "households.csv").read_bytes(), "households.csv")
    store.upsert_list_items(report.project_id, "households.csv", items, source="sample")
    return store.get_project(report.project_id)


@pytest.fixture
def api(live, project, researcher_token):
    """GET over real HTTP with a researcher's API token."""
    secret = researcher_token

    def get(path: str) -> bytes:
        request = urllib.request.Request(f"{live.url}/api/v1/projects/{project['id']}/{path}",
                                         headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    return get


@pytest.fixture
def phone(app, request, project, token):
    """Collect over real HTTP to the live server."""
    return _collect(app, request, project, token, "http")


def script(household: str, wage_status: str = "reported", pension_status: str = "estimated",
           salaried: bool = False, inside: bool = False) -> list[tuple[str, str]]:
    """Answers for a two-member weaver household: one piece-rate job, the wife's daily-wage (or salaried) job, a
    pension."""
    known = wage_status not in ("dk", "refused")
    if inside:   # winding yarn for her husband's saris, paid through him: no amount is asked
        wife_job = [("w_member_no", "2"), ("w_type", "nonagri_wage"), ("w_basis", "piece"), ("w_inside", "yes")]
    elif salaried:
        wife_job = [("w_member_no", "2"), ("w_type", "salary"), ("w_basis", "monthly"), ("w_inside", "no"),
                    ("w_pay_status", wage_status), *([] if known else [("w_range", "10k_25k")]),
                    ("w_salary_months", "12"), *([("w_salary", "9000")] if known else [])]
    else:
        wife_job = [("w_member_no", "2"), ("w_type", "nonagri_wage"), ("w_basis", "daily"), ("w_inside", "no"),
                    ("w_pay_status", wage_status), *([] if known else [("w_range", "10k_25k")]),
                    ("w_peak_months", "6"), ("w_lean_months", "0"),
                    *([("w_peak_days", "20"), ("w_peak_wage", "150")] if known else [])]
    pension = [("tr_pension_status", pension_status)]
    if pension_status in ("reported", "estimated"):
        pension += [("tr_pension_month", "500"), ("tr_pension_months", "12")]
    return [
        ("cluster", "chanderi"), ("round", "1"), ("hamlet", "chanderi-w03"), ("sector", "urban"),
        ("hh_on_list", "yes"), ("household", household), ("node", ""),
        ("enumerator", "Anita Sharma"), ("interview_date", "2026-11-30"), ("gps", "24.719 78.1392 451.0 4.0"),
        ("consent", "yes"), ("n_members", "2"),
        ("m_name", "Ramesh Koli"), ("m_relation", "1"), ("m_sex", "1"), ("m_age", "42"), ("m_marital", "2"),
        ("m_education", "06"), ("m_activity", "51"), ("m_occupation", "weaving"), ("m_shg", "no"),
        ("m_name", "Kamla Koli"), ("m_relation", "2"), ("m_sex", "2"), ("m_age", "38"), ("m_marital", "2"),
        ("m_education", "05"), ("m_activity", "21"), ("m_occupation", "pre_loom"), ("m_shg", "yes"),
        ("respondent_no", "2"),
        ("religion", "1"), ("social_group", "3"), ("hh_type", "23"), ("ration_card", "phh"), ("mgnrega_card", "no"),
        ("pmjay_card", "yes"), ("artisan_card", "yes"), ("bank_account", "yes"), ("any_land", "no"),
        ("n_wage_jobs", "2"),
        ("w_member_no", "1"), ("w_type", "nonagri_wage"), ("w_basis", "piece"), ("w_inside", "no"),
        ("w_pay_status", "reported"),
        ("w_peak_months", "8"), ("w_lean_months", "4"), ("w_peak_units", "4"), ("w_peak_rate", "1500"),
        ("w_lean_units", "2"), ("w_lean_rate", "1500"),
        *wife_job,
        ("n_enterprises", "0"), ("has_farm", "no"), ("other_income_sources", "pension"), *pension,
        *CONSUMPTION_30,
        ("cons_365_status", "estimated"), ("cons_clothing", "4000"), ("cons_education", "2000"),
        ("cons_medical", "0"), ("cons_durables", "1000"),
        ("has_loans", "yes"), ("n_loans", "1"), ("loan_source", "master_weaver_trader"),
        ("loan_outstanding_status", "reported"), ("loan_outstanding", "20000"), ("loan_interest_status", "dk"),
        ("loan_purpose", "working_capital"), ("loan_tied_sale", "yes"),
        ("saved_last_month", "no"), ("sav_shg", "yes"), ("sav_bank", "no"), ("sav_post_office", "no"),
        ("sav_insurance", "no"), ("house_tenure", "owned"), ("roof", "tiles"), ("wall", "stone_burnt_brick"),
        ("floor", "cement"), ("rooms", "2"), ("electricity", "yes"), ("water_source", "public_tap"),
        ("toilet", "pit"), ("cooking_fuel", "lpg"), ("has_looms", "yes"), ("looms_pit", "1"), ("looms_frame", "0"),
        ("looms_working", "1"), ("assets", "mobile"), ("shocks", "illness"), ("shock_cost_status", "refused"),
        ("photo_consent", "no"),
    ]


# Last 30 days, item by item: (item, status, bought, other sources); Rs 6,700 in all.
CONSUMPTION_ITEMS = [("cereal", "reported", 1500, 0), ("pds", "reported", 100, 400), ("milk", "estimated", 900, 0),
                     ("oil", "reported", 400, 0), ("veg", "estimated", 800, 0), ("meat", "none", None, None),
                     ("sugar", "estimated", 300, 0), ("fuel", "reported", 900, 200),
                     ("medicine", "estimated", 300, 0), ("rent", "none", None, None),
                     ("transport", "reported", 500, 0), ("other", "estimated", 400, 0)]
CONSUMPTION_30 = [answer for item, status, bought, other in CONSUMPTION_ITEMS
                  for answer in [(f"cons_{item}_status", status)]
                  + ([(f"cons_{item}_bought", str(bought)), (f"cons_{item}_other", str(other))] if bought is not None
                     else [])]


def filled(household: str, **statuses: str) -> bytes:
    return fill(FORMS / "household_income.xml", FORMS, script(household, **statuses)).xml


def _csv(text: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.decode("utf-8"))))


def test_an_unknown_wage_is_not_asked_and_stays_out_of_the_form_totals():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORMS / "household_income.xml", FORMS,
             script("chanderi-w03-017", wage_status="dk") + [("w_peak_wage", "150")])
    assert refused.value.kind == "unused"          # no daily wage is asked once the pay is not known
    xml = filled("chanderi-w03-017", wage_status="dk").decode()
    assert "<w_annual />" in xml and "<income_unknown>1</income_unknown>" in xml
    assert "<income_complete>no</income_complete>" in xml
    assert "<wage_total>60000</wage_total>" in xml                     # the known job only, not a zero for the other
    assert "<w_range>10k_25k</w_range>" in xml


def test_an_unknown_wage_leaves_the_household_out_of_poverty_and_says_so(store, project, phone, api):
    reply = phone.submit(filled("chanderi-w03-017", wage_status="dk"))
    assert reply.status == 201, reply.text
    main = store.rows(f"data_{project['id']}_household_income")[0]
    assert (main["_form_version"], main["income_complete"], main["income_unknown"]) == (CURRENT_VERSION, "no", 1)
    assert [w["w_pay_status"] for w in store.rows(f"data_{project['id']}_household_income__wage")] == \
        ["reported", "dk"]
    assert "income_incomplete" in {f["code"] for f in store.flags(main["_def_id"])}

    poverty = json.loads(api("poverty?cluster=chanderi"))["rows"][0]
    assert (poverty["n_households"], poverty["n_incomplete_income"], poverty["person"]["P0"]) == (0, 1, None)
    decomposition = json.loads(api("poverty/decomposition?cluster=chanderi&by=head_sex&alpha=0&weighting=person"))
    assert (decomposition["n_incomplete_income"], decomposition["groups"]) == (1, [])
    assert json.loads(api("concordance?cluster=chanderi"))["n_incomplete_income"] == 1
    exported = _csv(api("export/households.csv?cluster=chanderi"))
    assert [(r["household_id"], r["income_complete"]) for r in exported] == [("chanderi-w03-017", "no")]
    with zipfile.ZipFile(io.BytesIO(api("forms/household_income/export.csv"))) as archive:
        wage_csv = next(n for n in archive.namelist() if n.endswith("wage.csv"))
        assert [r["w_pay_status"] for r in _csv(archive.read(wage_csv))] == ["reported", "dk"]


def test_an_old_version_household_and_a_new_version_one_both_aggregate(store, project, collect_client):
    old = (DATA / "household_income_javarosa.xml").read_bytes()
    assert f'version="{OLD_VERSION}"'.encode() in old
    assert collect_client.submit(old).status == 201
    reply = collect_client.submit(filled("chanderi-w03-001", wage_status="reported"))
    assert reply.status == 201, reply.text
    rows = {r["hh_id"]: r for r in store.hh_income(project["id"], 1)}
    assert {h: r["income_complete"] for h, r in rows.items()} == {"chanderi-w03-017": 1, "chanderi-w03-001": 1}
    (counts,) = store.income_count_rows(project["id"], 1)
    assert (counts["n_hh"], counts["n_persons"], counts["n_incomplete"]) == (2, 7, 0)


def test_a_refused_pension_makes_the_income_incomplete_too(store, project, collect_client):
    reply = collect_client.submit(filled("chanderi-w03-001", pension_status="refused"))
    assert reply.status == 201, reply.text
    (row,) = store.hh_income(project["id"], 1)
    assert (row["income_complete"], row["poor"], row["gap"]) == (0, None, None)


def test_quality_flags_name_the_amounts_not_known():
    record = {"wage": [{"w_pay_status": "reported"}, {"w_pay_status": "dk"}], "tr_pension_status": "refused",
              "cons_milk_status": "dk", "cons_rent_status": "none", "cons_365_status": "estimated"}
    assert quality.unknown_income_items(record) == ["wage job 2", "pension"]
    found = dict(quality.flags("household_income", record))
    assert "wage job 2, pension" in found["income_incomplete"]
    assert found["consumption_incomplete"] == "Consumption not known or refused: milk."
    assert quality.unknown_income_items({"wage": [{"w_member": "old version, no status"}]}) == []


def test_ppa_analyse_poverty_leaves_out_incomplete_incomes_and_counts_them(tmp_path):
    path = tmp_path / "households.csv"
    path.write_text("household_id,income_monthly,income_complete,size,line\n"
                    "a,1000,yes,4,1000\nb,500,no,4,1000\nc,20000,yes,4,1000\n", encoding="utf-8")
    result = CliRunner().invoke(analyse, ["poverty", str(path), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["n_incomplete_income"] == 1 and body["fgt"]["n_households"] == 2
    text = CliRunner().invoke(analyse, ["poverty", str(path)]).output
    assert "left out: 1 household with incomplete income" in text


def test_ppa_analyse_refuses_an_income_complete_that_is_not_yes_or_no(tmp_path):
    path = tmp_path / "households.csv"
    path.write_text("household_id,income_monthly,income_complete,size,line\na,1000,maybe,4,1000\n", encoding="utf-8")
    result = CliRunner().invoke(analyse, ["poverty", str(path)])
    assert result.exit_code != 0 and "income_complete" in result.output


def test_a_household_filled_in_javarosa_on_the_earlier_version_is_accepted_with_typed_income(collect_client, store,
                                                                                          project):
    """tests/data/household_income_javarosa.xml was filled and serialised by JavaRosa on version 2026112201."""
    reply = collect_client.submit((DATA / "household_income_javarosa.xml").read_bytes())
    assert reply.status == 201, reply.text
    row = store.rows(f"data_{project['id']}_household_income")[0]
    assert (row["hh_id"], row["hh_size"], row["income_monthly"]) == ("chanderi-w03-017", 5, 12158.33)
    assert row["_form_version"] == OLD_VERSION
    members = store.rows(f"data_{project['id']}_household_income__member")
    assert [m["m_age"] for m in members] == [42, 38, 19, 14, 68]


def test_the_cluster_page_shows_the_households_left_out_for_incomplete_income(browser, store, project, phone, live):
    make_users(store, project["id"], store.create_project("Other")["id"])
    for household, status in (("chanderi-w03-017", "dk"), ("chanderi-w03-001", "reported")):
        reply = phone.submit(filled(household, wage_status=status))
        assert reply.status == 201, reply.text
    chromium.sign_in(browser, live.url, "manager@example.org")
    browser.get(f"{live.url}/projects/{project['id']}/clusters/chanderi")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#poverty tbody tr:first-child td")]
    assert cells[4:] == ["1", "2", "0", "1"]       # households, persons, no line, left out: income incomplete
    assert browser.find_element(By.ID, "incomplete-note").text.startswith("1 household(s) left out")
    assert browser.find_element(By.ID, "concordance-incomplete").text.startswith("1 household(s) with incomplete")


def test_ppa_analyse_change_leaves_incomplete_incomes_out_of_the_income_side_only(tmp_path):
    base, follow = tmp_path / "base.csv", tmp_path / "follow.csv"
    header = "household_id,category,income_monthly,income_complete,size,line\n"
    base.write_text(header + "a,sad,500,yes,4,1000\nb,sad,800,no,4,1000\nc,happy,9000,yes,4,1000\n", encoding="utf-8")
    follow.write_text(header + "a,average,5000,yes,4,1000\nb,sad,800,yes,4,1000\nc,happy,9000,yes,4,1000\n",
                      encoding="utf-8")
    result = CliRunner().invoke(analyse, ["change", str(base), str(follow), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["categories"]["n"] == 3 and body["n_incomplete_income"] == [1, 0]
    assert body["income"]["n"] == 2                           # b is left out of the income comparison
