"""Blueprint 'api': the JSON API that dashboards and researchers' scripts read (/api/v1/...).

Authenticated by a researcher's API token (Authorization: Bearer ...) or a signed-in session.
Summaries read the counts kept at ingest; measures that need household detail (agreement,
decomposition, concordance, change) read the derived per-household rows of one scope, never the
submissions, and compute with the pure functions in server.analysis.
"""

from __future__ import annotations

import csv
import hashlib
import io
from fractions import Fraction
from typing import Any, Iterable

from flask import Blueprint, Response, current_app, g, jsonify, request, session

from . import aggregates, errors
from .analysis import agreement, change, concordance, poverty, wellbeing

bp = Blueprint("api", __name__, url_prefix="/api/v1")
READ_ROLES = {"admin", "manager", "nda", "researcher"}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _store():
    return current_app.extensions["ppa"].store


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    user = None
    if header.lower().startswith("bearer "):
        user = _store().user_by_api_token(hash_token(header[7:].strip()))
    elif session.get("user_id"):
        user = _store().user_by_id(session["user_id"])
    if user is None:
        raise errors.Problem("401.3", "Send an API token (Authorization: Bearer <token>) or sign in first.")
    if user["role"] not in READ_ROLES:
        raise errors.forbidden()
    g.api_user = user


def _project(project_id: int) -> dict:
    project = _store().get_project(project_id)
    if project is None:
        raise errors.not_found("project")
    return project


def _filters() -> dict[str, Any]:
    """round (default: the latest with data), cluster, hamlet, node from the query string."""
    args = request.args
    out: dict[str, Any] = {k: args.get(k) or None for k in ("cluster", "hamlet", "node")}
    raw = args.get("round")
    if raw is not None:
        if not raw.isdigit():
            raise errors.bad_request("round must be a whole number")
        out["round"] = int(raw)
    return out


def _round(project_id: int, filters: dict) -> int | None:
    if "round" in filters:
        return filters["round"]
    rounds = _store().rounds(project_id)
    return rounds[-1] if rounds else None


def _num(value: Any) -> Any:
    """JSON numbers: Fractions as floats rounded to 6 places (the exact value is in *_exact fields)."""
    if isinstance(value, Fraction):
        return round(float(value), 6)
    if isinstance(value, float):
        return round(value, 6)
    return value


def _exact(value: Any) -> str | None:
    return str(value) if isinstance(value, Fraction) else None


# --------------------------------------------------------------------------- well-being

@bp.get("/projects/<int:project_id>/wellbeing")
def wellbeing_summary(project_id: int) -> Response:
    """Happy / average / sad counts and shares per cluster, hamlet or node (?by=), with small-n marked."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    by = [b for b in (request.args.get("by") or "").split(",") if b in {"cluster", "hamlet", "node"}]
    rows = _store().wb_count_rows(project_id, round_no, filters.get("cluster"), filters.get("hamlet"),
                                  filters.get("node"), by) if round_no is not None else []
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[b] for b in by)
        entry = groups.setdefault(key, {"counts": {c: 0 for c in (*aggregates.CATEGORIES, "unrated")}, "flagged": 0})
        entry["counts"][row["final"]] = row["n"]
        entry["flagged"] += row["n_flagged"]
    out = []
    for key, entry in sorted(groups.items()):
        counts = {c: entry["counts"][c] for c in aggregates.CATEGORIES}
        summary = wellbeing.shares(counts, n_flagged=entry["flagged"], n_unrated=entry["counts"]["unrated"])
        out.append({**dict(zip(by, key)), **_shares_json(summary)})
    return jsonify({"project_id": project_id, "round": round_no, "by": by, "filters": _clean(filters),
                    "rows": out, "rounds": _store().rounds(project_id)})


def _shares_json(summary) -> dict:
    return {"n_rated": summary.n_rated, "counts": dict(summary.counts),
            "shares": {k: _num(v) for k, v in summary.shares.items()},
            "shares_exact": {k: _exact(v) for k, v in summary.shares.items()},
            "small_n": summary.small_n, "n_flagged": summary.n_flagged, "n_unrated": summary.n_unrated}


def _clean(filters: dict) -> dict:
    return {k: v for k, v in filters.items() if v is not None}


@bp.get("/projects/<int:project_id>/agreement")
def agreement_summary(project_id: int) -> Response:
    """Agreement between informant groups on the households of one hamlet or cluster and round."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    by_group = _ratings_by_group(project_id, round_no, filters)
    pairs = agreement.pairwise(by_group) if len(by_group) >= 2 else []
    body = {"project_id": project_id, "round": round_no, "filters": _clean(filters), "groups": sorted(by_group),
            "pairs": [{k: _num(v) for k, v in _asdict(p).items()} for p in pairs]}
    if len(by_group) >= 3:
        _households, table = agreement.fleiss_table(by_group)
        body["fleiss_kappa"] = _num(agreement.fleiss_kappa(table)) if table else None
        body["kendalls_w"] = _num(agreement.kendalls_w(by_group))
        body["n_rated_by_all"] = len(_households)
    return jsonify(body)


def _ratings_by_group(project_id: int, round_no: int | None, filters: dict) -> dict[str, dict[str, int]]:
    if round_no is None:
        return {}
    latest: dict[tuple[str, str], dict] = {}
    for row in _store().wb_ratings(project_id, round_no, filters.get("cluster"), filters.get("hamlet")):
        if row["level"] is not None:
            latest[(row["group_id"], row["hh_id"])] = row  # ordered by submission: the latest session wins
    out: dict[str, dict[str, int]] = {}
    for (group, hh_id), row in latest.items():
        out.setdefault(group, {})[hh_id] = row["level"]
    return out


def _asdict(obj) -> dict:
    from dataclasses import asdict, is_dataclass
    return asdict(obj) if is_dataclass(obj) else dict(obj)


# --------------------------------------------------------------------------- income poverty

@bp.get("/projects/<int:project_id>/poverty")
def poverty_summary(project_id: int) -> Response:
    """FGT P0, P1, P2, person- and household-weighted, per scope (?by=cluster,hamlet,node), from kept sums."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    by = [b for b in (request.args.get("by") or "").split(",") if b in {"cluster", "hamlet", "node"}]
    rows = _store().income_count_rows(project_id, round_no, filters.get("cluster"), filters.get("hamlet"),
                                      filters.get("node"), by) if round_no is not None else []
    out = []
    for row in rows:
        if not row["n_hh"] and not row["n_no_line"]:
            continue
        entry = {b: row[b] for b in by}
        entry.update(n_households=row["n_hh"], n_persons=row["n_persons"], n_without_line=row["n_no_line"])
        for weighting, n, suffix in (("person", row["n_persons"], "persons"), ("household", row["n_hh"], "hh")):
            entry[weighting] = {f"P{a}": (round(row[f"{k}_{suffix}"] / n, 6) if n else None)
                                for a, k in ((0, "poor"), (1, "gap"), (2, "gap2"))}
        out.append(entry)
    settings = aggregates.Settings.of(_store(), project_id)
    return jsonify({"project_id": project_id, "round": round_no, "by": by, "filters": _clean(filters), "rows": out,
                    "line": {"year": settings.line_year, "method": settings.line_method,
                             "note": "each household's own line: state x sector (DOMAIN.md 0.5)"},
                    "lines_used": _lines_used(project_id, round_no, filters)})


def _lines_used(project_id: int, round_no: int | None, filters: dict) -> list[dict]:
    seen: dict[str, dict] = {}
    for row in _store().hh_income(project_id, round_no, filters.get("cluster"), filters.get("hamlet")):
        if row["line_label"] and row["line_label"] not in seen:
            seen[row["line_label"]] = {"label": row["line_label"], "rs_per_person_month": row["line"]}
    settings = aggregates.Settings.of(_store(), project_id)
    lines = aggregates._lines()
    for entry in seen.values():
        state, sector = entry["label"].split(" ", 2)[2].rsplit(" ", 1)
        line = lines.line(state, sector, settings.line_year, settings.line_method)
        entry.update(source=line.source, verification=line.verification)
    return list(seen.values())


def _households(project_id: int, round_no: int | None, filters: dict) -> list:
    rows = _store().hh_income(project_id, round_no, filters.get("cluster"), filters.get("hamlet"))
    if filters.get("node"):
        rows = [r for r in rows if r["node"] == filters["node"]]
    return [poverty.Household(id=r["hh_id"], income_monthly=r["income_monthly"] or 0.0, size=r["size"],
                              line=r["line"], consumption_monthly=r["consumption_monthly"],
                              attrs={"head_sex": r["head_sex"], "social_group": r["social_group"],
                                     "land_class": r["land_class"], "node": r["node"], "hamlet": r["hamlet"],
                                     "cluster": r["cluster"]})
            for r in rows if r["line"] is not None]


@bp.get("/projects/<int:project_id>/poverty/decomposition")
def poverty_decomposition(project_id: int) -> Response:
    """P_alpha by subgroup (head_sex, social_group, land_class, node, hamlet) with each group's contribution."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    by = request.args.get("by", "social_group")
    if by not in {"head_sex", "social_group", "land_class", "node", "hamlet", "cluster"}:
        raise errors.bad_request("by must be one of head_sex, social_group, land_class, node, hamlet, cluster")
    alpha = int(request.args.get("alpha", "0")) if request.args.get("alpha", "0") in {"0", "1", "2"} else 0
    weighting = request.args.get("weighting", "person")
    if weighting not in {"person", "household"}:
        raise errors.bad_request("weighting must be person or household")
    households = _households(project_id, round_no, filters)
    result = poverty.decompose(households, lambda h: h.attrs.get(by) or "unknown", alpha, weighting) \
        if households else None
    return jsonify({"project_id": project_id, "round": round_no, "by": by, "alpha": alpha, "weighting": weighting,
                    "filters": _clean(filters), "total": _num(result.total) if result else None,
                    "groups": [{k: _num(v) for k, v in _asdict(gr).items()} for gr in result.groups]
                    if result else []})


# --------------------------------------------------------------------------- community category vs income

@bp.get("/projects/<int:project_id>/concordance")
def concordance_summary(project_id: int) -> Response:
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    categories = {r["hh_id"]: r for r in _store().wb_households(project_id, round_no, filters.get("cluster"),
                                                                filters.get("hamlet")) if r["final"]}
    pairs = []
    for h in _households(project_id, round_no, filters):
        if h.id in categories:
            pairs.append(concordance.Record(household=h.id, category=categories[h.id]["final"], poor=h.is_poor(),
                                            m=categories[h.id]["mean"], y=h.per_capita()))
    result = concordance.concordance(pairs) if pairs else None
    return jsonify({"project_id": project_id, "round": round_no, "filters": _clean(filters), "n": len(pairs),
                    "result": _jsonable(result)})


@bp.get("/projects/<int:project_id>/change")
def change_summary(project_id: int) -> Response:
    """Households seen in two rounds: category transitions and, where both rounds have income, FGT change."""
    _project(project_id)
    filters = _filters()
    try:
        base, follow = int(request.args["from"]), int(request.args["to"])
    except (KeyError, ValueError):
        raise errors.bad_request("give the two rounds as ?from=1&to=2") from None
    cats = [{r["hh_id"]: r["final"] for r in _store().wb_households(project_id, rnd, filters.get("cluster"),
                                                                    filters.get("hamlet")) if r["final"]}
            for rnd in (base, follow)]
    incomes = [_households(project_id, rnd, filters) for rnd in (base, follow)]
    return jsonify({"project_id": project_id, "from": base, "to": follow, "filters": _clean(filters),
                    "categories": _jsonable(change.transitions(cats[0], cats[1])),
                    "income": _jsonable(change.poverty_change(*incomes)) if all(incomes) else None})


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return _num(value)


# --------------------------------------------------------------------------- poverty nodes

@bp.get("/projects/<int:project_id>/nodes")
def nodes_summary(project_id: int) -> Response:
    """Each node's record with the well-being distribution of the households linked to it."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    records = _store().node_records(project_id, round_no, filters.get("cluster"))
    by_node = {}
    for row in _store().wb_count_rows(project_id, round_no, filters.get("cluster"), by=["node"]) \
            if round_no is not None else []:
        by_node.setdefault(row["node"], {})[row["final"]] = row["n"]
    out = []
    for rec in records:
        counts = by_node.get(rec["node_id"], {})
        summary = wellbeing.shares({c: counts.get(c, 0) for c in aggregates.CATEGORIES})
        out.append({"node_id": rec["node_id"], "cluster": rec["cluster"], "round": rec["round"], **rec["data"],
                    "wellbeing": _shares_json(summary)})
    return jsonify({"project_id": project_id, "round": round_no, "filters": _clean(filters), "nodes": out})


# --------------------------------------------------------------------------- the project's own analysis export

@bp.get("/projects/<int:project_id>/export/ratings.csv")
def export_ratings(project_id: int) -> Response:
    """household_id,group_id,level: the input of `ppa analyse wellbeing`."""
    _project(project_id)
    filters = _filters()
    by_group = _ratings_by_group(project_id, _round(project_id, filters), filters)
    rows = ([hh, group, level] for group, levels in sorted(by_group.items()) for hh, level in sorted(levels.items()))
    return _csv(["household_id", "group_id", "level"], rows, "ratings.csv")


@bp.get("/projects/<int:project_id>/export/households.csv")
def export_households(project_id: int) -> Response:
    """One row per household: the input of `ppa analyse poverty` and `ppa analyse concordance`."""
    _project(project_id)
    filters = _filters()
    round_no = _round(project_id, filters)
    categories = {r["hh_id"]: r["final"] for r in _store().wb_households(project_id, round_no, filters.get("cluster"),
                                                                         filters.get("hamlet"))}
    columns = ["household_id", "income_monthly", "size", "line", "state", "sector", "category", "head_sex",
               "social_group", "land_class", "node", "hamlet", "cluster"]
    rows = ([r["hh_id"], r["income_monthly"], r["size"], r["line"], r["state"], r["sector"],
             categories.get(r["hh_id"]) or "", r["head_sex"], r["social_group"], r["land_class"], r["node"],
             r["hamlet"], r["cluster"]]
            for r in _store().hh_income(project_id, round_no, filters.get("cluster"), filters.get("hamlet")))
    return _csv(columns, rows, "households.csv")


def _csv(columns: list[str], rows: Iterable[list], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
