"""Does the community's 'sad' match income poverty? (docs/method.md 5)

Expect weak agreement: Hargreaves et al. (2007) found kappa 0.20 / 0.17 between
participatory wealth ranking and survey tertiles. A low kappa is a finding, not a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Hashable, Iterable

from ._numbers import Number
from .agreement import cohen_kappa, expected_agreement, percent_agreement, spearman
from .wellbeing import CATEGORIES, LEVELS, parse_level


@dataclass(frozen=True)
class Record:
    """One household: its combined category, whether it is income-poor, and optionally m_i and y_i."""

    household: Hashable
    category: str | int | None
    poor: bool | None
    m: Number | None = None      # community mean level, 1 happy .. 3 sad
    y: Number | None = None      # per-capita income

    @classmethod
    def of(cls, item: Record | tuple) -> Record:
        """Accept a Record or a (household, category, poor[, m[, y]]) tuple."""
        return item if isinstance(item, Record) else cls(*item)

    @property
    def category_name(self) -> str | None:
        """happy / average / sad from a name or a level 1-3."""
        level = parse_level(self.category)
        return LEVELS[level] if level is not None else None


@dataclass(frozen=True)
class Concordance:
    """The 3x2 and collapsed 2x2 tables with agreement, error rates and Spearman's rho."""

    table: dict[str, dict[str, int]]          # category -> {"poor": n, "not_poor": n}
    sad_poor: int
    sad_not_poor: int
    not_sad_poor: int
    not_sad_not_poor: int
    n: int                                    # households with both a category and a poverty status
    n_excluded: int                           # households missing either
    p_o: Fraction | None
    p_e: Fraction | None
    kappa: Fraction | None
    sensitivity: Fraction | None              # P(sad | poor)
    specificity: Fraction | None              # P(not sad | not poor)
    inclusion_error: Fraction | None          # P(not poor | sad)
    exclusion_error: Fraction | None          # P(not sad | poor)
    spearman: Fraction | float | None         # m_i against y_i; negative means agreement (m is 1 happy .. 3 sad)
    n_spearman: int


def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def concordance(records: Iterable[Record | tuple]) -> Concordance:
    """Cross the community category with income poverty (docs/method.md 5).

    The 2x2 collapses to sad vs not sad against poor vs not poor; p_o, p_e and kappa treat
    the two as raters. Rates whose denominator is 0 are None. Spearman's rho uses the
    households that have both m_i and y_i.
    """
    rows = [Record.of(r) for r in records]
    table = {c: {"poor": 0, "not_poor": 0} for c in CATEGORIES}
    pairs: list[tuple[bool, bool]] = []
    for r in rows:
        name = r.category_name
        if name is None or r.poor is None:
            continue
        table[name]["poor" if r.poor else "not_poor"] += 1
        pairs.append((name == "sad", bool(r.poor)))
    a = sum(1 for s, p in pairs if s and p)
    b = sum(1 for s, p in pairs if s and not p)
    c = sum(1 for s, p in pairs if not s and p)
    d = sum(1 for s, p in pairs if not s and not p)
    sad, poor = [s for s, _ in pairs], [p for _, p in pairs]
    ranked = [(r.m, r.y) for r in rows if r.m is not None and r.y is not None]
    return Concordance(
        table=table, sad_poor=a, sad_not_poor=b, not_sad_poor=c, not_sad_not_poor=d, n=len(pairs),
        n_excluded=len(rows) - len(pairs), p_o=percent_agreement(sad, poor),
        p_e=expected_agreement(sad, poor, (True, False)), kappa=cohen_kappa(sad, poor, None, (True, False)),
        sensitivity=_share(a, a + c), specificity=_share(d, b + d),
        inclusion_error=_share(b, a + b), exclusion_error=_share(c, a + c),
        spearman=spearman([m for m, _ in ranked], [y for _, y in ranked]), n_spearman=len(ranked))
