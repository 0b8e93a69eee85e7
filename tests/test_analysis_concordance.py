"""Community category against income poverty (docs/method.md 5)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, strategies as st

from server.analysis.concordance import Record, concordance


def test_two_by_two_rates():
    # sad & poor 3, sad & not poor 1, not sad & poor 2, not sad & not poor 4
    records = ([("s", "sad", True)] * 3 + [("s", "sad", False)] + [("a", "average", True)] * 2
               + [("h", "happy", False)] * 2 + [("a", "average", False)] * 2)
    result = concordance(records)
    assert result.table == {"happy": {"poor": 0, "not_poor": 2}, "average": {"poor": 2, "not_poor": 2},
                            "sad": {"poor": 3, "not_poor": 1}}
    assert (result.sad_poor, result.sad_not_poor, result.not_sad_poor, result.not_sad_not_poor) == (3, 1, 2, 4)
    assert result.n == 10 and result.p_o == Fraction(7, 10)
    assert result.p_e == Fraction(4 * 5 + 6 * 5, 100)
    assert result.kappa == (Fraction(7, 10) - Fraction(1, 2)) / Fraction(1, 2)
    assert result.sensitivity == Fraction(3, 5) and result.specificity == Fraction(4, 5)
    assert result.inclusion_error == Fraction(1, 4) and result.exclusion_error == Fraction(2, 5)


def test_empty_denominators_are_none():
    result = concordance([("a", "happy", False), ("b", 2, False)])
    assert result.sensitivity is None and result.exclusion_error is None and result.inclusion_error is None
    assert result.specificity == 1


def test_unrated_households_are_left_out_and_spearman_uses_m_and_y():
    records = [Record("a", 1, False, 1, 3000), Record("b", 3, True, Fraction(8, 3), 400),
               Record("c", 2, False, 2, 1200), Record("d", None, True, None, 100)]
    result = concordance(records)
    assert result.n == 3 and result.n_excluded == 1
    assert result.spearman == -1 and result.n_spearman == 3


@given(st.lists(st.tuples(st.integers(), st.sampled_from(["happy", "average", "sad"]), st.booleans()),
                min_size=1, max_size=40))
def test_tables_add_up(records):
    result = concordance(records)
    assert sum(sum(row.values()) for row in result.table.values()) == result.n == len(records)
    assert result.sad_poor + result.sad_not_poor == sum(result.table["sad"].values())
    if result.sensitivity is not None:
        assert result.sensitivity + result.exclusion_error == 1
