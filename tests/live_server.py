"""The production server (`ppa serve`: Granian's main process and workers) as a subprocess on 127.0.0.1, in its own
process group so that a test can stop it gracefully or kill every process of it at once with SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
