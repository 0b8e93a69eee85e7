"""The three PPA questionnaires: compiled XForms are current, pass ODK Validate, and carry the fields
the server relies on (lists, aggregates, edits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import catalog, lists
from server.forms_build import stale
from server.xforms import md5_hash, parse_xform

FORMS = Path(__file__).parent.parent / "forms"
FORM_IDS = ["well_being_ranking", "poverty_nodes", "household_income"]

# name -> type the server relies on (select1 / select / int / decimal / date / geopoint / string)
CONTRACT = {
    "well_being_ranking": {
        "cluster": "select1", "hamlet": "select1", "sector": "select1", "round": "int", "gps": "geopoint",
        "exercise_date": "date", "group_id": "select1", "n_men": "int", "n_women": "int", "n_piles": "int",
        "pile_label": "string", "pile_level": "select1", "pile_hh": "select", "hh_unknown": "select",
        "hh_gone": "select", "gone_hh_id": "string", "gone_reason": "select1", "gone_into": "select1",
        "new_hh_card": "string", "new_hh_head": "string", "new_hh_pile": "select1", "new_hh_id": "string",
        "list_confirmed": "select1", "n_listed_hh": "int", "group_size": "int", "age_min": "int", "age_max": "int",
        "self_happy": "int", "self_average": "int", "self_sad": "int",
    },
    "poverty_nodes": {
        "cluster": "select1", "round": "int", "node_id": "string", "node_is_new": "select1",
        "value_chain_position": "select1", "est_households": "int", "est_workers": "int",
        "women_workers": "int", "men_workers": "int", "problem_dimension": "select1",
        "problem_severity": "select1", "capacity_score": "select1", "action_text": "string",
    },
    "household_income": {
        "cluster": "select1", "hamlet": "select1", "sector": "select1", "round": "int", "hh_on_list": "select1",
        "household": "select1", "new_hh_id": "string", "hh_id": "string", "node": "select1",
        "m_relation": "select1", "m_sex": "select1", "m_age": "int", "religion": "select1",
        "social_group": "select1", "land_unit": "select1", "land_owned": "decimal", "income_annual": "string",
        "income_monthly": "string", "consumption_monthly": "string", "loan_source": "select1", "photo": "binary",
    },
}
REPEATS = {"well_being_ranking": {"pile", "gone", "new_household"}, "poverty_nodes": {"problem", "action"},
           "household_income": {"member", "wage", "enterprise", "loan"}}
LIST_FIELDS = {"cluster": "clusters.csv", "hamlet": "hamlets.csv", "household": "households.csv",
               "node": "nodes.csv", "node_existing": "nodes.csv", "pile_hh": "households.csv",
               "hh_unknown": "households.csv", "hh_gone": "households.csv", "gone_into": "households.csv"}


def _form(form_id: str):
    return parse_xform((FORMS / f"{form_id}.xml").read_bytes())


def test_compiled_forms_are_current():
    assert sorted(p.stem for p in FORMS.glob("*.xlsx")) == sorted(FORM_IDS)
    assert stale(FORMS) == []


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_form_passes_odk_validate(form_id):
    catalog.validate_xform((FORMS / f"{form_id}.xml").read_bytes())  # raises FormBuildError on any error


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_form_has_id_version_instance_id_and_name(form_id):
    form = _form(form_id)
    assert form.form_id == form_id
    assert form.version.isdigit() and len(form.version) == 10
    paths = {f.path for f in form.fields}
    assert f"/{form.root_name}/meta/instanceID" in paths
    assert f"/{form.root_name}/meta/instanceName" in paths
    assert not form.encrypted


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_form_has_the_fields_the_server_relies_on(form_id):
    form = _form(form_id)
    by_name = {f.name: f for f in form.fields}
    missing = [name for name in CONTRACT[form_id] if name not in by_name]
    assert missing == []
    wrong = {name: by_name[name].type for name, kind in CONTRACT[form_id].items()
             if kind != "string" and by_name[name].type != kind}
    assert wrong == {}
    assert REPEATS[form_id] <= {form.repeat_key(r) for r in form.repeats}


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_list_questions_draw_from_server_managed_csvs(form_id):
    form = _form(form_id)
    for f in form.fields:
        if f.name in LIST_FIELDS:
            assert f.choice_list == LIST_FIELDS[f.name], f.name
    assert set(lists.managed(form.media)) == set(form.media)
    assert "clusters.csv" in form.media


def test_field_names_are_unique_within_each_form():
    for form_id in FORM_IDS:
        form = _form(form_id)
        assert all(f.key == f.name for f in form.fields if "/meta/" not in f.path), form_id


def test_sample_lists_have_the_columns_the_forms_filter_on():
    for name, columns in lists.LISTS.items():
        found, items = lists.read_csv((FORMS / name).read_bytes(), name)
        assert found[: len(columns)] == columns
        assert items


def test_published_forms_are_served_byte_for_byte(store, project):
    for form_id in FORM_IDS:
        form = store.get_form(project["id"], form_id)
        body = store.form_def_xml(form["current_def_id"])
        assert body == (FORMS / f"{form_id}.xml").read_bytes()
        assert store.list_forms(project["id"])[0]["hash"].startswith("md5:")
        assert md5_hash(body) == next(f["hash"] for f in store.list_forms(project["id"])
                                      if f["xml_form_id"] == form_id)


def test_list_ids_with_spaces_are_refused():
    with pytest.raises(lists.ListFileError, match="row 2, column name"):
        lists.read_csv(b"name,label,hamlet,cluster,node,card\nchanderi w03 001,X,chanderi-w03,chanderi,,1\n",
                       "households.csv")
