"""How far the informant groups agree (docs/method.md 3; Example 3 in section 8 exercises it).

Ratings are compared household by household; a pair with "don't know" (None) on either
side is dropped. Everything that is a ratio of counts is an exact Fraction; only square
roots (Spearman's rho when irrational, the standard error of kappa) become floats.
Agreement is guidance for the discussion of differences, never a gate.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Hashable, Iterable, Literal, Mapping, Sequence

from ._numbers import average_ranks, sqrt_exact, tie_sizes

Levels = Mapping[Hashable, object] | Sequence[object]
Weights = Literal["linear", "quadratic"] | None
DEFAULT_CATEGORIES: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class PairRow:
    """Agreement between two groups over the households both placed."""

    pair: tuple[Hashable, Hashable]
    n: int
    p_o: Fraction | None
    p_e: Fraction | None
    kappa: Fraction | None
    kappa_linear: Fraction | None
    kappa_quadratic: Fraction | None
    spearman: Fraction | float | None
    kappa_se: float | None


@dataclass(frozen=True)
class Coverage:
    """How much of the household list one group could place (docs/method.md 3, coverage)."""

    group: Hashable
    n_listed: int
    n_placed: int
    n_dont_know: int
    n_not_asked: int
    share_placed: Fraction | None
    dont_know_rate: Fraction | None


def paired(a: Levels, b: Levels) -> list[tuple[object, object]]:
    """The (a, b) pairs with neither side missing: common keys of two mappings, or two equal-length sequences."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        pairs = [(a[k], b[k]) for k in a if k in b]
    elif isinstance(a, Mapping) or isinstance(b, Mapping):
        raise TypeError("compare two mappings (household -> level) or two sequences, not one of each")
    else:
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"the two rating sequences differ in length ({len(a)} and {len(b)})")
        pairs = list(zip(a, b))
    return [(x, y) for x, y in pairs if x is not None and y is not None]


def percent_agreement(a: Levels, b: Levels) -> Fraction | None:
    """p_o: the share of households both groups put in the same category; None with nothing in common."""
    pairs = paired(a, b)
    return Fraction(sum(1 for x, y in pairs if x == y), len(pairs)) if pairs else None


def expected_agreement(a: Levels, b: Levels, categories: Sequence = DEFAULT_CATEGORIES) -> Fraction | None:
    """p_e = sum_k p_a,k p_b,k, the agreement expected from the two groups' marginal shares."""
    pairs = paired(a, b)
    if not pairs:
        return None
    _check(pairs, categories)
    n = len(pairs)
    return sum((Fraction(sum(1 for x, _ in pairs if x == c) * sum(1 for _, y in pairs if y == c), n * n)
                for c in categories), Fraction(0))


def cohen_kappa(a: Levels, b: Levels, weights: Weights = None,
                categories: Sequence = DEFAULT_CATEGORIES) -> Fraction | None:
    """Cohen's kappa, or the weighted kappa 1 - sum w O / sum w E for an ordered scale.

    `weights` None gives the nominal kappa (p_o - p_e) / (1 - p_e); 'linear' uses |j-k|/(K-1)
    and 'quadratic' ((j-k)/(K-1))^2, j and k being positions in `categories` (which must be
    in scale order). None when nothing is in common or chance agreement is already perfect.
    """
    pairs = paired(a, b)
    if not pairs:
        return None
    _check(pairs, categories)
    index = {c: i for i, c in enumerate(categories)}
    size = len(categories)
    weight = _weights(weights, size)
    n = len(pairs)
    observed = [[0] * size for _ in range(size)]
    for x, y in pairs:
        observed[index[x]][index[y]] += 1
    rows = [sum(row) for row in observed]
    cols = [sum(observed[j][k] for j in range(size)) for k in range(size)]
    disagreement_observed = sum(weight(j, k) * observed[j][k] for j in range(size) for k in range(size))
    disagreement_expected = sum(weight(j, k) * Fraction(rows[j] * cols[k], n)
                                for j in range(size) for k in range(size))
    if disagreement_expected == 0:
        return None
    return 1 - Fraction(disagreement_observed) / disagreement_expected


def _weights(kind: Weights, size: int) -> Callable[[int, int], Fraction]:
    """Disagreement weight of positions j, k: 0/1 (nominal), |j-k|/(K-1) or its square."""
    if size < 2:
        raise ValueError("kappa needs at least two categories")
    if kind is None:
        return lambda j, k: Fraction(0 if j == k else 1)
    if kind == "linear":
        return lambda j, k: Fraction(abs(j - k), size - 1)
    if kind == "quadratic":
        return lambda j, k: Fraction((j - k) ** 2, (size - 1) ** 2)
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {kind!r}")


def _check(pairs: Iterable[tuple[object, object]], categories: Sequence) -> None:
    allowed = set(categories)
    for x, y in pairs:
        for value in (x, y):
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of the categories {tuple(categories)!r}")


def kappa_se(a: Levels, b: Levels, categories: Sequence = DEFAULT_CATEGORIES) -> float | None:
    """Approximate standard error of Cohen's kappa, sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)) (docs/method.md 3)."""
    pairs = paired(a, b)
    if not pairs:
        return None
    p_o, p_e = percent_agreement(a, b), expected_agreement(a, b, categories)
    if p_e == 1:
        return None
    return math.sqrt(p_o * (1 - p_o) / (len(pairs) * (1 - p_e) ** 2))


def spearman(x: Levels, y: Levels) -> Fraction | float | None:
    """Spearman's rho: Pearson's r of the average ranks (ties share ranks).

    Exact (a Fraction) when the square root is rational, else a float; None with fewer
    than two pairs or when either side is constant.
    """
    pairs = paired(x, y)
    if len(pairs) < 2:
        return None
    rx = average_ranks([p[0] for p in pairs])
    ry = average_ranks([p[1] for p in pairs])
    mean = Fraction(len(pairs) + 1, 2)
    sxy = sum(((u - mean) * (v - mean) for u, v in zip(rx, ry)), Fraction(0))
    sxx = sum(((u - mean) ** 2 for u in rx), Fraction(0))
    syy = sum(((v - mean) ** 2 for v in ry), Fraction(0))
    if sxx == 0 or syy == 0:
        return None
    root = sqrt_exact(sxx * syy)
    return sxy / root if isinstance(root, Fraction) else float(sxy) / root


def pairwise(by_group: Mapping[Hashable, Mapping[Hashable, object]],
             categories: Sequence = DEFAULT_CATEGORIES) -> list[PairRow]:
    """One row per pair of groups, in the groups' order: n, p_o, p_e, the three kappas, rho and SE."""
    rows = []
    for ga, gb in itertools.combinations(by_group, 2):
        a, b = by_group[ga], by_group[gb]
        rows.append(PairRow(
            pair=(ga, gb), n=len(paired(a, b)), p_o=percent_agreement(a, b),
            p_e=expected_agreement(a, b, categories), kappa=cohen_kappa(a, b, None, categories),
            kappa_linear=cohen_kappa(a, b, "linear", categories),
            kappa_quadratic=cohen_kappa(a, b, "quadratic", categories),
            spearman=spearman(a, b), kappa_se=kappa_se(a, b, categories)))
    return rows


def common_households(by_group: Mapping[Hashable, Mapping[Hashable, object]]) -> list[Hashable]:
    """Households every group placed (no don't know), in first-seen order."""
    seen: dict[Hashable, None] = {}
    for levels in by_group.values():
        seen.update(dict.fromkeys(levels))
    return [hh for hh in seen if all(levels.get(hh) is not None for levels in by_group.values())]


def fleiss_table(by_group: Mapping[Hashable, Mapping[Hashable, object]],
                 categories: Sequence = DEFAULT_CATEGORIES) -> tuple[list[Hashable], list[list[int]]]:
    """(households, counts): one row per household placed by all groups, n_ij groups choosing category j."""
    households = common_households(by_group)
    index = {c: i for i, c in enumerate(categories)}
    table = []
    for hh in households:
        row = [0] * len(categories)
        for levels in by_group.values():
            if levels[hh] not in index:
                raise ValueError(f"{levels[hh]!r} is not one of the categories {tuple(categories)!r}")
            row[index[levels[hh]]] += 1
        table.append(row)
    return households, table


def fleiss_kappa(table: Sequence[Sequence[int]]) -> Fraction | None:
    """Fleiss' kappa for r >= 2 groups rating the same N households (docs/method.md 3, Fleiss 1971).

    Rows are households, columns categories, n_ij the number of groups putting household i in
    category j; every row sums to the same r. None for an empty table or when P_e = 1.
    """
    rows = [[int(v) for v in row] for row in table]
    if not rows:
        return None
    r = sum(rows[0])
    for i, row in enumerate(rows):
        if any(v < 0 for v in row):
            raise ValueError(f"row {i}: counts cannot be negative")
        if sum(row) != r:
            raise ValueError(f"row {i} sums to {sum(row)}, not {r}: every household needs the same number of ratings")
    if r < 2:
        raise ValueError("Fleiss' kappa needs at least two ratings per household")
    n = len(rows)
    p_bar = sum((Fraction(sum(v * v for v in row) - r, r * (r - 1)) for row in rows), Fraction(0)) / n
    p_e = sum((Fraction(sum(row[j] for row in rows), n * r) ** 2 for j in range(len(rows[0]))), Fraction(0))
    if p_e == 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


def kendalls_w(by_group: Mapping[Hashable, Mapping[Hashable, object]]) -> Fraction | None:
    """Kendall's W with the tie correction, over the households every group placed (docs/method.md 3).

    W = 12 S / (m^2 (n^3 - n) - m sum_g T_g), households ranked within each group with average
    ranks, T_g = sum (t^3 - t) over group g's ties. None with fewer than two groups or
    households, or when every group put every household in one category.
    """
    households = common_households(by_group)
    m, n = len(by_group), len(households)
    if m < 2 or n < 2:
        return None
    sums = [Fraction(0)] * n
    ties = 0
    for levels in by_group.values():
        values = [levels[hh] for hh in households]
        for i, rank in enumerate(average_ranks(values)):
            sums[i] += rank
        ties += sum(t ** 3 - t for t in tie_sizes(values))
    mean = Fraction(m * (n + 1), 2)
    s = sum(((r - mean) ** 2 for r in sums), Fraction(0))
    denominator = m * m * (n ** 3 - n) - m * ties
    if denominator == 0:
        return None
    return 12 * s / denominator


def coverage(by_group: Mapping[Hashable, Mapping[Hashable, object]],
             listed: Iterable[Hashable] | None = None) -> list[Coverage]:
    """Per group: households placed, don't know and not asked, against the list (all households seen by default)."""
    if listed is None:
        seen: dict[Hashable, None] = {}
        for levels in by_group.values():
            seen.update(dict.fromkeys(levels))
        listed = seen
    households = list(listed)
    rows = []
    for group, levels in by_group.items():
        placed = sum(1 for hh in households if levels.get(hh) is not None)
        asked = sum(1 for hh in households if hh in levels)
        rows.append(Coverage(group=group, n_listed=len(households), n_placed=placed, n_dont_know=asked - placed,
                             n_not_asked=len(households) - asked,
                             share_placed=Fraction(placed, len(households)) if households else None,
                             dont_know_rate=Fraction(asked - placed, asked) if asked else None))
    return rows


# Upper bounds (inclusive) of the Landis & Koch bands above zero.
BANDS: tuple[tuple[Fraction, str], ...] = (
    (Fraction(1, 5), "slight"), (Fraction(2, 5), "fair"), (Fraction(3, 5), "moderate"), (Fraction(4, 5), "substantial"),
)


def landis_koch(kappa: Fraction | float | None) -> str | None:
    """The Landis & Koch (1977) band of a kappa: poor (< 0), slight (to 0.20), fair (to 0.40),
    moderate (to 0.60), substantial (to 0.80), almost perfect. Guidance only, never a gate."""
    if kappa is None:
        return None
    if kappa < 0:
        return "poor"
    for upper, name in BANDS:
        if kappa <= (float(upper) if isinstance(kappa, float) else upper):   # a float 0.2 is in 'slight'
            return name
    return "almost perfect"
