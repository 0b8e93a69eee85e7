"""Submissions are checked against their form before anything is stored (beyond Central): a hard
problem is a 400 naming the field with nothing written; a soft one is a quality flag on a 201."""

from __future__ import annotations

import random

import pytest

from bench import samples

from . import factories
from .helpers import ResponseGuard, assert_openrosa_error, assert_success, counts, publish, variant

PHOTO = "1732262400123.jpg"


@pytest.fixture(autouse=True)
def guard(app):
    checker = ResponseGuard(app)
    yield checker
    assert checker.violations == []


@pytest.fixture
def before(store, project):
    return counts(store)


def _refused(collect, store, before, xml: bytes, *named: str) -> str:
    """400 in OpenRosa XML whose message names each field; no submission, blob or typed row written."""
    said = assert_openrosa_error(collect.submit(xml, {PHOTO: b"\xff\xd8 a photo that must not be kept"}), 400)
    for name in named:
        assert name in said, (name, said)
    assert counts(store) == before
    return said


def _formdef(app, store, project, form_id):
    form = store.get_form(project["id"], form_id)
    if form is None:
        pytest.skip(f"forms/{form_id}.xml is not there")
    return app.extensions["ppa"].forms.get(store, form["current_def_id"])


@pytest.fixture
def household(app, store, project):
    """Build household_income submissions (a household not yet on the list) with some answers changed."""
    form = _formdef(app, store, project, "household_income")

    def build(**changes) -> bytes:
        answers = samples.household_income(random.Random(7), "chanderi-w03-h901", on_list=False)
        answers.update(changes)
        return samples.instance_xml(form, answers)

    return build


# --------------------------------------------------------------------------- types

def test_int_that_is_not_a_whole_number_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(participants="fourteen"), "participants", "fourteen")


def test_int_with_a_fraction_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(participants="14.5"), "participants")


def test_decimal_that_is_not_a_number_is_refused(collect, store, before):
    xml = factories.community(wealth_group=[{"wg_name": "Poorest", "wg_share": "forty"}])
    _refused(collect, store, before, xml, "wealth_group[1]/wg_share", "forty")


@pytest.mark.parametrize("value", ["NaN", "inf"])
def test_decimal_that_is_not_finite_is_refused(collect, store, before, value):
    xml = factories.community(wealth_group=[{"wg_name": "Poorest", "wg_share": value}])
    _refused(collect, store, before, xml, "wg_share")


@pytest.mark.parametrize("value", ["22/11/2026", "2026-02-30", "tomorrow"])
def test_date_that_is_not_a_date_is_refused(collect, store, project, value):
    publish(store, project["id"], variant(version="2024112202", extra_field=("visit_date", "date")))
    before = counts(store)
    xml = factories.community(version="2024112202", visit_date=value)
    _refused(collect, store, before, xml, "visit_date")


def test_date_time_that_is_not_iso_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(start="yesterday morning"), "start")


@pytest.mark.parametrize("value", ["95.0 36.7", "-1.3 200.0 0 5", "north east", "1 2 3 4 5", "1", "1.0 2.0 3 -4"])
def test_malformed_geopoint_is_refused(collect, store, before, value):
    _refused(collect, store, before, factories.community(location=value), "location")


def test_select_one_value_not_in_the_choices_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(consent="maybe"), "consent", "maybe")


def test_rank_value_not_in_the_choices_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(priorities="health water fishing"), "priorities", "fishing")


def test_rank_with_a_repeated_item_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(priorities="health health water"), "priorities")


def test_missing_required_answer_is_refused(collect, store, before):
    _refused(collect, store, before, factories.community(village=""), "village", "required")


def test_absent_required_element_is_refused(collect, store, before):
    xml = factories.community().replace(b"<participants>14</participants>", b"")
    _refused(collect, store, before, xml, "participants", "required")


def test_element_not_in_the_form_is_refused(collect, store, before):
    xml = factories.community(bribe="100")
    _refused(collect, store, before, xml, "/data/bribe", "not in the form")


def test_every_bad_field_is_named_in_one_message(collect, store, before):
    xml = factories.community(participants="many", consent="maybe", location="x y")
    _refused(collect, store, before, xml, "participants", "consent", "location")


def test_csv_choice_not_in_a_server_managed_list_is_refused(collect, store, before, household):
    _refused(collect, store, before, household(cluster="atlantis"), "cluster", "atlantis", "clusters.csv")


def test_hamlet_not_in_the_server_managed_list_is_refused(collect, store, before, household):
    _refused(collect, store, before, household(hamlet="nowhere-h99"), "hamlet", "hamlets.csv")


def test_int_in_a_nested_repeat_is_refused_with_its_row(collect, store, before, household):
    answers = samples.household_income(random.Random(7), "chanderi-w03-h901", on_list=False)
    members = answers["member"]
    members[2]["m_age"] = "three"
    _refused(collect, store, before, household(member=members), "member[3]/m_age")


def test_static_csv_choices_are_not_checked(collect):
    assert_success(collect.submit(factories.community(village="v999")))  # villages.csv is not server-managed


def test_blank_optional_answers_are_accepted(collect):
    assert_success(collect.submit(factories.community(location="", photo="", wealth_group=[])))


# --------------------------------------------------------------------------- typed rows

def test_typed_rows_land_in_form_and_repeat_tables(collect, store, project):
    instance_id = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=instance_id), {PHOTO: b"\xff\xd8"}))
    main = store.rows(f"data_{project['id']}_ppa_community")
    assert len(main) == 1
    assert main[0]["_instance_id"] == instance_id and main[0]["participants"] == 14
    assert main[0]["priorities"] == "health water school roads" and main[0]["_form_version"] == "2024112201"
    groups = store.rows(f"data_{project['id']}_ppa_community__wealth_group")
    assert [(g["_parent_key"], g["_index"], g["wg_name"], g["wg_share"]) for g in groups] == [
        (instance_id, 1, "Poorest", 40.0), (instance_id, 2, "Better off", 15.5)]
    assert {g["_submission_id"] for g in groups} == {main[0]["_submission_id"]}


def test_an_edit_replaces_the_typed_rows(collect, store, project):
    first = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=first)))
    second = factories.new_instance_id()
    assert_success(collect.submit(factories.community(instance_id=second, deprecated_id=first, participants="9",
                                                      wealth_group=[{"wg_name": "All", "wg_share": "100"}])))
    main = store.rows(f"data_{project['id']}_ppa_community")
    assert [(r["_instance_id"], r["participants"]) for r in main] == [(second, 9)]
    groups = store.rows(f"data_{project['id']}_ppa_community__wealth_group")
    assert [(g["_parent_key"], g["wg_name"]) for g in groups] == [(second, "All")]


def test_household_rows_link_members_to_the_submission(collect, store, project, household):
    xml = household()
    assert_success(collect.submit(xml))
    main = store.rows(f"data_{project['id']}_household_income")
    members = store.rows(f"data_{project['id']}_household_income__member")
    instance_id = main[0]["_instance_id"]
    assert len(main) == 1 and len(members) == 5
    assert {m["_parent_key"] for m in members} == {instance_id}
    assert [m["_key"] for m in members][:2] == [f"{instance_id}/member[1]", f"{instance_id}/member[2]"]
    assert all(isinstance(m["m_age"], int) for m in members)


# --------------------------------------------------------------------------- soft problems

def _flags(store, project, form_id, instance_id):
    form = store.get_form(project["id"], form_id)
    return [f["code"] for f in store.flags(store.get_submission(form["id"], instance_id)["def_id"])]


def test_short_interview_is_stored_with_a_flag(collect, store, project, household):
    xml = household(start="2026-11-20T10:00:00.000+05:30", end="2026-11-20T10:06:00.000+05:30")
    assert_success(collect.submit(xml))
    instance_id = factories.instance_id_of(xml)
    assert "short_interview" in _flags(store, project, "household_income", instance_id)
    assert store.rows(f"data_{project['id']}_household_income")


def test_interview_ending_before_it_starts_is_stored_with_a_clock_flag(collect, store, project):
    xml = factories.community(start="2026-11-22T06:00:00.000+05:30", end="2026-11-22T05:00:00.000+05:30")
    assert_success(collect.submit(xml))
    assert _flags(store, project, "ppa_community", factories.instance_id_of(xml)) == ["clock"]


def test_normal_interview_has_no_flags(collect, store, project):
    xml = factories.community()
    assert_success(collect.submit(xml))
    assert _flags(store, project, "ppa_community", factories.instance_id_of(xml)) == []


def test_household_age_outlier_is_a_flag_not_a_refusal(collect, store, project, household):
    answers = samples.household_income(random.Random(7), "chanderi-w03-h901", on_list=False)
    answers["member"][2]["m_age"] = 130
    xml = household(member=answers["member"])
    assert_success(collect.submit(xml))
    assert "age_outlier" in _flags(store, project, "household_income", factories.instance_id_of(xml))
