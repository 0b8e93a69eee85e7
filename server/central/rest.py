"""Central's REST resources, read and review side: projects, forms (with X-Extended-Metadata), form versions and
fields, submissions with their XML, versions, attachments and comments, and PATCH reviewState.

One submission goes through _submission, and so through the cluster rule (permissions.in_scope), as the review
page's does: unknown 404, outside the caller's clusters 403. Reviews and comments are reviewing.review's, the
same as the review page's, with the same audit entries and effect on the aggregates.
"""

from __future__ import annotations

from typing import Iterator

import orjson
from flask import Response, current_app, jsonify, request

from .. import context, errors, media_types, reviewing
from ..http_security import send
from ..permissions import can, in_scope, visible_projects
from ..storage.sqlite_review import REVIEW_STATES
from . import bp
from .auth import allowed, caller, store
from .edmx import form_fields
from .shapes import (comment_json, form_extended, form_json, project_json, submission_json, user_json, verbs,
                     version_json)

_PREFIX = "/v1/projects/<int:project_id>/forms/<xml_form_id>"
CHUNK = 500   # submissions read at a time while the list streams


def _extended() -> bool:
    return request.headers.get("X-Extended-Metadata", "").strip().lower() == "true"


# -- projects ----------------------------------------------------------------------------------------------

@bp.get("/v1/projects")
def projects() -> Response:
    who = caller()
    ids = visible_projects(who, [p["id"] for p in store().list_projects()])
    return jsonify([{**project_json(store().get_project(i)), "verbs": verbs(who.role)} for i in ids])


@bp.get("/v1/projects/<int:project_id>")
def project(project_id: int) -> Response:
    allowed(project_id)
    return jsonify(project_json(store().get_project(project_id)))


# -- forms ---------------------------------------------------------------------------------------------------

def _form_out(form: dict, scope) -> dict:
    fdef = store().central_form_def(form["current_def_id"])
    out = form_json(form, fdef, store().form_def_xml(fdef["id"]), store().central_form_created(form["id"]))
    if _extended():
        author = store().user_by_email(fdef["published_by"]) if fdef["published_by"] else None
        out.update(form_extended(store().central_form_counts(form["id"], scope),
                                 user_json(author) if author else None))
    return out


def _form(project_id: int, xml_form_id: str) -> tuple[dict, frozenset[str] | None]:
    scope = allowed(project_id)
    form = store().get_form(project_id, xml_form_id)
    if form is None or form["current_def_id"] is None:
        raise errors.not_found("form")
    return form, scope


@bp.get("/v1/projects/<int:project_id>/forms")
def forms(project_id: int) -> Response:
    scope = allowed(project_id)
    listed = sorted(store().list_forms(project_id), key=lambda f: f["xml_form_id"])
    return jsonify([_form_out(f, scope) for f in listed])


@bp.get(_PREFIX)
def form(project_id: int, xml_form_id: str) -> Response:
    found, scope = _form(project_id, xml_form_id)
    out = _form_out(found, scope)
    if _extended():
        out["publishNotes"] = None
    return jsonify(out)


@bp.get(f"{_PREFIX}/versions")
def form_versions(project_id: int, xml_form_id: str) -> Response:
    found, _scope = _form(project_id, xml_form_id)
    created = store().central_form_created(found["id"])
    return jsonify([form_json(found, v, store().form_def_xml(v["id"]), created)
                    for v in store().central_form_versions(found["id"])])


@bp.get(f"{_PREFIX}/fields")
def form_fields_list(project_id: int, xml_form_id: str) -> Response:
    """Central's field list; with or without ?odata=true the names are as in the form (ours sanitise nothing
    more for OData: edmx.sanitize is applied where the feed names properties)."""
    found, _scope = _form(project_id, xml_form_id)
    return jsonify([f.json() for f in form_fields(store().form_def_xml(found["current_def_id"]))])


# -- submissions ---------------------------------------------------------------------------------------------

@bp.get(f"{_PREFIX}/submissions")
def submissions(project_id: int, xml_form_id: str) -> Response:
    """Every submission, as Central lists them (newest first, not paged), read CHUNK at a time by key and
    streamed: 100,000 submissions cost no more memory than 500."""
    found, scope = _form(project_id, xml_form_id)
    extended, s = _extended(), store()

    def body() -> Iterator[bytes]:
        yield b"["
        before, first = None, True
        while True:
            rows = s.central_submissions(found["id"], scope, before_id=before, limit=CHUNK)
            for row in rows:
                yield (b"" if first else b",") + orjson.dumps(submission_json(row, extended))
                first = False
            if len(rows) < CHUNK:
                break
            before = rows[-1]["id"]
        yield b"]"
    return Response(body(), content_type="application/json; charset=utf-8")


def _submission(project_id: int, xml_form_id: str, instance_id: str, action: str = "read") -> tuple[dict, dict]:
    """One submission, if the caller may do `action` on it (the cluster rule, as web.review._submission)."""
    found, scope = _form(project_id, xml_form_id)
    if action != "read" and not can(caller(), action, project_id):
        raise errors.not_allowed()
    row = store().central_submission(found["id"], instance_id)
    if row is None:
        raise errors.not_found("submission")
    if not in_scope(scope, row["cluster"]):
        raise errors.not_allowed()
    return found, row


@bp.get(f"{_PREFIX}/submissions/<instance_id>")
def submission(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id)
    return jsonify(submission_json(row, _extended()))


@bp.get(f"{_PREFIX}/submissions/<instance_id>.xml")
def submission_xml(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id, "download")
    return Response(store().submission_xml(row["def_id"]), content_type="application/xml; charset=utf-8")


@bp.get(f"{_PREFIX}/submissions/<instance_id>/versions")
def submission_versions(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id)
    extended = _extended()
    return jsonify([version_json(v, extended) for v in store().central_versions(row["id"])])


@bp.get(f"{_PREFIX}/submissions/<instance_id>/attachments")
def submission_attachments(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id)
    return jsonify([{"name": a["name"], "exists": a["blob_sha256"] is not None}
                    for a in store().attachments(row["def_id"])])


@bp.get(f"{_PREFIX}/submissions/<instance_id>/attachments/<name>")
def submission_attachment(project_id: int, xml_form_id: str, instance_id: str, name: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id, "download")
    attachment = store().submission_attachment(row["id"], name)
    if attachment is None:
        raise errors.not_found("attachment")
    body = store().get_blob(attachment["blob_sha256"])
    # the type decided from the bytes, and shown inline only where that is safe, as the review page does
    content_type = media_types.decide(media_types.question_kind(attachment["content_type"]), body)
    response = send(body, name, content_type, inline=media_types.inline(content_type))
    response.set_etag(store().blob_md5(attachment["blob_sha256"]) or "")
    return response.make_conditional(request)


# -- review ------------------------------------------------------------------------------------------------

def _review(project_id: int, xml_form_id: str, instance_id: str, state: str, comment: str) -> dict:
    found, row = _submission(project_id, xml_form_id, instance_id, "review")
    sub = store().submission_by_id(project_id, row["id"])
    reviewing.review(store(), context.ppa().forms, project_id, sub, state, comment, caller().email,
                     "api")
    return store().central_submission(found["id"], instance_id)


@bp.patch(f"{_PREFIX}/submissions/<instance_id>")
def review(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    """Central's review: {"reviewState": "approved" | "hasIssues" | "rejected"} (as pyodk's submissions.review)."""
    body = request.get_json(silent=True)
    state = body.get("reviewState") if isinstance(body, dict) else None
    if state not in reviewing.REVIEW_ACTIONS:
        choices = ", ".join(s for s in REVIEW_STATES if s in reviewing.REVIEW_ACTIONS)
        raise errors.Problem("400.8", f"reviewState must be one of {choices}.", {"field": "reviewState"})
    row = _review(project_id, xml_form_id, instance_id, state, "")
    return jsonify(submission_json(row, False, with_version=False))


@bp.get(f"{_PREFIX}/submissions/<instance_id>/comments")
def comments(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    _found, row = _submission(project_id, xml_form_id, instance_id)
    return jsonify([comment_json(c) for c in store().central_comments(row["id"])])


@bp.post(f"{_PREFIX}/submissions/<instance_id>/comments")
def add_comment(project_id: int, xml_form_id: str, instance_id: str) -> Response:
    body = request.get_json(silent=True)
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise errors.Problem("400.3", "Required parameter body was missing or empty.", {"field": "body"})
    row = _review(project_id, xml_form_id, instance_id, "", text.strip())
    return jsonify(comment_json(store().central_comments(row["id"])[-1]))
