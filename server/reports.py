"""The measures people read, as plain dicts: the JSON API and the pages both call these.

Each takes `allowed`, the clusters the reader may see (None = all): an NDA never gets a number
computed from another cluster's households. Summaries read the counts kept at ingest; measures
that need household detail read the derived rows of one cluster or hamlet, never the submissions.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

from . import aggregates, charts, errors
from . import rows as rows_module
from .analysis import agreement as agreement_stats
from .analysis import change as change_stats
from .analysis import concordance as concordance_stats
from .analysis import poverty as poverty_stats
from .analysis import wellbeing as wellbeing_stats
from .permissions import in_scope
from .storage import Store

SCOPES = ("cluster", "hamlet", "node")
MULTI_GROUP_MIN = 3   # informant groups that Fleiss' kappa and Kendall's W need


def num(value: Any) -> Any:
    """Fractions and floats as floats rounded to 6 places; exact values go in *_exact fields."""
    if isinstance(value, Fraction):
        return round(float(value), 6)
    if isinstance(value, float):
        return round(value, 6)
    return value


def jsonable(value: Any) -> Any:
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return num(value)


def cluster_scopes(filters: dict, allowed: frozenset[str] | None) -> list[str | None]:
    """The clusters to read: the one asked for (if allowed), all (None), or each allowed one."""
    asked = filters.get("cluster")
    if allowed is None:
        return [asked]
    if asked is not None:
        if not in_scope(allowed, asked):
            raise errors.forbidden()
        return [asked]
    return sorted(allowed)


def latest_round(store: Store, project_id: int, filters: dict,
                 allowed: frozenset[str] | None = None) -> int | None:
    """The round asked for, else the latest with data in the reader's clusters."""
    if filters.get("round") is not None:
        return filters["round"]
    rounds = store.rounds(project_id, allowed)
    return rounds[-1] if rounds else None


def _by(by: Iterable[str], scopes: list[str | None]) -> list[str]:
    chosen = [b for b in by if b in SCOPES]
    if len(scopes) > 1 and "cluster" not in chosen:  # several allowed clusters are never summed together
        chosen.insert(0, "cluster")
    return chosen


# --------------------------------------------------------------------------- well-being

def shares_json(summary) -> dict:
    return {"n_rated": summary.n_rated, "counts": dict(summary.counts),
            "shares": {k: num(v) for k, v in summary.shares.items()},
            "shares_exact": {k: str(v) if isinstance(v, Fraction) else None for k, v in summary.shares.items()},
            "small_n": summary.small_n, "n_flagged": summary.n_flagged, "n_unrated": summary.n_unrated}


def wellbeing(store: Store, project_id: int, filters: dict, by: Iterable[str],
              allowed: frozenset[str] | None) -> dict:
    """Happy / average / sad counts and shares per scope, with small-n marked."""
    round_no = latest_round(store, project_id, filters, allowed)
    scopes = cluster_scopes(filters, allowed)
    by = _by(by, scopes)
    groups: dict[tuple, dict] = {}
    for cluster in scopes if round_no is not None else []:
        for row in store.wb_count_rows(project_id, round_no, cluster, filters.get("hamlet"), filters.get("node"), by):
            entry = groups.setdefault(tuple(row[b] for b in by),
                                      {"counts": dict.fromkeys((*aggregates.CATEGORIES, "unrated"), 0), "flagged": 0})
            entry["counts"][row["final"]] += row["n"]
            if row["final"] != "unrated":   # flagged, as wellbeing.summary counts it: rated households to review;
                entry["flagged"] += row["n_flagged"]   # every unrated one is flagged too, and counted as unrated
    rows = []
    for key, entry in sorted(groups.items()):
        summary = wellbeing_stats.shares({c: entry["counts"][c] for c in aggregates.CATEGORIES},
                                         n_flagged=entry["flagged"], n_unrated=entry["counts"]["unrated"])
        rows.append({**dict(zip(by, key)), **shares_json(summary)})
    return {"project_id": project_id, "round": round_no, "by": by, "rows": rows,
            "rounds": store.rounds(project_id, allowed)}


def ratings_by_group(store: Store, project_id: int, round_no: int | None, filters: dict,
                     allowed: frozenset[str] | None) -> dict[str, dict[str, int]]:
    """group -> household -> level, the latest session of each group counting."""
    if round_no is None:
        return {}
    latest: dict[tuple[str, str], int] = {}
    for cluster in cluster_scopes(filters, allowed):
        for row in store.wb_ratings(project_id, round_no, cluster, filters.get("hamlet")):
            if row["level"] is not None:
                latest[(row["group_id"], row["hh_id"])] = row["level"]
    out: dict[str, dict[str, int]] = {}
    for (group, hh_id), level in latest.items():
        out.setdefault(group, {})[hh_id] = level
    return out


def agreement(store: Store, project_id: int, filters: dict, allowed: frozenset[str] | None) -> dict:
    round_no = latest_round(store, project_id, filters, allowed)
    by_group = ratings_by_group(store, project_id, round_no, filters, allowed)
    body: dict[str, Any] = {"project_id": project_id, "round": round_no, "groups": sorted(by_group),
                            "pairs": [{k: num(v) for k, v in asdict(p).items()}
                                      for p in (agreement_stats.pairwise(dict(sorted(by_group.items())))
                                                if len(by_group) >= 2 else [])]}
    for pair in body["pairs"]:
        pair["band"] = agreement_stats.landis_koch(pair["kappa"]) if pair["kappa"] is not None else None
    # Fleiss' kappa and Kendall's W are defined for three or more groups: with fewer the keys are there, as None,
    # and "multi_group_defined" says why (a page shows "not defined", never a number or an error).
    body.update(fleiss_kappa=None, kendalls_w=None, n_rated_by_all=None,
                multi_group_defined=len(by_group) >= MULTI_GROUP_MIN)
    if body["multi_group_defined"]:
        households, table = agreement_stats.fleiss_table(by_group)
        body["fleiss_kappa"] = num(agreement_stats.fleiss_kappa(table)) if table else None
        body["kendalls_w"] = num(agreement_stats.kendalls_w(by_group))
        body["n_rated_by_all"] = len(households)
    return body


# --------------------------------------------------------------------------- income poverty

def poverty(store: Store, project_id: int, filters: dict, by: Iterable[str],
            allowed: frozenset[str] | None) -> dict:
    """FGT P0, P1, P2, person- and household-weighted, per scope, from the sums kept at ingest. Households whose
    income is incomplete (an amount not known or refused) are left out and counted in n_incomplete_income."""
    round_no = latest_round(store, project_id, filters, allowed)
    scopes = cluster_scopes(filters, allowed)
    by = _by(by, scopes)
    rows, lines = [], {}
    for cluster in scopes if round_no is not None else []:
        for row in store.income_count_rows(project_id, round_no, cluster, filters.get("hamlet"),
                                           filters.get("node"), by):
            if not row["n_hh"] and not row["n_no_line"] and not row["n_incomplete"]:
                continue
            entry = {b: row[b] for b in by}
            entry.update(n_households=row["n_hh"], n_persons=row["n_persons"], n_without_line=row["n_no_line"],
                         n_incomplete_income=row["n_incomplete"])
            for weighting, n, suffix in (("person", row["n_persons"], "persons"), ("household", row["n_hh"], "hh")):
                entry[weighting] = {f"P{a}": (round(row[f"{k}_{suffix}"] / n, 6) if n else None)
                                    for a, k in ((0, "poor"), (1, "gap"), (2, "gap2"))}
            rows.append(entry)
        for line in lines_used(store, project_id, round_no, {**filters, "cluster": cluster}):
            lines.setdefault(line["label"], {**line, "households": 0})["households"] += line["households"]
    settings = aggregates.Settings.of(store, project_id)
    return {"project_id": project_id, "round": round_no, "by": by, "rows": rows,
            "line": {"year": settings.line_year, "method": settings.line_method,
                     "note": "each household's own line: state x sector (docs/method.md 4.2)"},
            "lines_used": list(lines.values())}


def lines_used(store: Store, project_id: int, round_no: int | None, filters: dict) -> list[dict]:
    """The lines the scope's households were measured against, with their sources (from kept counts)."""
    if round_no is None:
        return []
    settings = aggregates.Settings.of(store, project_id)
    lines = aggregates._lines()
    used = []
    for row in store.income_lines_used(project_id, round_no, filters.get("cluster"), filters.get("hamlet"),
                                       filters.get("node")):
        state, sector = row["line_label"].split(" ", 2)[2].rsplit(" ", 1)
        line = lines.line(state, sector, settings.line_year, settings.line_method)
        used.append({"label": row["line_label"], "rs_per_person_month": row["line"], "households": row["n_hh"],
                     "source": line.source, "verification": line.verification})
    return used


def households(store: Store, project_id: int, round_no: int | None, filters: dict,
               allowed: frozenset[str] | None) -> list[poverty_stats.Household]:
    """The households that poverty measures can use: with a line and a complete income (see incomplete_income)."""
    out = []
    for cluster in cluster_scopes(filters, allowed):
        for r in store.hh_income(project_id, round_no, cluster, filters.get("hamlet")):
            if r["line"] is None or (filters.get("node") and r["node"] != filters["node"]):
                continue
            if not r["income_complete"]:
                continue
            out.append(poverty_stats.Household(
                id=r["hh_id"], income_monthly=r["income_monthly"] or 0.0, size=r["size"], line=r["line"],
                consumption_monthly=r["consumption_monthly"],
                attrs={"head_sex": r["head_sex"], "social_group": r["social_group"], "land_class": r["land_class"],
                       "node": r["node"], "hamlet": r["hamlet"], "cluster": r["cluster"]}))
    return out


def incomplete_income(store: Store, project_id: int, round_no: int | None, filters: dict,
                      allowed: frozenset[str] | None) -> int:
    """How many households of the scope were left out of household-level measures for incomplete income."""
    if round_no is None:
        return 0
    return sum(row["n_incomplete"] or 0 for cluster in cluster_scopes(filters, allowed)
               for row in store.income_count_rows(project_id, round_no, cluster, filters.get("hamlet"),
                                                  filters.get("node")))


def decomposition(store: Store, project_id: int, filters: dict, by: str, alpha: int, weighting: str,
                  allowed: frozenset[str] | None) -> dict:
    round_no = latest_round(store, project_id, filters, allowed)
    people = households(store, project_id, round_no, filters, allowed)
    result = poverty_stats.decompose(people, lambda h: h.attrs.get(by) or "unknown", alpha, weighting) \
        if people else None
    return {"project_id": project_id, "round": round_no, "by": by, "alpha": alpha, "weighting": weighting,
            "n_incomplete_income": incomplete_income(store, project_id, round_no, filters, allowed),
            "total": num(result.total) if result else None,
            "groups": [{k: num(v) for k, v in asdict(g).items()} for g in result.groups] if result else []}


# --------------------------------------------------------------------------- community category vs income; change

def categories(store: Store, project_id: int, round_no: int | None, filters: dict,
               allowed: frozenset[str] | None) -> dict[str, dict]:
    out = {}
    for cluster in cluster_scopes(filters, allowed):
        out.update({r["hh_id"]: r for r in store.wb_households(project_id, round_no, cluster, filters.get("hamlet"))
                    if r["final"]})
    return out


def concordance(store: Store, project_id: int, filters: dict, allowed: frozenset[str] | None) -> dict:
    round_no = latest_round(store, project_id, filters, allowed)
    cats = categories(store, project_id, round_no, filters, allowed)
    records = [concordance_stats.Record(household=h.id, category=cats[h.id]["final"], poor=h.is_poor(),
                                        m=cats[h.id]["mean"], y=h.per_capita())
               for h in households(store, project_id, round_no, filters, allowed) if h.id in cats]
    return {"project_id": project_id, "round": round_no, "n": len(records),
            "n_incomplete_income": incomplete_income(store, project_id, round_no, filters, allowed),
            "result": jsonable(concordance_stats.concordance(records)) if records else None}


def _transition_matrices(store: Store, project_id: int, filters: dict, base: int, follow: int,
                         allowed: frozenset[str] | None,
                         together: bool = False) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """(cluster, hamlet) -> category in `base` -> category in `follow` -> households placed in both rounds, from the
    transition counts kept at ingest; a household counts in its follow-up round's cluster and hamlet. Each cluster
    of the scope on its own, or (together) a household that moved between two of the reader's clusters counts too."""
    matrices: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    scopes = cluster_scopes(filters, allowed)
    for clusters in ([None if scopes == [None] else scopes] if together else
                     [None if c is None else [c] for c in scopes]):
        for r in store.wb_transition_rows(project_id, base, follow, clusters, filters.get("hamlet")):
            cell = matrices.setdefault((r["cluster"] or "", r["hamlet"] or ""), {}).setdefault(r["before"], {})
            cell[r["after"]] = cell.get(r["after"], 0) + r["n"]
    return matrices


def _placed(store: Store, project_id: int, round_no: int, filters: dict, allowed: frozenset[str] | None) -> int:
    """Households with a category in the round, in the scope (from the kept counts)."""
    return sum(row["n"] for cluster in cluster_scopes(filters, allowed)
               for row in store.wb_count_rows(project_id, round_no, cluster, filters.get("hamlet"))
               if row["final"] != "unrated")


def change(store: Store, project_id: int, filters: dict, base: int, follow: int,
           allowed: frozenset[str] | None) -> dict:
    """Category transitions between two rounds (from the counts kept at ingest) and, where both rounds have
    income, the change of the FGT measures."""
    matrix: dict[str, dict[str, int]] = {}
    for by_before in _transition_matrices(store, project_id, filters, base, follow, allowed, together=True).values():
        for before, row in by_before.items():
            for after, n in row.items():
                matrix.setdefault(before, {})[after] = matrix.get(before, {}).get(after, 0) + n
    panel = sum(n for row in matrix.values() for n in row.values())
    unmatched = sum(_placed(store, project_id, rnd, filters, allowed) for rnd in (base, follow)) - 2 * panel
    incomes = [households(store, project_id, rnd, filters, allowed) for rnd in (base, follow)]
    return {"project_id": project_id, "from": base, "to": follow,
            "categories": jsonable(change_stats.from_matrix(matrix, n_unmatched=unmatched)),
            "income": jsonable(change_stats.poverty_change(*incomes)) if all(incomes) else None}


# --------------------------------------------------------------------------- poverty nodes

def nodes(store: Store, project_id: int, filters: dict, allowed: frozenset[str] | None) -> dict:
    """Each node's record with the well-being distribution of its households and its review trail. Without a
    round asked for: the latest round that has a node record in the reader's clusters (a node's record and the
    rankings of its households may be of different rounds)."""
    rounds = store.node_rounds(project_id, allowed)
    round_no = filters["round"] if filters.get("round") is not None else (rounds[-1] if rounds else None)
    reviews = store.node_reviews(project_id, round_no)
    out = []
    for cluster in cluster_scopes(filters, allowed):
        by_node: dict[str, dict] = {}
        for row in store.wb_count_rows(project_id, round_no, cluster, by=["node"]) if round_no is not None else []:
            by_node.setdefault(row["node"], {})[row["final"]] = row["n"]
        for rec in store.node_records(project_id, round_no, cluster):
            counts = by_node.get(rec["node_id"], {})
            summary = wellbeing_stats.shares({c: counts.get(c, 0) for c in aggregates.CATEGORIES})
            trail = reviews.get(rec["node_id"], [])
            out.append({"node_id": rec["node_id"], "cluster": rec["cluster"], "round": rec["round"], **rec["data"],
                        "wellbeing": shares_json(summary), "review_status": trail[-1]["status"] if trail else "draft",
                        "reviews": trail})
    return {"project_id": project_id, "round": round_no, "rounds": rounds, "nodes": out}


def change_by_hamlet(store: Store, project_id: int, filters: dict, base: int, follow: int,
                     allowed: frozenset[str] | None) -> list[dict]:
    """change() for each hamlet of the scope, sorted by net movement towards sad (worsened - improved), most
    first: which hamlets moved towards sad between the two rounds. A household counts in its follow-up hamlet."""
    out = []
    for (cluster, hamlet), matrix in _transition_matrices(store, project_id, filters, base, follow, allowed).items():
        moved = change_stats.from_matrix(matrix)
        out.append({"cluster": cluster, "hamlet": hamlet, "n": moved.n, "improved": moved.improved,
                    "worsened": moved.worsened, "unchanged": moved.unchanged,
                    "net_towards_sad": moved.worsened - moved.improved,
                    "into_sad": sum(moved.matrix[a]["sad"] for a in ("happy", "average"))})
    return sorted(out, key=lambda r: (-r["net_towards_sad"], -r["worsened"], r["cluster"], r["hamlet"]))


# --------------------------------------------------------------------------- charts: fieldwork over time, the map

def submissions_per_day(store: Store, project_id: int, days: list[str], by: str,
                        allowed: frozenset[str] | None) -> dict:
    """Submissions per day over `days` (ISO dates, ascending), one series per form or per enumerator (the device
    or user that sent it); an NDA's count only their clusters' submissions."""
    rows = store.submissions_per_day_by(project_id, days[0], allowed, by)
    return {"project_id": project_id, "by": by, **charts.per_day(rows, days)}


def household_map(store: Store, project_id: int, filters: dict, allowed: frozenset[str] | None,
                  hamlet_label=None) -> dict:
    """The GPS points of the round's household income interviews, coloured by the household's category."""
    round_no = latest_round(store, project_id, filters, allowed)
    table = rows_module.table_name(project_id, "household_income")
    found = [r for cluster in (cluster_scopes(filters, allowed) if round_no is not None else [])
             for r in store.household_points(project_id, round_no, table, cluster, filters.get("hamlet"))]
    return {"project_id": project_id, "round": round_no,
            **charts.household_map(found, hamlet_label or (lambda h: h))}


def names(store: Store, project_id: int) -> dict[str, Mapping[str, str]]:
    """Labels of the project's clusters, hamlets and poverty nodes (from their lists) and titles of its forms, by
    code: what pages show instead of the codes."""
    out: dict = {kind: store.list_labels(project_id, f"{kind}.csv") for kind in ("clusters", "hamlets", "nodes")}
    out["forms"] = {f["xml_form_id"]: f["title"] or f["xml_form_id"] for f in store.list_forms(project_id)}
    return out
