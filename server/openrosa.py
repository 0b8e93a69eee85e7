"""Blueprint 'openrosa': what ODK Collect (and Enketo) talk to, exactly as ODK Central answers.

Mounted twice: under /v1/key/<token>/projects/<id> for devices (token in the URL) and under
/v1/projects/<id> for named users with HTTP Digest. A named user limited to clusters (an NDA) receives lists of
those clusters and may send and edit only their submissions. Only HTTP lives here: headers, status
codes and XML replies; the work is done by catalog, submissions and the store.
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, g, request

from . import context, errors, lists, openrosa_xml
from .api import principal
from .central import auth as central_auth
from .auth import token_well_formed
from .http_security import disposition
from .permissions import can, clusters
from .submissions import Limits, Upload, UploadedFile, receive
from .xforms import md5_hash

bp = Blueprint("openrosa", __name__)

_OPENROSA_DOCS = {"form_list", "manifest", "submission", "submission_probe"}   # endpoints that require X-OpenRosa-Version
_TOUCH_EVERY_S = 60
_last_touch: dict[int, float] = {}


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/v1/key/<token>/projects/<int:project_id>", name="openrosa_key")
    app.register_blueprint(bp, url_prefix="/v1/projects/<int:project_id>", name="openrosa_user")


@bp.url_value_preprocessor
def _pull_prefix(endpoint: str | None, values: dict | None) -> None:
    values = values if values is not None else {}
    g.token = values.pop("token", None)
    g.project_id = values.pop("project_id", None)


@bp.before_request
def _authenticate() -> Response | None:
    ppa = context.ppa()
    g.device = g.user = g.scope = None
    if g.token is not None:
        device = ppa.store.device_by_token(g.token) if token_well_formed(g.token) else None
        if device is None or device["revoked_at"] or device["project_id"] != g.project_id:
            raise errors.forbidden_token()
        g.device = device
        _touch(device["id"])
    elif request.endpoint == "openrosa_user.form_xml" and _script_credentials():
        # a path Central's REST API shares with OpenRosa: scripts sign in with Bearer or Basic, phones with Digest
        who = central_auth.caller()
        if not can(who, "read", g.project_id):
            raise errors.forbidden()
        g.scope = clusters(who, g.project_id)
    else:
        denied = ppa.digest.login_required(lambda: None)()
        if denied is not None:
            return denied
        g.user = ppa.store.user_by_email(ppa.digest.username())
        who = principal(g.user) if g.user is not None else None
        if who is None or not can(who, "collect", g.project_id):
            raise errors.forbidden()
        # The clusters this user may read and write, as on the pages (None: all). A device belongs to a whole
        # project and has no cluster limit (it is given forms, not clusters): g.scope stays None.
        g.scope = clusters(who, g.project_id)
    g.project = ppa.store.get_project(g.project_id)
    if g.project is None:
        raise errors.not_found("project")
    if request.endpoint and request.endpoint.split(".")[-1] in _OPENROSA_DOCS \
            and request.headers.get("X-OpenRosa-Version", "").strip() != "1.0":
        raise errors.missing_openrosa_version()
    return None


def _script_credentials() -> bool:
    return request.headers.get("Authorization", "").split(" ", 1)[0].lower() in ("bearer", "basic")


def _touch(device_id: int) -> None:
    """Record when a phone was last seen, at most once a minute per phone (a write costs a lock)."""
    moment = time.monotonic()
    if moment - _last_touch.get(device_id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
        _last_touch[device_id] = moment
        context.ppa().store.touch_device(device_id)


@bp.after_request
def _openrosa_headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["X-OpenRosa-Accept-Content-Length"] = str(current_app.config["MAX_SUBMISSION_BYTES"])
    response.headers["Content-Language"] = "en"
    # Date: every HTTP server (werkzeug, Granian) adds it; a second one from here would be a duplicate.
    return response


def base_url() -> str:
    """The absolute prefix phones use, keeping /key/<token> so every URL carries the credential."""
    public = current_app.config["PUBLIC_URL"]
    if g.token is not None:
        return f"{public}/v1/key/{quote(g.token, safe='!$')}/projects/{g.project_id}"
    return f"{public}/v1/projects/{g.project_id}"


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


def _given(form: dict) -> bool:
    """A device receives, and may submit to, only the forms it is given (all when none are chosen)."""
    if g.device is None:
        return True
    if "given" not in g:
        g.given = context.ppa().store.device_form_ids(g.device["id"])
    return not g.given or form["id"] in g.given


def _visible_forms() -> list[dict]:
    return [f for f in context.ppa().store.list_forms(g.project_id) if f["state"] == "open" and _given(f)]


def _form_or_404(xml_form_id: str) -> dict:
    form = context.ppa().store.get_form(g.project_id, xml_form_id)
    if form is None or form["current_def_id"] is None or not _given(form):
        raise errors.not_found("form")
    return form


def _media(form: dict) -> list[dict]:
    """The attachments a form's current version expects and the server has, with their hashes and a way to read
    them. A caller limited to clusters gets the managed lists cut to those clusters (made for each request: few
    people are limited, and their lists are small); everyone else the stored copy."""
    ppa = context.ppa()
    formdef = ppa.forms.get(ppa.store, form["current_def_id"])
    static = ppa.store.form_attachments(form["current_def_id"])
    files = []
    for name in formdef.media:
        if name in lists.LISTS and ppa.store.list_version(g.project_id, name) is not None:
            if g.scope is not None:
                body = lists.render_served(ppa.store.list_columns(g.project_id, name), lists.in_clusters(
                    name, ppa.store.list_items(g.project_id, name), g.scope))
                files.append({"filename": name, "md5": hashlib.md5(body).hexdigest(), "read": lambda b=body: b})
                continue
            blob = ppa.store.list_csv(g.project_id, name, lists.render_served)
            files.append({"filename": name, "md5": blob["md5"],
                          "read": lambda sha=blob["sha256"]: ppa.store.get_blob(sha)})
        elif name in static:
            files.append({"filename": name, "md5": static[name]["md5"],
                          "read": lambda sha=static[name]["blob_sha256"]: ppa.store.get_blob(sha)})
    return files


@bp.get("/formList")
def form_list() -> Response:
    wanted = request.args.get("formID")
    ppa = context.ppa()
    items = []
    for form in _visible_forms():
        if wanted is not None and form["xml_form_id"] != wanted:
            continue
        encoded = quote(form["xml_form_id"], safe="")
        item = {"formID": form["xml_form_id"], "name": form["title"] or form["xml_form_id"],
                "version": form["version"], "hash": form["hash"],
                "downloadUrl": f"{base_url()}/forms/{encoded}.xml"}
        if ppa.forms.get(ppa.store, form["current_def_id"]).media:
            item["manifestUrl"] = f"{base_url()}/forms/{encoded}/manifest"
        items.append(item)
    return _xml(openrosa_xml.form_list(items))


@bp.get("/forms/<xml_form_id>.xml")
def form_xml(xml_form_id: str) -> Response:
    form = _form_or_404(xml_form_id)
    body = context.ppa().store.form_def_xml(form["current_def_id"])
    return _cacheable(body, md5_hash(body)[4:], "application/xml; charset=utf-8")


@bp.get("/forms/<xml_form_id>/manifest")
def manifest(xml_form_id: str) -> Response:
    form = _form_or_404(xml_form_id)
    encoded = quote(xml_form_id, safe="")
    files = [{"filename": f["filename"], "hash": "md5:" + f["md5"],
              "downloadUrl": f"{base_url()}/forms/{encoded}/attachments/{quote(f['filename'], safe='')}"}
             for f in _media(form)]
    return _xml(openrosa_xml.manifest(files))


@bp.get("/forms/<xml_form_id>/attachments/<name>")
def attachment(xml_form_id: str, name: str) -> Response:
    form = _form_or_404(xml_form_id)
    match = next((f for f in _media(form) if f["filename"] == name), None)
    if match is None:
        raise errors.not_found("attachment")
    body = match["read"]()
    kind = "text/csv; charset=utf-8" if name.endswith(".csv") else "application/octet-stream"
    response = _cacheable(body, match["md5"], kind)
    response.headers["Content-Disposition"] = disposition(name)   # a download, whoever opens the link
    return response


def _cacheable(body: bytes, etag: str, content_type: str) -> Response:
    """ETag plus no-cache: phones may revalidate but never trust a stale copy (docs/protocol.md 2.4)."""
    response = Response(body, content_type=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.route("/submission", methods=["GET", "HEAD"])
def submission_probe() -> Response:
    return Response(status=204)


@bp.post("/submission")
def submission() -> Response:
    if request.mimetype != "multipart/form-data":
        raise errors.not_multipart()
    if not request.files and not request.form:  # no boundary, a wrong one, or a truncated body
        raise errors.malformed_multipart()
    files: dict[str, UploadedFile] = {}
    xml = None
    for field_name, storage in request.files.items(multi=True):
        content = storage.read()
        if field_name == "xml_submission_file":
            xml = content
        else:
            files[field_name] = UploadedFile(content, storage.mimetype or None, storage.filename or None)
    if xml is None and "xml_submission_file" in request.form:  # sent without a filename
        xml = request.form["xml_submission_file"].encode("utf-8")
    if xml is None:
        raise errors.missing_multipart_field()
    config = current_app.config
    upload = Upload(xml=xml, files=files, device_id=g.device["id"] if g.device else None,
                    user_id=g.user["id"] if g.user else None, user_agent=request.headers.get("User-Agent"),
                    device_ref=request.args.get("deviceID"))
    receipt = receive(context.ppa().store, context.ppa().forms, g.project_id, upload,
                      Limits(config["MAX_XML_BYTES"], config["MAX_XML_DEPTH"]), may_submit=_given, scope=g.scope)
    # said in the request's own log line (one line a request: logging costs CPU on the busiest path)
    g.log_extra = {"action": receipt.action, "instance_id": receipt.instance_id,
                   "missing": len(receipt.missing_attachments)}
    return _xml(openrosa_xml.response(openrosa_xml.SUCCESS), status=201)
