"""Change between rounds for a household panel (docs/method.md 6)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from server.analysis.change import mcnemar_exact, poverty_change, spells, transitions
from server.analysis.poverty import Household

try:    # the independent implementation comes with the test extra
    from scipy import stats
except ImportError:     # pragma: no cover - only the cross-check is skipped
    stats = None


def test_transition_matrix_and_moves():
    baseline = {"a": "sad", "b": "sad", "c": "average", "d": "happy", "e": 3, "gone": "sad"}
    followup = {"a": "average", "b": "sad", "c": "sad", "d": "happy", "e": "happy", "new": "happy"}
    result = transitions(baseline, followup)
    assert result.n == 5 and result.n_unmatched == 2
    assert result.matrix["sad"] == {"happy": 1, "average": 1, "sad": 1}
    assert (result.improved, result.worsened, result.unchanged) == (2, 1, 2)
    assert result.baseline.shares["sad"] == Fraction(3, 5) and result.followup.shares["sad"] == Fraction(2, 5)
    assert result.change_pp == {"happy": 20, "average": 0, "sad": -20}


def test_unplaced_households_are_not_in_the_panel():
    result = transitions({"a": "sad", "b": None}, {"a": "sad", "b": "happy"})
    assert result.n == 1 and result.n_unmatched == 1


def test_income_side_changes():
    z = 1000
    baseline = [Household("a", 2000, 4, z), Household("b", 3000, 2, z), Household("c", 3600, 4, z),
                Household("only-before", 100, 1, z)]
    followup = [Household("a", 4400, 4, z), Household("b", 1800, 2, z), Household("c", 3200, 4, z)]
    result = poverty_change(baseline, followup)
    assert result.n == 3
    assert result.baseline.person[0] == Fraction(8, 10) and result.followup.person[0] == Fraction(6, 10)
    assert result.delta_person[0] == Fraction(-1, 5)
    assert result.delta_household[1] == Fraction(1, 3) * (Fraction(1, 10) + Fraction(2, 10)) - \
        Fraction(1, 3) * (Fraction(1, 2) + Fraction(1, 10))
    assert (result.exits, result.entries, result.stayed_poor, result.never_poor) == (1, 1, 1, 0)
    assert result.mcnemar_p == 1


def test_duplicate_ids_in_a_round_are_an_error():
    with pytest.raises(ValueError, match="twice"):
        poverty_change([Household("a", 1, 1, 10), Household("a", 2, 1, 10)], [])


@pytest.mark.parametrize("exits, entries, expected", [
    (0, 0, Fraction(1)), (5, 0, Fraction(1, 16)), (10, 2, Fraction(79, 2048)), (3, 3, Fraction(1)),
])
def test_mcnemar_exact(exits, entries, expected):
    assert mcnemar_exact(exits, entries) == expected


@pytest.mark.skipif(stats is None, reason="needs scipy (the test extra)")
@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_matches_scipy_binomial_test(exits, entries):
    if exits + entries == 0:
        return
    theirs = stats.binomtest(min(exits, entries), exits + entries, 0.5).pvalue
    assert float(mcnemar_exact(exits, entries)) == pytest.approx(theirs, rel=1e-9)


def test_spells_need_every_round():
    rounds = [{"a": True, "b": True, "c": False, "d": True}, {"a": True, "b": False, "c": False},
              {"a": True, "b": True, "c": False, "d": False}]
    result = spells(rounds)
    assert (result.chronic, result.transient, result.never, result.n) == (1, 1, 1, 3)
    assert result.by_household == {"a": "chronic", "b": "transient", "c": "never"}
    assert spells([]).n == 0


categories = st.sampled_from(["happy", "average", "sad", None])
rounds = st.dictionaries(st.integers(0, 30), categories)


@given(rounds, rounds)
def test_transition_totals_equal_households_in_both_rounds(before, after):
    result = transitions(before, after)
    both = [hh for hh in before if before[hh] is not None and after.get(hh) is not None]
    assert sum(sum(row.values()) for row in result.matrix.values()) == result.n == len(both)
    assert result.improved + result.worsened + result.unchanged == result.n
    if result.n:
        assert sum(result.change_pp.values()) == 0
