"""Who is calling a Central route: a Bearer token (a session from POST /v1/sessions, or one of our API tokens),
HTTP Basic (ruODK, Power BI and Excel use it), or, for reads only, a browser signed in to our pages.

Basic carries the password itself, so, as on Central, it is refused with 401.3 unless the request came over HTTPS
(or through a proxy that says so with X-Forwarded-Proto: https, as Central's own nginx does). Every password,
whatever the route, goes through the same argon2 check and per (account, address) throttle as the sign-in page
(server.auth). A browser session is not accepted for writes: these routes carry no CSRF token.
No WWW-Authenticate header is sent on 401, as on Central: a challenge would make Excel and browsers prompt.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time

from flask import Response, current_app, g, jsonify, request, session
from werkzeug.exceptions import HTTPException

from .. import context, errors
from ..api import hash_token
from ..auth import check_throttle, record_failure, session_key, user_of_session, verify_password
from ..permissions import Principal, can, clusters, load_principal
from . import bp

log = logging.getLogger(__name__)
_SAFE = {"GET", "HEAD", "OPTIONS"}


def store():
    return context.store()


def caller() -> Principal:
    """The signed-in user of this request (worked out once per request); 401 with Central's code otherwise."""
    if "central_user" not in g:
        g.central_user, g.central_session = _authenticate()
    return g.central_user


def _authenticate() -> tuple[Principal, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer" and credentials:
        return _bearer(credentials)
    if scheme == "basic" and credentials:
        return _basic(credentials), None
    if not header and request.method in _SAFE:
        user = user_of_session(store(), session)
        if user is not None:
            return load_principal(store(), user), None
    raise errors.bad_credentials()


def _bearer(token: str) -> tuple[Principal, str | None]:
    """A session token made by POST /v1/sessions (kept as its SHA-256, as web sessions are), else an API token."""
    key = session_key(token)
    user = store().user_by_session(key, time.time())
    if user is not None:
        return load_principal(store(), user), key
    user = store().user_by_api_token(hash_token(token))
    if user is None:
        raise errors.bad_credentials()
    return load_principal(store(), user), None


def over_https() -> bool:
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def _basic(credentials: str) -> Principal:
    if not over_https():
        raise errors.https_only()
    try:
        email, sep, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise errors.bad_credentials() from None
    if not sep or not email:
        raise errors.bad_credentials()
    return load_principal(store(), check_password(email, password, "basic"))


def check_password(email: str, password: str, how: str) -> dict:
    """The user whose password this is, or 401.2 (429 while throttled); failures count as on the sign-in page."""
    address = request.remote_addr
    failures = check_throttle(store(), email, address)
    user = store().user_by_email(email)
    if not verify_password(user["password_hash"] if user and not user["disabled_at"] else None, password):
        record_failure(store(), email, address, how)
        raise errors.bad_credentials()
    if failures:
        store().clear_sign_in_failures(email, address)
    return user


def allowed(project_id: int, action: str = "read") -> frozenset[str] | None:
    """404 for an unknown project, 403 unless the caller may do `action` in it; then the clusters they may see
    (None: all), the scope every read and write below applies with permissions.in_scope."""
    who = caller()
    if store().get_project(project_id) is None:
        raise errors.not_found("project")
    if not can(who, action, project_id):
        raise errors.not_allowed()
    return clusters(who, project_id)


@bp.errorhandler(Exception)
def problem_response(exc: Exception) -> Response:
    """Errors as Central writes them: {"message": ..., "code": <status>.<n>} (the code a JSON number)."""
    if isinstance(exc, errors.Problem):
        problem = exc
    elif isinstance(exc, HTTPException):
        problem = errors.Problem(f"{exc.code}.0" if exc.code != 404 else "404.1",
                                 "Could not find the resource you were looking for." if exc.code == 404
                                 else (exc.description or exc.name))
    else:
        log.exception("unhandled error")
        problem = errors.Problem("500.1", "The server hit an unexpected error; nothing was stored.")
    response = jsonify({"message": problem.message, "code": float(problem.code)})
    response.status_code = problem.status
    if "retryAfter" in problem.details:
        response.headers["Retry-After"] = str(problem.details["retryAfter"])
    if ".svc" in request.path and problem.status != 401:   # as Central: a refused sign-in is not OData's yet
        response.headers["OData-Version"] = "4.0"
    return response
