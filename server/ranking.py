"""What a well-being ranking submission says about households, in either shape the form has had, and the
households added in the field by any form. Pure functions over a validated record.

Two shapes of the ranking reach the server (forms/README.md, "Form 1"):
- pile by pile (version 2026113001 on): each `pile` instance lists its households in `pile_hh`, households the
  group could not place are in `hh_unknown`, and those that are not a household any more are in `hh_gone` with a
  `gone` instance each (reason, and the household it merged into);
- screen by screen (earlier versions, on phones that have not updated): one `rating` instance per listed household,
  with `hh_id` and `rating_pile`.
Either way a household added in the field is a `new_household` instance with its own pile.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

DONT_KNOW = "dk"


def placements(record: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(household id, pile answer) for every household the group sorted: '1'..'7', or 'dk' for don't know. A
    household not a household any more is not here. A household in two piles appears twice (sort_problems)."""
    return _listed(record) + [(r["new_hh_id"], r.get("new_hh_pile")) for r in record.get("new_household") or []
                              if r.get("new_hh_id")]


def _listed(record: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    placed: list[tuple[str, str | None]] = [(r["hh_id"], r.get("rating_pile")) for r in record.get("rating") or []
                                            if r.get("hh_id")]
    for pile in record.get("pile") or []:
        for hh_id in (pile.get("pile_hh") or "").split():
            placed.append((hh_id, str(pile.get("pile_no"))))
    return placed + [(hh_id, DONT_KNOW) for hh_id in (record.get("hh_unknown") or "").split()]


def is_pile_by_pile(record: Mapping[str, Any]) -> bool:
    return "sort_check" in record or any("pile_hh" in p for p in record.get("pile") or [])


def gone(record: Mapping[str, Any]) -> list[dict]:
    """Listed households the group said are not a household any more: id, reason, and the one it is part of now."""
    return [{"hh_id": r["gone_hh_id"], "reason": r.get("gone_reason") or "", "into": r.get("gone_into") or ""}
            for r in record.get("gone") or [] if r.get("gone_hh_id")]


def validations(record: Mapping[str, Any]) -> list[dict]:
    """The community validation meeting's outcome: (household, category agreed, why) for each household discussed;
    a household discussed twice in one meeting keeps its last outcome."""
    if record.get("session_type") != "validation":
        return []
    out = {r["val_hh"]: {"hh_id": r["val_hh"], "category": r.get("val_category"), "reason": r.get("val_reason") or ""}
           for r in record.get("validated") or [] if r.get("val_hh") and r.get("val_category")}
    return list(out.values())


def sort_problems(record: Mapping[str, Any]) -> tuple[int, int]:
    """(households of the list left unsorted, households sorted more than once) in a pile-by-pile ranking, from the
    submission's own count of its list. The form refuses both; a submission that has them did not come through it."""
    if not is_pile_by_pile(record):
        return 0, 0
    sorted_ids = [hh for hh, _ in _listed(record)] + (record.get("hh_gone") or "").split()
    distinct = set(sorted_ids)
    listed = record.get("n_listed_hh")
    unsorted = max(int(listed) - len(distinct), 0) if isinstance(listed, int) else 0
    return unsorted, len(sorted_ids) - len(distinct)


_SPACE = re.compile(r"\s+")


def same_name(a: str | None, b: str | None) -> bool:
    """Two spellings of a head's name that are the same name: case, dots and spacing aside."""
    return _name_key(a) == _name_key(b)


def _name_key(name: str | None) -> str:
    return _SPACE.sub(" ", (name or "").replace(".", " ")).strip().casefold()


def field_households(form_id: str, record: Mapping[str, Any]) -> Iterator[dict]:
    """Households a submission added in the field (not on the list), with what it said about each. A household
    added with its card number has the id <hamlet>-m<card> in every group's ranking and in the income form, so the
    reports of one household meet under one id (reconcile)."""
    base = {"form_id": form_id, "cluster": record.get("cluster"), "hamlet": record.get("hamlet"),
            "round": record.get("round"), "group_id": record.get("group_id") or ""}
    if form_id == "well_being_ranking":
        for row in record.get("new_household") or []:
            if row.get("new_hh_id"):
                yield {**base, "hh_id": row["new_hh_id"], "card": row.get("new_hh_card") or "",
                       "head": row.get("new_hh_head") or "", "sex": row.get("new_hh_sex") or ""}
    elif form_id == "household_income":
        if record.get("hh_on_list") == "no" and record.get("new_hh_id"):
            yield {**base, "hh_id": record["new_hh_id"], "card": record.get("new_hh_card") or "",
                   "head": record.get("new_hh_head") or "", "sex": ""}


def reconcile(reports: list[dict]) -> list[dict]:
    """One row per household added in the field: its reports (form, group, head name as given), whether several
    submissions added it (reconciled into one household), and whether their head names disagree."""
    by_hh: dict[str, list[dict]] = {}
    for report in reports:
        by_hh.setdefault(report["hh_id"], []).append(report)
    out = []
    for hh_id in sorted(by_hh):
        rows = by_hh[hh_id]
        names = []
        for row in rows:
            if row["head"] and not any(same_name(row["head"], n) for n in names):
                names.append(row["head"])
        out.append({"hh_id": hh_id, "hamlet": rows[0]["hamlet"], "cluster": rows[0]["cluster"],
                    "card": next((r["card"] for r in rows if r["card"]), ""), "reports": rows,
                    "names": names, "reconciled": len({r["submission_id"] for r in rows}) > 1,
                    "disagree": len(names) > 1})
    return out


def reconcile_counts(households: list[dict]) -> dict[str, int]:
    """What the reviewer is told: households added in the field, those several submissions added (each counted
    once), and those whose head names disagree between the submissions."""
    return {"added": len(households), "reconciled": sum(1 for h in households if h["reconciled"]),
            "disagree": sum(1 for h in households if h["disagree"])}
