"""The chart descriptions (server/charts.py) from report numbers: pure, no browser. GPS answers come from phones and
are not trusted to be points on Earth."""

from __future__ import annotations

import datetime as dt

import pytest

from server import charts


@pytest.mark.parametrize("value, expected", [
    ("24.7180 78.1390 410.0 5.0", (24.718, 78.139)), ("-33.9 18.4", (-33.9, 18.4)),
    ("", None), (None, None), ("24.7", None), ("north east", None), ("91 78", None), ("24 181", None),
    ("nan 78", None), ("inf 78", None), ("24.7 -inf", None), ("1e400 78", None)])
def test_a_geopoint_is_a_point_on_earth_or_none(value, expected):
    assert charts.geopoint(value) == expected


def test_households_without_a_usable_point_are_counted_not_drawn_and_names_go_under_their_points():
    rows = [{"hh_id": "a", "hamlet": "h1", "gps": "24.70 78.10 0 5", "category": "sad"},
            {"hh_id": "b", "hamlet": "h1", "gps": "24.72 78.12 0 5", "category": None},
            {"hh_id": "c", "hamlet": "h1", "gps": "<script>", "category": "happy"},
            {"hh_id": "d", "hamlet": "h2", "gps": None, "category": "happy"}]
    drawn = charts.household_map(rows, {"h1": "Ward 1"}.get)
    assert [(p["hh_id"], p["category"]) for p in drawn["points"]] == [("a", "sad"), ("b", "not ranked")]
    assert drawn["hamlets"] == [{"hamlet": "h1", "label": "Ward 1", "n": 2, "lat": 24.70, "lon": 78.11}]
    assert drawn["n_without_point"] == 2


def test_shares_leave_out_scopes_with_no_rated_household_and_mark_small_ones():
    rows = [{"cluster": "c1", "n_rated": 10, "small_n": False, "shares": {"happy": 0.25, "average": 0.5, "sad": 0.25},
             "counts": {"happy": 2, "average": 5, "sad": 3}},
            {"cluster": "c2", "n_rated": 0, "small_n": True, "shares": {"happy": None, "average": None, "sad": None},
             "counts": {"happy": 0, "average": 0, "sad": 0}},
            {"cluster": "c3", "n_rated": 3, "small_n": True, "shares": {"happy": 1 / 3, "average": 1 / 3,
                                                                         "sad": 1 / 3},
             "counts": {"happy": 1, "average": 1, "sad": 1}}]
    spec = charts.wellbeing_shares(rows, lambda r: r["cluster"], lambda r: r["cluster"].upper())
    assert spec["labels"] == ["C1", "C3"] and spec["small_n"] == [1]
    assert [d["data"] for d in spec["datasets"]] == [[25.0, 33.3], [50.0, 33.3], [25.0, 33.3]]
    assert spec["datasets"][1]["counts"] == [5, 1]


def test_net_movement_towards_sad_highlights_only_hamlets_above_zero():
    rows = [{"hamlet": "h2", "net_towards_sad": 3}, {"hamlet": "h1", "net_towards_sad": 0},
            {"hamlet": "h3", "net_towards_sad": -2}]
    spec = charts.change_by_hamlet(rows, lambda h: {"h2": "Ward 2"}.get(h, h))
    assert spec["labels"] == ["Ward 2", "h1", "h3"] and spec["keys"] == ["h2", "h1", "h3"]
    assert spec["datasets"][0]["data"] == [3, 0, -2] and spec["highlight"] == [0]


def test_submissions_per_day_fill_the_days_without_submissions_with_zero():
    days = charts.last_days(dt.date(2026, 11, 30), 3)
    assert days == ["2026-11-28", "2026-11-29", "2026-11-30"]
    spec = charts.per_day([{"day": "2026-11-28", "key": "b", "label": "B", "n": 2},
                           {"day": "2026-11-30", "key": "a", "label": "A", "n": 1},
                           {"day": "2026-11-01", "key": "a", "label": "A", "n": 9}], days)
    assert [(d["label"], d["data"]) for d in spec["datasets"]] == [("A", [0, 0, 1]), ("B", [2, 0, 0])]


def test_a_household_form_without_a_gps_question_gives_an_empty_map(store, project):
    """A project whose household income form has no gps question (a custom one): no points, no error."""
    store.ensure_table("data_1_household_income", {"_submission_id": "INTEGER", "hh_id": "TEXT"})
    assert store.household_points(project["id"], 1, "data_1_household_income") == []
    assert store.household_points(project["id"], 1, "data_1_no_such_form") == []
