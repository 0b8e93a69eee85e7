"""Serve the app with Granian (a production server with its HTTP layer in Rust): worker processes, each running the
app in a pool of threads, one app per worker.

Granian replaced gunicorn's threaded workers: on this project's 2-core machine gunicorn spent about 0.3 ms of CPU
per request in Python (reading and parsing the request, handing it to a thread, writing the answer) against about
0.05 ms for Granian, which does that work in Rust without the GIL (README, Speed and durability).

Granian serves its ASGI interface, and server/body_buffer.py runs the Flask (WSGI) app behind it: each request body
is read whole on the worker's event loop before the request is given one of the PPA_THREADS threads. Granian's WSGI
interface gives the thread first and reads the body as the app asks for it, so slow phones held every thread
(README, Limits). A response body is still streamed as the app yields it (exports stay in constant memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .body_buffer import BodyBuffer


def options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Granian's settings for a server configuration (PPA_HOST, PPA_PORT, PPA_WORKERS, PPA_THREADS)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    return {
        "address": config["HOST"],
        "port": config["PORT"],
        "interface": Interfaces.ASGINL,   # ASGI without lifespan events: the adapter needs none
        "http": HTTPModes.http1,          # Collect speaks HTTP/1.1; a TLS proxy in front may offer HTTP/2
        "websockets": False,
        "workers": config["WORKERS"],
        "backlog": 2048,
        # Collect's read timeout is 60 s: a phone on 2G sending headers slowly must not be cut before that
        "http1_settings": HTTP1Settings(header_read_timeout=60_000, keep_alive=True),
        "respawn_failed_workers": True,   # a worker that dies is replaced, as gunicorn's master did
        "workers_kill_timeout": 30,       # on shutdown, requests in flight get 30 s to finish
        "log_level": "warning",
        "log_access": False,              # the app logs each request itself, with tokens redacted
        "factory": True,
    }


def run(config: Mapping[str, Any]) -> None:
    """Serve until SIGINT or SIGTERM. The app reads its settings from the same PPA_* environment in each worker."""
    import os
    from granian import Granian
    os.environ["PPA_DATA"] = config["DATA"]   # resolved: a worker must open the very same folder
    Granian("server.wsgi:production_app", **options(config)).serve()


def production_app() -> "BodyBuffer":
    """The app as each worker process builds it: Flask behind the body-buffering adapter."""
    from . import create_app
    from .body_buffer import BodyBuffer
    app = create_app()
    return BodyBuffer(app, threads=app.config["THREADS"], max_body=app.config["MAX_SUBMISSION_BYTES"],
                      body_timeout=app.config["BODY_TIMEOUT"])
