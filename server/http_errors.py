"""Render problems at the edge in the caller's format: OpenRosa XML for phones, JSON for the API, HTML for people."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template_string, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import errors, openrosa_xml
from .storage import StoreUnavailable

_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>{{ status }} {{ title }}</title>
<link rel="stylesheet" href="{{ url_for('static', filename='app.css') }}"><body class="error-page"><h1>{{ status }} {{ title }}</h1><p>{{ message }}</p></body></html>"""


def _wants(kind: str) -> bool:
    path = request.path
    if kind == "openrosa":
        return path.startswith("/v1/")
    return path.startswith("/api/") or path == "/health" or request.accept_mimetypes.best == "application/json"


def render(problem: errors.Problem) -> Response:
    if _wants("openrosa"):
        return Response(openrosa_xml.response(problem.message, "error"), status=problem.status,
                        content_type="text/xml; charset=utf-8")
    if _wants("json"):
        response = jsonify({"code": problem.code, "message": problem.message, "details": problem.details})
        response.status_code = problem.status
        return response
    body = render_template_string(_PAGE, status=problem.status, title=_title(problem.status),
                                  message=escape(problem.message))
    return Response(body, status=problem.status, content_type="text/html; charset=utf-8")


def _title(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES
    return HTTP_STATUS_CODES.get(status, "Error")


def register(app: Flask) -> None:
    @app.errorhandler(errors.Problem)
    def _problem(problem: errors.Problem) -> Response:
        if problem.status >= 500:
            current_app.logger.error("problem", extra={"code": problem.code})
        response = render(problem)
        if "retryAfter" in problem.details:   # 429, 503: when to try again
            response.headers["Retry-After"] = str(problem.details["retryAfter"])
        return response

    @app.errorhandler(StoreUnavailable)
    def _unavailable(exc: StoreUnavailable) -> Response:
        current_app.logger.warning("database unavailable", extra={"error": str(exc)})
        return _problem(errors.unavailable())

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Response:
        limit = current_app.config["MAX_SUBMISSION_BYTES"]
        return render(errors.Problem("413.1", f"The submission is larger than this server accepts ({limit} bytes, "
                                     f"at most {current_app.config['MAX_PARTS']} parts). Send photos at a lower "
                                     "resolution, or ask your supervisor to raise the limit.", {"limit": limit}))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if exc.code == 401 and exc.response is not None:
            return exc.response
        return render(errors.Problem(f"{exc.code}.0", exc.description or _title(exc.code or 500)))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        current_app.logger.exception("unhandled error")
        return render(errors.Problem("500.1", "The server hit an unexpected error; nothing was stored. "
                                     "Please try again later."))
