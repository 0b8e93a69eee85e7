"""The JavaRosa harness itself: a small form with a CSV list, a choice filter, a constraint and repeats."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
import pytest
from pyxform.xls2xform import convert

from tests.javarosa import JavaRosaError, fill, load_form

FORMS = Path(__file__).resolve().parent.parent / "forms"

FORM_MD = """
| survey |
| | type | name | label | constraint | choice_filter | required | relevant |
| | select_one_from_file hamlets.csv | hamlet | Hamlet | | | yes | |
| | integer | members | Members | . >= 1 and . <= 30 | | yes | |
| | begin repeat | visit | Visit | | | | |
| | select_multiple_from_file households.csv | seen | Households seen | | hamlet=${hamlet} | | |
| | end repeat | | | | | | |
| | text | remark | Remark | | | | ${members} > 5 |
| settings |
| | form_id | version |
| | harness_check | 1 |
"""

HAMLETS = b"name,label\nw01,Ward 1\nw02,Ward 2\n"
HOUSEHOLDS = b"name,label,hamlet\nw01-001,A,w01\nw01-002,B,w01\nw02-001,C,w02\n"


@pytest.fixture(scope="module")
def form(tmp_path_factory):
    path = tmp_path_factory.mktemp("form") / "harness_check.xml"
    path.write_text(convert(xlsform=FORM_MD, file_type=".md", form_name="data").xform, encoding="utf-8")
    return path


MEDIA = {"hamlets.csv": HAMLETS, "households.csv": HOUSEHOLDS}


def test_fill_writes_the_submission_with_repeats_and_filtered_choices(form):
    result = fill(form, MEDIA, [("hamlet", "w01"), ("members", "7"), ("seen", "w01-001 w01-002"),
                                ("@visit", "yes"), ("seen", "w01-002"), ("remark", "second visit")])
    root = etree.fromstring(result.xml)
    assert root.findtext("hamlet") == "w01"
    assert [v.findtext("seen") for v in root.findall("visit")] == ["w01-001 w01-002", "w01-002"]
    assert root.findtext("remark") == "second visit"
    assert root.findtext("meta/instanceID").startswith("uuid:")
    assert result.prompts[:2] == ["/data/hamlet[1]", "/data/members[1]"]


def test_a_constraint_refuses_the_answer(form):
    with pytest.raises(JavaRosaError) as refused:
        fill(form, MEDIA, [("hamlet", "w01"), ("members", "31")])
    assert refused.value.kind == "constraint" and "/members" in str(refused.value)


def test_a_required_question_left_blank_is_refused(form):
    with pytest.raises(JavaRosaError) as refused:
        fill(form, MEDIA, [("hamlet", "w01")])
    assert refused.value.kind == "required"


def test_a_choice_the_filter_hides_cannot_be_chosen(form):
    with pytest.raises(JavaRosaError) as refused:
        fill(form, MEDIA, [("hamlet", "w01"), ("members", "2"), ("seen", "w02-001")])
    assert refused.value.kind == "no_choice" and "w01-001 w01-002" in str(refused.value)


def test_an_answer_for_a_question_not_reached_is_reported(form):
    with pytest.raises(JavaRosaError) as refused:
        fill(form, MEDIA, [("hamlet", "w01"), ("members", "2"), ("remark", "not asked: members <= 5")])
    assert refused.value.kind == "unused"


def test_a_csv_with_only_its_header_is_a_placeholder_collect_refuses(form):
    with pytest.raises(JavaRosaError) as refused:
        load_form(form, {"hamlets.csv": HAMLETS, "households.csv": b"name,label,hamlet\n"})
    assert refused.value.kind == "placeholder" and "households" in str(refused.value)


def test_a_missing_csv_is_a_placeholder_too(form):
    with pytest.raises(JavaRosaError) as refused:
        load_form(form, {"hamlets.csv": HAMLETS})
    assert refused.value.kind == "placeholder"


@pytest.mark.parametrize("form_id", ["well_being_ranking", "poverty_nodes", "household_income"])
def test_each_questionnaire_loads_with_the_sample_lists(form_id):
    load_form(FORMS / f"{form_id}.xml", FORMS)
