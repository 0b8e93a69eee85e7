"""Pages for a project's managers: publish form versions, open or close forms, import lists, add people."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import bootstrap, catalog, errors, lists
from ..form_languages import LANGUAGES, checked_language
from ..http_security import send
from . import bp, login_required, require, store
from .people import audit

MANAGER_ROLES = ("nda", "researcher", "manager")


@bp.route("/projects/<int:project_id>/forms", methods=["GET", "POST"])
@login_required
def forms(project_id: int):
    user = require("manage", project_id)
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose an XLSForm (.xlsx) or XForm (.xml) file.", "error")
            return redirect(url_for("web.forms", project_id=project_id))
        try:
            result = catalog.publish(store(), project_id, upload.read(), upload.filename, actor=user.email)
        except catalog.FormBuildError as exc:
            flash(f"Not published: {exc}", "error")
        except errors.Problem as exc:
            flash(exc.message, "error")
        else:
            flash(f"{result.form_id} version {result.version}: " + ("published; phones get it at their next form "
                                                                     "update." if result.created else "unchanged."))
        return redirect(url_for("web.forms", project_id=project_id))
    rows = store().list_forms(project_id)
    for row in rows:
        row["versions"] = store().list_form_defs(row["id"])
        row["submissions"] = store().count_submissions(row["id"])
    return render_template("forms.html", project=store().get_project(project_id), forms=rows, languages=LANGUAGES)


@bp.post("/projects/<int:project_id>/language")
@login_required
def project_language(project_id: int):
    """The project's default language for question and choice labels on the pages (a user's own choice wins)."""
    require("manage", project_id)
    try:
        code = checked_language(request.form.get("language"), allow_default=False)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    store().set_project_label_language(project_id, code)
    audit("project.language", str(project_id), {"language": code})
    flash(f"The project's pages show labels in {LANGUAGES[code]} unless a user chose their own language.")
    return redirect(url_for("web.forms", project_id=project_id))


@bp.post("/projects/<int:project_id>/forms/<xml_form_id>/state")
@login_required
def form_state(project_id: int, xml_form_id: str):
    require("manage", project_id)
    form = store().get_form(project_id, xml_form_id)
    state = request.form.get("state", "")
    if form is None or state not in {"open", "closing", "closed"}:
        raise errors.bad_request("choose open, closing or closed for an existing form")
    store().set_form_state(form["id"], state)
    audit("form.state", f"{project_id}/{xml_form_id}", {"state": state})
    flash(f"{xml_form_id} is now {state}.")
    return redirect(url_for("web.forms", project_id=project_id))


@bp.route("/projects/<int:project_id>/lists", methods=["GET", "POST"])
@login_required
def project_lists(project_id: int):
    require("manage", project_id)
    if request.method == "POST":
        name, upload = request.form.get("list_name", ""), request.files.get("file")
        if name not in store().list_names(project_id) or upload is None:
            flash("Choose a list and a CSV file.", "error")
            return redirect(url_for("web.project_lists", project_id=project_id))
        try:
            _columns, items = lists.read_csv(upload.read(), name)
        except lists.ListFileError as exc:
            flash(str(exc), "error")
            return redirect(url_for("web.project_lists", project_id=project_id))
        changed = store().upsert_list_items(project_id, name, items, source=f"upload:{upload.filename}",
                                            replace=request.form.get("update") == "1")
        audit("list.import", f"{project_id}/{name}", {"rows": len(items), "changed": changed})
        flash(f"{name}: {changed} row(s) added or changed; phones get the list at their next form update.")
        return redirect(url_for("web.project_lists", project_id=project_id))
    names = store().list_names(project_id)
    counts = {n: sum(1 for _ in store().list_items(project_id, n)) for n in names}
    return render_template("lists.html", project=store().get_project(project_id), names=names, counts=counts)


@bp.get("/projects/<int:project_id>/lists/<list_name>")
@login_required
def list_csv(project_id: int, list_name: str):
    require("manage", project_id)
    columns = store().list_columns(project_id, list_name)
    if columns is None:
        raise errors.not_found("list")
    return send(lists.for_people(columns, store().list_items(project_id, list_name)), list_name,
                "text/csv; charset=utf-8")


@bp.route("/projects/<int:project_id>/people", methods=["GET", "POST"])
@login_required
def project_people(project_id: int):
    user = require("manage", project_id)
    if request.method == "POST":
        form = request.form
        email, role = (form.get("email") or "").strip(), form.get("role", "")
        clusters = [c.strip() for c in (form.get("clusters") or "").split(",") if c.strip()]
        allowed_roles = MANAGER_ROLES if user.is_admin else ("nda", "researcher")
        try:
            if role not in allowed_roles:
                raise ValueError(f"you may add: {', '.join(allowed_roles)}")
            if role == "nda" and not clusters:
                raise ValueError("an NDA needs at least one cluster")
            existing = store().user_by_email(email)
            if existing is None:
                existing = bootstrap.create_user(store(), email, role, form.get("password") or "",
                                                 current_app.config["DIGEST_REALM"])
            elif existing["role"] != role:
                raise ValueError(f"{email} exists with the role {existing['role']}")
        except ValueError as exc:
            flash(str(exc), "error")
            return redirect(url_for("web.project_people", project_id=project_id))
        store().add_membership(existing["id"], project_id)
        if role == "nda":
            store().set_clusters(existing["id"], project_id, clusters)
        audit("project.member", f"{project_id}/{email}", {"role": role, "clusters": clusters})
        flash(f"{email} can now work in this project.")
        return redirect(url_for("web.project_people", project_id=project_id))
    return render_template("people.html", project=store().get_project(project_id),
                           members=store().project_members(project_id),
                           clusters=[name for name, _ in store().list_items(project_id, "clusters.csv")])
