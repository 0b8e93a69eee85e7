"""Blueprint 'api': the JSON API that dashboards and researchers' scripts read (/api/v1/...).

Authenticated by a user's API token (Authorization: Bearer ...) or a signed-in session; the
role decides what may be read, and an NDA only ever gets numbers of their own clusters. The
measures are computed in server.reports, which the pages use too.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Iterable

from flask import Blueprint, Response, g, jsonify, request, session

from . import charts, context, errors, monitoring, ranking, reports
from .auth import user_of_session
from .http_security import disposition, send
from .permissions import Principal, can, clusters, in_scope, load_principal
from .spreadsheet import neutralise

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal(user: dict) -> Principal:
    return load_principal(context.store(), user)


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    user = None
    if header.lower().startswith("bearer "):
        user = context.store().user_by_api_token(hash_token(header[7:].strip()))
    else:
        user = user_of_session(context.store(), session)
    if user is None:
        raise errors.Problem("401.3", "Send an API token (Authorization: Bearer <token>) or sign in first.")
    g.api_user = principal(user)


def _allowed(project_id: int, action: str = "read") -> frozenset[str] | None:
    """403 unless the caller may do this in the project; then the clusters they may see (None = all)."""
    if context.store().get_project(project_id) is None:
        raise errors.not_found("project")
    if not can(g.api_user, action, project_id):
        raise errors.forbidden()
    return clusters(g.api_user, project_id)


def _filters() -> dict:
    """round, cluster, hamlet, node from the query string."""
    args = request.args
    out: dict = {k: args.get(k) or None for k in ("cluster", "hamlet", "node")}
    raw = args.get("round")
    if raw is not None:
        if not raw.isdigit():
            raise errors.bad_request("round must be a whole number")
        out["round"] = int(raw)
    return out


def _by() -> list[str]:
    return [b for b in (request.args.get("by") or "").split(",") if b in reports.SCOPES]


def _json(body: dict, filters: dict) -> Response:
    return jsonify({**body, "filters": {k: v for k, v in filters.items() if v is not None}})


# --------------------------------------------------------------------------- measures

@bp.get("/projects/<int:project_id>/wellbeing")
def wellbeing_summary(project_id: int) -> Response:
    """Happy / average / sad counts and shares per cluster, hamlet or node (?by=), with small-n marked."""
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.wellbeing(context.store(), project_id, filters, _by(), allowed), filters)


@bp.get("/projects/<int:project_id>/agreement")
def agreement_summary(project_id: int) -> Response:
    """Agreement between informant groups on the households of one hamlet or cluster and round."""
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.agreement(context.store(), project_id, filters, allowed), filters)


@bp.get("/projects/<int:project_id>/poverty")
def poverty_summary(project_id: int) -> Response:
    """FGT P0, P1, P2, person- and household-weighted, per scope (?by=cluster,hamlet,node), from kept sums."""
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.poverty(context.store(), project_id, filters, _by(), allowed), filters)


@bp.get("/projects/<int:project_id>/poverty/decomposition")
def poverty_decomposition(project_id: int) -> Response:
    """P_alpha by subgroup (head_sex, social_group, land_class, node, hamlet) with each group's contribution."""
    allowed, filters = _allowed(project_id), _filters()
    by = request.args.get("by", "social_group")
    if by not in {"head_sex", "social_group", "land_class", "node", "hamlet", "cluster"}:
        raise errors.bad_request("by must be one of head_sex, social_group, land_class, node, hamlet, cluster")
    alpha = request.args.get("alpha", "0")
    weighting = request.args.get("weighting", "person")
    if alpha not in {"0", "1", "2"} or weighting not in {"person", "household"}:
        raise errors.bad_request("alpha must be 0, 1 or 2 and weighting person or household")
    return _json(reports.decomposition(context.store(), project_id, filters, by, int(alpha), weighting, allowed), filters)


@bp.get("/projects/<int:project_id>/concordance")
def concordance_summary(project_id: int) -> Response:
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.concordance(context.store(), project_id, filters, allowed), filters)


@bp.get("/projects/<int:project_id>/change")
def change_summary(project_id: int) -> Response:
    """Households seen in two rounds: category transitions and, where both rounds have income, FGT change."""
    allowed, filters = _allowed(project_id), _filters()
    try:
        base, follow = int(request.args["from"]), int(request.args["to"])
    except (KeyError, ValueError):
        raise errors.bad_request("give the two rounds as ?from=1&to=2") from None
    body = reports.change(context.store(), project_id, filters, base, follow, allowed)
    if request.args.get("by") == "hamlet":
        body["hamlets"] = reports.change_by_hamlet(context.store(), project_id, filters, base, follow, allowed)
    return _json(body, filters)


@bp.get("/projects/<int:project_id>/nodes")
def nodes_summary(project_id: int) -> Response:
    """Each node's record with the well-being distribution of the households linked to it."""
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.nodes(context.store(), project_id, filters, allowed), filters)


@bp.get("/projects/<int:project_id>/submissions/daily")
def submissions_daily(project_id: int) -> Response:
    """Submissions per day (UTC) over the last `days` days (default 14, at most 366), one series per form or per
    enumerator (?by=form|enumerator): the overview's charts."""
    allowed = _allowed(project_id)
    by = request.args.get("by", "form")
    days = request.args.get("days", "14")
    if by not in {"form", "enumerator"} or not days.isdigit() or not 1 <= int(days) <= 366:
        raise errors.bad_request("by must be form or enumerator, and days a whole number from 1 to 366")
    if request.args.get("cluster"):
        allowed = frozenset(reports.cluster_scopes({"cluster": request.args["cluster"]}, allowed))
    body = reports.submissions_per_day(context.store(), project_id, charts.last_days(dt.date.today(), int(days)), by,
                                       allowed)
    return _json(body, {"cluster": request.args.get("cluster") or None})


@bp.get("/projects/<int:project_id>/map")
def household_map(project_id: int) -> Response:
    """The GPS points of the round's household income interviews with each household's category, and where
    each hamlet's name goes."""
    allowed, filters = _allowed(project_id), _filters()
    return _json(reports.household_map(context.store(), project_id, filters, allowed), filters)


# --------------------------------------------------------------------------- the project's own analysis export

@bp.get("/projects/<int:project_id>/export/ratings.csv")
def export_ratings(project_id: int) -> Response:
    """household_id,group_id,level: the input of `ppa analyse wellbeing`."""
    allowed, filters = _allowed(project_id, "download"), _filters()
    round_no = reports.latest_round(context.store(), project_id, filters, allowed)
    by_group = reports.ratings_by_group(context.store(), project_id, round_no, filters, allowed)
    rows = ([hh, group, level] for group, levels in sorted(by_group.items()) for hh, level in sorted(levels.items()))
    return _csv(["household_id", "group_id", "level"], rows, "ratings.csv")


@bp.get("/projects/<int:project_id>/export/households.csv")
def export_households(project_id: int) -> Response:
    """One row per household: the input of `ppa analyse poverty` and `ppa analyse concordance`. `category` is the
    community validation meeting's where it agreed one, else the groups' combined one (kept in category_combined)."""
    allowed, filters = _allowed(project_id, "download"), _filters()
    store = context.store()
    round_no = reports.latest_round(store, project_id, filters, allowed)
    cats = reports.categories(store, project_id, round_no, filters, allowed)
    columns = ["household_id", "income_monthly", "income_complete", "size", "line", "state", "sector", "category",
               "head_sex", "social_group", "land_class", "node", "hamlet", "cluster", "category_combined",
               "validated_reason"]

    def rows():
        for cluster in reports.cluster_scopes(filters, allowed):
            for r in store.hh_income(project_id, round_no, cluster, filters.get("hamlet")):
                cat = cats.get(r["hh_id"]) or {}
                yield [r["hh_id"], r["income_monthly"], "yes" if r["income_complete"] else "no", r["size"], r["line"],
                       r["state"], r["sector"], cat.get("final") or "", r["head_sex"], r["social_group"],
                       r["land_class"], r["node"], r["hamlet"], r["cluster"], cat.get("combined") or "",
                       cat.get("validated_reason") or ""]
    return _csv(columns, rows(), "households.csv")


@bp.get("/projects/<int:project_id>/export/categories.csv")
def export_categories(project_id: int) -> Response:
    """One row per ranked household: the category that counts (the community validation meeting's where it agreed
    one), the groups' combined category beside it, and the meeting's reason."""
    allowed, filters = _allowed(project_id, "download"), _filters()
    store = context.store()
    round_no = reports.latest_round(store, project_id, filters)

    def rows():
        for cluster in reports.cluster_scopes(filters, allowed) if round_no is not None else []:
            for r in store.wb_households(project_id, round_no, cluster, filters.get("hamlet")):
                yield [r["hh_id"], r["round"], r["cluster"], r["hamlet"], r["node"], r["n_groups"], r["mean"],
                       r["combined"], r["final"], r["validated_reason"], r["flags"]]
    return _csv(["household_id", "round", "cluster", "hamlet", "node", "n_groups", "mean", "category_combined",
                 "category", "validated_reason", "flags"], rows(), "categories.csv")


@bp.get("/projects/<int:project_id>/export/field_households.csv")
def export_field_households(project_id: int) -> Response:
    """One row per household added in the field: its card, every report of it, and whether the reports were
    reconciled into one household and whether their head names disagree (ranking.reconcile)."""
    allowed, filters = _allowed(project_id, "download"), _filters()
    scopes = reports.cluster_scopes(filters, allowed)   # a cluster outside the caller's is refused, as everywhere
    scope = None if scopes == [None] else frozenset(scopes)
    reports_ = context.store().field_household_reports(project_id, scope, filters.get("hamlet"))
    rows = ([h["hh_id"], h["hamlet"], h["cluster"], h["card"], len(h["reports"]),
             " ".join(f"{r['form_id']}:{r['group_id'] or '-'}:{r['submission_id']}" for r in h["reports"]),
             " / ".join(h["names"]), int(h["reconciled"]), int(h["disagree"])]
            for h in ranking.reconcile(reports_))
    return _csv(["household_id", "hamlet", "cluster", "card", "n_reports", "reports", "head_names", "reconciled",
                 "names_disagree"], rows, "field_households.csv")


@bp.get("/projects/<int:project_id>/forms/<form_id>/export.<fmt>")
def export_form(project_id: int, form_id: str, fmt: str) -> Response:
    """A form's submissions as csv (zip), xlsx, jsonl or raw (zip), streamed; same filters as the Downloads page:
    since, until, cluster (repeatable), round, review_state (repeatable), labels=1, choice_labels=1, media=1,
    excel=1, lang=<language>; fmt also dta or sav (Stata, SPSS)."""
    from .exports import ExportFilters, ExportOptions, export_response_parts
    allowed = _allowed(project_id, "download")
    filters = ExportFilters.from_args(request.args, allowed)
    options = ExportOptions.from_args(request.args)
    filename, content_type, chunks = export_response_parts(context.store(), context.ppa().forms,
                                                           project_id, form_id, fmt, filters, options)
    context.store().audit(g.api_user.email, "export", f"{project_id}/{form_id}", {"format": fmt, "via": "api"})
    return Response(chunks, content_type=content_type, headers={"Content-Disposition": disposition(filename)})


@bp.get("/projects/<int:project_id>/monitoring")
def monitoring_summary(project_id: int) -> Response:
    """Enumerator monitoring for the days asked (from, to; by default the last seven), a form, a cluster: the same
    numbers as the monitoring page (server/monitoring.py)."""
    allowed = _allowed(project_id)
    cluster = request.args.get("cluster") or None
    if cluster and not in_scope(allowed, cluster):
        raise errors.forbidden()
    since, until = monitoring.period(request.args.get("from") or None, request.args.get("to") or None)
    return jsonify(monitoring.report(context.store(), project_id, allowed, since, until, request.args.get("form") or None,
                                     cluster))


def _csv(columns: list[str], rows: Iterable[list], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else neutralise(v) for v in row] for row in rows)   # phones wrote some
    context.store().audit(g.api_user.email, "export.analysis", name, {"args": dict(request.args)})
    return send(out.getvalue().encode("utf-8"), name, "text/csv; charset=utf-8")
