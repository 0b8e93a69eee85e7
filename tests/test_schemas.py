"""Unit tests of schemas/xform.py: coercion of XForm answers and the messages that name what is wrong."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from marshmallow import ValidationError

from schemas.xform import (Date, DateTime, Decimal, FileName, GeoPoint, GeoTrace, Integer, SelectMany, SelectOne,
                           Time, build_schema, check_list_values, schema_for)
from server import errors
from server.xforms import extract, parse_submission, parse_xform

from . import factories
from .helpers import COMMUNITY_XML, DATA

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def form():
    return parse_xform(COMMUNITY_XML)


def _load(form, xml: bytes) -> dict:
    return schema_for(form).load(extract(parse_submission(xml).root, form).record)


def _errors(form, xml: bytes) -> dict:
    with pytest.raises(ValidationError) as caught:
        _load(form, xml)
    return caught.value.messages


def _bad(field, value) -> str:
    with pytest.raises(ValidationError) as caught:
        field.deserialize(value)
    return " ".join(caught.value.messages)


def test_schemas_package_imports_first_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-c", "import schemas, server; print('ok')"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


# --------------------------------------------------------------------------- a whole submission

def test_the_collect_sample_loads_into_typed_values(form):
    record = _load(form, (DATA / "sample_submission.xml").read_bytes())
    assert record["participants"] == 14
    assert record["wealth_group"] == [{"wg_name": "Poorest", "wg_share": 40.0},
                                      {"wg_name": "Better off", "wg_share": 15.5}]
    assert record["priorities"] == "health water school roads"
    assert record["start"] == "2026-11-22T05:31:56.172Z"
    assert record["photo"] == "1732262400123.jpg"


def test_blank_optional_answers_load_as_none(form):
    record = _load(form, factories.community(location="", photo=""))
    assert record["location"] is None and record["photo"] is None


def test_an_absent_repeat_loads_as_an_empty_list(form):
    assert _load(form, factories.community(wealth_group=[]))["wealth_group"] == []


def test_required_answers_missing_or_blank_are_named(form):
    messages = _errors(form, factories.community(village="").replace(b"<consent>yes</consent>", b""))
    assert messages == {"village": ["This answer is required."], "consent": ["This answer is required."]}


def test_relevant_required_and_calculated_answers_are_not_enforced():
    xml = parse_xform(COMMUNITY_XML.replace(b'<bind nodeset="/data/photo" type="binary"',
                                            b'<bind nodeset="/data/photo" type="binary" required="true()"'))
    assert xml.field("photo").required and xml.field("photo").conditional
    assert _load(xml, factories.community(photo=""))["photo"] is None


def test_errors_in_repeats_are_keyed_by_row(form):
    xml = factories.community(wealth_group=[{"wg_name": "a", "wg_share": "1"}, {"wg_name": "b", "wg_share": "x"}])
    messages = _errors(form, xml)
    assert messages == {"wealth_group": {1: {"wg_share": ["Not a number: 'x'."]}}}
    problem = errors.invalid_submission(messages, "ppa_community")
    assert "wealth_group[2]/wg_share: Not a number: 'x'" in problem.message and problem.code == "400.43"


def test_schema_for_builds_once_per_form(form):
    assert schema_for(form) is schema_for(form)
    assert build_schema(form) is not build_schema(form)


# --------------------------------------------------------------------------- field by field

@pytest.mark.parametrize("text, value", [("14", 14), (" 7 ", 7), ("-3", -3), ("+2", 2), ("", None)])
def test_integer_accepts_whole_numbers(text, value):
    assert Integer(allow_none=True).deserialize(text) == value


@pytest.mark.parametrize("text", ["14.0", "1e3", "fourteen", "0x10", "1 000"])
def test_integer_refuses_everything_else(text):
    assert "Not a whole number" in _bad(Integer(), text)


def test_integer_given_a_number_not_text_keeps_the_range_rule():
    assert Integer().deserialize(5) == 5
    assert _bad(Integer(), 2**63) == f"Whole number out of range: {2**63}."


def test_decimal_given_a_number_not_text_keeps_the_finite_rule():
    assert Decimal().deserialize(2) == 2.0
    assert _bad(Decimal(), float("inf")) == "Special numeric values (nan or infinity) are not permitted."
    assert _bad(Decimal(), [1]) == "Not a number: [1]."


@pytest.mark.parametrize("text, value", [("40.0", 40.0), ("-1.5", -1.5), ("3", 3.0), ("1e3", 1000.0)])
def test_decimal_accepts_numbers(text, value):
    assert Decimal().deserialize(text) == value


@pytest.mark.parametrize("text", ["forty", "NaN", "inf", "-Infinity", "1,5"])
def test_decimal_refuses_non_finite_and_non_numbers(text):
    assert _bad(Decimal(), text)


def test_date_accepts_iso_dates_only():
    assert Date().deserialize("2026-11-22") == dt.date(2026, 11, 22)
    assert "YYYY-MM-DD" in _bad(Date(), "22/11/2026")
    assert "Not a valid date" in _bad(Date(), "2026-02-30")
    assert _bad(Date(), "2026-11-22T10:00:00")


@pytest.mark.parametrize("text", ["2026-11-22T05:31:56.172+05:30", "2026-11-22T05:31:56.172Z", "2026-11-22"])
def test_date_time_keeps_iso_text_as_given(text):
    assert DateTime().deserialize(text) == text


def test_date_time_and_time_refuse_non_iso():
    assert "date and time" in _bad(DateTime(), "yesterday")
    assert Time().deserialize("10:00:00.000+05:30") == "10:00:00.000+05:30"
    assert "time" in _bad(Time(), "ten o'clock")


@pytest.mark.parametrize("text", ["-1.3133 36.7892 1720.5 4.8", "24.7 78.1", "90 180 0", "-90 -180 0 0"])
def test_geopoint_accepts_two_to_four_numbers_in_range(text):
    assert GeoPoint().deserialize(text) == text


@pytest.mark.parametrize("text, words", [("91 0", "out of range"), ("0 181", "out of range"),
                                         ("north east", "numbers"), ("1", "latitude longitude"),
                                         ("1 2 3 4 5", "latitude longitude"), ("1 2 3 -1", "negative"),
                                         ("nan 2", "finite")])
def test_geopoint_refuses_bad_points_with_a_reason(text, words):
    assert words in _bad(GeoPoint(), text)


def test_geotrace_checks_every_point():
    assert GeoTrace().deserialize("1 2 0 0;3 4 0 0;") == "1 2 0 0;3 4 0 0;"
    assert "out of range" in _bad(GeoTrace(), "1 2;95 4")


def test_select_one_checks_its_choices():
    assert SelectOne({"yes", "no"}).deserialize("yes") == "yes"
    assert "'maybe' is not one of the choices" in _bad(SelectOne({"yes", "no"}), "maybe")
    assert SelectOne(None).deserialize("anything") == "anything"  # choices from a repeat: type only


def test_select_many_normalises_spaces_and_checks_choices():
    field = SelectMany({"a", "b", "c"})
    assert field.deserialize(" a  c ") == "a c"
    assert field.deserialize("a a") == "a a"
    assert "'d e' not among the choices" in _bad(field, "a d e")


def test_rank_refuses_an_item_twice():
    assert "twice" in _bad(SelectMany({"a", "b"}, ranked=True), "a b a")


@pytest.mark.parametrize("name", ["../x.jpg", "a/b.jpg", "a\\b.jpg", "..", "a\x00.jpg"])
def test_file_name_refuses_paths(name):
    assert "plain file name" in _bad(FileName(), name)


# --------------------------------------------------------------------------- server-managed lists

def _known(held: set[str]):
    """A list lookup in check_list_values' shape: the asked values that the list never held."""
    return lambda name, column, values: set(values) - held


def test_check_list_values_names_values_missing_from_a_managed_list(form):
    record = _load(form, factories.community(village="v404"))
    found = check_list_values(record, form, _known({"v001", "v002"}))
    assert found == {"village": ["'v404' is not in the list villages.csv."]}


def test_check_list_values_skips_lists_the_server_does_not_manage(form):
    record = _load(form, factories.community(village="v404"))
    assert check_list_values(record, form, lambda name, column, values: None) == {}


def test_check_list_values_walks_repeats_and_multiple_selections():
    xform = parse_xform(COMMUNITY_XML
                        .replace(b'<input ref="/data/wealth_group/wg_name">',
                                 b'<select ref="/data/wealth_group/wg_name"><itemset nodeset="instance(\'villages\')'
                                 b'/root/item"><value ref="name"/><label ref="label"/></itemset>')
                        .replace(b"<label>Wealth group name</label>\n        </input>",
                                 b"<label>Wealth group name</label>\n        </select>"))
    assert xform.field("wg_name").type == "select" and xform.field("wg_name").choice_list == "villages.csv"
    record = {"wealth_group": [{"wg_name": "v001 v002"}, {"wg_name": "v001 v404"}], "village": "v001"}
    found = check_list_values(record, xform, _known({"v001", "v002"}))
    assert found == {"wealth_group": {1: {"wg_name": ["'v404' is not in the list villages.csv."]}}}
