"""Exports in a chosen language and for statistics packages (server/exports.py, server/export_stats.py): a small
English + Hindi XLSForm published in the test, submissions sent over OpenRosa by a Collect-shaped client to a live
server, exports fetched over HTTP from the API and read back with csv, openpyxl and pyreadstat."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import openpyxl
import pyreadstat
import pytest
import requests
from click.testing import CliRunner

from bench import samples
from server import catalog, exports
from server.export_cli import export
from server.export_stats import plan_variables, variable_names

from .factories import instance_id_of

LONG = "m_income_from_wage_labour_last_twelve_months"   # 44 characters: longer than Stata's 32
FORM_MD = f"""
| survey |                  |              |                                 |                                 |
|        | type             | name         | label::English (en)             | label::Hindi (hi)               |
|        | text             | respondent   | Respondent's name               | उत्तरदाता का नाम                  |
|        | select_one yn    | consent      | Does ${{respondent}} consent?     | क्या ${{respondent}} सहमत हैं?      |
|        | select_multiple crops | crops   | Crops grown                     | उगाई गई फसलें                     |
|        | date             | visit_date   | Date of visit                   | भेंट की तारीख                     |
|        | dateTime         | started      | Start time                      | आरंभ का समय                       |
|        | geopoint         | location     | Location                        | स्थान                            |
|        | begin_repeat     | member       | Household member                | परिवार का सदस्य                   |
|        | text             | m_name       | Member's name                   | सदस्य का नाम                      |
|        | select_one sex   | m_sex        | Sex                             | लिंग                             |
|        | integer          | {LONG} | Wage income, last twelve months | पिछले बारह महीनों की मज़दूरी आय       |
|        | end_repeat       |              |                                 |                                 |
| choices |                 |              |                                 |                                 |
|        | list_name        | name         | label::English (en)             | label::Hindi (hi)               |
|        | yn               | yes          | Yes                             | हाँ                              |
|        | yn               | no           | No                              | नहीं                             |
|        | crops            | paddy        | Paddy                           | धान                              |
|        | crops            | wheat        | Wheat                           | गेहूँ                              |
|        | crops            | cotton       | Cotton                          | कपास                             |
|        | sex              | 1            | Male                            | पुरुष                            |
|        | sex              | 2            | Female                          | महिला                            |
| settings |                |              |                                 |                                 |
|        | form_id          | version      | default_language                |                                 |
|        | multilingual_test | 2026113001  | English (en)                    |                                 |
"""
HOUSEHOLDS = [
    {"respondent": "Kamla Bai", "consent": "yes", "crops": "paddy cotton", "visit_date": "2026-11-20",
     "started": "2026-11-20T10:15:30.000+05:30", "location": "24.7056 78.1947 410.5 4.0",
     "member": [{"m_name": "Kamla", "m_sex": "2", LONG: 12000}, {"m_name": "Ramesh", "m_sex": "1", LONG: 36000}]},
    {"respondent": "Sita", "consent": "no", "crops": "wheat", "visit_date": "2026-11-21",
     "started": "2026-11-21T09:00:00.000+05:30", "location": "-16.1 73.6 12 5",
     "member": [{"m_name": "Sita", "m_sex": "2", LONG: 0}]},
]


@pytest.fixture
def sent(phone, app, store, project):
    """The test form published, and the two households sent over OpenRosa to the live server."""
    published = catalog.publish(store, project["id"], FORM_MD.encode("utf-8"), "multilingual.md", validate=False)
    form = app.extensions["ppa"].forms.get(store, published.def_id)
    xmls = []
    for answers in HOUSEHOLDS:
        xml = samples.instance_xml(form, answers)
        reply = phone.submit(xml)
        assert reply.status == 201, reply.text
        xmls.append(xml)
    return xmls


@pytest.fixture
def api(researcher_token):
    return {"Authorization": f"Bearer {researcher_token}"}


def _get(live, project, api, fmt: str, **params) -> bytes:
    reply = requests.get(f"{live.url}/api/v1/projects/{project['id']}/forms/multilingual_test/export.{fmt}",
                         params=params, headers=api, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.content


def _csv(data: bytes, name: str, encoding: str = "utf-8") -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(data)).open(name) as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding=encoding, newline="")))


def _read(data: bytes, name: str, tmp_path):
    archive = zipfile.ZipFile(io.BytesIO(data))
    path = tmp_path / name
    path.write_bytes(archive.read(name))
    reader = pyreadstat.read_dta if name.endswith(".dta") else pyreadstat.read_sav
    return reader(str(path))


def test_hindi_labelled_csv_has_hindi_headers_and_choice_labels(sent, live, project, api):
    data = _get(live, project, api, "csv", labels="1", choice_labels="1", lang="hi")
    (first, second) = _csv(data, "multilingual_test.csv")
    assert first["उत्तरदाता का नाम"] == "Kamla Bai"
    assert first["क्या सहमत हैं?"] == "हाँ" and second["क्या सहमत हैं?"] == "नहीं"   # ${respondent} removed
    assert first["उगाई गई फसलें"] == "धान; कपास"
    members = _csv(data, "multilingual_test-member.csv")
    assert [m["लिंग"] for m in members] == ["महिला", "पुरुष", "महिला"]
    assert [m["PARENT_KEY"] for m in members] == [first["KEY"]] * 2 + [second["KEY"]]


def test_a_language_is_asked_for_by_code_name_or_full_name(sent, live, project, api):
    for lang in ("hi", "Hindi", "hindi (HI)"):
        (row, _) = _csv(_get(live, project, api, "csv", labels="1", lang=lang), "multilingual_test.csv")
        assert "उत्तरदाता का नाम" in row, lang
    (row, _) = _csv(_get(live, project, api, "csv", labels="1"), "multilingual_test.csv")
    assert row["Does consent?"] == "yes"           # the default language; codes without choice_labels


def test_a_language_the_form_lacks_falls_back_to_the_default_with_a_warning(sent, app, store, project):
    plan = exports.prepare(store, app.extensions["ppa"].forms, project["id"], "multilingual_test",
                           options=exports.ExportOptions(labels=True, lang="or"))
    assert plan.language == "English (en)"
    assert plan.warnings == ["The form multilingual_test has no labels in 'or' (its languages: English (en), "
                             "Hindi (hi)); English (en) was used instead."]
    assert exports.header(plan.main)[1] == "Respondent's name"


def test_a_bad_language_parameter_is_refused(sent, live, project, api):
    reply = requests.get(f"{live.url}/api/v1/projects/{project['id']}/forms/multilingual_test/export.csv",
                         params={"lang": "x" * 65}, headers=api, timeout=30)
    assert reply.status_code == 400 and "language" in reply.text


def test_geopoints_are_four_numeric_columns_in_csv_and_xlsx(sent, live, project, api):
    (first, second) = _csv(_get(live, project, api, "csv"), "multilingual_test.csv")
    assert "location" not in first
    assert [first[f"location-{p}"] for p in exports.GEO_PARTS] == ["24.7056", "78.1947", "410.5", "4"]
    assert second["location-Latitude"] == "-16.1"          # a number, not text to neutralise
    sheet = openpyxl.load_workbook(io.BytesIO(_get(live, project, api, "xlsx")), read_only=True)["multilingual_test"]
    head, row, _ = list(sheet.iter_rows(values_only=True))
    row = dict(zip(head, row))
    assert (row["location-Latitude"], row["location-Accuracy"]) == (24.7056, 4.0)


def test_xlsx_dates_and_date_times_are_date_cells(sent, live, project, api):
    sheet = openpyxl.load_workbook(io.BytesIO(_get(live, project, api, "xlsx")))["multilingual_test"]
    head = [c.value for c in sheet[1]]
    date_cell = sheet.cell(row=2, column=head.index("visit_date") + 1)
    time_cell = sheet.cell(row=2, column=head.index("started") + 1)
    received = sheet.cell(row=2, column=head.index("SubmissionDate") + 1)
    assert date_cell.is_date and date_cell.value == dt.datetime(2026, 11, 20)
    assert time_cell.is_date and time_cell.value == dt.datetime(2026, 11, 20, 10, 15, 30)   # the phone's clock
    assert received.is_date and abs(received.value - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) \
        < dt.timedelta(minutes=10)


def test_excel_csv_starts_with_a_byte_order_mark(sent, live, project, api):
    data = _get(live, project, api, "csv", excel="1", labels="1", lang="hi")
    raw = zipfile.ZipFile(io.BytesIO(data)).read("multilingual_test.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "उत्तरदाता का नाम".encode("utf-8") in raw
    assert _csv(data, "multilingual_test.csv", "utf-8-sig")[0]["उत्तरदाता का नाम"] == "Kamla Bai"
    plain = zipfile.ZipFile(io.BytesIO(_get(live, project, api, "csv"))).read("multilingual_test.csv")
    assert plain.startswith(b"SubmissionDate,")


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_stata_and_spss_files_read_back_with_labels_and_the_roster_join(fmt, sent, live, project, api, tmp_path):
    data = _get(live, project, api, fmt, lang="hi")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == sorted([f"multilingual_test.{fmt}", f"multilingual_test-member.{fmt}", "codebook.csv",
                                    "README.txt"])
    main, meta = _read(data, f"multilingual_test.{fmt}", tmp_path)
    labels = meta.column_names_to_labels
    assert labels["respondent"] == "उत्तरदाता का नाम" and labels["consent"] == "क्या सहमत हैं?"
    assert list(main["consent"]) == [1, 2]                       # yes, no: numbered in the form's order
    assert meta.variable_value_labels["consent"] == {1: "हाँ", 2: "नहीं"}
    assert list(main["crops"]) == ["paddy cotton", "wheat"]
    assert [list(main[f"crops_{c}"]) for c in ("paddy", "wheat", "cotton")] == [[1, 0], [0, 1], [1, 0]]
    assert labels["crops_cotton"] == "उगाई गई फसलें: कपास"
    assert list(main["location_Latitude"]) == [24.7056, -16.1]
    assert main["visit_date"][0] in (dt.date(2026, 11, 20), dt.datetime(2026, 11, 20))
    assert main["started"][0] == dt.datetime(2026, 11, 20, 10, 15, 30)
    assert list(main["KEY"]) == [instance_id_of(x) for x in sent]
    members, member_meta = _read(data, f"multilingual_test-member.{fmt}", tmp_path)
    assert list(members["PARENT_KEY"]) == [main["KEY"][0]] * 2 + [main["KEY"][1]]
    assert list(members["m_sex"]) == [2, 1, 2]                  # whole-number codes keep their number
    assert member_meta.variable_value_labels["m_sex"] == {1: "पुरुष", 2: "महिला"}
    short = LONG[:32]
    assert list(members[short]) == [12000, 36000, 0] and member_meta.column_names_to_labels[short] == \
        "पिछले बारह महीनों की मज़दूरी आय"
    codebook = list(csv.DictReader(io.StringIO(zipfile.ZipFile(io.BytesIO(data)).read("codebook.csv")
                                               .decode("utf-8-sig"))))
    assert {(r["variable"], r["column"]) for r in codebook if r["file"] == f"multilingual_test-member.{fmt}"} >= \
        {(short, LONG), ("PARENT_KEY", "PARENT_KEY"), ("KEY", "KEY")}
    assert next(r for r in codebook if r["variable"] == "consent")["values"] == "1=yes (हाँ); 2=no (नहीं)"


def test_variable_names_are_valid_short_unique_and_reproducible():
    columns = ["a" * 40, "a" * 40 + "x", "A" * 33, "location-Latitude", "1st_visit", "_private", "in", "str12",
               "नाम", "ok"]
    names = variable_names(columns)
    assert names == ["a" * 32, "a" * 30 + "_2", "A" * 30 + "_3", "location_Latitude", "v1st_visit", "private",
                     "in_", "str12_", "v", "ok"]
    assert variable_names(columns) == names
    assert all(len(n) <= 32 for n in names) and len({n.lower() for n in names}) == len(names)


def test_household_income_columns_map_within_32_characters(app, store, project):
    plan = exports.prepare(store, app.extensions["ppa"].forms, project["id"], "household_income")
    for table in plan.tables:
        variables = plan_variables(exports.flat_columns(table))
        names = [v.name for v in variables]
        assert all(len(n) <= 32 and n[0].isalpha() for n in names), table.name
        assert len({n.lower() for n in names}) == len(names), table.name
        assert names == [v.name for v in plan_variables(exports.flat_columns(table))]   # reproducible
    main = plan_variables(exports.flat_columns(plan.main))
    assert [v.column for v in main if v.column.startswith("gps-")] == [f"gps-{p}" for p in exports.GEO_PARTS]


def test_household_income_stata_export_reads_back(collect_client, app, store, project, tmp_path):
    form = app.extensions["ppa"].forms.get(store, store.get_form(project["id"], "household_income")["current_def_id"])
    import random
    rng = random.Random(5)
    for i in range(3):
        answers = samples.household_income(rng, f"chanderi-w03-s{i}", members=3, on_list=False, head=f"Head {i}")
        assert collect_client.submit(samples.instance_xml(form, samples.fill(form, answers, rng))).status == 201
    plan = exports.prepare(store, app.extensions["ppa"].forms, project["id"], "household_income")
    data = b"".join(exports.WRITERS["dta"](plan))
    main, meta = _read(data, "household_income.dta", tmp_path)
    members, _ = _read(data, "household_income-member.dta", tmp_path)
    assert len(main) == 3 and len(members) == 9
    assert set(members["PARENT_KEY"]) == set(main["KEY"])
    assert all(len(name) <= 32 for name in main.columns)
    assert meta.variable_value_labels       # the form's select_ones carry value labels


def test_cli_hindi_csv_and_a_stata_zip(sent, tmp_path, project):
    out = tmp_path / "hh.zip"
    env = {"PPA_DATA": str(tmp_path), "PPA_LOG_LEVEL": "WARNING"}
    args = ["--project", str(project["id"]), "--form", "multilingual_test"]
    result = CliRunner().invoke(export, [*args, "--format", "csv", "--labels", "--lang", "hi", "-o", str(out)],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "उत्तरदाता का नाम" in _csv(out.read_bytes(), "multilingual_test.csv")[0]
    result = CliRunner().invoke(export, [*args, "--labels", "--lang", "mr", "-o", str(out)], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0 and "has no labels in 'mr'" in result.output
    result = CliRunner().invoke(export, [*args, "--format", "sav", "-o", str(tmp_path / "hh.sav.zip")], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "multilingual_test.sav" in zipfile.ZipFile(tmp_path / "hh.sav.zip").namelist()


def test_the_downloads_page_offers_the_form_languages_and_downloads_a_hindi_spss_zip(sent, browser, live, store,
                                                                                    project, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from .chromium import downloaded, sign_in
    from .web import make_users

    make_users(store, project["id"], store.create_project("Other")["id"])
    sign_in(browser, live.url, "manager@example.org")
    browser.get(f"{live.url}/projects/{project['id']}/downloads")
    form = browser.find_element(By.CSS_SELECTOR, '.download-form[data-form="multilingual_test"]')
    language = Select(form.find_element(By.CSS_SELECTOR, "select[name=lang]"))
    assert [o.get_attribute("value") for o in language.options] == ["", "English (en)", "Hindi (hi)"]
    language.select_by_value("Hindi (hi)")
    Select(form.find_element(By.CSS_SELECTOR, "select[data-format-switch]")).select_by_value("sav")
    assert form.get_attribute("action").endswith("/downloads/multilingual_test.sav")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    saved = downloaded(tmp_path / "downloads", "*.zip")
    main, meta = _read(saved.read_bytes(), "multilingual_test.sav", tmp_path)
    assert meta.column_names_to_labels["respondent"] == "उत्तरदाता का नाम" and list(main["consent"]) == [1, 2]


@pytest.mark.parametrize("fmt,date_format", [("dta", "%td"), ("sav", "DATE11")])
def test_an_export_with_no_rows_still_has_typed_labelled_variables(fmt, date_format, sent, live, project, api,
                                                                  tmp_path):
    data = _get(live, project, api, fmt, until="2000-01-01")
    main, meta = _read(data, f"multilingual_test.{fmt}", tmp_path)
    assert len(main) == 0 and "crops_wheat" in main.columns
    assert meta.original_variable_types["visit_date"] == date_format
    assert meta.variable_value_labels["consent"] == {1: "Yes", 2: "No"}


def test_choice_codes_are_numbered_in_list_order_unless_all_are_plain_whole_numbers():
    from server.xform_labels import ChoiceSource

    def numbers(*codes: str) -> dict[str, int]:
        source = ChoiceSource(labels={c: f"label {c}" for c in codes})
        (variable,) = plan_variables([exports.Flat("q", "q", "select1", "Q", source)])
        return variable.codes

    assert numbers("3", "1", "-2") == {"3": 3, "1": 1, "-2": -2}
    assert numbers("01", "1") == {"01": 1, "1": 2}            # 01 and 1 would both be 1
    assert numbers("yes", "no", "dk") == {"yes": 1, "no": 2, "dk": 3}


def test_stata_without_the_stats_extra_is_refused_with_a_clear_message(sent, live, project, api, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyreadstat" else real(name, *a))
    reply = requests.get(f"{live.url}/api/v1/projects/{project['id']}/forms/multilingual_test/export.dta",
                         headers=api, timeout=30)
    assert reply.status_code == 501
    assert "ppa-server[stats]" in reply.text and "501.1" in reply.text
