"""Aggregates kept current at ingest: the facts each submission contributes, and their upkeep.

A well-being ranking submission contributes one rating per household; a household's combined
category is recomputed from all groups' ratings whenever one of them changes, and the counts per
cluster, hamlet, node and round move by the difference. A household income submission contributes
the household's income, size, poverty line and FGT terms, summed per scope. So a dashboard reads a
few count rows and never rescans submissions. `rebuild` recomputes everything from the raw XML and
must give identical numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping

from marshmallow import ValidationError

from schemas import xform as form_schemas

from .analysis.poverty import MissingLine, PovertyLines, land_class, social_group_for_fgt
from .analysis.wellbeing import Rating, combine
from . import ranking
from .catalog import FormCache
from .quality import NODE_SHARES, number, unknown_income_items
from .storage import Store
from .xforms import extract, parse_submission

LEVELS = {"happy": 1, "average": 2, "sad": 3}
CATEGORIES = ("happy", "average", "sad")
DEFAULTS = {"tie": "average", "min_groups": 2, "line_year": "2011-12", "line_method": "Tendulkar"}


@dataclass(frozen=True)
class Settings:
    tie: str = "average"
    min_groups: int = 2
    line_year: str = "2011-12"
    line_method: str = "Tendulkar"

    @classmethod
    def of(cls, store: Store, project_id: int) -> "Settings":
        stored = store.project_settings(project_id)
        return cls(**{k: stored.get(k, v) for k, v in DEFAULTS.items()})


# --------------------------------------------------------------------------- facts (pure)

def _int(value: Any) -> int | None:
    n = number(value)
    return int(n) if n is not None else None


def ranking_facts(record: Mapping[str, Any]) -> list[dict]:
    """One row per household the group placed: the pile, and its level through the group's own mapping."""
    round_no = _int(record.get("round"))
    if round_no is None:
        return []
    levels = {_int(p.get("pile_no")): LEVELS.get(p.get("pile_level")) for p in record.get("pile") or []}
    scope = {"round": round_no, "group_id": record.get("group_id") or "?", "cluster": record.get("cluster"),
             "hamlet": record.get("hamlet"), "piles": _int(record.get("n_piles"))}
    rows = []
    for hh_id, pile_answer in ranking.placements(record):
        pile = _int(pile_answer) if pile_answer not in (None, "", "dk") else None
        rows.append({**scope, "hh_id": hh_id, "pile": pile, "level": levels.get(pile) if pile else None})
    return rows


def gone_facts(record: Mapping[str, Any]) -> list[dict]:
    """Listed households a group said are not a household any more (kept beside the ratings, not rated)."""
    round_no = _int(record.get("round"))
    scope = {"round": round_no, "cluster": record.get("cluster"), "hamlet": record.get("hamlet"),
             "group_id": record.get("group_id") or ""}
    return [{**scope, **g} for g in ranking.gone(record)]


def field_household_facts(form_id: str, record: Mapping[str, Any]) -> list[dict]:
    return [{**r, "round": _int(r["round"])} for r in ranking.field_households(form_id, record)]


def validation_facts(record: Mapping[str, Any]) -> list[dict]:
    round_no = _int(record.get("round"))
    if round_no is None:
        return []
    return [{"round": round_no, "cluster": record.get("cluster"), "hamlet": record.get("hamlet"), **v}
            for v in ranking.validations(record)]


def with_validation(row: dict | None, validated: Mapping[str, Any] | None) -> dict | None:
    """The category that counts: the community validation meeting's where it agreed one, else the combination of
    the groups' ratings, which `combined` keeps either way (docs/method.md 1.2, step 7)."""
    if row is None:
        return None
    row = {**row, "combined": row["final"], "validated_reason": None}
    if validated is not None:
        row.update(final=validated["category"], validated_reason=validated["reason"])
    return row


def income_fact(record: Mapping[str, Any]) -> dict | None:
    """A household's income facts, or None when the interview was refused or has no household id."""
    if record.get("consent") == "no" or not record.get("hh_id") or _int(record.get("round")) is None:
        return None
    members = record.get("member") or []
    size = len(members) or _int(record.get("hh_size")) or 0
    if size < 1:
        return None
    head = next((m for m in members if str(m.get("m_relation")) == "1"), None)
    sex = {"1": "male", "2": "female", "3": "other"}.get(str(head.get("m_sex"))) if head else None
    acres = number(record.get("land_owned_acres"))
    return {
        "round": _int(record.get("round")), "hh_id": record["hh_id"], "cluster": record.get("cluster"),
        "hamlet": record.get("hamlet"), "node": record.get("node") or "", "state": record.get("state"),
        "sector": record.get("sector"), "size": size, "income_monthly": number(record.get("income_monthly")),
        "consumption_monthly": number(record.get("consumption_monthly")), "head_sex": sex or record.get("head_sex"),
        "social_group": social_group_for_fgt(record.get("social_group"), record.get("religion")),
        "land_class": land_class(acres or 0, "acre") if acres is not None else land_class(0, "acre"),
        "income_complete": int(not unknown_income_items(record)),
    }


def with_poverty(fact: dict, lines: PovertyLines, settings: Settings) -> dict:
    """Add the household's own line (state x sector x year x method) and its FGT terms; no line, no terms."""
    try:
        line = lines.line(fact["state"] or "", fact["sector"] or "", settings.line_year, settings.line_method)
    except MissingLine:
        return {**fact, "line": None, "line_label": None, "poor": None, "gap": None, "gap2": None,
                "neg_income": int((fact["income_monthly"] or 0) < 0)}
    z = float(line.value)
    income = fact["income_monthly"] or 0.0
    if not fact["income_complete"]:   # an amount not known is never counted as zero: no poverty terms at all
        return {**fact, "line": z, "line_label": f"{line.method} {line.year} {line.state} {line.sector}",
                "poor": None, "gap": None, "gap2": None, "neg_income": 0}
    y = max(income, 0.0) / fact["size"]
    poor = y < z
    gap = (z - y) / z if poor else 0.0
    return {**fact, "line": z, "line_label": f"{line.method} {line.year} {line.state} {line.sector}",
            "poor": int(poor), "gap": gap, "gap2": gap * gap, "neg_income": int(income < 0)}


def node_fact(record: Mapping[str, Any]) -> dict | None:
    if not record.get("node_id") or _int(record.get("round")) is None:
        return None
    keep = ("local_name", "value_chain_position", "est_households", "est_workers", "women_workers", "men_workers",
            "capacity_score", "share_via_middlemen", "n_shgs", "n_shg_members", "has_federation",
            # from version 2026113001: what the counts cover, shares with "not known" left blank, the piece rate's
            # unit and period
            "size_coverage", "size_area", "women_pct", *NODE_SHARES["caste"], *NODE_SHARES["religion"],
            "piece_rate", "piece_rate_unit", "piece_rate_unit_other", "piece_rate_period", "advance_tied",
            "raw_material_by_buyer", "pct_bank_account", "pct_shg_members", "main_lender")
    data = {k: record.get(k) for k in keep}
    for kind, names in NODE_SHARES.items():
        known = [record[n] for n in names if isinstance(record.get(n), int)]
        data[f"{kind}_unassigned_pct"] = 100 - sum(known) if known else None   # None: no share known at all
    data["problems"] = [{k: p.get(k) for k in ("problem_dimension", "problem_severity", "problem_description",
                                               "problem_months")} for p in record.get("problem") or []]
    data["actions"] = [{k: a.get(k) for k in ("action_text", "action_agency", "action_timeline", "action_target")}
                       for a in record.get("action") or []]
    return {"round": _int(record["round"]), "node_id": record["node_id"], "cluster": record.get("cluster"),
            "data": data}


def combined_row(ratings: list[dict], settings: Settings) -> dict | None:
    """A household's combined category from every group's rating (a group's latest session counts)."""
    latest: dict[str, dict] = {}
    for row in sorted(ratings, key=lambda r: r["submission_id"]):
        latest[row["group_id"]] = row
    if not latest:
        return None
    levels = tuple(sorted((r["level"] for r in latest.values()), key=lambda v: 0 if v is None else v))
    n_groups, mean, final, flags = _combined(levels, settings.tie, settings.min_groups)
    last = max(latest.values(), key=lambda r: r["submission_id"])
    return {"cluster": last["cluster"], "hamlet": last["hamlet"], "n_groups": n_groups, "mean": mean,
            "final": final, "flagged": int(bool(flags)), "flags": " ".join(flags)}


@functools.lru_cache(maxsize=4096)
def _combined(levels: tuple[int | None, ...], tie: str, min_groups: int) -> tuple[int, float | None, str | None,
                                                                                  tuple[str, ...]]:
    """analysis.wellbeing.combine for one household whose groups gave these levels. What it returns here (count,
    mean, category, flags) depends only on the levels, not on who gave them, so the few distinct answers are
    computed once (exact fractions are slow, and a ranking touches every household of its hamlet)."""
    result = combine([Rating(household="h", group=i, level=level) for i, level in enumerate(levels)],
                     tie=tie, min_groups=min_groups)["h"]
    return (result.n_groups, float(result.mean) if result.mean is not None else None, result.final,
            tuple(result.flags))


# --------------------------------------------------------------------------- upkeep (inside the caller's transaction)

_LINES: PovertyLines | None = None


def _lines() -> PovertyLines:
    global _LINES
    if _LINES is None:
        _LINES = PovertyLines.shipped()
    return _LINES


def refresh(store: Store, project_id: int, form_id: str, submission_id: int,
            record: Mapping[str, Any] | None, settings: Settings | None = None) -> None:
    """Bring the aggregates in line with a submission's current record (None: it no longer counts)."""
    settings = settings or Settings.of(store, project_id)
    if form_id in ("well_being_ranking", "household_income"):
        store.replace_field_households(project_id, submission_id,
                                       field_household_facts(form_id, record) if record is not None else [])
    if form_id == "well_being_ranking":
        store.replace_wb_gone(project_id, submission_id, gone_facts(record) if record is not None else [])
        rows = ranking_facts(record) if record is not None else []
        touched = store.replace_wb_ratings(project_id, submission_id, rows)
        touched |= store.replace_wb_validated(project_id, submission_id,
                                              validation_facts(record) if record is not None else [])
        touched = sorted(touched)
        ratings = store.wb_ratings_of_many(project_id, touched)   # a hamlet's households in a few queries
        validated = store.wb_validated_of_many(project_id, touched)
        combined = {key: with_validation(combined_row(ratings.get(key, []), settings), validated.get(key))
                    for key in touched}
        nodes = store.household_nodes(project_id, {hh_id for (_, hh_id), row in combined.items() if row is not None})
        for (_, hh_id), row in combined.items():
            if row is not None:
                row["node"] = nodes[hh_id]
        store.set_wb_households(project_id, [(round_no, hh_id, combined[(round_no, hh_id)])
                                             for round_no, hh_id in touched])
    elif form_id == "household_income":
        fact = income_fact(record) if record is not None else None
        touched = store.replace_hh_income(project_id, submission_id,
                                          with_poverty(fact, _lines(), settings) if fact is not None else None)
        for hh_id in sorted(touched):  # one rule for a household's node, whatever order submissions came in
            store.set_household_node(project_id, hh_id, store.household_node(project_id, hh_id))
    elif form_id == "poverty_nodes":
        store.replace_node_record(project_id, submission_id, node_fact(record) if record is not None else None)


def rebuild(store: Store, forms: FormCache, project_id: int) -> dict[str, int]:
    """Recompute every aggregate of a project from the stored raw XML; returns submissions read per form."""
    settings = Settings.of(store, project_id)
    store.clear_aggregates(project_id)
    counts = {}
    # Income first, so households' nodes are known when their well-being categories are combined.
    for form_id in ("household_income", "poverty_nodes", "well_being_ranking"):
        counts[form_id] = 0
        with store.transaction():
            for row in store.current_submissions(project_id, form_id):
                record = record_from_xml(store, forms, row["form_def_id"], bytes(row["xml"]))
                if record is not None:
                    refresh(store, project_id, form_id, row["submission_id"], record, settings)
                    counts[form_id] += 1
    return counts


def record_from_xml(store: Store, forms: FormCache, form_def_id: int, xml: bytes) -> dict | None:
    """The typed record of stored XML, as validated at ingest (None if it no longer loads)."""
    form = forms.get(store, form_def_id)
    parsed = parse_submission(xml, max_depth=256)
    try:
        return form_schemas.load(form, extract(parsed.root, form).record)
    except ValidationError:
        return None
