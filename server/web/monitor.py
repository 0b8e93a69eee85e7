"""The monitoring page: each enumerator's interviews this week (or the days chosen), their length, "don't know" and
refused answers, quality flags, households interviewed twice, outliers and far GPS points, every figure linked to
the submissions behind it; the daily summary as CSV; the thresholds, which managers set."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict

from flask import flash, redirect, render_template, request, url_for

from .. import errors, monitoring
from ..http_security import send
from ..permissions import in_scope
from ..spreadsheet import neutralise
from . import bp, login_required, require, store
from .people import audit
from .review import _project


def _report(project_id: int, allowed: frozenset[str] | None) -> dict:
    args = request.args
    cluster = args.get("cluster") or None
    if cluster and not in_scope(allowed, cluster):
        raise errors.forbidden()
    since, until = monitoring.period(args.get("from") or None, args.get("to") or None)
    return monitoring.report(store(), project_id, allowed, since, until, args.get("form") or None, cluster)


@bp.get("/projects/<int:project_id>/monitoring")
@login_required
def monitoring_page(project_id: int):
    project, allowed = _project(project_id)
    body = _report(project_id, allowed)
    return render_template("monitoring.html", project=project, report=body, checks=monitoring.CHECK_LABELS,
                           forms=store().list_forms(project_id))


@bp.get("/projects/<int:project_id>/monitoring/daily.csv")
@login_required
def monitoring_csv(project_id: int):
    """One row per enumerator per day; text a phone or a list could name is kept from running as a formula."""
    _project_row, allowed = _project(project_id, "download")
    body = _report(project_id, allowed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(monitoring.DAILY_COLUMNS)
    for row in body["days"]:
        writer.writerow(["" if row[c] is None else neutralise(row[c]) for c in monitoring.DAILY_COLUMNS])
    audit("export.monitoring", str(project_id), {"from": body["from"], "to": body["to"], "form": body["form"],
                                                 "cluster": body["cluster"]})
    return send(out.getvalue().encode("utf-8"), f"monitoring-{body['from']}-{body['to']}.csv",
                "text/csv; charset=utf-8")


@bp.post("/projects/<int:project_id>/monitoring/thresholds")
@login_required
def monitoring_thresholds(project_id: int):
    require("manage", project_id)
    thresholds = monitoring.Thresholds.parse(request.form)
    before = monitoring.Thresholds.of(store(), project_id)
    with store().transaction():   # the change and its audit entry, stored together or not at all
        store().set_project_settings(project_id, {**store().project_settings(project_id), **thresholds.as_settings()})
        audit("project.monitoring_thresholds", str(project_id), {"from": asdict(before), "to": asdict(thresholds)})
    flash("Monitoring thresholds saved.")
    return redirect(url_for("web.monitoring_page", project_id=project_id, **{k: v for k, v in request.args.items()
                                                                              if k in ("from", "to", "form")}))
