"""Soft checks: things a well-behaved Collect can still produce that a supervisor should look at.

They never reject a submission; they are stored as quality flags beside it. Pure functions
over the validated record (typed values keyed by field name).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from . import ranking

Flag = tuple[str, str]

# Shortest plausible interview, in minutes, per form (a full household interview is 20-30 minutes).
MIN_MINUTES = {"household_income": 10, "well_being_ranking": 10, "poverty_nodes": 10}
MAX_MONTHLY_INCOME_PER_HEAD = 100_000   # Rs; far above any artisan household in these clusters
MAX_AGE = 100


def number(value: Any) -> float | None:
    """A numeric answer, also from a calculate the form left typed as string; None if not a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def interview_minutes(record: Mapping[str, Any]) -> float | None:
    try:
        start = dt.datetime.fromisoformat(record["start"])
        end = dt.datetime.fromisoformat(record["end"])
        return (end - start).total_seconds() / 60
    except (KeyError, TypeError, ValueError):   # TypeError also: one time with a zone and one without
        return None


def _timing(form_id: str, record: Mapping[str, Any]) -> list[Flag]:
    minutes = interview_minutes(record)
    if minutes is None:
        return []
    if minutes < 0:
        return [("clock", f"The interview ends before it starts ({minutes:.1f} minutes): check the phone's clock.")]
    floor = MIN_MINUTES.get(form_id)
    if floor is not None and minutes < floor:
        return [("short_interview", f"The interview took {minutes:.1f} minutes; under {floor} is suspiciously short.")]
    return []


def _household(record: Mapping[str, Any]) -> list[Flag]:
    flags: list[Flag] = []
    members = record.get("member") or []
    reported = number(record.get("hh_size_reported"))
    if reported and members and abs(reported - len(members)) >= max(2, 0.3 * reported):
        flags.append(("size_mismatch", f"The household size given ({reported}) is far from the roster "
                                       f"({len(members)} members)."))
    heads = sum(1 for m in members if str(m.get("m_relation")) == "1")
    if members and heads != 1:
        flags.append(("heads", f"The roster has {heads} heads of household."))
    old = [m.get("m_name") or "?" for m in members if (number(m.get("m_age")) or 0) > MAX_AGE]
    if old:
        flags.append(("age_outlier", f"Age over {MAX_AGE} for {', '.join(old)}."))
    income, size = number(record.get("income_monthly")), len(members) or number(record.get("hh_size"))
    if income is not None and size:
        if income < 0:
            flags.append(("negative_income", f"Monthly income is negative (Rs {income:,.0f}); per-capita income "
                                             "will be bottom-coded at 0."))
        elif income / size > MAX_MONTHLY_INCOME_PER_HEAD:
            flags.append(("income_outlier", f"Monthly income per head is Rs {income / size:,.0f}."))
    consumption = number(record.get("consumption_monthly"))
    if income is not None and consumption and income > 0 and consumption > 5 * income:
        flags.append(("consumption_vs_income", f"Monthly consumption (Rs {consumption:,.0f}) is over five times "
                                                f"income (Rs {income:,.0f})."))
    return flags


def _ranking(record: Mapping[str, Any]) -> list[Flag]:
    flags: list[Flag] = []
    ratings = [pile for _, pile in ranking.placements(record)]
    if ratings:
        unknown = sum(1 for r in ratings if r in (None, ranking.DONT_KNOW))
        if unknown / len(ratings) > 0.5:
            flags.append(("many_dont_know", f"The group could not place {unknown} of {len(ratings)} households."))
    if record.get("n_listed_hh") == 0:
        flags.append(("no_household_list", "The hamlet had no household list on the phone: a ranking needs the "
                                           "listing from the social map first. The current form refuses this; "
                                           "version 2026112201 did not."))
    if record.get("list_confirmed") == "no":
        flags.append(("list_unconfirmed", "The group did not confirm that the household list is complete."))
    unsorted, twice = ranking.sort_problems(record)
    if unsorted or twice:
        flags.append(("sort_incomplete", f"{unsorted} listed household(s) are in no pile and {twice} are in more "
                                         "than one: the form's final check would have refused this."))
    gone = ranking.gone(record)
    if gone:
        flags.append(("households_gone", f"{len(gone)} listed household(s) are not a household any more: "
                                         + ", ".join(f"{g['hh_id']} ({g['reason']})" for g in gone) + "."))
    levels = {p.get("pile_level") for p in record.get("pile") or []}
    if record.get("pile") and len(levels) < 2:
        flags.append(("one_level", "Every pile maps to the same well-being level."))
    return flags


# Node answers a group may not know (blank from version 2026113001 on): named to the reviewer, never read as 0.
NODE_MAY_BE_UNKNOWN = {"women_pct": "women's share", "share_via_middlemen": "share sold through middlemen",
                       "raw_material_by_buyer": "raw material from the buyer", "pct_bank_account": "bank accounts",
                       "pct_shg_members": "SHG membership", "n_shgs": "number of SHGs",
                       "n_shg_members": "SHG members"}
# A node's households by caste category and, separately, by religion, as shares (%); a share not known is blank.
NODE_SHARES = {"caste": ("sg_st_pct", "sg_sc_pct", "sg_obc_pct", "sg_general_pct"),
               "religion": ("rel_hindu_pct", "rel_muslim_pct", "rel_other_pct")}


def _nodes(record: Mapping[str, Any]) -> list[Flag]:
    flags: list[Flag] = []
    women, men, workers = (number(record.get(k)) for k in ("women_workers", "men_workers", "est_workers"))
    if None not in (women, men, workers) and workers and abs(women + men - workers) > 0.1 * workers:
        flags.append(("worker_count", f"Women ({women:.0f}) and men ({men:.0f}) do not add up to the workers "
                                      f"({workers:.0f})."))
    if "size_coverage" not in record:      # an earlier version: every count was required
        return flags
    for kind, names in NODE_SHARES.items():
        total = sum(number(record.get(n)) or 0 for n in names)
        if total > 100:
            flags.append(("shares_over_100", f"The {kind} shares add up to {total:.0f} %."))
    unknown = [label for name, label in NODE_MAY_BE_UNKNOWN.items() if record.get(name) is None]
    unknown += [f"{kind} (no share known)" for kind, names in NODE_SHARES.items()
                if all(record.get(n) is None for n in names)]
    if unknown:
        flags.append(("not_known", "Not known to the group (left out of totals, not counted as 0): "
                                   + ", ".join(unknown) + "."))
    return flags


CHECKS: dict[str, Callable[[Mapping[str, Any]], list[Flag]]] = {
    "household_income": _household,
    "well_being_ranking": _ranking,
    "poverty_nodes": _nodes,
}


def flags(form_id: str, record: Mapping[str, Any]) -> list[Flag]:
    """Every soft problem found in one validated submission."""
    found = _timing(form_id, record)
    check = CHECKS.get(form_id)
    if check:
        found += check(record)
    return found
