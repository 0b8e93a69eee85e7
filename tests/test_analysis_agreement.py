"""Agreement between informant groups (docs/method.md 3), checked against Example 3 and independent code.

statsmodels (Fleiss' kappa, Cohen's kappa) and scipy (Friedman's chi-square, Spearman's rho)
are the independent implementations; see the requirement lines of the test extra.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from server.analysis import agreement as ag, wellbeing as wb

from .test_analysis_wellbeing import example_3_ratings

try:    # the independent implementations come with the test extra
    import numpy as np
    from scipy import stats
    from statsmodels.stats import inter_rater
except ImportError:     # pragma: no cover - only the cross-checks are skipped
    np = stats = inter_rater = None

independent = pytest.mark.skipif(inter_rater is None, reason="needs scipy and statsmodels (the test extra)")

CROSS_CHECK = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def groups():
    return wb.by_group(wb.combine(example_3_ratings()))


def test_example_3_pairwise_table(groups):
    rows = {"".join(r.pair): r for r in ag.pairwise(groups)}
    # docs/method.md 8, Example 3: p_o, p_e, kappa, linear- and quadratic-weighted kappa.
    printed = {
        "AB": (0.75, 0.34375, 0.6190, 0.7333, 0.8333),
        "AC": (0.625, 0.3125, 0.4545, 0.4286, 0.4000),
        "BC": (0.50, 0.34375, 0.2381, 0.3846, 0.5556),
    }
    for pair, (p_o, p_e, kappa, linear, quadratic) in printed.items():
        row = rows[pair]
        assert row.n == 8
        assert row.p_o == Fraction(str(p_o)) and row.p_e == Fraction(str(p_e))
        assert [round(float(k), 4) for k in (row.kappa, row.kappa_linear, row.kappa_quadratic)] == \
            [kappa, linear, quadratic]
    assert rows["AB"].kappa == Fraction(13, 21)      # (3/4 - 11/32) / (1 - 11/32)


@independent
def test_example_3_fleiss_and_kendall_against_statsmodels_and_scipy(groups):
    households, table = ag.fleiss_table(groups)
    assert households == list(wb.combine(example_3_ratings()))
    kappa = ag.fleiss_kappa(table)
    assert kappa == Fraction(20, 47)
    assert float(kappa) == pytest.approx(inter_rater.fleiss_kappa(np.array(table), method="fleiss"), abs=1e-12)
    w = ag.kendalls_w(groups)
    chi2 = stats.friedmanchisquare(*[[groups[g][hh] for g in groups] for hh in households]).statistic
    assert float(w) == pytest.approx(chi2 / (3 * (8 - 1)), abs=1e-12)
    assert w == Fraction(479, 651)


def test_missing_ratings_are_dropped_pairwise():
    a = {"H1": 1, "H2": None, "H3": 3, "H4": 2}
    b = {"H1": 1, "H2": 2, "H3": 2, "H5": 3}
    assert ag.paired(a, b) == [(1, 1), (3, 2)]
    assert ag.percent_agreement(a, b) == Fraction(1, 2)
    assert ag.percent_agreement({"H1": None}, {"H1": 1}) is None
    assert ag.cohen_kappa([1, 1], [1, 1]) is None          # chance agreement already perfect
    with pytest.raises(ValueError):
        ag.cohen_kappa([1, 4], [1, 2])


def test_fleiss_kappa_uses_only_households_rated_by_all_groups():
    groups = {"A": {"H1": 1, "H2": 2, "H3": 3}, "B": {"H1": 1, "H2": None, "H3": 3}, "C": {"H1": 2, "H3": 3}}
    households, table = ag.fleiss_table(groups)
    assert households == ["H1", "H3"] and table == [[2, 1, 0], [0, 0, 3]]
    with pytest.raises(ValueError, match="same number"):
        ag.fleiss_kappa([[2, 1, 0], [1, 1, 0]])


def test_kendalls_w_perfect_and_undefined():
    same = {"A": {"H1": 1, "H2": 2, "H3": 3}, "B": {"H1": 1, "H2": 2, "H3": 3}}
    assert ag.kendalls_w(same) == 1
    flat = {"A": {"H1": 2, "H2": 2}, "B": {"H1": 2, "H2": 2}}
    assert ag.kendalls_w(flat) is None


@independent
def test_spearman_exact_and_float():
    assert ag.spearman([1, 2, 3], [10, 20, 30]) == 1 and isinstance(ag.spearman([1, 2, 3], [3, 5, 9]), Fraction)
    assert ag.spearman([1, 2, 3], [3, 2, 1]) == -1
    assert ag.spearman([1, 1, 1], [1, 2, 3]) is None
    rho = ag.spearman([1, 2, 2, 3], [1, 3, 2, 3])
    assert rho == pytest.approx(stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 3]).statistic)


def test_kappa_se_matches_formula(groups):
    a, b = groups["A"], groups["B"]
    p_o, p_e = Fraction(3, 4), Fraction(11, 32)
    assert ag.kappa_se(a, b) == pytest.approx(math.sqrt(p_o * (1 - p_o) / (8 * (1 - p_e) ** 2)))


@pytest.mark.parametrize("kappa, band", [(-0.1, "poor"), (0, "slight"), (0.2, "slight"), (0.21, "fair"),
                                         (Fraction(13, 21), "substantial"), (0.6, "moderate"), (0.81, "almost perfect"),
                                         (None, None)])
def test_landis_koch_bands(kappa, band):
    assert ag.landis_koch(kappa) == band


def test_coverage_counts_dont_know_and_not_asked():
    groups = {"A": {"H1": 1, "H2": None, "H3": 2}, "B": {"H1": 3}}
    rows = {c.group: c for c in ag.coverage(groups)}
    assert (rows["A"].n_placed, rows["A"].n_dont_know, rows["A"].n_not_asked) == (2, 1, 0)
    assert (rows["B"].n_placed, rows["B"].n_not_asked, rows["B"].share_placed) == (1, 2, Fraction(1, 3))


levels = st.sampled_from([1, 2, 3])


@st.composite
def rated_by_all(draw):
    m = draw(st.integers(2, 5))
    n = draw(st.integers(3, 20))
    return {f"G{g}": {f"H{i}": draw(levels) for i in range(n)} for g in range(m)}


@independent
@CROSS_CHECK
@given(rated_by_all())
def test_fleiss_kappa_matches_statsmodels(groups):
    _, table = ag.fleiss_table(groups)
    ours = ag.fleiss_kappa(table)
    if ours is None:    # every rating in one category: P_e = 1, statsmodels divides by zero
        assert len({v for g in groups.values() for v in g.values()}) == 1
        return
    assert float(ours) == pytest.approx(inter_rater.fleiss_kappa(np.array(table), method="fleiss"), abs=1e-9)


@independent
@CROSS_CHECK
@given(rated_by_all())
def test_kendalls_w_matches_friedman(groups):
    w = ag.kendalls_w(groups)
    m, households = len(groups), list(next(iter(groups.values())))
    if w is None:       # every group gave every household the same level: no ranking at all
        assert all(len(set(g.values())) == 1 for g in groups.values())
        return
    chi2 = stats.friedmanchisquare(*[[groups[g][hh] for g in groups] for hh in households]).statistic
    assert float(w) == pytest.approx(chi2 / (m * (len(households) - 1)), abs=1e-9)
    assert 0 <= w <= 1


@independent
@CROSS_CHECK
@given(st.lists(st.tuples(levels, levels), min_size=2, max_size=30), st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_kappa_matches_statsmodels(pairs, weights):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    ours = ag.cohen_kappa(a, b, weights)
    table = np.zeros((3, 3))
    for x, y in pairs:
        table[x - 1, y - 1] += 1
    if ours is None:
        return
    theirs = inter_rater.cohens_kappa(table, wt=weights or None, return_results=False) if weights else \
        inter_rater.cohens_kappa(table, return_results=False)
    assert float(ours) == pytest.approx(theirs, abs=1e-9)


@independent
@CROSS_CHECK
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=25))
def test_spearman_matches_scipy(pairs):
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    assume(len(set(x)) > 1 and len(set(y)) > 1)
    assert float(ag.spearman(x, y)) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
