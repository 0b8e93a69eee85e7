"""Combining the well-being rankings of several informant groups (docs/method.md 2).

Each group places each household on a pile; piles map to three levels, 1 = happy,
2 = average, 3 = sad. "Don't know" is missing (None), never a category. The default
rule is the mean of the groups' levels with configurable ties; the majority vote and
the card-sorting scores (Grandin's and the normalised one) are reported beside it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Hashable, Iterable, Literal, Mapping

from ._numbers import ratio

CATEGORIES: tuple[str, str, str] = ("happy", "average", "sad")
LEVELS: dict[int, str] = {1: "happy", 2: "average", 3: "sad"}
LEVEL_OF: dict[str, int] = {name: level for level, name in LEVELS.items()}
DONT_KNOW = ("", "dk", "don't know", "dont know", "na", "n/a")

Tie = Literal["average", "poorer", "better"]
TIES: tuple[str, ...] = ("average", "poorer", "better")


@dataclass(frozen=True)
class Rating:
    """One informant group's placement of one household.

    Either a three-level `level` (1 happy, 2 average, 3 sad) or the raw `pile` (1 = best-off)
    out of the group's `piles`, or both (the level then being the group's own mapping of that
    pile). All of them None means "don't know".
    """

    household: Hashable
    group: Hashable
    level: int | None = None
    pile: int | None = None
    piles: int | None = None

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"household {self.household}, group {self.group}: level {self.level!r} is not 1, 2 or 3")
        if self.pile is not None:
            if self.piles is None or self.piles < 2:
                raise ValueError(f"household {self.household}, group {self.group}: a pile needs the group's number "
                                 "of piles (at least 2)")
            if not 1 <= self.pile <= self.piles:
                raise ValueError(f"household {self.household}, group {self.group}: pile {self.pile} is outside "
                                 f"1..{self.piles}")

    @classmethod
    def of(cls, item: Rating | tuple) -> Rating:
        """Accept a Rating, a (household, group, level) or a (household, group, pile, piles) tuple."""
        if isinstance(item, Rating):
            return item
        if len(item) == 3:
            return cls(item[0], item[1], level=item[2])
        if len(item) == 4:
            return cls(item[0], item[1], pile=item[2], piles=item[3])
        raise ValueError(f"a rating is (household, group, level) or (household, group, pile, piles): {item!r}")

    @property
    def effective_level(self) -> int | None:
        """The three-level rating: the level given, or the pile itself when the group used exactly three piles."""
        if self.level is not None:
            return self.level
        if self.pile is not None and self.piles == 3:
            return self.pile
        return None

    @property
    def pile_and_piles(self) -> tuple[int, int] | None:
        """(p, k) for the Grandin scores; a three-level rating counts as p = level, k = 3."""
        if self.pile is not None and self.piles is not None:
            return self.pile, self.piles
        if self.level is not None:
            return self.level, 3
        return None


@dataclass(frozen=True)
class Combined:
    """One household's combined category and the evidence behind it."""

    household: Hashable
    levels: dict[Hashable, int | None]      # per group that was asked; None = don't know
    n_groups: int                           # groups with a level (don't know excluded)
    mean: Fraction | None                   # m_i
    final: str | None                       # by the mean rule; None when no group placed the household
    majority: str | None                    # the level more than half the groups chose, else None
    final_majority: str | None              # the majority, falling back to the mean rule (1.3d)
    grandin: Fraction | None                # mean of 100 p / k (1.3a)
    normalised: Fraction | None             # mean of 100 (p - 1) / (k - 1) (1.3b)
    flags: tuple[str, ...] = field(default=())

    @property
    def range(self) -> int | None:
        """max - min of the groups' levels; 2 means one group said happy and another sad."""
        known = [v for v in self.levels.values() if v is not None]
        return max(known) - min(known) if known else None

    @property
    def needs_review(self) -> bool:
        """True when the household should go back to the groups for discussion (docs/method.md 2)."""
        return bool(self.flags)


@dataclass(frozen=True)
class Shares:
    """Category counts and shares over the rated households (docs/method.md 2)."""

    counts: dict[str, int]
    n_rated: int
    shares: dict[str, Fraction | None]     # None when nothing was rated
    small_n: bool                           # shares rest on fewer than `small_n` households: grey them out
    n_flagged: int | None = None
    n_unrated: int | None = None


def parse_level(text: str | int | None) -> int | None:
    """A level from 'happy'/'average'/'sad' or 1/2/3; blank or 'dk' is don't know (None)."""
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        if text in LEVELS:
            return text
        raise ValueError(f"{text!r} is not a well-being level (1, 2 or 3)")
    cleaned = str(text).strip().lower()
    if cleaned in DONT_KNOW:
        return None
    if cleaned in LEVEL_OF:
        return LEVEL_OF[cleaned]
    if cleaned in ("1", "2", "3"):
        return int(cleaned)
    raise ValueError(f"{text!r} is not a well-being level (happy, average, sad, 1, 2, 3, or blank/dk)")


def classify(mean: Fraction | float, tie: Tie = "average") -> str:
    """The category for a mean level m: happy below 1.5, sad above 2.5, average between.

    Exactly 1.5 or 2.5 (possible only with an even number of groups) follows `tie`:
    'average' keeps both in average (the default), 'poorer' sends 2.5 to sad
    (when exclusion error is feared more), 'better' sends 1.5 to happy.
    """
    if tie not in TIES:
        raise ValueError(f"tie must be one of {', '.join(TIES)}, not {tie!r}")
    if mean < Fraction(3, 2):
        return "happy"
    if mean > Fraction(5, 2):
        return "sad"
    if mean == Fraction(3, 2) and tie == "better":
        return "happy"
    if mean == Fraction(5, 2) and tie == "poorer":
        return "sad"
    return "average"


def majority(levels: Iterable[int | None]) -> str | None:
    """The level chosen by more than half of the groups that placed the household; None without one."""
    known = [v for v in levels if v is not None]
    if not known:
        return None
    level, count = Counter(known).most_common(1)[0]
    return LEVELS[level] if 2 * count > len(known) else None


def grandin_scores(placements: Iterable[tuple[int, int]]) -> tuple[Fraction | None, Fraction | None]:
    """(mean 100 p/k, mean 100 (p-1)/(k-1)) over a household's (pile, piles); (None, None) when empty."""
    pairs = list(placements)
    if not pairs:
        return None, None
    raw = sum((Fraction(100 * p, k) for p, k in pairs), Fraction(0)) / len(pairs)
    normalised = sum((Fraction(100 * (p - 1), k - 1) for p, k in pairs), Fraction(0)) / len(pairs)
    return raw, normalised


def combine(ratings: Iterable[Rating | tuple], tie: Tie = "average", min_groups: int = 2,
            pile_levels: Mapping[tuple[Hashable, int], int] | None = None) -> dict[Hashable, Combined]:
    """Combine every group's rating of every household (docs/method.md 2).

    `pile_levels` maps (group, pile) to a level for groups that used other than three piles
    and gave no level; without a mapping such ratings get Grandin scores but no category
    (the pile-to-level mapping is data, docs/method.md 2, and is never guessed). A household rated
    twice by the same group is an error. Households keep their first-seen order.
    """
    if tie not in TIES:
        raise ValueError(f"tie must be one of {', '.join(TIES)}, not {tie!r}")
    by_household: dict[Hashable, dict[Hashable, Rating]] = {}
    for item in ratings:
        rating = Rating.of(item)
        seen = by_household.setdefault(rating.household, {})
        if rating.group in seen:
            raise ValueError(f"household {rating.household} is rated twice by group {rating.group}")
        seen[rating.group] = rating
    return {hh: _combine_one(hh, rated, tie, min_groups, pile_levels or {}) for hh, rated in by_household.items()}


def _level(rating: Rating, pile_levels: Mapping[tuple[Hashable, int], int]) -> int | None:
    level = rating.effective_level
    if level is None and rating.pile is not None:
        level = pile_levels.get((rating.group, rating.pile))
        if level is not None and level not in LEVELS:
            raise ValueError(f"group {rating.group}, pile {rating.pile} maps to {level!r}, not 1, 2 or 3")
    return level


def _combine_one(household: Hashable, rated: dict[Hashable, Rating], tie: Tie, min_groups: int,
                 pile_levels: Mapping[tuple[Hashable, int], int]) -> Combined:
    levels = {group: _level(r, pile_levels) for group, r in rated.items()}
    known = [v for v in levels.values() if v is not None]
    mean = Fraction(sum(known), len(known)) if known else None
    final = classify(mean, tie) if mean is not None else None
    vote = majority(known)
    grandin, normalised = grandin_scores(p for r in rated.values() if (p := r.pile_and_piles) is not None)
    flags = []
    if known and max(known) - min(known) == 2:
        flags.append("disagreement")
    if len(known) < min_groups:
        flags.append("too_few_groups")
    return Combined(household=household, levels=levels, n_groups=len(known), mean=mean, final=final,
                    majority=vote, final_majority=vote or final, grandin=grandin, normalised=normalised,
                    flags=tuple(flags))


def by_group(combined: Mapping[Hashable, Combined]) -> dict[Hashable, dict[Hashable, int | None]]:
    """Levels re-keyed as {group: {household: level}}, the input of the agreement statistics."""
    table: dict[Hashable, dict[Hashable, int | None]] = {}
    for hh, result in combined.items():
        for group, level in result.levels.items():
            table.setdefault(group, {})[hh] = level
    return table


def shares(counts: Mapping[str, int], small_n: int = 5, n_flagged: int | None = None,
           n_unrated: int | None = None) -> Shares:
    """Shares n_k / n_rated of happy, average and sad (exact Fractions; they sum to 1).

    `small_n` is the threshold under which the shares should be suppressed or greyed out
    (docs/method.md 2); flagged and unrated households are reported beside the shares, not in them.
    """
    unknown = set(counts) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories: {', '.join(map(str, sorted(unknown)))}")
    full = {category: int(counts.get(category, 0)) for category in CATEGORIES}
    if any(n < 0 for n in full.values()):
        raise ValueError("counts cannot be negative")
    n_rated = sum(full.values())
    share = {c: (ratio(n, n_rated) if n_rated else None) for c, n in full.items()}
    return Shares(counts=full, n_rated=n_rated, shares=share, small_n=n_rated < small_n,
                  n_flagged=n_flagged, n_unrated=n_unrated)


def summary(combined: Mapping[Hashable, Combined], rule: Literal["mean", "majority"] = "mean",
            small_n: int = 5) -> Shares:
    """Shares of the combined categories, with the flagged and unrated households counted apart.

    n_flagged counts rated households that need review (they stay in the shares, as in
    Example 3 of docs/method.md 8, where H7 is both flagged and average); n_unrated those no group could place.
    """
    if rule not in ("mean", "majority"):
        raise ValueError(f"rule must be 'mean' or 'majority', not {rule!r}")
    finals = [c.final if rule == "mean" else c.final_majority for c in combined.values()]
    counts = Counter(f for f in finals if f is not None)
    return shares(counts, small_n=small_n,
                  n_flagged=sum(1 for c, f in zip(combined.values(), finals) if f is not None and c.needs_review),
                  n_unrated=sum(1 for f in finals if f is None))
