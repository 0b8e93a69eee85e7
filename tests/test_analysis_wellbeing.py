"""Combining informant groups' well-being ratings (docs/method.md 2; Example 3 in section 8)."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from server.analysis import wellbeing as wb

# docs/method.md 8, Example 3: 8 households x groups A, B, C (1 happy, 2 average, 3 sad).
EXAMPLE_3 = {
    "H1": (1, 1, 1), "H2": (1, 1, 2), "H3": (2, 2, 2), "H4": (2, 3, 2),
    "H5": (3, 3, 3), "H6": (3, 3, 2), "H7": (1, 2, 3), "H8": (3, 3, 3),
}


def example_3_ratings() -> list[tuple[str, str, int]]:
    return [(hh, group, level) for hh, levels in EXAMPLE_3.items() for group, level in zip("ABC", levels)]


@pytest.fixture
def combined():
    return wb.combine(example_3_ratings())


def test_example_3_means_categories_and_flags(combined):
    expected = {  # mean, final, flags, as printed in docs/method.md 8
        "H1": (Fraction(1), "happy", ()), "H2": (Fraction(4, 3), "happy", ()),
        "H3": (Fraction(2), "average", ()), "H4": (Fraction(7, 3), "average", ()),
        "H5": (Fraction(3), "sad", ()), "H6": (Fraction(8, 3), "sad", ()),
        "H7": (Fraction(2), "average", ("disagreement",)), "H8": (Fraction(3), "sad", ()),
    }
    assert {hh: (c.mean, c.final, c.flags) for hh, c in combined.items()} == expected
    assert combined["H7"].range == 2 and combined["H7"].needs_review
    assert all(c.n_groups == 3 for c in combined.values())


def test_example_3_counts_and_shares(combined):
    result = wb.summary(combined)
    assert result.counts == {"happy": 2, "average": 3, "sad": 3}
    assert result.shares == {"happy": Fraction(1, 4), "average": Fraction(3, 8), "sad": Fraction(3, 8)}
    assert (result.n_rated, result.n_flagged, result.n_unrated, result.small_n) == (8, 1, 0, False)


def test_example_3_grandin_scores(combined):
    assert round(float(combined["H2"].grandin), 2) == 44.44
    assert round(float(combined["H6"].grandin), 2) == 88.89
    # With three groups the Grandin score is exactly 100 m / 3 (docs/method.md 2).
    assert all(c.grandin == 100 * c.mean / 3 for c in combined.values())
    assert combined["H1"].normalised == 0 and combined["H5"].normalised == 100


def test_majority_falls_back_to_mean_rule(combined):
    assert combined["H2"].majority == "happy"
    assert combined["H7"].majority is None and combined["H7"].final_majority == "average"


@pytest.mark.parametrize("levels, tie, expected", [
    ((1, 2), "average", "average"), ((2, 3), "average", "average"),
    ((1, 2), "poorer", "average"), ((2, 3), "poorer", "sad"),
    ((1, 2), "better", "happy"), ((2, 3), "better", "average"),
    ((1, 1, 2, 2), "better", "happy"), ((1, 3), "poorer", "average"),
])
def test_tie_rules(levels, tie, expected):
    ratings = [("H", f"G{i}", level) for i, level in enumerate(levels)]
    assert wb.combine(ratings, tie=tie)["H"].final == expected


def test_majority_needs_more_than_half():
    ratings = [("H", g, level) for g, level in zip("ABCD", (1, 1, 2, 3))]
    result = wb.combine(ratings)["H"]
    assert result.majority is None and result.mean == Fraction(7, 4) and result.final_majority == "average"


def test_dont_know_is_missing_not_a_category():
    result = wb.combine([("H", "A", 3), ("H", "B", None), ("H", "C", 3)])["H"]
    assert result.n_groups == 2 and result.levels["B"] is None and result.final == "sad"
    lonely = wb.combine([("H", "A", 1), ("H", "B", None)], min_groups=2)["H"]
    assert lonely.flags == ("too_few_groups",) and lonely.final == "happy"
    nobody = wb.combine([("H", "A", None)])
    assert nobody["H"].final is None and nobody["H"].mean is None
    assert wb.summary(nobody).n_unrated == 1 and wb.summary(nobody).n_flagged == 0


def test_pile_based_ratings_and_grandin_quirk():
    ratings = [wb.Rating("H", "A", pile=1, piles=4), wb.Rating("H", "B", pile=2, piles=3),
               wb.Rating("H", "C", pile=5, piles=5)]
    result = wb.combine(ratings)["H"]
    assert result.grandin == (Fraction(100, 4) + Fraction(200, 3) + 100) / 3
    assert result.normalised == (0 + 50 + 100) / Fraction(3)
    # Only the three-pile group gives a level on its own; the others need the pile mapping.
    assert result.levels == {"A": None, "B": 2, "C": None}
    mapped = wb.combine(ratings, pile_levels={("A", 1): 1, ("C", 5): 3})["H"]
    assert mapped.levels == {"A": 1, "B": 2, "C": 3} and mapped.flags == ("disagreement",)


def test_tuples_and_invalid_ratings():
    assert wb.Rating.of(("H", "A", 2, 4)) == wb.Rating("H", "A", pile=2, piles=4)
    with pytest.raises(ValueError):
        wb.Rating("H", "A", level=4)
    with pytest.raises(ValueError):
        wb.Rating("H", "A", pile=5, piles=4)
    with pytest.raises(ValueError, match="twice"):
        wb.combine([("H", "A", 1), ("H", "A", 2)])
    with pytest.raises(ValueError):
        wb.combine([("H", "A", 1)], tie="median")


@pytest.mark.parametrize("text, level", [("happy", 1), (" Sad ", 3), ("2", 2), ("", None), ("dk", None),
                                         ("DK", None), (3, 3)])
def test_parse_level(text, level):
    assert wb.parse_level(text) == level


def test_parse_level_rejects_other_words():
    with pytest.raises(ValueError):
        wb.parse_level("rich")


def test_small_n_and_empty_shares():
    few = wb.shares({"happy": 1, "sad": 3})
    assert few.small_n and few.counts["average"] == 0 and few.shares["sad"] == Fraction(3, 4)
    empty = wb.shares({}, n_flagged=0, n_unrated=4)
    assert empty.n_rated == 0 and empty.shares == {"happy": None, "average": None, "sad": None}
    assert empty.n_unrated == 4


@given(st.dictionaries(st.sampled_from(wb.CATEGORIES), st.integers(0, 500)))
def test_shares_sum_to_exactly_one(counts):
    result = wb.shares(counts)
    if result.n_rated:
        assert sum(result.shares.values()) == 1
        assert all(isinstance(s, Fraction) for s in result.shares.values())
    assert result.small_n == (result.n_rated < 5)


@given(st.lists(st.tuples(st.integers(0, 15), st.sampled_from("ABCD"), st.sampled_from([1, 2, 3, None])),
                unique_by=lambda r: (r[0], r[1])),
       st.sampled_from(wb.TIES))
def test_combined_categories_follow_the_mean(ratings, tie):
    combined = wb.combine(ratings, tie=tie)
    for c in combined.values():
        if c.mean is None:
            assert c.final is None
            continue
        level = wb.LEVEL_OF[c.final]
        assert abs(level - c.mean) <= Fraction(1, 2)      # the nearest level, ties by the rule
        counts = Counter(v for v in c.levels.values() if v is not None)
        assert (c.majority is None) == all(2 * n <= c.n_groups for n in counts.values())
    summary = wb.summary(combined)
    assert summary.n_rated + summary.n_unrated == len(combined)
