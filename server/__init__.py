"""The PPA data-collection server: create_app() wires configuration, storage and blueprints. No routes here."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Mapping

from flask_wtf.csrf import CSRFProtect

from flask import Flask, Response, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from . import api, central, context, errors, http_errors, http_security, logs, multipart, openrosa, web
from .auth import Digest
from .catalog import FormCache
from .storage import open_store


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    config = config_module.load(test_config)
    multipart.install()   # the one multipart decoder of every app in this process (server/multipart.py)
    store = open_store(config)
    store.migrate()
    app = Flask(__name__)
    app.config.update(config)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config["PUBLIC_URL"].startswith("https://"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,   # the token lives as long as the session
        SECRET_KEY=config_module.secret_key(config, store),
        MAX_CONTENT_LENGTH=config["MAX_SUBMISSION_BYTES"],
        MAX_FORM_MEMORY_SIZE=config["MAX_XML_BYTES"],
        MAX_FORM_PARTS=config["MAX_PARTS"],
    )
    if config["PROXIES"]:
        # The client's address (sign-in throttling, the audit log) and scheme as the proxies saw them: werkzeug
        # takes the last PROXIES values of each header, which those proxies appended, and ignores what came before.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["PROXIES"], x_proto=config["PROXIES"])
    logs.configure(app.name, config["LOG_LEVEL"], config["LOG_FORMAT"])
    digest = Digest(app.config["SECRET_KEY"], config["DIGEST_REALM"], store)
    digest.error_handler(lambda status: http_errors.render(
        errors.unauthorized() if status == 401 else errors.forbidden()))
    app.extensions[context.EXTENSION] = context.PPA(store=store, forms=FormCache(), digest=digest)

    http_errors.register(app)
    http_security.register(app)
    openrosa.register(app)
    central.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    csrf = CSRFProtect(app)
    # Phones and scripts carry no CSRF token: OpenRosa is authenticated by token or Digest, the API by bearer
    # token, and neither reads the session cookie for anything that writes.
    csrf.exempt(openrosa.bp)   # both of its mounts
    csrf.exempt(api.bp)
    csrf.exempt(central.bp)    # Bearer or Basic; a browser's session is accepted there for reads only
    _register_health(app)
    _register_request_log(app)
    return app


def _register_health(app: Flask) -> None:
    @app.get("/health")
    def health() -> Response:
        store = context.store()
        return jsonify({"status": "ok", "database": "ok" if store.ping() else "error",
                        "projects": len(store.list_projects())})


def _register_request_log(app: Flask) -> None:
    log = logging.getLogger(app.name)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        if log.isEnabledFor(logging.INFO):
            extra = {"method": request.method, "path": logs.redact(request.path), "status": response.status_code,
                     "ms": round(elapsed, 2)}
            extra.update(g.get("log_extra") or {})   # what the view had to say, e.g. a submission's instanceID
            log.info("request", extra=extra)
        return response
