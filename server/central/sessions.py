"""Sign-in for scripts, as on Central: POST /v1/sessions, DELETE /v1/sessions/current, GET /v1/users/current.

A session token is a web session under another name: the same table (its SHA-256 as key), the same lifetime as a
signed-in browser's, and "sign out everywhere" or a password change ends it too.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import Response, current_app, g, jsonify, request

from .. import errors
from ..auth import new_session_id, session_key
from . import bp
from .auth import caller, check_password, store
from .shapes import iso, user_json


@bp.post("/v1/sessions")
def create_session() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) \
            or not isinstance(body.get("password"), str):
        raise errors.Problem("400.3", "Required parameters email and password were missing or not text.")
    email = body["email"].strip()
    user = check_password(email, body["password"], "api session")
    token = new_session_id()
    now = time.time()
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    with store().transaction():   # the session and its audit entry, stored together or not at all
        store().create_session(session_key(token), user["id"], now, lifetime)
        store().audit(email, "user.sign_in", email, {"ip": request.remote_addr, "by": "api session"})
    return jsonify({"token": token, "expiresAt": _stamp(now + lifetime), "createdAt": _stamp(now)})


@bp.delete("/v1/sessions/current")
def end_session() -> Response:
    who = caller()
    if g.central_session is None:   # Basic or an API token: there is no session to end
        raise errors.not_found("session")
    with store().transaction():
        store().end_session(g.central_session)
        store().audit(who.email, "user.sign_out", who.email, {"by": "api session"})
    return jsonify({"success": True})


@bp.get("/v1/users/current")
def current_user() -> Response:
    who = caller()
    user = store().user_by_id(who.id)
    return jsonify({**user_json(user), "email": user["email"],
                    "lastLoginAt": store().central_last_sign_in(user["email"])})


def _stamp(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc).isoformat())
