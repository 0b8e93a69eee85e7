"""Blueprint 'web': the pages people use in a browser (server-rendered, every asset served by us).

Sign-in makes a session on the server (a row in web_sessions) and a signed cookie holding its random id; every
request looks the session up, so signing out, "sign out everywhere", a password change or reset and disabling the
user end sessions at once, copies of the cookie included.
"""

from __future__ import annotations

import functools
from typing import Callable

from flask import Blueprint, abort, g, redirect, request, session, url_for

from .. import errors
from ..auth import user_of_session
from ..context import store
from ..form_languages import label_language
from ..permissions import Principal, can, load_principal, visible_projects

bp = Blueprint("web", __name__, template_folder="../templates")


def principal_for(user: dict) -> Principal:
    return load_principal(store(), user)


def session_user() -> Principal | None:
    """The signed-in user, or None when the session is absent, ended, expired, or the user is disabled."""
    if "user" in g:
        return g.user
    g.user = None
    if "sid" in session:
        user = user_of_session(store(), session)
        if user is not None:
            g.user = principal_for(user)
        else:
            session.clear()
    return g.user


def label_language_for(project: dict) -> str:
    """The language the signed-in user reads question and choice labels in: their own, else the project's."""
    user = session_user()
    row = store().user_by_id(user.id) if user is not None else None
    return label_language(row.get("label_language") if row else None, project.get("label_language"))


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if session_user() is None:
            return redirect(url_for("web.login", next=request.full_path if request.method == "GET" else None))
        return view(*args, **kwargs)
    return wrapped


def require(action: str, project_id: int | None = None) -> Principal:
    """The signed-in user if they may do `action` here; 403 otherwise (404 for an unknown project)."""
    user = session_user()
    if user is None:
        abort(401)
    if project_id is not None and store().get_project(project_id) is None:
        raise errors.not_found("project")
    if not can(user, action, project_id):
        raise errors.forbidden()
    return user


@bp.after_request
def _remember_project(response):
    """The project of the page just shown, kept in the session: pages of no project (account, users, audit log,
    errors) show that project's navigation."""
    project_id = (request.view_args or {}).get("project_id")
    if isinstance(project_id, int) and response.status_code < 400 and "sid" in session \
            and session.get("project") != project_id:
        session["project"] = project_id
    return response


def nav_project() -> dict | None:
    """The project whose navigation a page of no project shows: the last one opened, else the only one the user
    may read; None when neither."""
    user = session_user()
    if user is None:
        return None
    remembered = session.get("project")
    if isinstance(remembered, int) and can(user, "read", remembered):
        return store().get_project(remembered)
    readable = visible_projects(user, [p["id"] for p in store().list_projects()])
    return store().get_project(readable[0]) if len(readable) == 1 else None


@bp.app_context_processor
def _template_globals():
    return {"current_user": session_user(), "nav_project": nav_project,
            "can": lambda action, project_id=None: can(session_user(), action, project_id)}


from . import manage, monitor, people, review  # noqa: E402,F401  (routes register themselves on bp)
