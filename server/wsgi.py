"""Serve the app with gunicorn (the production WSGI server): threaded workers, one app per worker."""

from __future__ import annotations

from typing import Any, Mapping

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: Mapping[str, Any], overrides: Mapping[str, Any] | None):
        self.options = dict(options)
        self.overrides = dict(overrides or {})
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app
        return create_app(self.overrides)


def options(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "bind": f"{config['HOST']}:{config['PORT']}",
        "workers": config["WORKERS"],
        "threads": config["THREADS"],
        "worker_class": "gthread",
        "timeout": 120,            # Collect's read timeout is 60 s; a slow upload on 2G must not be cut
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,         # the app logs each request itself, with tokens redacted
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "ppa-server",
    }


def run(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> None:
    _Gunicorn(options(config), overrides).run()
