"""Change between rounds for a panel of households linked by id (docs/method.md 6).

Only households present in both rounds count. For repeated cross-sections (no panel)
compare the two rounds' shares from wellbeing.shares instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Hashable, Iterable, Literal, Mapping, Sequence

from ._numbers import Exact
from .poverty import FgtTable, Household, Measure, fgt_table
from .wellbeing import CATEGORIES, LEVEL_OF, LEVELS, Shares, parse_level, shares


@dataclass(frozen=True)
class CategoryChange:
    """The 3x3 transition matrix and what it adds up to."""

    matrix: dict[str, dict[str, int]]       # baseline category -> follow-up category -> households
    n: int                                  # households placed in both rounds
    n_unmatched: int                        # placed in one round but absent or unplaced in the other
    improved: int                           # moved to a better category (sad -> average, ...)
    worsened: int
    unchanged: int
    baseline: Shares
    followup: Shares
    change_pp: dict[str, Fraction | None]   # follow-up share - baseline share, in percentage points


def _category(value: str | int | None) -> str | None:
    level = parse_level(value)
    return LEVELS[level] if level is not None else None


def transitions(baseline: Mapping[Hashable, str | int | None],
                followup: Mapping[Hashable, str | int | None]) -> CategoryChange:
    """Transition matrix baseline -> follow-up over households placed in both rounds.

    Categories are happy / average / sad or levels 1-3; None (unplaced) drops the household.
    Shares and their change are over the same panel households.
    """
    before = {hh: _category(v) for hh, v in baseline.items()}
    after = {hh: _category(v) for hh, v in followup.items()}
    panel = [hh for hh in before if before[hh] is not None and after.get(hh) is not None]
    placed = {hh for hh, v in before.items() if v is not None} | {hh for hh, v in after.items() if v is not None}
    matrix = {a: {b: 0 for b in CATEGORIES} for a in CATEGORIES}
    for hh in panel:
        matrix[before[hh]][after[hh]] += 1
    return from_matrix(matrix, n_unmatched=len(placed) - len(panel))


def from_matrix(matrix: Mapping[str, Mapping[str, int]], n_unmatched: int = 0) -> CategoryChange:
    """What a transition matrix (baseline category -> follow-up category -> households) adds up to: moves to a
    better or worse category, and the shares of the panel in both rounds. transitions() ends here; so does a matrix
    counted by the database (reports.change_by_hamlet)."""
    full = {a: {b: int(matrix.get(a, {}).get(b, 0)) for b in CATEGORIES} for a in CATEGORIES}
    cells = [(LEVEL_OF[b] - LEVEL_OF[a], n) for a in CATEGORIES for b, n in full[a].items()]
    n = sum(count for _, count in cells)
    start = shares({c: sum(full[c].values()) for c in CATEGORIES})
    end = shares({c: sum(full[a][c] for a in CATEGORIES) for c in CATEGORIES})
    change = {c: (100 * (end.shares[c] - start.shares[c]) if n else None) for c in CATEGORIES}
    return CategoryChange(matrix=full, n=n, n_unmatched=n_unmatched,
                          improved=sum(k for d, k in cells if d < 0), worsened=sum(k for d, k in cells if d > 0),
                          unchanged=sum(k for d, k in cells if d == 0), baseline=start, followup=end,
                          change_pp=change)


def mcnemar_exact(exits: int, entries: int) -> Fraction:
    """Exact two-sided McNemar p-value on the discordant pairs: a binomial(b + c, 1/2) test.

    p = min(1, 2 * P(X <= min(b, c))); 1 when there are no discordant pairs.
    """
    if exits < 0 or entries < 0:
        raise ValueError("counts cannot be negative")
    n = exits + entries
    if n == 0:
        return Fraction(1)
    tail = sum(math.comb(n, k) for k in range(min(exits, entries) + 1))
    return min(Fraction(1), Fraction(2 * tail, 2 ** n))


@dataclass(frozen=True)
class PovertyChange:
    """FGT in both rounds over the panel, the changes, and the movements in and out of poverty."""

    n: int
    baseline: FgtTable
    followup: FgtTable
    delta_person: dict[int, Exact | None]       # follow-up - baseline, person-weighted
    delta_household: dict[int, Exact | None]
    exits: int                                  # poor at baseline, not poor at follow-up
    entries: int                                # not poor at baseline, poor at follow-up
    stayed_poor: int
    never_poor: int
    mcnemar_p: Fraction


def _by_id(households: Iterable[Household], name: str) -> dict[Hashable, Household]:
    found: dict[Hashable, Household] = {}
    for h in households:
        if h.id in found:
            raise ValueError(f"household {h.id} appears twice in the {name} round")
        found[h.id] = h
    return found


def _delta(a: Exact | None, b: Exact | None) -> Exact | None:
    return None if a is None or b is None else b - a


def poverty_change(baseline: Iterable[Household], followup: Iterable[Household],
                   measure: Measure = "income") -> PovertyChange:
    """Delta P0, P1, P2 over the households in both rounds, with exits, entries and McNemar's test.

    The caller supplies lines in constant prices (the same real line in both rounds).
    """
    before, after = _by_id(baseline, "baseline"), _by_id(followup, "follow-up")
    panel = [hh for hh in before if hh in after]
    start = fgt_table([before[hh] for hh in panel], measure)
    end = fgt_table([after[hh] for hh in panel], measure)
    status = [(before[hh].is_poor(measure), after[hh].is_poor(measure)) for hh in panel]
    exits = sum(1 for a, b in status if a and not b)
    entries = sum(1 for a, b in status if not a and b)
    return PovertyChange(
        n=len(panel), baseline=start, followup=end,
        delta_person={k: _delta(start.person[k], end.person[k]) for k in start.person},
        delta_household={k: _delta(start.household[k], end.household[k]) for k in start.household},
        exits=exits, entries=entries, stayed_poor=sum(1 for a, b in status if a and b),
        never_poor=sum(1 for a, b in status if not a and not b), mcnemar_p=mcnemar_exact(exits, entries))


Spell = Literal["chronic", "transient", "never"]


@dataclass(frozen=True)
class Spells:
    """Poverty spells over every round: chronic (always poor), transient (sometimes), never."""

    chronic: int
    transient: int
    never: int
    n: int
    by_household: dict[Hashable, Spell]


def spells(rounds: Sequence[Mapping[Hashable, bool | None]]) -> Spells:
    """Classify the households present (with a known status) in every round (docs/method.md 6; the categories of
    Moving Out of Poverty)."""
    if not rounds:
        return Spells(0, 0, 0, 0, {})
    panel = [hh for hh in rounds[0] if all(r.get(hh) is not None for r in rounds)]
    result: dict[Hashable, Spell] = {}
    for hh in panel:
        poor = [bool(r[hh]) for r in rounds]
        result[hh] = "chronic" if all(poor) else ("transient" if any(poor) else "never")
    values = list(result.values())
    return Spells(chronic=values.count("chronic"), transient=values.count("transient"),
                  never=values.count("never"), n=len(values), by_household=result)
