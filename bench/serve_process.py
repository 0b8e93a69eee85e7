"""`ppa serve` as a child process in its own process group, for the benchmark (scripts/bench) and the tests that need
the production server: started and waited for until /health answers, stopped gracefully (SIGTERM, then SIGKILL
after 30 s) or killed at once with SIGKILL, every process of the group together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeFailed(RuntimeError):
    """The server stopped while starting, or did not answer /health in time; the message ends with its log."""


class ServeProcess:
    """The server of one data folder (env's PPA_DATA) on env's PPA_PORT; its output goes to DATA/server.log."""

    def __init__(self, env: Mapping[str, str]):
        self.env = dict(env)
        self.url = f"http://127.0.0.1:{self.env['PPA_PORT']}"
        self.log_path = Path(self.env["PPA_DATA"]) / "server.log"
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 120) -> "ServeProcess":
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._close_log()
                raise ServeFailed("the server stopped:\n" + self._log_tail())
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        self.kill()
        raise ServeFailed("the server did not start:\n" + self._log_tail())

    def stop(self) -> None:
        """SIGTERM to the group (requests in flight finish), SIGKILL if it is not gone in 30 s."""
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

    def kill(self) -> None:
        """SIGKILL to the whole process group: the main process and every worker, at once."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        self._close_log()

    def pids(self) -> list[int]:
        """The main process and its live children (the workers)."""
        if self.process is None:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except FileNotFoundError:
            children = []
        return [self.process.pid] + [int(p) for p in children]

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

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()
