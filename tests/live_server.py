"""The production server (`ppa serve`: Granian's main process and workers) as a subprocess on 127.0.0.1, in its own
process group so that a test can stop it gracefully or kill every process of it at once with SIGKILL."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

from bench.serve_process import ROOT, ServeProcess, free_port  # noqa: F401 - free_port is used by the tests


def server_env(data: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a served server on the data folder `data` (created; with PPA_DATABASE_URL it holds only the
    server's log and lock)."""
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(port),
           "PPA_ADMIN_PASSWORD": "live-admin-password", "PPA_LOG_LEVEL": "WARNING"}
    env.update({f"PPA_{k}": str(v) for k, v in settings.items()})
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, check=check, timeout=300)


def open_served_store(env: dict[str, str]):
    """The store a served server with this environment uses (its SQLite file, or its PPA_DATABASE_URL)."""
    from server import config
    from server.storage import open_store
    return open_store(config.load(environ=env))


def prepare(env: dict[str, str]) -> dict:
    """Database, default project, forms (without the slow ODK Validate) and a device; returns the device."""
    cli(env, "init", "--skip-validate")
    return json.loads(cli(env, "device", "add", "--project", "1", "Live test phone").stdout)


# The server process itself is the benchmark's too: one implementation in bench/serve_process.py.
ServerProcess = ServeProcess


def send_until_stopped(port: int, path: str, queue: Iterator, lock: threading.Lock, stop: threading.Event,
                       on_reply: Callable[[tuple, int | None, bytes], None], agent: str) -> None:
    """A phone on one keep-alive connection to 127.0.0.1:port: sends the queue's next (instanceID, XML, files) until
    the queue is empty or `stop` is set; on_reply(item, status, body) after each, with status None when the server
    is gone (the phone then stops)."""
    from bench import samples
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while not stop.is_set():
            with lock:
                item = next(queue, None)
            if item is None:
                return
            _instance_id, xml, files = item
            body, content_type = samples.multipart(samples.submission_parts(xml, files))
            try:
                conn.request("POST", path, body, {"Content-Type": content_type, "X-OpenRosa-Version": "1.0",
                                                  "User-Agent": f"org.odk.collect.android/v2026.3.0 {agent}"})
                response = conn.getresponse()
                reply = response.read()
            except (OSError, http.client.HTTPException):
                on_reply(item, None, b"")
                return
            on_reply(item, response.status, reply)
    finally:
        conn.close()
