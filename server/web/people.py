"""Pages for people and devices: sign-in, account and API tokens, users, devices with QR codes, the audit log."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from .. import bootstrap, errors, qr
from ..api import hash_token
from ..auth import check_throttle, new_session_id, new_token, record_failure, session_key, verify_password
from ..form_languages import LANGUAGES, checked_language
from ..http_security import send
from ..permissions import ROLES, can, visible_projects
from . import bp, login_required, require, session_user, store


def audit(action: str, target: str | None = None, details: dict | None = None) -> None:
    user = session_user()
    store().audit(user.email if user else None, action, target, details)


def local_path(target: str) -> str | None:
    """target if it is a path on this server, else None: where sign-in may lead. Browsers read a backslash as a
    slash and drop tabs and line breaks, so "/\\evil.example" and "/<tab>/evil.example" lead off-site as
    "//evil.example" does; any whitespace, control character or backslash is refused."""
    if not target.startswith("/") or target[1:2] == "/":
        return None
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


# -- sign-in -------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """Unknown e-mails cost an argon2 verification too (verify_password), so timing tells nobody who has an account;
    failures count per e-mail and address (auth.check_throttle), as Digest's do."""
    if request.method == "GET":
        return render_template("login.html", next=local_path(request.args.get("next", "")) or "")
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    next_path = local_path(request.form.get("next") or "")
    try:
        failures = check_throttle(store(), email, request.remote_addr)
    except errors.Problem as problem:
        return render_template("login.html", error=problem.message, email=email, next=next_path), 429, \
            {"Retry-After": str(problem.details["retryAfter"])}
    user = store().user_by_email(email)
    if not verify_password(user["password_hash"] if user else None, password):
        record_failure(store(), email, request.remote_addr, "web")
        return render_template("login.html", error="Wrong e-mail or password.", email=email, next=next_path), 401
    if failures:
        store().clear_sign_in_failures(email, request.remote_addr)
    _start_session(user)
    store().audit(email, "user.sign_in", email, {"ip": request.remote_addr})
    return redirect(next_path or url_for("web.home"))


def _start_session(user: dict) -> None:
    """A new session on the server, named by a new random id in the (signed) cookie; the browser's previous session,
    if any, ends (a copy of its cookie must not outlive the sign-in that replaced it)."""
    previous = _session_key()
    if previous:
        store().end_session(previous)
    session_id = new_session_id()
    store().create_session(session_key(session_id), user["id"], time.time(),
                           current_app.permanent_session_lifetime.total_seconds())
    session.clear()
    session.permanent = True
    session["sid"] = session_id


def _session_key() -> str | None:
    session_id = session.get("sid")
    return session_key(session_id) if isinstance(session_id, str) else None


@bp.post("/logout")
def logout():
    user = session_user()
    if user:
        store().audit(user.email, "user.sign_out", user.email)
    key = _session_key()
    if key:
        store().end_session(key)
    session.clear()
    return redirect(url_for("web.login"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    user = session_user()
    store().end_sessions(user.id)
    store().audit(user.email, "user.sign_out_everywhere", user.email)
    session.clear()
    return redirect(url_for("web.login"))


@bp.get("/")
@login_required
def home():
    user = session_user()
    projects = [store().get_project(p) for p in visible_projects(user, [p["id"] for p in store().list_projects()])]
    if len(projects) == 1:
        return redirect(url_for("web.overview", project_id=projects[0]["id"]))
    return render_template("home.html", projects=projects)


# -- account: API tokens -----------------------------------------------------------------------

@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user = session_user()
    token = None
    if request.method == "POST":
        token = new_token()
        store().create_api_token(user.id, hash_token(token), request.form.get("label") or None)
        audit("token.create", user.email, {"label": request.form.get("label")})
    return render_template("account.html", token=token, languages=LANGUAGES, tokens=store().api_tokens(user.id),
                           label_language=(store().user_by_id(user.id) or {}).get("label_language"))


@bp.post("/account/language")
@login_required
def account_language():
    """The language of question and choice labels on the pages; empty: each project's default."""
    user = session_user()
    try:
        code = checked_language(request.form.get("language"), allow_default=True)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    store().set_user_label_language(user.id, code)
    flash(f"Labels are now shown in {LANGUAGES[code]}." if code else "Labels are now shown in each project's "
          "default language.")
    return redirect(url_for("web.account"))


@bp.post("/account/password")
@login_required
def change_password():
    """The user's own new password; the current one is checked (and throttled), the other sessions end."""
    user, form = session_user(), request.form
    try:
        failures = check_throttle(store(), user.email, request.remote_addr)
    except errors.Problem as problem:
        flash(problem.message, "error")
        return redirect(url_for("web.account"))
    row = store().user_by_id(user.id)
    if not verify_password(row["password_hash"], form.get("current") or ""):
        record_failure(store(), user.email, request.remote_addr, "password change")
        flash("Your current password is not right; the password is unchanged.", "error")
        return redirect(url_for("web.account"))
    if failures:
        store().clear_sign_in_failures(user.email, request.remote_addr)
    if (form.get("new") or "") != (form.get("again") or ""):
        flash("The two new passwords differ; the password is unchanged.", "error")
        return redirect(url_for("web.account"))
    try:
        bootstrap.set_password(store(), row, form.get("new") or "", current_app.config["DIGEST_REALM"],
                               keep_session=_session_key())
    except ValueError as exc:
        flash(f"The password is unchanged: {exc}.", "error")
        return redirect(url_for("web.account"))
    audit("user.password_change", user.email)
    flash("Your password is changed, here and for Collect. Your other sessions are signed out.")
    return redirect(url_for("web.account"))


@bp.post("/account/tokens/revoke")
@login_required
def revoke_tokens():
    user = session_user()
    store().revoke_api_tokens(user.id)
    audit("token.revoke", user.email)
    flash("All your API tokens are revoked.")
    return redirect(url_for("web.account"))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """One of the user's own tokens; another user's, or one already revoked, is not found."""
    user = session_user()
    revoked = store().revoke_api_token(user.id, token_id)
    if revoked is None:
        raise errors.not_found("token")
    audit("token.revoke", user.email, {"token": token_id, "label": revoked["label"]})
    flash(f"The token “{revoked['label'] or 'without a label'}” is revoked.")
    return redirect(url_for("web.account"))


# -- users (administrators; managers for their own project) -------------------------------------

@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def users():
    require("administer")
    if request.method == "POST":
        form = request.form
        role, email = form.get("role", ""), (form.get("email") or "").strip()
        project_id = int(form["project_id"]) if (form.get("project_id") or "").isdigit() else None
        clusters = [c.strip() for c in (form.get("clusters") or "").split(",") if c.strip()]
        try:
            if store().user_by_email(email):
                raise ValueError(f"a user {email} exists already")
            if role != "admin" and project_id is None:
                raise ValueError("choose the project this user belongs to")
            created = bootstrap.create_user(store(), email, role, form.get("password") or "",
                                            current_app.config["DIGEST_REALM"])
        except ValueError as exc:
            flash(str(exc), "error")
            return redirect(url_for("web.users"))
        if project_id is not None:
            store().add_membership(created["id"], project_id, clusters if role == "nda" else [])
        audit("user.create", email, {"role": role, "project": project_id, "clusters": clusters})
        flash(f"User {email} created.")
        return redirect(url_for("web.users"))
    rows = store().list_users()
    for row in rows:
        row["memberships"] = store().memberships(row["id"])
    return render_template("users.html", users=rows, roles=ROLES, projects=store().list_projects())


@bp.post("/admin/users/<int:user_id>/disable")
@login_required
def disable_user(user_id: int):
    require("administer")
    target = store().user_any(user_id)
    if target is None:
        abort(404)
    if target["id"] == session_user().id:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("web.users"))
    store().disable_user(user_id)
    audit("user.disable", target["email"])
    flash(f"{target['email']} is disabled and signed out everywhere.")
    return redirect(url_for("web.users"))


@bp.post("/admin/users/<int:user_id>/password")
@login_required
def reset_password(user_id: int):
    """An administrator sets a user's password; every session of that user ends (but the administrator's own)."""
    admin = require("administer")
    target = store().user_any(user_id)
    if target is None:
        abort(404)
    try:
        bootstrap.set_password(store(), target, request.form.get("password") or "", current_app.config["DIGEST_REALM"],
                               keep_session=_session_key() if target["id"] == admin.id else None)
    except ValueError as exc:
        flash(f"The password of {target['email']} is unchanged: {exc}.", "error")
        return redirect(url_for("web.users"))
    audit("user.password_reset", target["email"])
    flash(f"The password of {target['email']} is set and their sessions are signed out.")
    return redirect(url_for("web.users"))


# -- devices and one-scan setup --------------------------------------------------------------------

def _server_url(token: str, project_id: int) -> str:
    return f"{current_app.config['PUBLIC_URL']}/v1/key/{token}/projects/{project_id}"


def _device(project_id: int, device_id: int) -> dict:
    device = store().get_device(device_id)
    if device is None or device["project_id"] != project_id:
        raise errors.not_found("device")
    return device


def _payload(project: dict, device: dict) -> str:
    return qr.encode(qr.device_settings(_server_url(device["token"], project["id"]), project["name"]))


@bp.route("/projects/<int:project_id>/devices", methods=["GET", "POST"])
@login_required
def devices(project_id: int):
    require("manage", project_id)
    forms = store().list_forms(project_id)
    if request.method == "POST":
        name = (request.form.get("name") or "").strip()
        if not name:
            flash("Give the device a name, e.g. the enumerator's name and the phone.", "error")
            return redirect(url_for("web.devices", project_id=project_id))
        device = store().create_device(project_id, name, new_token(), actor=session_user().email)
        chosen = {int(f) for f in request.form.getlist("form_id") if f.isdigit()} & {f["id"] for f in forms}
        if chosen and len(chosen) < len(forms):
            store().set_device_forms(device["id"], chosen)
        audit("device.create", str(device["id"]), {"project": project_id, "name": name})
        return redirect(url_for("web.device", project_id=project_id, device_id=device["id"]))
    return render_template("devices.html", project=store().get_project(project_id),
                           devices=store().list_devices(project_id), forms=forms)


@bp.get("/projects/<int:project_id>/devices/<int:device_id>")
@login_required
def device(project_id: int, device_id: int):
    require("manage", project_id)
    project, dev = store().get_project(project_id), _device(project_id, device_id)
    return render_template("device.html", project=project, device=dev, forms=store().list_forms(project_id),
                           given=store().device_form_ids(device_id),
                           qr_svg=None if dev["revoked_at"] else qr.svg(_payload(project, dev)),
                           server_url=_server_url(dev["token"], project_id))


@bp.post("/projects/<int:project_id>/devices/<int:device_id>/forms")
@login_required
def device_forms(project_id: int, device_id: int):
    require("manage", project_id)
    _device(project_id, device_id)
    all_forms = {f["id"] for f in store().list_forms(project_id)}
    chosen = {int(f) for f in request.form.getlist("form_id") if f.isdigit()} & all_forms
    if not chosen:
        flash("Choose at least one form.", "error")
    else:
        store().set_device_forms(device_id, chosen if chosen != all_forms else set())
        audit("device.forms", str(device_id), {"forms": sorted(chosen)})
        flash("The phone gets the chosen forms at its next form update.")
    return redirect(url_for("web.device", project_id=project_id, device_id=device_id))


@bp.post("/projects/<int:project_id>/devices/<int:device_id>/revoke")
@login_required
def revoke_device(project_id: int, device_id: int):
    require("manage", project_id)
    dev = _device(project_id, device_id)
    store().revoke_device(device_id)
    audit("device.revoke", str(device_id), {"name": dev["name"]})
    flash(f"{dev['name']} is revoked: its next request is refused.")
    return redirect(url_for("web.devices", project_id=project_id))


def _qr_download(project_id: int, device_id: int, kind: str) -> Response:
    require("manage", project_id)
    project, dev = store().get_project(project_id), _device(project_id, device_id)
    if dev["revoked_at"]:
        raise errors.conflict("This device is revoked; create a new one.")
    payload = _payload(project, dev)
    name = f"collect-setup-device-{device_id}.{kind}"
    if kind == "png":
        body, mime = qr.png(payload), "image/png"
    else:
        body, mime = qr.svg(payload).encode("utf-8"), "image/svg+xml"
    return send(body, name, mime, headers={"Cache-Control": "no-store"})


@bp.get("/projects/<int:project_id>/devices/<int:device_id>/qr.png")
@login_required
def device_qr_png(project_id: int, device_id: int):
    return _qr_download(project_id, device_id, "png")


@bp.get("/projects/<int:project_id>/devices/<int:device_id>/qr.svg")
@login_required
def device_qr_svg(project_id: int, device_id: int):
    return _qr_download(project_id, device_id, "svg")


@bp.get("/projects/<int:project_id>/devices/<int:device_id>/sheet")
@login_required
def device_sheet(project_id: int, device_id: int):
    """An A4 onboarding sheet: the enumerator's name, the project, the QR code and short instructions."""
    require("manage", project_id)
    project, dev = store().get_project(project_id), _device(project_id, device_id)
    if dev["revoked_at"]:
        raise errors.conflict("This device is revoked; create a new one.")
    given = store().device_form_ids(device_id)
    forms = [f for f in store().list_forms(project_id) if not given or f["id"] in given]
    return render_template("device_sheet.html", project=project, device=dev, forms=forms,
                           qr_svg=qr.svg(_payload(project, dev)))


# -- audit log ------------------------------------------------------------------------------------------

@bp.get("/admin/audit")
@login_required
def audit_log():
    require("administer")
    args = request.args
    before = int(args["before"]) if (args.get("before") or "").isdigit() else None
    entries = store().audit_search(action=args.get("action") or None, actor=args.get("actor") or None,
                                   since=args.get("since") or None, until=args.get("until") or None,
                                   before_id=before, limit=100)
    return render_template("audit.html", entries=entries, actions=store().audit_actions(), args=args)


@bp.app_template_filter("details")
def _details(raw: str | None) -> list[tuple[str, str]]:
    """An audit entry's details as (key, value) lines to read: nested values in short JSON, text as it is."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return [("details", raw)]
    if not isinstance(value, dict):
        return [("details", _shown(value))]
    return [(str(k), _shown(v)) for k, v in value.items()]


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, dict)):
        return ", ".join(map(_shown, value)) if isinstance(value, list) else json.dumps(value, ensure_ascii=False)
    return str(value)


@bp.app_template_filter("can_see")
def _can_see(project_id: int, action: str = "read") -> bool:
    return can(g.get("user"), action, project_id)
