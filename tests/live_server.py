"""The production server (`ppa serve`: Granian's main process and workers) as a subprocess on 127.0.0.1, in its own
process group so that a test can stop it gracefully or kill every process of it at once with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data: Path, port: int, **settings: str) -> dict[str, str]:
    env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(port),
           "PPA_ADMIN_PASSWORD": "live-admin-password", "PPA_LOG_LEVEL": "WARNING"}
    env.update({f"PPA_{k}": str(v) for k, v in settings.items()})
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, check=check, timeout=300)


def prepare(env: dict[str, str]) -> dict:
    """Database, default project, forms (without the slow ODK Validate) and a device; returns the device."""
    cli(env, "init", "--skip-validate")
    return json.loads(cli(env, "device", "add", "--project", "1", "Live test phone").stdout)


class ServerProcess:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.url = f"http://127.0.0.1:{env['PPA_PORT']}"
        self.log_path = Path(env["PPA_DATA"]) / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "ServerProcess":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("the server stopped:\n" + self.log_path.read_text(errors="replace")[-3000:])
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        self.kill()
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        """SIGKILL to the whole process group: the main process and every worker, at once."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass
        self._close_log()

    def group_alive(self) -> bool:
        """Whether any process of the server's group is still running (zombies waiting to be reaped by init
        do not count: they hold no files and run no code)."""
        if self.process is None:
            return False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.process.pid and fields[0] != "Z":   # process group, state
                return True
        return False

    def _close_log(self) -> None:
        log = getattr(self, "log", None)
        if log is not None and not log.closed:
            log.close()
