"""The questionnaires in English, Hindi, Marathi and Odia (issue #13, items 1 and 2): every text of every translated
form in all four languages and in its script, the glossary's terms used the same way throughout, a text rendering
of each workbook that scripts/compile_forms --check keeps current, JavaRosa loading each form in each language, and a
form filled in Hindi or Odia submitting and aggregating as an English one (the data are codes)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from server import catalog, forms_build
from server.form_languages import (LANGUAGES, NOT_YET_TRANSLATED, Term, Text, glossary_problems, read_glossary,
                                   text_problems, translation_name, workbook_problems, workbook_texts)
from server.xforms import parse_xform

from . import chromium
from .javarosa import JavaRosaError, fill, load_form
from .test_ranking_form import GROUP_A, GROUP_B, HAMLET, hh, listing  # noqa: F401  (the listing fixture)
from .web import make_users

FORMS = Path(__file__).parent.parent / "forms"
DATA = Path(__file__).parent / "data"
TRANSLATED = sorted(p.stem for p in FORMS.glob("*.xlsx") if p.stem not in NOT_YET_TRANSLATED)
METHOD_TERMS = {"happy", "average", "sad", "informant group", "pile", "card sort", "poverty node", "household",
                "hamlet", "social map", "social group", "Scheduled Tribe", "Scheduled Caste", "Other Backward Class",
                "general", "validation meeting"}


def test_all_three_forms_are_translated_and_none_waits():
    assert TRANSLATED == ["household_income", "poverty_nodes", "well_being_ranking"]
    assert NOT_YET_TRANSLATED == frozenset()
    income = workbook_texts(FORMS / "household_income.xlsx")
    assert len(income) > 500 and all(t.texts[code] for t in income for code in LANGUAGES)


@pytest.mark.parametrize("form_id", TRANSLATED)
def test_every_text_is_in_all_four_languages_in_its_script(form_id):
    items = workbook_texts(FORMS / f"{form_id}.xlsx")
    kinds = {t.kind for t in items}
    assert kinds == {"label", "hint", "required_message", "constraint_message"}
    assert len(items) > 150
    assert [p for item in items for p in text_problems(item)] == []


@pytest.mark.parametrize("form_id", TRANSLATED)
def test_the_glossary_terms_are_used_as_the_glossary_renders_them(form_id):
    assert glossary_problems(workbook_texts(FORMS / f"{form_id}.xlsx"), read_glossary(FORMS / "glossary.csv")) == []


def test_the_glossary_holds_the_methods_terms_in_every_language():
    terms = read_glossary(FORMS / "glossary.csv")
    assert METHOD_TERMS <= {t.term for t in terms}
    for term in terms:
        assert all(term.renderings[code] for code in ("hi", "mr", "or")), term.term
        assert term.note, term.term


def _text(**texts) -> Text:
    return Text("survey", 9, "q", "label", {"en": "", "hi": "", "mr": "", "or": "", **texts})


def test_the_script_check_refuses_latin_words_the_wrong_script_and_a_missing_language():
    good = _text(en="Pile ${pile_no} (SHG)", hi="ढेर ${pile_no} (SHG)", mr="ढीग ${pile_no} (SHG)",
                 **{"or": "ଗଦା ${pile_no} (SHG)"})
    assert text_problems(good) == []
    latin = text_problems(_text(en="Pile", hi="ढेर pile", mr="ढीग", **{"or": "ଗଦା"}))
    assert latin == ["survey!9 q label [hi]: Latin word 'pile'"]
    devanagari_in_odia = text_problems(_text(en="Pile", hi="ढेर", mr="ढीग", **{"or": "ढेर"}))
    assert len(devanagari_in_odia) == 3 and "not in the Odia script" in devanagari_in_odia[0]
    not_in_english = text_problems(_text(en="Pile", hi="ढेर (SHG)", mr="ढीग", **{"or": "ଗଦା"}))
    assert not_in_english == ["survey!9 q label [hi]: Latin word 'SHG'"]
    missing = text_problems(_text(en="Pile", hi="ढेर", mr="ढीग"))
    assert missing == ["survey!9 q label: no Odia text"]


def test_the_script_check_refuses_changed_references_and_numbers():
    problems = text_problems(_text(en="From 1 to ${n_piles}", hi="1 से ${n_pile} तक", mr="2 ते ${n_piles}",
                                   **{"or": "1 ରୁ ${n_piles}"}))
    assert problems == ["survey!9 q label [hi]: ${...} references differ from the English",
                        "survey!9 q label [mr]: numbers differ from the English"]


def test_the_glossary_check_names_a_term_rendered_otherwise():
    pile = Term("pile", {"hi": ("ढेर",), "mr": ("ढीग", "ढिग"), "or": ("ଗଦା",)}, "")
    node = Term("node", {"hi": ("नोड",), "mr": ("नोड",), "or": ("ନୋଡ",)}, "")
    poverty_node = Term("poverty node", {"hi": ("गरीबी नोड",), "mr": ("दारिद्र्य नोड",), "or": ("ଦାରିଦ୍ର୍ୟ ନୋଡ",)}, "")
    ok = _text(en="The piles", hi="ढेरों", mr="ढिगांची", **{"or": "ଗଦା"})
    assert glossary_problems([ok], [pile]) == []
    wrong = _text(en="Poverty nodes", hi="गरीबी समूह", mr="दारिद्र्य नोड", **{"or": "ଦାରିଦ୍ର୍ୟ ନୋଡ"})
    assert glossary_problems([wrong], [node, poverty_node]) == [
        "survey!9 q label [hi]: 'poverty node' is not rendered as 'गरीबी नोड'"]


@pytest.mark.parametrize("form_id", TRANSLATED)
def test_the_compiled_form_has_four_translations_with_english_by_default(form_id):
    wb = openpyxl.load_workbook(FORMS / f"{form_id}.xlsx", read_only=True)
    header, values = list(wb["settings"].iter_rows(values_only=True))[:2]
    assert dict(zip(header, values))["default_language"] == "English (en)"
    xml = (FORMS / f"{form_id}.xml").read_text(encoding="utf-8")
    langs = re.findall(r'<translation lang="([^"]+)"( default="true\(\)")?>', xml)
    assert langs == [("English (en)", ' default="true()"'), ("Hindi (hi)", ""), ("Marathi (mr)", ""),
                     ("Odia (or)", "")]


@pytest.mark.parametrize("language", [translation_name(code) for code in LANGUAGES])
@pytest.mark.parametrize("form_id", TRANSLATED)
def test_javarosa_loads_the_form_in_each_language(form_id, language):
    load_form(FORMS / f"{form_id}.xml", FORMS, language)   # raises JavaRosaError('language') on a missing text


def test_javarosa_refuses_a_language_the_form_does_not_have():
    with pytest.raises(JavaRosaError) as refused:
        load_form(FORMS / "household_income.xml", FORMS, "Tamil (ta)")
    assert refused.value.kind == "language"
    with pytest.raises(JavaRosaError) as refused:
        load_form(DATA / "household_income_2026113009.xml", FORMS, "Hindi (hi)")   # the English-only version
    assert refused.value.kind == "language"


def test_the_text_rendering_shows_every_language_and_check_fails_when_it_is_stale(tmp_path):
    rendering = (FORMS / "text" / "well_being_ranking.md").read_text(encoding="utf-8")
    assert "- label::Hindi (hi): समूह ने कितने ढेर बनाए?" in rendering
    assert "- label::Odia (or): ଦଳ କେତୋଟି ଗଦା କଲା?" in rendering
    copy = tmp_path / "forms"
    shutil.copytree(FORMS, copy)
    assert forms_build.main(["--check", "--forms", str(copy)]) == 0
    wb = openpyxl.load_workbook(copy / "poverty_nodes.xlsx")
    survey = wb["survey"]
    header = [c.value for c in survey[1]]
    column = header.index("label::Hindi (hi)") + 1
    row = next(r for r in range(2, survey.max_row + 1) if survey.cell(r, column).value == "नोड")
    survey.cell(row, column).value = "नोड (नया)"
    wb.save(copy / "poverty_nodes.xlsx")
    assert forms_build.stale(copy) == ["poverty_nodes.xlsx -> poverty_nodes.xml",
                                             "poverty_nodes.xlsx -> text/poverty_nodes.md"]
    assert forms_build.main(["--check", "--forms", str(copy)]) == 1


def test_check_fails_on_a_translation_in_the_wrong_script(tmp_path):
    copy = tmp_path / "forms"
    shutil.copytree(FORMS, copy)
    wb = openpyxl.load_workbook(copy / "poverty_nodes.xlsx")
    survey = wb["survey"]
    header = [c.value for c in survey[1]]
    column = header.index("label::Odia (or)") + 1
    row = next(r for r in range(2, survey.max_row + 1) if survey.cell(r, column).value == "ନୋଡ")
    survey.cell(row, column).value = "नोड"      # Devanagari where Odia belongs
    wb.save(copy / "poverty_nodes.xlsx")
    problems = workbook_problems(copy / "poverty_nodes.xlsx", copy / "glossary.csv")
    assert problems and all("[or]" in p for p in problems)
    assert forms_build.language_problems(copy)


def _data_part(xml: bytes) -> bytes:
    """The submission without what differs between two fills: the instance id and the start/end times."""
    text = xml.decode("utf-8")
    for tag in ("start", "end", "instanceID"):
        text = re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}/>", text)
    return text.encode("utf-8")


def test_a_fill_in_hindi_gives_the_same_submission_as_in_english_and_shows_hindi_text():
    english = fill(FORMS / "well_being_ranking.xml", FORMS, GROUP_A)
    hindi = fill(FORMS / "well_being_ranking.xml", FORMS, GROUP_A, language="Hindi (hi)")
    assert _data_part(hindi.xml) == _data_part(english.xml)
    assert hindi.prompts == english.prompts
    n_piles = next(p for p in hindi.prompts if p.endswith("/n_piles[1]"))
    assert english.texts[n_piles] == "How many piles did the group make?"
    assert hindi.texts[n_piles] == "समूह ने कितने ढेर बनाए?"


def test_rankings_filled_in_hindi_and_odia_aggregate_as_english_ones(phone, listing, store, project,  # noqa: F811
                                                                      tmp_path):
    served = phone.download_forms()["well_being_ranking"]
    form = tmp_path / "well_being_ranking.xml"
    form.write_bytes(served["xml"])
    for script, language in ((GROUP_A, "Hindi (hi)"), (GROUP_B, "Odia (or)")):
        reply = phone.submit(fill(form, served["media"], script, language=language).xml)
        assert reply.status == 201, reply.text
    # the same figures as test_ranking_form's English sessions of groups A and B
    rows = {r["hh_id"]: r for r in store.wb_households(project["id"], 1)}
    assert (rows[hh(3)]["final"], rows[hh(3)]["n_groups"]) == ("happy", 2)
    assert (rows[hh(6)]["final"], rows[hh(6)]["n_groups"]) == ("average", 2)
    assert (rows[hh(4)]["final"], rows[hh(4)]["n_groups"]) == ("sad", 2)
    assert rows[hh(5)]["n_groups"] == 1 and rows[hh(5)]["flagged"]
    assert (rows[f"{HAMLET}-m57"]["n_groups"], rows[f"{HAMLET}-m57"]["final"]) == (2, "sad")


@pytest.mark.parametrize("old", ["well_being_ranking_2026113002.xml", "poverty_nodes_2026113001.xml"])
def test_the_english_only_version_is_still_accepted(old, phone, listing, store, project):  # noqa: F811
    from .test_nodes_form import session as node_session
    xml = (DATA / old).read_bytes()
    form = parse_xform(xml)
    current = parse_xform((FORMS / f"{form.form_id}.xml").read_bytes())
    assert int(form.version) < int(current.version) and b"Hindi (hi)" not in xml
    catalog.publish(store, project["id"], xml, old, validate=False)
    script = GROUP_A if form.form_id == "well_being_ranking" else node_session()
    reply = phone.submit(fill(DATA / old, FORMS, script).xml)
    assert reply.status == 201, reply.text
    versions = {r[0] for r in store.db.execute("SELECT version FROM form_defs")}
    assert {form.version, current.version} <= versions


# --------------------------------------------------------------------------- pages in the user's language

@pytest.fixture
def ranked_in_hindi(phone, listing, store, project, tmp_path):  # noqa: F811
    """Group A's ranking, filled in Hindi on the phone and sent to the live server; its submission id."""
    served = phone.download_forms()["well_being_ranking"]
    form = tmp_path / "well_being_ranking.xml"
    form.write_bytes(served["xml"])
    assert phone.submit(fill(form, served["media"], GROUP_A, language="Hindi (hi)").xml).status == 201
    make_users(store, project["id"], store.create_project("Other")["id"])
    return store.db.execute("SELECT id FROM submissions").fetchone()[0]


def test_the_submission_page_shows_hindi_labels_with_a_served_devanagari_font(ranked_in_hindi, browser, live,
                                                                             project):
    chromium.sign_in(browser, live.url, "researcher@example.org")
    browser.get(f"{live.url}/account")
    Select(browser.find_element(By.ID, "label-language")).select_by_value("hi")
    chromium.click_and_wait(browser, browser.find_element(By.ID, "set-language"))
    assert "Labels are now shown in Hindi" in browser.page_source
    browser.get(f"{live.url}/projects/{project['id']}/submissions/{ranked_in_hindi}")
    answers = browser.find_element(By.ID, "answers")
    assert answers.get_attribute("lang") == "hi"
    assert "समूह ने कितने ढेर बनाए?" in answers.text                       # n_piles, a question label
    assert "सुखी (सबसे अच्छी हालत) (happy)" in answers.text                  # pile_level, a choice label and code
    assert "How many piles did the group make?" not in answers.text
    loaded = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.load('16px \"PPA Devanagari\"', 'ढेर').then(f => done(f.length), e => done(String(e)));")
    assert loaded == 1                                         # the @font-face from app.css, fetched from this server
    fonts = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                   ".filter(n => n.includes('/static/fonts/'))")
    assert fonts and all(f.startswith(live.url) for f in fonts)


def test_a_user_without_a_choice_sees_the_projects_default_and_their_own_choice_wins(ranked_in_hindi, app,
                                                                                      project):
    from .web import csrf, sign_in
    manager, researcher = app.test_client(), app.test_client()
    assert sign_in(manager, "manager@example.org").status_code == 302
    assert sign_in(researcher, "researcher@example.org").status_code == 302
    page = f"/projects/{project['id']}/submissions/{ranked_in_hindi}"
    assert "How many piles did the group make?" in researcher.get(page).get_data(as_text=True)   # English default
    token = csrf(manager.get(f"/projects/{project['id']}/forms").get_data(as_text=True))
    set_default = manager.post(f"/projects/{project['id']}/language", data={"language": "or", "csrf_token": token})
    assert set_default.status_code == 302
    assert "ଦଳ କେତୋଟି ଗଦା କଲା?" in researcher.get(page).get_data(as_text=True)
    token = csrf(researcher.get("/account").get_data(as_text=True))
    assert researcher.post("/account/language", data={"language": "mr", "csrf_token": token}).status_code == 302
    assert "गटाने किती ढीग केले?" in researcher.get(page).get_data(as_text=True)
    assert researcher.post("/account/language", data={"language": "", "csrf_token": token}).status_code == 302
    assert "ଦଳ କେତୋଟି ଗଦା କଲା?" in researcher.get(page).get_data(as_text=True)


def test_a_language_that_is_not_offered_is_refused(ranked_in_hindi, app, store, project):
    from .web import csrf, sign_in
    manager = app.test_client()
    assert sign_in(manager, "manager@example.org").status_code == 302
    token = csrf(manager.get("/account").get_data(as_text=True))
    for url in ("/account/language", f"/projects/{project['id']}/language"):
        refused = manager.post(url, data={"language": "fr'><script>", "csrf_token": token})
        assert refused.status_code == 400 and "Hindi (hi)" in refused.get_data(as_text=True)
    assert store.get_project(project["id"])["label_language"] == "en"
    assert store.user_by_email("manager@example.org")["label_language"] is None
    researcher = app.test_client()
    assert sign_in(researcher, "researcher@example.org").status_code == 302
    token = csrf(researcher.get("/account").get_data(as_text=True))
    assert researcher.post(f"/projects/{project['id']}/language",
                           data={"language": "hi", "csrf_token": token}).status_code == 403
