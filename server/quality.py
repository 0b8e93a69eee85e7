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


# Amount statuses (household income form from version 2026113001): an amount is reported, estimated, not known
# (dk) or refused. Not known and refused amounts are absent, stay out of the totals, and make the household's income
# (or consumption) incomplete. Earlier versions have no statuses: every amount was required, so they are complete.
UNKNOWN_STATUSES = ("dk", "refused")
INCOME_STATUS_FIELDS = {"farm_status": "farm", "tr_pension_status": "pension", "tr_scheme_status": "scheme cash",
                        "tr_remittances_status": "remittances", "oth_rent_status": "rent",
                        "oth_interest_status": "interest", "oth_other_status": "other income"}
INCOME_STATUS_REPEATS = {"wage": ("w_pay_status", "wage job"), "enterprise": ("ent_status", "enterprise")}
CONSUMPTION_ITEMS = {"cereal": "cereals and pulses", "pds": "PDS ration", "milk": "milk", "oil": "oil",
                     "veg": "vegetables and fruit", "meat": "meat, fish and eggs", "sugar": "sugar, spices and tea",
                     "fuel": "fuel and light", "medicine": "medicines", "rent": "rent",
                     "transport": "transport and phone", "other": "other daily items"}
CONSUMPTION_STATUS_FIELDS = {"cons_30_status": "last 30 days",          # 2026113001-05: one block of 30 days
                             **{f"cons_{code}_status": what for code, what in CONSUMPTION_ITEMS.items()},
                             "cons_365_status": "last 365 days"}


# Plausible bounds (household income form 2026113007 on): above them an amount is possible but worth a second look.
# The form shows a warning the enumerator must acknowledge (`<field>_check`), and the server flags the submission; a
# test checks that the form's warnings use these numbers. The form's hard limits (constraints) only stop typing slips
# such as an extra zero or two.
SOFT_BOUNDS: dict[str, tuple[float, str]] = {
    "w_peak_wage": (1_000, "Rs per day"), "w_lean_wage": (1_000, "Rs per day"),
    "w_peak_rate": (5_000, "Rs per unit"), "w_lean_rate": (5_000, "Rs per unit"),
    "w_salary": (50_000, "Rs per month"), "ent_sales_month": (200_000, "Rs per month"),
    "farm_sales": (1_000_000, "Rs a year"), "tr_pension_month": (10_000, "Rs per payment"),
    "tr_scheme_month": (10_000, "Rs per payment"), "loan_interest_pct_month": (10, "% per month"),
    **{f"cons_{code}_{part}": (20_000, "Rs in 30 days") for code in CONSUMPTION_ITEMS for part in ("bought", "other")},
}
SOFT_BOUND_REPEATS = ("wage", "enterprise", "loan")


def unusual_amounts(record: Mapping[str, Any]) -> list[str]:
    """Amounts above their plausible bound, e.g. ['w_peak_wage 1,500 Rs per day (job 1; above 1,000)']."""
    found = []

    def check(scope: Mapping[str, Any], where: str) -> None:
        for name, (bound, unit) in SOFT_BOUNDS.items():
            value = number(scope.get(name))
            if value is not None and value > bound:
                found.append(f"{name} {value:,.0f} {unit} ({where}above {bound:,.0f})")
    check(record, "")
    for repeat in SOFT_BOUND_REPEATS:
        for n, item in enumerate(record.get(repeat) or [], start=1):
            check(item, f"{repeat} {n}; ")
    return found


def unknown_income_items(record: Mapping[str, Any]) -> list[str]:
    """The income amounts of a household that were not known or refused, e.g. ['wage job 2', 'pension']."""
    found = []
    for repeat, (status, what) in INCOME_STATUS_REPEATS.items():
        for n, item in enumerate(record.get(repeat) or [], start=1):
            if item.get(status) in UNKNOWN_STATUSES:
                found.append(f"{what} {n}")
    found += [what for name, what in INCOME_STATUS_FIELDS.items() if record.get(name) in UNKNOWN_STATUSES]
    return found


def unknown_consumption_items(record: Mapping[str, Any]) -> list[str]:
    return [what for name, what in CONSUMPTION_STATUS_FIELDS.items() if record.get(name) in UNKNOWN_STATUSES]


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
    missing = _wage_members_not_on_roster(record, members)
    if missing:
        flags.append(("wage_member", f"Wage job(s) {', '.join(missing)} point to no member of the roster."))
    inside = [n for n, job in enumerate(record.get("wage") or [], start=1) if job.get("w_inside") == "yes"]
    earning = [job for job in record.get("wage") or [] if job.get("w_inside") == "no"] + \
        list(record.get("enterprise") or [])
    if inside and not earning:
        flags.append(("income_inside_nothing", f"Wage job(s) {', '.join(map(str, inside))} are said to be paid "
                                               "inside another member's earnings, but no other job or enterprise "
                                               "is recorded: that income is missing."))
    unusual = unusual_amounts(record)
    if unusual:
        flags.append(("unusual_amount", f"Amounts above their plausible bounds: {'; '.join(unusual)}."))
    unknown = unknown_income_items(record)
    if unknown:
        flags.append(("income_incomplete", f"Income amounts not known or refused: {', '.join(unknown)}. The household "
                                           "is left out of the poverty measures."))
    unknown = unknown_consumption_items(record)
    if unknown:
        flags.append(("consumption_incomplete", f"Consumption not known or refused: {', '.join(unknown)}."))
    consumption = number(record.get("consumption_monthly"))
    if income is not None and consumption and income > 0 and consumption > 5 * income:
        flags.append(("consumption_vs_income", f"Monthly consumption (Rs {consumption:,.0f}) is over five times "
                                                f"income (Rs {income:,.0f})."))
    return flags


def _wage_members_not_on_roster(record: Mapping[str, Any], members: list) -> list[str]:
    """Wage jobs whose earner is not on the roster: by member number (2026113003 on) or, in earlier versions, by
    name (where a corrected spelling orphans the job)."""
    names = {m.get("m_name") for m in members}
    missing = []
    for n, job in enumerate(record.get("wage") or [], start=1):
        number_ = number(job.get("w_member_no"))
        if number_ is not None:
            if not 1 <= number_ <= len(members):
                missing.append(f"{n} (member {number_:.0f})")
        elif job.get("w_member") is not None and job["w_member"] not in names:
            missing.append(f"{n} ({job['w_member']})")
    return missing


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
