"""Pages for NDAs and researchers: overview, clusters, a cluster, poverty nodes, submissions, review, downloads.

Every number comes from server.reports, the same code as the JSON API, with the reader's allowed
clusters applied; every list is keyset-paged so a million submissions page as fast as ten.
"""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from .. import aggregates, charts, context, errors, media_types, monitoring, ranking, reports, reviewing, titles
from .. import rows as rows_module
from ..reviewing import REVIEW_ACTIONS
from ..http_security import disposition, send
from ..permissions import clusters as allowed_clusters
from ..permissions import in_scope
from ..storage.sqlite_review import REVIEW_STATES
from ..xform_labels import FormLabels, read_labels
from ..xforms import extract, parse_submission
from . import bp, label_language_for, login_required, require, session_user, store
from .people import audit

REVIEW_DONE = {"approved": "approved", "hasIssues": "marked as having issues", "rejected": "rejected"}
PAGE = 50


def _project(project_id: int, action: str = "read") -> tuple[dict, frozenset[str] | None]:
    user = require(action, project_id)
    return store().get_project(project_id), allowed_clusters(user, project_id)


def _round_arg() -> int | None:
    raw = request.args.get("round", "")
    return int(raw) if raw.isdigit() else None


@bp.get("/projects/<int:project_id>")
@login_required
def overview(project_id: int):
    project, allowed = _project(project_id)
    days = charts.last_days(dt.date.today())
    devices = store().list_devices(project_id) if allowed is None else []
    return render_template("overview.html", project=project, counts=store().overview_counts(project_id, allowed),
                           names=reports.names(store(), project_id), devices=devices,
                           by_form=reports.submissions_per_day(store(), project_id, days, "form", allowed),
                           by_enumerator=reports.submissions_per_day(store(), project_id, days, "enumerator", allowed))


@bp.get("/projects/<int:project_id>/clusters")
@login_required
def clusters(project_id: int):
    """Well-being shares by cluster and hamlet, which hamlets moved towards sad since the previous round, and income
    poverty by cluster: charts with their numbers."""
    project, allowed = _project(project_id)
    s, names = store(), reports.names(store(), project_id)
    filters = {"round": _round_arg()}
    by_cluster = reports.wellbeing(s, project_id, filters, ["cluster"], allowed)
    round_no = by_cluster["round"]
    by_hamlet = reports.wellbeing(s, project_id, {"round": round_no}, ["cluster", "hamlet"], allowed)
    previous = _previous(by_cluster["rounds"], round_no)
    moved = reports.change_by_hamlet(s, project_id, {}, previous, round_no, allowed) if previous else []
    poverty = reports.poverty(s, project_id, {"round": round_no}, ["cluster"], allowed)
    cluster_name, hamlet_name = _namer(names["clusters"]), _namer(names["hamlets"])
    return render_template(
        "clusters.html", project=project, by_cluster=by_cluster, by_hamlet=by_hamlet, round=round_no,
        rounds=by_cluster["rounds"], previous=previous, moved=moved, poverty=poverty, names=names,
        cluster_chart=charts.wellbeing_shares(by_cluster["rows"], lambda r: r["cluster"],
                                              lambda r: cluster_name(r["cluster"])),
        hamlet_chart=charts.wellbeing_shares(by_hamlet["rows"], lambda r: r["hamlet"],
                                             lambda r: [hamlet_name(r["hamlet"]), cluster_name(r["cluster"])]),
        moved_chart=charts.change_by_hamlet(moved, hamlet_name),
        poverty_chart=charts.poverty_headcount(poverty["rows"], "cluster", cluster_name))


def _previous(rounds: list[int], round_no: int | None) -> int | None:
    return max((r for r in rounds if round_no is not None and r < round_no), default=None)


def _namer(labels: dict[str, str]):
    return lambda code: labels.get(code) or code or "—"


@bp.get("/projects/<int:project_id>/clusters/<cluster>")
@login_required
def cluster(project_id: int, cluster: str):
    project, allowed = _project(project_id)
    if not in_scope(allowed, cluster):
        raise errors.forbidden()
    s, names = store(), reports.names(store(), project_id)
    rounds = s.rounds(project_id, [cluster])   # the rounds with data in this cluster; the latest by default
    filters = {"cluster": cluster, "round": _round_arg() or (rounds[-1] if rounds else None)}
    wb = reports.wellbeing(s, project_id, filters, ["hamlet"], allowed)
    filters["round"] = wb["round"]
    previous = _previous(rounds, wb["round"])
    hamlet_name = _namer(names["hamlets"])
    by = request.args.get("by", "social_group")
    change = reports.change(s, project_id, filters, previous, wb["round"], allowed) if previous else None
    moved = reports.change_by_hamlet(s, project_id, filters, previous, wb["round"], allowed) if previous else []
    by_group = reports.decomposition(s, project_id, filters, "social_group", 0, "person", allowed)
    households = reports.household_map(s, project_id, filters, allowed, hamlet_name)
    return render_template(
        "cluster.html", project=project, cluster=cluster, wb=wb, round=wb["round"], rounds=rounds, names=names,
        cluster_label=names["clusters"].get(cluster) or cluster,
        by_node=reports.wellbeing(s, project_id, filters, ["node"], allowed),
        poverty=reports.poverty(s, project_id, filters, ["hamlet"], allowed),
        poverty_total=reports.poverty(s, project_id, filters, [], allowed),
        decomposition=by_group if by == "social_group" else reports.decomposition(
            s, project_id, filters, by, 0, "person", allowed),
        agreement=reports.agreement(s, project_id, filters, allowed),
        concordance=reports.concordance(s, project_id, filters, allowed),
        change=change, moved=moved, previous=previous, nodes=reports.nodes(s, project_id, filters, allowed)["nodes"],
        households=households, tiles=current_app.config.get("MAP_TILES", ""),
        tiles_attribution=current_app.config.get("MAP_ATTRIBUTION", ""),
        hamlet_chart=charts.wellbeing_shares(wb["rows"], lambda r: r["hamlet"], lambda r: hamlet_name(r["hamlet"])),
        transitions_chart=charts.transitions(change["categories"]["matrix"], previous, wb["round"]) if change else None,
        moved_chart=charts.change_by_hamlet(moved, hamlet_name),
        group_chart=charts.poverty_by_group(by_group["groups"], "social_group"))


@bp.get("/projects/<int:project_id>/nodes")
@login_required
def nodes(project_id: int):
    project, allowed = _project(project_id)
    body = reports.nodes(store(), project_id, {"round": _round_arg(), "cluster": request.args.get("cluster") or None},
                         allowed)
    names = reports.names(store(), project_id)
    return render_template("nodes.html", project=project, nodes=body["nodes"], round=body["round"],
                           rounds=body["rounds"], names=names,
                           nodes_chart=charts.node_households(body["nodes"], lambda n: n.get("local_name") or names[
                               "nodes"].get(n["node_id"]) or n["node_id"]))


@bp.post("/projects/<int:project_id>/nodes/<node_id>/review")
@login_required
def review_node(project_id: int, node_id: str):
    user = require("review", project_id)
    allowed = allowed_clusters(user, project_id)
    round_no = int(request.form.get("round", "0") or 0)
    record = next((n for n in reports.nodes(store(), project_id, {"round": round_no}, allowed)["nodes"]
                   if n["node_id"] == node_id), None)
    if record is None:
        raise errors.not_found("node")
    status = request.form.get("status", "")
    if status not in {"draft", "reviewed", "validated"}:
        raise errors.bad_request("status must be draft, reviewed or validated")
    store().add_node_review(project_id, round_no, node_id, status, user.email, request.form.get("comment", ""))
    audit("node.review", f"{project_id}/{node_id}", {"round": round_no, "status": status})
    flash(f"{node_id}: {status}.")
    return redirect(url_for("web.nodes", project_id=project_id, round=round_no))


# -- submissions ------------------------------------------------------------------------------------------

def _list_filters() -> dict:
    args = request.args
    out = {k: (args.get(k) or None) for k in ("form", "cluster", "hamlet", "review_state", "since", "until")}
    out["round"] = _round_arg()
    out["flagged"] = args.get("flagged") == "1"
    return out


@bp.get("/projects/<int:project_id>/submissions")
@login_required
def submissions(project_id: int):
    project, allowed = _project(project_id)
    filters = _list_filters()
    if filters["cluster"] and not in_scope(allowed, filters["cluster"]):
        raise errors.forbidden()
    monitored = _monitored(project_id, allowed)
    if monitored is not None:
        filters["ids"] = monitored["ids"]
    before = request.args.get("before", "")
    rows = store().submission_page(project_id, filters, allowed, limit=PAGE + 1,
                                   before_id=int(before) if before.isdigit() else None)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    names = reports.names(store(), project_id)
    _titled(project_id, rows, names)
    query = {k: v for k, v in request.args.items() if k != "before"}
    return render_template("submissions.html", project=project, rows=rows, filters=filters, states=REVIEW_STATES,
                           forms=store().list_forms(project_id), next_before=rows[-1]["id"] if more else None,
                           query=query, monitored=monitored, names=names)


def _monitored(project_id: int, allowed: frozenset[str] | None) -> dict | None:
    """The submissions behind a figure of the monitoring page (?enumerator=...&from=...&to=...&check=...), or None
    when the list is not asked for them."""
    args = request.args
    if not (args.get("enumerator") or args.get("check")):
        return None
    since, until = monitoring.period(args.get("from") or None, args.get("to") or None)
    check = args.get("check") or None
    ids = monitoring.submission_ids(store(), project_id, allowed, since, until, args.get("enumerator") or None,
                                    check, args.get("form") or None)
    names = store().monitor_enumerator_names(project_id)
    kept = {"enumerator": args.get("enumerator") or "", "check": check or "", "from": since, "to": until}
    return {"ids": ids, "from": since, "to": until, "check": monitoring.CHECK_LABELS.get(check or ""),
            "enumerator": names.get(args.get("enumerator") or "", args.get("enumerator")),
            "keep": {k: v for k, v in kept.items() if v}}   # the filter form sends these again (hidden inputs)


def _titled(project_id: int, rows: list[dict], names: dict) -> None:
    """Give each submission row its title (titles.title): one read of each form's typed rows for the page."""
    for form_id in {r["xml_form_id"] for r in rows}:
        ids = [r["id"] for r in rows if r["xml_form_id"] == form_id]
        columns = titles.SUBJECT_COLUMNS.get(form_id)
        subjects = store().submission_subjects(rows_module.table_name(project_id, form_id), columns, ids) \
            if columns else {}
        for r in rows:
            if r["xml_form_id"] == form_id:
                r["title"] = titles.title(r, subjects.get(r["id"]), names)


def _submission(project_id: int, submission_id: int, action: str = "read") -> tuple[dict, dict]:
    """One submission, if the user may do `action` on it: every page, file and write about one submission
    (answers, XML, attachments, comments, history, review) comes through here, and so through the cluster rule."""
    project, allowed = _project(project_id, action)
    sub = store().submission_by_id(project_id, submission_id)
    if sub is None:
        raise errors.not_found("submission")
    if not in_scope(allowed, sub["cluster"]):
        raise errors.forbidden()
    return project, sub


@bp.get("/projects/<int:project_id>/submissions/<int:submission_id>")
@login_required
def submission(project_id: int, submission_id: int):
    project, sub = _submission(project_id, submission_id)
    ppa = context.ppa()
    xml = store().submission_xml(sub["def_id"])
    form = ppa.forms.get(store(), sub["form_def_id"])
    language = label_language_for(project)
    labels = read_labels(store().form_def_xml(sub["form_def_id"]), language)
    sections = (_sections(form, extract(parse_submission(xml, 256).root, form).record, labels)
                if not sub["encrypted"] else [])
    attachments = store().attachments(sub["def_id"])
    for a in attachments:  # shown in the page only when served inline as a picture (submission_attachment)
        a["picture"] = media_types.inline(a["content_type"]) and a["content_type"].startswith("image/")
    names = reports.names(store(), project_id)
    _titled(project_id, [sub], names)
    return render_template("submission.html", project=project, sub=sub, sections=sections, names=names,
                           attachments=attachments, flags=store().flags(sub["def_id"]),
                           versions=store().submission_versions(submission_id), comments=store().comments(submission_id),
                           actions=REVIEW_ACTIONS, language=language)


def _sections(form, record: dict, labels: FormLabels) -> list[dict]:
    """Answers with their question labels in the page's language, and a choice's label beside its code; each
    repeat becomes a table of its rows."""
    def label(f) -> str:
        return labels.questions.get(f.path) or f.label or f.name

    top = [{"label": label(f), "name": f.name, "value": _shown(labels, f, record.get(f.key))} for f in form.fields
           if f.repeat is None and "/meta/" not in f.path and record.get(f.key) not in (None, "")]
    out = [{"kind": "fields", "title": "Answers", "rows": top}]
    for repeat in form.repeats:
        key = form.repeat_key(repeat)
        columns = [f for f in form.fields if f.repeat == repeat]
        rows = _rows_of(record, form, repeat)
        if rows:
            out.append({"kind": "table", "title": key, "columns": [label(c) for c in columns],
                        "rows": [[_shown(labels, c, row.get(c.key)) for c in columns] for row in rows]})
    return out


def _shown(labels: FormLabels, field, value):
    """A select's answer as its choice labels with the codes in brackets, e.g. 'सुखी (सबसे अच्छी हालत) (happy)';
    codes without a label in the form (lists served from CSV, choices from a repeat) and other answers as stored."""
    source = labels.choices.get(field.path)
    if source is None or not source.labels or value in (None, ""):
        return value
    codes = str(value).split() if source.multiple else [str(value)]
    return "; ".join(f"{source.labels[c]} ({c})" if source.labels.get(c) else c for c in codes)


def _rows_of(record: dict, form, repeat: str) -> list[dict]:
    chain = [r for r in form.repeats if repeat == r or repeat.startswith(r + "/")]
    level = [record]
    for step in chain:
        level = [row for node in level for row in node.get(form.repeat_key(step)) or []]
    return level


@bp.get("/projects/<int:project_id>/submissions/<int:submission_id>/attachments/<name>")
@login_required
def submission_attachment(project_id: int, submission_id: int, name: str):
    _submission(project_id, submission_id)
    row = store().submission_attachment(submission_id, name)
    if row is None:
        abort(404)
    body = store().get_blob(row["blob_sha256"])
    # decided again from the bytes: files stored before the server decided types carry the phone's own
    content_type = media_types.decide(media_types.question_kind(row["content_type"]), body)
    return send(body, name, content_type, inline=media_types.inline(content_type))


@bp.get("/projects/<int:project_id>/submissions/<int:submission_id>.xml")
@login_required
def submission_xml(project_id: int, submission_id: int):
    _project, sub = _submission(project_id, submission_id, "download")
    return send(store().submission_xml(sub["def_id"]), f"{submission_id}.xml", "application/xml")


@bp.post("/projects/<int:project_id>/submissions/<int:submission_id>/review")
@login_required
def review(project_id: int, submission_id: int):
    """Approve, mark as having issues, or reject, with a comment; a rejected submission leaves the aggregates."""
    _project_row, sub = _submission(project_id, submission_id, "review")
    state = request.form.get("state", "")
    comment = (request.form.get("comment") or "").strip()
    reviewing.review(store(), context.ppa().forms, project_id, sub, state, comment,
                     session_user().email, "page")
    flash(f"Submission {submission_id} {REVIEW_DONE[state]}." if state else f"Comment added to submission "
          f"{submission_id}.")
    return redirect(url_for("web.submission", project_id=project_id, submission_id=submission_id))


# -- the community validation sheet -----------------------------------------------------------------------

@bp.get("/projects/<int:project_id>/hamlets/<hamlet>/validation-sheet")
@login_required
def validation_sheet(project_id: int, hamlet: str):
    """For the meeting where the community checks the result: each household's final category, and each
    informant group's own categories and criteria (the PPA method's validation step)."""
    project, allowed = _project(project_id)
    hamlet_row = store().list_item(project_id, "hamlets.csv", hamlet)
    if hamlet_row is not None and not in_scope(allowed, hamlet_row.get("cluster") or None):
        raise errors.forbidden()
    rounds = store().hamlet_rounds(project_id, hamlet, allowed)
    round_no = _round_arg() or (rounds[-1] if rounds else reports.latest_round(store(), project_id, {}, allowed))
    households: list[dict] = []
    groups: dict[str, dict] = {}
    # Only data of the reader's clusters, whatever the hamlet: a hamlet missing from the list, or named in two
    # clusters, shows nothing of a cluster outside the scope.
    gone: list[dict] = []
    for cluster in reports.cluster_scopes({}, allowed) if round_no is not None else []:
        households += store().wb_households(project_id, round_no, cluster, hamlet)
        for pile in store().hamlet_piles(project_id, round_no, hamlet, cluster):
            group = groups.setdefault(pile["group_id"], {"label": pile["group_label"], "piles": []})
            group["piles"].append(pile)
        gone += store().wb_gone(project_id, round_no, hamlet, cluster)
    labels = store().household_labels(project_id, [h["hh_id"] for h in households] + [g["hh_id"] for g in gone])
    order = {"happy": 0, "average": 1, "sad": 2, None: 3}
    households.sort(key=lambda h: (order.get(h["final"], 3), labels.get(h["hh_id"], h["hh_id"])))
    added = ranking.reconcile(store().field_household_reports(project_id, allowed, hamlet))
    return render_template("validation_sheet.html", project=project, hamlet=hamlet, round=round_no, rounds=rounds,
                           hamlet_label=(hamlet_row or {}).get("label") or hamlet,
                           households=households, labels=labels, groups=groups, added=added,
                           added_counts=ranking.reconcile_counts(added), gone=gone)


# -- downloads -----------------------------------------------------------------------------------------------

FORMATS = {"csv": "CSV (zip: one file per table)", "xlsx": "Excel workbook", "jsonl": "JSON lines",
           "raw": "Raw XML and attachments (zip)", "dta": "Stata (zip: one .dta per table)",
           "sav": "SPSS (zip: one .sav per table)"}


@bp.get("/projects/<int:project_id>/downloads")
@login_required
def downloads(project_id: int):
    project, allowed = _project(project_id, "download")
    from ..xform_labels import read_labels
    forms = store().list_forms(project_id)
    languages = {f["xml_form_id"]: read_labels(store().form_def_xml(f["current_def_id"])).languages for f in forms}
    return render_template("downloads.html", project=project, forms=forms, formats=FORMATS, languages=languages,
                           states=REVIEW_STATES, allowed=sorted(allowed) if allowed is not None else None)


@bp.get("/projects/<int:project_id>/downloads/<form_id>.<fmt>")
@login_required
def download(project_id: int, form_id: str, fmt: str):
    _project_row, allowed = _project(project_id, "download")
    if fmt not in FORMATS:
        abort(404)
    from ..exports import ExportFilters, ExportOptions, export_response_parts  # streams in constant memory
    filters = ExportFilters.from_args(request.args, allowed)
    options = ExportOptions.from_args(request.args)
    filename, content_type, chunks = export_response_parts(store(), context.ppa().forms, project_id,
                                                           form_id, fmt, filters, options)
    audit("export", f"{project_id}/{form_id}", {"format": fmt, "clusters": sorted(filters.clusters or []),
                                                "round": filters.round})
    return Response(chunks, content_type=content_type,
                    headers={"Content-Disposition": disposition(filename)})
