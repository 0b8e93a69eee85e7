"""Household income form, filled in JavaRosa: consent before anything else, the location after consent, the
modules in the order of the issue, and people (respondent, wage earners) chosen from the roster by member number;
the same interview in Hindi, Marathi or Odia gives the same data, and an export in Hindi has Hindi headers."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile

import pytest
from lxml import etree

from bench.serve_process import ROOT
from server import catalog, lists, quality
from server.xforms import parse_xform

from .javarosa import JavaRosaError, fill
from .test_income_amounts import DATA, FORMS, filled, phone, project, script  # noqa: F401 (fixtures)

FORM = FORMS / "household_income.xml"


def _prompts(answers) -> list[str]:
    return fill(FORM, FORMS, answers).prompts


def _first(prompts: list[str], pattern: str) -> int:
    return next(i for i, p in enumerate(prompts) if re.search(pattern, p))


def test_the_consent_script_is_read_before_consent_and_the_location_is_taken_after_it():
    prompts = _prompts(script("chanderi-w03-017"))
    assert _first(prompts, r"/consent_script\[") + 1 == _first(prompts, r"/consent\[")
    assert _first(prompts, r"/consent\[") < _first(prompts, r"/gps\[")
    assert prompts[_first(prompts, r"/gps\[")].startswith("/data/interview[1]/a_location[1]/")


def test_without_consent_no_location_is_asked_or_stored():
    before_consent = [a for a in script("chanderi-w03-017") if a[0] in (
        "cluster", "round", "hamlet", "sector", "hh_on_list", "household", "node", "enumerator", "interview_date")]
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, before_consent + [("consent", "no"), ("gps", "24.719 78.1392 451.0 4.0")])
    assert refused.value.kind == "unused"
    root = etree.fromstring(fill(FORM, FORMS, before_consent + [("consent", "no")]).xml)
    assert root.find(".//gps") is None and root.find(".//interview") is None


def test_modules_run_roster_housing_land_consumption_income_loans_savings():
    prompts = _prompts(script("chanderi-w03-017"))
    order = [_first(prompts, f"/{module}\\[") for module in
             ("mod_b", "mod_c", "mod_i", "mod_d", "mod_f", "mod_e", "mod_g", "mod_h", "mod_j")]
    assert order == sorted(order)


def test_the_respondent_is_chosen_from_the_roster_by_member_number():
    root = etree.fromstring(filled("chanderi-w03-017"))
    assert (root.findtext(".//respondent_no"), root.findtext(".//respondent_name")) == ("2", "Kamla Koli")
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, [(n, "3" if n == "respondent_no" else v) for n, v in script("chanderi-w03-017")])
    assert refused.value.kind == "no_choice" and "1 2" in str(refused.value)   # only the two members are offered


def test_the_respondent_and_location_reach_the_typed_rows(store, project, collect_client):
    reply = collect_client.submit(filled("chanderi-w03-017"))
    assert reply.status == 201, reply.text
    row = store.rows(f"data_{project['id']}_household_income")[0]
    assert (row["respondent_no"], row["respondent_name"], row["consent"]) == ("2", "Kamla Koli", "yes")
    assert row["gps"].startswith("24.719 78.1392")


def test_wage_jobs_point_to_members_by_number_even_when_two_share_a_name():
    answers = script("chanderi-w03-017")
    answers = [(n, "Ramesh Koli" if (n, v) == ("m_name", "Kamla Koli") else v) for n, v in answers]
    root = etree.fromstring(fill(FORM, FORMS, answers).xml)
    jobs = [(w.findtext(".//w_member_no"), w.findtext(".//w_member_name")) for w in root.iter("wage")]
    assert jobs == [("1", "Ramesh Koli"), ("2", "Ramesh Koli")]
    assert root.findtext(".//m_lbl_2") == "2. Ramesh Koli"             # the label tells the two apart


def test_a_wage_job_pointing_to_no_member_is_flagged_in_both_form_versions():
    members = [{"m_name": "Ramesh Koli"}, {"m_name": "Kamla Koli"}]
    new = dict(quality.flags("household_income", {"member": members, "wage": [{"w_member_no": "3"}]}))
    assert new["wage_member"] == "Wage job(s) 1 (member 3) point to no member of the roster."
    old = dict(quality.flags("household_income", {"member": members, "wage": [{"w_member": "Kamla"}]}))
    assert "1 (Kamla)" in old["wage_member"]
    assert "wage_member" not in dict(quality.flags("household_income",
                                                   {"member": members, "wage": [{"w_member_no": "2"}]}))


def test_wage_rows_carry_the_member_number(store, project, collect_client):
    reply = collect_client.submit(filled("chanderi-w03-017"))
    assert reply.status == 201, reply.text
    wages = store.rows(f"data_{project['id']}_household_income__wage")
    assert [(w["w_member_no"], w["w_member_name"]) for w in wages] == [("1", "Ramesh Koli"), ("2", "Kamla Koli")]


def test_a_salaried_job_is_asked_as_months_times_pay():
    root = etree.fromstring(filled("chanderi-w03-017", salaried=True))
    salaried = list(root.iter("wage"))[1]
    assert (salaried.findtext(".//w_salary_months"), salaried.findtext(".//w_salary")) == ("12", "9000.0")
    assert salaried.findtext(".//w_annual") == "108000" and salaried.findtext(".//w_lean_contrib") == "9000"
    with pytest.raises(JavaRosaError) as refused:      # no peak and lean split for a salary
        fill(FORM, FORMS, script("chanderi-w03-017", salaried=True) + [("w_peak_months", "12")])
    assert refused.value.kind == "unused"


def test_days_and_months_worked_are_not_asked_again_per_member():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, script("chanderi-w03-017") + [("m_days_30", "26")])
    assert refused.value.kind == "unused"


def test_the_name_is_asked_on_the_members_first_screen():
    prompts = _prompts(script("chanderi-w03-017"))
    name, relation = _first(prompts, r"/m_name\["), _first(prompts, r"/m_relation\[")
    assert prompts[name].rsplit("/", 1)[0] == prompts[relation].rsplit("/", 1)[0]   # one field-list: m_basic
    assert "/m_basic[1]/" in prompts[name]


def test_the_audit_log_is_sent_and_stored_with_the_household(store, project, phone):
    xml = filled("chanderi-w03-017")
    assert b"<audit />" in xml                        # the form asks Collect for an audit log
    xml = xml.replace(b"<audit />", b"<audit>audit.csv</audit>")   # the file name Collect writes into the field
    audit = (DATA / "audit.csv").read_bytes()
    reply = phone.submit(xml, {"audit.csv": audit})
    assert reply.status == 201, reply.text
    (row,) = store.rows(f"data_{project['id']}_household_income")
    files = {a["name"]: store.get_blob(a["blob_sha256"]) for a in store.attachments(row["_def_id"])}
    assert files == {"audit.csv": audit}


def test_a_job_paid_inside_another_members_earnings_is_not_asked_or_counted_again():
    root = etree.fromstring(filled("chanderi-w03-017", inside=True))
    wife = list(root.iter("wage"))[1]
    assert (wife.findtext(".//w_inside"), wife.findtext(".//w_annual")) == ("yes", "0")
    assert wife.find(".//w_pay_status") is None
    assert root.findtext(".//wage_total") == "60000" and root.findtext(".//income_complete") == "yes"
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, script("chanderi-w03-017", inside=True) + [("w_pay_status", "reported")])
    assert refused.value.kind == "unused"


def test_a_job_inside_earnings_that_nobody_else_has_is_flagged():
    alone = {"member": [{"m_name": "A"}, {"m_name": "B"}], "wage": [{"w_member_no": "2", "w_inside": "yes"}]}
    assert "income_inside_nothing" in dict(quality.flags("household_income", alone))
    with_earner = {**alone, "wage": [{"w_member_no": "1", "w_inside": "no"}, *alone["wage"]]}
    assert "income_inside_nothing" not in dict(quality.flags("household_income", with_earner))


def test_the_hints_state_the_rules_against_counting_income_twice():
    xml = FORM.read_text(encoding="utf-8")
    assert "paid by the piece, is wage work, even on the household's own loom" in xml
    assert "Remittances come only from people who are not members." in xml


def test_consumption_is_asked_item_by_item_bought_and_from_other_sources():
    root = etree.fromstring(filled("chanderi-w03-017"))
    assert root.findtext(".//cons_pds_other") == "400.0" and root.find(".//cons_meat_bought") is None
    assert root.findtext(".//consumption_monthly") == str(round(6700 + 7000 / 12, 2))
    assert root.findtext(".//consumption_complete") == "yes"
    prompts = _prompts(script("chanderi-w03-017"))
    assert sum(1 for p in prompts if p.endswith("_status[1]") and "/mod_f[1]/" in p) == 13   # 12 items + 365 days


def test_a_consumption_item_not_known_leaves_consumption_incomplete(store, project, collect_client):
    answers = [(n, "dk" if n == "cons_milk_status" else v) for n, v in script("chanderi-w03-017")
               if n not in ("cons_milk_bought", "cons_milk_other")]
    root = etree.fromstring(fill(FORM, FORMS, answers).xml)
    assert root.findtext(".//consumption_complete") == "no" and root.findtext(".//consumption_monthly") == ""
    reply = collect_client.submit(etree.tostring(root))
    assert reply.status == 201, reply.text
    (row,) = store.hh_income(project["id"], 1)
    assert row["consumption_monthly"] is None and row["income_complete"] == 1


def test_a_pension_is_asked_per_payment_times_payments():
    root = etree.fromstring(filled("chanderi-w03-017"))
    assert (root.findtext(".//tr_pension_month"), root.findtext(".//tr_pension_months")) == ("500.0", "12")
    assert root.findtext(".//tr_pension") == "6000" and root.findtext(".//transfers_total") == "6000"


def _with_wage(daily_wage: str, confirm: bool) -> list[tuple[str, str]]:
    out = []
    for name, value in script("chanderi-w03-017"):
        out.append((name, daily_wage if name == "w_peak_wage" else value))
        if name == "w_peak_wage" and confirm:
            out.append(("w_peak_wage_check", "OK"))
    return out


def test_an_unusual_daily_wage_is_a_soft_warning_the_enumerator_confirms(store, project, collect_client):
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, _with_wage("1500", confirm=False))
    assert refused.value.kind == "required" and "w_peak_wage_check" in str(refused.value)
    with pytest.raises(JavaRosaError) as refused:         # a plausible wage raises no warning to confirm
        fill(FORM, FORMS, _with_wage("400", confirm=True))
    assert refused.value.kind == "unused"
    with pytest.raises(JavaRosaError) as refused:         # the hard limit still stops an extra zero
        fill(FORM, FORMS, _with_wage("15000", confirm=True))
    assert refused.value.kind == "constraint"
    reply = collect_client.submit(fill(FORM, FORMS, _with_wage("1500", confirm=True)).xml)
    assert reply.status == 201, reply.text
    (row,) = store.rows(f"data_{project['id']}_household_income")
    flags = {f["code"]: f["message"] for f in store.flags(row["_def_id"])}
    assert "w_peak_wage 1,500 Rs per day (wage 2; above 1,000)" in flags["unusual_amount"]


def test_the_forms_warnings_use_the_servers_plausible_bounds():
    root = etree.parse(str(FORM)).getroot()
    binds = {b.get("nodeset").rsplit("/", 1)[1]: b.get("relevant") for b in root.iter("{*}bind")}
    for field, (bound, _unit) in quality.SOFT_BOUNDS.items():
        relevant = binds[f"{field}_check"]
        assert re.fullmatch(rf"\s*\S+/{field}\s*>\s*{bound:.0f}\s*", relevant), (field, relevant)


def test_every_rupee_amount_shows_thousands_separators():
    root = etree.parse(str(FORM)).getroot()
    decimals = {b.get("nodeset").rsplit("/", 1)[1] for b in root.iter("{*}bind") if b.get("type") == "decimal"
                and b.get("calculate") is None}
    not_rupees = {"bigha_in_acres", "land_owned_minor", "land_operated_minor", "land_irrigated_minor",
                  "w_peak_units", "w_lean_units", "loan_interest_pct_month"}
    shown = {i.get("ref").rsplit("/", 1)[1]: i.get("appearance") for i in root.iter("{*}input")}
    assert {n for n in decimals - not_rupees if shown.get(n) != "thousands-sep"} == set()


def test_the_income_and_debt_totals_are_shown_in_lakh():
    root = etree.fromstring(filled("chanderi-w03-017"))
    assert root.findtext(".//income_annual") == "84000" and root.findtext(".//income_annual_lakh") == "0.84"
    assert root.findtext(".//debt_lakh") == "0.2"
    text = FORM.read_text(encoding="utf-8")
    assert "Rs <output value=\" /data/interview/mod_e/income_annual_lakh \"/> lakh" in text


def _with_land(answers: list[tuple[str, str]], hamlet: str | None = None, household: str | None = None
               ) -> list[tuple[str, str]]:
    out = []
    for name, value in answers:
        if name == "any_land":
            out.append((name, "yes"))
            out += LAND
            continue
        if hamlet and name == "hamlet":
            value = hamlet
        if household and name == "household":
            value = household
        if hamlet and name == "sector":
            value = "rural"
        if hamlet and name == "hh_type":
            value = "13"
        out.append((name, value))
    return out


LAND: list[tuple[str, str]] = []


def _land(unit: str, owned: tuple[str, str], operated: tuple[str, str], irrigated: tuple[str, str],
          extra: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    return [("land_unit", unit), *extra, ("land_owned_major", owned[0]), ("land_owned_minor", owned[1]),
            ("land_operated_major", operated[0]), ("land_operated_minor", operated[1]),
            ("land_irrigated_major", irrigated[0]), ("land_irrigated_minor", irrigated[1])]


def _fill_land(land, hamlet=None, household=None):
    LAND[:] = land
    try:
        return etree.fromstring(fill(FORM, FORMS, _with_land(script("chanderi-w03-017"), hamlet, household)).xml)
    finally:
        LAND[:] = []


def test_one_acre_ten_guntha_is_one_and_a_quarter_acres_not_1_10():
    root = _fill_land(_land("acre_guntha", ("1", "10"), ("1", "10"), ("0", "20")))
    assert root.findtext(".//land_owned_acres") == "1.25" and root.findtext(".//land_operated_acres") == "1.25"
    assert root.findtext(".//land_irrigated") == "0.5"


@pytest.mark.parametrize("unit, owned, acres", [
    ("acre_decimal", ("2", "50"), "2.5"),          # Odisha: 100 decimals = 1 acre
    ("hectare_are", ("1", "50"), "3.707"),         # Maharashtra's land records: 100 are = 1 hectare
    ("kanal_marla", ("8", "10"), "1.063"),         # 8 kanal = 1 acre, 20 marla = 1 kanal
])
def test_each_major_and_minor_unit_converts_to_acres(unit, owned, acres):
    root = _fill_land(_land(unit, owned, owned, ("0", "0")))
    assert root.findtext(".//land_owned_acres") == acres


def test_the_bigha_comes_from_the_hamlet_list_and_is_not_asked():
    land = _land("bigha_biswa", ("2", "10"), ("2", "10"), ("0", "0"))
    root = _fill_land(land, hamlet="chanderi-pranpur", household="chanderi-pranpur-001")
    assert root.findtext(".//hamlet_bigha") == "0.625"
    assert root.findtext(".//land_owned_acres") in ("1.562", "1.563")     # 2.5 bigha x 0.625 acre
    with pytest.raises(JavaRosaError) as refused:
        _fill_land([*land[:1], ("bigha_in_acres", "0.5"), *land[1:]], hamlet="chanderi-pranpur",
                   household="chanderi-pranpur-001")
    assert refused.value.kind == "unused"


def test_a_hamlet_without_a_bigha_size_asks_for_it():
    root = _fill_land(_land("bigha_biswa", ("4", "0"), ("4", "0"), ("0", "0"), [("bigha_in_acres", "0.5")]))
    assert root.findtext(".//land_owned_acres") == "2"


def test_a_minor_unit_of_a_whole_major_unit_is_refused():
    with pytest.raises(JavaRosaError) as refused:
        _fill_land(_land("acre_guntha", ("1", "40"), ("1", "0"), ("0", "0")))
    assert refused.value.kind == "constraint" and "land_owned_minor" in str(refused.value)


def test_the_hamlet_list_carries_the_bigha_factor_and_refuses_a_bad_one():
    columns, items = lists.read_csv((FORMS / "hamlets.csv").read_bytes(), "hamlets.csv")
    assert columns[:5] == ["name", "label", "cluster", "sector", "bigha_factor"]
    assert dict(items)["chanderi-pranpur"]["bigha_factor"] == "0.625"
    with pytest.raises(lists.ListFileError, match="row 2, column bigha_factor: 'one' is not a number"):
        lists.read_csv(b"name,label,cluster,sector,bigha_factor\nh1,H,c,rural,one\n", "hamlets.csv")
    with pytest.raises(lists.ListFileError, match="row 2, column bigha_factor: 40 acres per bigha is outside"):
        lists.read_csv(b"name,label,cluster,sector,bigha_factor\nh1,H,c,rural,40\n", "hamlets.csv")
    older = lists.read_csv(b"name,label,cluster,sector\nh1,H,c,rural\n", "hamlets.csv")   # files made before
    assert older[0][4] == "bigha_factor" and older[1] == [("h1", {"label": "H", "cluster": "c", "sector": "rural"})]


def test_an_upgraded_server_serves_hamlets_with_the_bigha_factor_column(store, project, phone):
    reply = phone.form_list()
    manifest_url = next(x for x in re.findall(r"<manifestUrl>([^<]+)</manifestUrl>", reply.text)
                        if "household_income" in x)
    manifest = phone.get(manifest_url.replace("&amp;", "&"))
    url = re.search(r"<downloadUrl>([^<]*hamlets\.csv[^<]*)</downloadUrl>", manifest.text).group(1)
    served = phone.get(url.replace("&amp;", "&")).body.decode()
    assert served.splitlines()[0] == "name,label,cluster,sector,bigha_factor"
    assert "chanderi-pranpur,Pranpur village,chanderi,rural,0.625" in served


def _new_household(card: str) -> list[tuple[str, str]]:
    out = []
    for name, value in script("chanderi-w03-017"):
        if name == "hh_on_list":
            out += [("hh_on_list", "no"), ("new_hh_head", "Sunil Ansari"), ("new_hh_card", card)]
        elif name == "household":
            continue
        else:
            out.append((name, value))
    return out


def test_a_household_added_in_the_field_is_identified_by_its_social_map_card():
    root = etree.fromstring(fill(FORM, FORMS, _new_household("B-04")).xml)
    assert root.findtext(".//new_hh_id") == "chanderi-w03-mB-04" and root.findtext(".//hh_id") == "chanderi-w03-mB-04"
    again = etree.fromstring(fill(FORM, FORMS, _new_household("B-04")).xml)
    assert again.findtext(".//hh_id") == root.findtext(".//hh_id")          # the same card, the same household


def test_a_card_number_with_a_space_is_refused():
    with pytest.raises(JavaRosaError) as refused:
        fill(FORM, FORMS, _new_household("B 04"))
    assert refused.value.kind == "constraint" and "new_hh_card" in str(refused.value)


def _member(name: str, relation: str, sex: str, age: int, marital: str = "", education: str = "", activity: str = "",
            occupation: str = "", shg: str = "") -> list[tuple[str, str]]:
    out = [("m_name", name), ("m_relation", relation), ("m_sex", sex), ("m_age", str(age))]
    out += [("m_marital", marital)] if age >= 10 else []
    out += [("m_education", education), ("m_activity", activity), ("m_occupation", occupation)] if age >= 5 else []
    return out + ([("m_shg", shg)] if age >= 15 else [])


# The typical household of forms/README.md ("Questions answered"): Ramesh Koli, 5 members, 2 jobs, 1 enterprise,
# 1 loan, pension and scheme cash, 11 of the 12 consumption items, 1 shock, no land, no farm, no photo.
TYPICAL = [
    ("cluster", "chanderi"), ("round", "1"), ("hamlet", "chanderi-w03"), ("sector", "urban"), ("hh_on_list", "yes"),
    ("household", "chanderi-w03-017"), ("node", "chanderi-contract_weavers"), ("enumerator", "Anita"),
    ("interview_date", "2026-11-30"), ("consent", "yes"), ("gps", "24.719 78.1392 451.0 4.0"), ("n_members", "5"),
    *_member("Ramesh Koli", "1", "1", 42, "2", "06", "51", "weaving", "no"),
    *_member("Kamla Koli", "2", "2", 38, "2", "05", "21", "pre_loom", "yes"),
    *_member("Suresh Koli", "5", "1", 19, "1", "08", "51", "other", "no"),
    *_member("Priya Koli", "5", "2", 14, "1", "07", "91", "none"),
    *_member("Gita Bai", "7", "2", 68, "3", "01", "94", "none", "no"), ("respondent_no", "2"), ("religion", "1"),
    ("social_group", "3"), ("hh_type", "23"), ("ration_card", "phh"), ("mgnrega_card", "no"), ("pmjay_card", "yes"),
    ("artisan_card", "yes"), ("bank_account", "yes"), ("house_tenure", "owned"), ("roof", "tiles"),
    ("wall", "stone_burnt_brick"), ("floor", "cement"), ("rooms", "2"), ("electricity", "yes"),
    ("water_source", "public_tap"), ("toilet", "pit"), ("cooking_fuel", "lpg"), ("has_looms", "yes"),
    ("looms_pit", "1"), ("looms_frame", "0"), ("looms_working", "1"), ("assets", "mobile"), ("any_land", "no"),
    ("cons_cereal_status", "reported"), ("cons_cereal_bought", "300"), ("cons_cereal_other", "0"),
    ("cons_pds_status", "reported"), ("cons_pds_bought", "300"), ("cons_pds_other", "0"),
    ("cons_milk_status", "estimated"), ("cons_milk_bought", "300"), ("cons_milk_other", "0"),
    ("cons_oil_status", "reported"), ("cons_oil_bought", "300"), ("cons_oil_other", "0"),
    ("cons_veg_status", "estimated"), ("cons_veg_bought", "300"), ("cons_veg_other", "0"),
    ("cons_meat_status", "estimated"), ("cons_meat_bought", "300"), ("cons_meat_other", "0"),
    ("cons_sugar_status", "estimated"), ("cons_sugar_bought", "300"), ("cons_sugar_other", "0"),
    ("cons_fuel_status", "reported"), ("cons_fuel_bought", "300"), ("cons_fuel_other", "0"),
    ("cons_medicine_status", "estimated"), ("cons_medicine_bought", "300"), ("cons_medicine_other", "0"),
    ("cons_rent_status", "none"), ("cons_transport_status", "estimated"), ("cons_transport_bought", "300"),
    ("cons_transport_other", "0"), ("cons_other_status", "estimated"), ("cons_other_bought", "300"),
    ("cons_other_other", "0"), ("cons_365_status", "estimated"), ("cons_clothing", "4000"),
    ("cons_education", "2000"), ("cons_medical", "0"), ("cons_durables", "1000"), ("n_wage_jobs", "2"),
    ("w_member_no", "1"), ("w_type", "nonagri_wage"), ("w_basis", "piece"), ("w_inside", "no"),
    ("w_pay_status", "reported"), ("w_peak_months", "8"), ("w_lean_months", "4"), ("w_peak_units", "4"),
    ("w_peak_rate", "1500"), ("w_lean_units", "2"), ("w_lean_rate", "1500"), ("w_member_no", "3"),
    ("w_type", "nonagri_wage"), ("w_basis", "daily"), ("w_inside", "no"), ("w_pay_status", "estimated"),
    ("w_peak_months", "6"), ("w_lean_months", "3"), ("w_peak_days", "22"), ("w_peak_wage", "300"),
    ("w_lean_days", "10"), ("w_lean_wage", "250"), ("n_enterprises", "1"), ("ent_activity", "pre_loom_dyeing"),
    ("ent_status", "estimated"), ("ent_sales_month", "3000"), ("ent_costs_month", "1000"), ("ent_months", "10"),
    ("has_farm", "no"), ("other_income_sources", "pension scheme"), ("tr_pension_status", "reported"),
    ("tr_pension_month", "500"), ("tr_pension_months", "12"), ("tr_scheme_status", "reported"),
    ("tr_scheme_month", "2000"), ("tr_scheme_months", "1"), ("has_loans", "yes"), ("n_loans", "1"),
    ("loan_source", "master_weaver_trader"), ("loan_outstanding_status", "reported"), ("loan_outstanding", "20000"),
    ("loan_interest_status", "dk"), ("loan_purpose", "working_capital"), ("loan_tied_sale", "yes"),
    ("saved_last_month", "no"), ("sav_shg", "yes"), ("sav_bank", "no"), ("sav_post_office", "no"),
    ("sav_insurance", "no"), ("shocks", "illness"), ("shock_cost_status", "estimated"), ("shock_cost", "8000"),
    ("photo_consent", "no"),
]


def test_the_typical_household_answers_the_number_of_questions_the_docs_state():
    """forms/README.md bases the interview-length estimate on these counts: 183 prompts, of which 10 notes."""
    root = etree.parse(str(FORM)).getroot()
    notes = {b.get("nodeset").rsplit("/", 1)[1] for b in root.iter("{*}bind")
             if b.get("readonly") == "true()" and b.get("calculate") is None}
    prompts = [re.sub(r"\[\d+\]", "", p).rsplit("/", 1)[1] for p in _prompts(TYPICAL)]
    assert (len(prompts), sum(1 for p in prompts if p in notes)) == (183, 10)


# --------------------------------------------------------------------------- the form in Hindi, Marathi and Odia

def _data_part(xml: bytes) -> bytes:
    """The submission without what differs between two fills: the instance id and the start/end times."""
    text = xml.decode("utf-8")
    for tag in ("start", "end", "instanceID"):
        text = re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}/>", text)
    return text.encode("utf-8")


@pytest.mark.parametrize("language", ["Hindi (hi)", "Marathi (mr)", "Odia (or)"])
def test_the_typical_household_filled_in_another_language_gives_the_english_submission(language):
    english = fill(FORM, FORMS, TYPICAL)
    other = fill(FORM, FORMS, TYPICAL, language=language)
    assert _data_part(other.xml) == _data_part(english.xml)
    assert other.prompts == english.prompts
    n_members = next(p for p in other.prompts if p.endswith("/n_members[1]"))
    assert english.texts[n_members].startswith("How many people normally live in this household")
    assert other.texts[n_members] == {
        "Hindi (hi)": "इस परिवार में आम तौर पर कितने लोग रहते हैं और एक ही रसोई का खाना खाते हैं?",
        "Marathi (mr)": "या कुटुंबात साधारणपणे किती लोक राहतात आणि एकाच चुलीवरचे जेवतात?",
        "Odia (or)": "ଏହି ପରିବାରରେ ସାଧାରଣତଃ କେତେ ଜଣ ରୁହନ୍ତି ଓ ଗୋଟିଏ ରୋଷେଇରୁ ଖାଆନ୍ତି?"}[language]


def _typical(household: str) -> list[tuple[str, str]]:
    return [(n, household if n == "household" else v) for n, v in TYPICAL]


def test_typical_households_filled_in_hindi_and_in_english_aggregate_the_same(store, project, phone):
    # two households of the same hamlet and node with the same answers: one interview in English, one in Hindi
    english = fill(FORM, FORMS, _typical("chanderi-w03-017")).xml
    hindi = fill(FORM, FORMS, _typical("chanderi-w03-005"), language="Hindi (hi)").xml
    for xml in (english, hindi):
        reply = phone.submit(xml)
        assert reply.status == 201, reply.text
    rows = {r["hh_id"]: r for r in store.hh_income(project["id"], 1)}
    assert set(rows) == {"chanderi-w03-017", "chanderi-w03-005"}
    differ = {k for k in rows["chanderi-w03-017"] if rows["chanderi-w03-017"][k] != rows["chanderi-w03-005"][k]}
    assert differ <= {"hh_id", "submission_id"}, differ
    hindi_row = rows["chanderi-w03-005"]
    assert (hindi_row["income_complete"], hindi_row["size"], hindi_row["social_group"]) == (1, 5, "OBC")
    assert hindi_row["income_monthly"] > 0 and hindi_row["consumption_monthly"] > 0
    (counts,) = store.income_count_rows(project["id"], 1)
    assert (counts["n_hh"], counts["n_persons"], counts["n_incomplete"]) == (2, 10, 0)
    main = {r["hh_id"]: r for r in store.rows(f"data_{project['id']}_household_income")}
    members = store.rows(f"data_{project['id']}_household_income__member")
    assert len(members) == 10 and main["chanderi-w03-005"]["social_group"] == "3"   # codes, not Hindi labels


def test_the_english_only_version_is_still_accepted(store, project, phone):
    """Phones that have not updated since the translation still send the English-only 2026113009."""
    old = DATA / "household_income_2026113009.xml"
    xml = old.read_bytes()
    form = parse_xform(xml)
    current = parse_xform(FORM.read_bytes())
    assert int(form.version) < int(current.version) and b"Hindi (hi)" not in xml
    assert b'<translation lang="Hindi (hi)">' in FORM.read_bytes()
    catalog.publish(store, project["id"], xml, old.name, validate=False)
    reply = phone.submit(fill(old, FORMS, TYPICAL).xml)
    assert reply.status == 201, reply.text
    (row,) = store.rows(f"data_{project['id']}_household_income")
    assert (row["_form_version"], row["hh_id"]) == (form.version, "chanderi-w03-017")
    versions = {r[0] for r in store.db.execute("SELECT version FROM form_defs")}
    assert {form.version, current.version} <= versions


def test_ppa_export_with_lang_hi_writes_hindi_headers(app, store, project, phone, tmp_path):
    reply = phone.submit(fill(FORM, FORMS, TYPICAL, language="Hindi (hi)").xml)
    assert reply.status == 201, reply.text
    out = tmp_path / "income-hi.zip"
    env = {**os.environ, "PPA_DATA": str(tmp_path), "PPA_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "server.cli", "export", "--project", str(project["id"]),
                           "--form", "household_income", "--format", "csv", "--labels", "--lang", "hi",
                           "-o", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        main = list(csv.DictReader(io.TextIOWrapper(archive.open("household_income.csv"), encoding="utf-8-sig")))
        members = list(csv.DictReader(io.TextIOWrapper(archive.open("household_income-member.csv"),
                                                       encoding="utf-8-sig")))
    (row,) = main
    assert row["इस परिवार में आम तौर पर कितने लोग रहते हैं और एक ही रसोई का खाना खाते हैं?"] == "5"
    assert row["मुखिया का सामाजिक वर्ग"] == "3"                        # a code: --choice-labels was not asked
    assert "Social group of the head" not in row
    assert len(members) == 5 and {m["PARENT_KEY"] for m in members} == {row["KEY"]}
    assert "लिंग" in members[0]
