"""Slow phones against the production server (scripts/slow_clients): N connections each send a submission's headers
and then its body one byte a second, as a phone on a weak 2G signal does, while /health and normal submissions are
timed on other connections.

By default a fresh `ppa serve` is started on a temporary data folder on 127.0.0.1 and stopped at the end. With
--port and --path the connections go to a server already running on 127.0.0.1 instead. Every connection is to the
loopback address, the run lasts --seconds (plus the server's start), and every socket is closed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from server.xforms import parse_xform

from . import samples
from .serve_process import ServeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
HEADERS = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/v2026.3.0 okhttp/5 (slow_clients)"}


def household_xml(rng: random.Random) -> bytes:
    """A new household interview of the sample hamlet chanderi-w03 (not on the list), with a new instanceID."""
    form = parse_xform((ROOT / "forms" / "household_income.xml").read_bytes())
    hh_id = f"chanderi-w03-s{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
    answers = samples.household_income(rng, hh_id, members=5, on_list=False, head="Slow phone head")
    answers.update(node="chanderi-contract_weavers", district="Ashoknagar", state="Madhya Pradesh")
    instance_id = f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    return samples.instance_xml(form, samples.fill(form, answers, rng), instance_id=instance_id)


def submission(rng: random.Random) -> tuple[bytes, str]:
    """(multipart body, content type) of household_xml() as Collect (OkHttp 5) sends it."""
    return samples.multipart(samples.submission_parts(household_xml(rng)))


@dataclass
class SlowReport:
    connections: int              # slow connections asked for
    opened: int                   # slow connections whose headers the server accepted
    still_open: int               # of those, still open (not closed by the server) when the run ended
    bytes_per_second: float       # each slow connection's body rate
    health_ms: list[float]        # each /health request's latency while the slow connections were open
    submission_ms: list[float]    # each normal submission's latency, likewise
    health_statuses: list[int]
    submission_statuses: list[int]
    seconds: float

    @property
    def health_max_ms(self) -> float:
        return max(self.health_ms) if self.health_ms else float("inf")

    @property
    def submission_max_ms(self) -> float:
        return max(self.submission_ms) if self.submission_ms else float("inf")

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(health_max_ms=self.health_max_ms, submission_max_ms=self.submission_max_ms,
                   health_p50_ms=round(statistics.median(self.health_ms), 1) if self.health_ms else None,
                   submission_p50_ms=round(statistics.median(self.submission_ms), 1) if self.submission_ms else None)
        return out


class SlowSenders:
    """N sockets that sent a submission's request line and headers; one thread sends every socket one body byte
    per interval until stopped. A socket the server closes is counted and dropped."""

    def __init__(self, port: int, path: str, connections: int, interval: float = 1.0):
        self.port, self.path, self.connections, self.interval = port, path, connections, interval
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, name="slow-senders", daemon=True)

    def start(self) -> "SlowSenders":
        body, content_type = submission(random.Random(7))
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
                + "\r\n").encode()
        for _ in range(self.connections):
            sock = socket.create_connection((HOST, self.port), timeout=10)
            sock.sendall(head)
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _drip(self) -> None:
        while not self._stop.wait(self.interval):
            for sock in list(self.sockets):
                try:
                    sock.sendall(b"-")
                except OSError:
                    self.closed_by_server += 1
                    self.sockets.remove(sock)
                    sock.close()

    def stop(self) -> int:
        """Stop sending and close every socket; returns how many were still open."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        still_open = len(self.sockets)
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        return still_open


def _timed(conn_factory, method: str, path: str, body: bytes | None, headers: dict, timeout: float
           ) -> tuple[float, int]:
    conn = conn_factory(timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    return round((time.perf_counter() - started) * 1000, 1), status


def measure(port: int, path: str, connections: int = 64, seconds: float = 10.0, settle: float = 2.0,
            timeout: float = 5.0) -> SlowReport:
    """Open `connections` slow connections to the submission `path`, wait `settle` seconds (the server has taken
    them in), then for `seconds` time one /health request and one normal submission after another, each on a new
    connection with `timeout`. Everything is closed at the end."""
    def connect(t: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, port, timeout=t)

    rng = random.Random()   # new instanceIDs on every run: a server measured twice gets new submissions
    started = time.monotonic()
    senders = SlowSenders(port, path, connections)
    health, subs, health_status, sub_status = [], [], [], []
    try:
        senders.start()
        time.sleep(settle)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ms, status = _timed(connect, "GET", "/health", None, {}, timeout)
            health.append(ms)
            health_status.append(status)
            body, content_type = submission(rng)
            ms, status = _timed(connect, "POST", path, body, {**HEADERS, "Content-Type": content_type}, timeout)
            subs.append(ms)
            sub_status.append(status)
            time.sleep(0.2)
    finally:
        opened = len(senders.sockets) + senders.closed_by_server
        still_open = senders.stop()
    return SlowReport(connections, opened, still_open, 1 / senders.interval, health, subs, health_status, sub_status,
                      round(time.monotonic() - started, 1))


def _prepared_server(data: Path, workers: int | None, threads: int | None, env_extra: dict[str, str]
                     ) -> tuple[ServeProcess, str]:
    import os
    import subprocess
    port = free_port()
    env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": HOST, "PPA_PORT": str(port),
           "PPA_ADMIN_PASSWORD": "slow-clients-admin", "PPA_LOG_LEVEL": "WARNING", **env_extra}
    for name, value in (("PPA_WORKERS", workers), ("PPA_THREADS", threads)):
        if value is not None:
            env[name] = str(value)
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--skip-validate"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    device = json.loads(subprocess.run([sys.executable, "-m", "server.cli", "device", "add", "--project", "1",
                                        "slow phones"], cwd=ROOT, env=env, check=True, capture_output=True,
                                       text=True, timeout=300).stdout)
    path = urlsplit(device["server_url"]).path + "/submission?deviceID=collect:slow"
    return ServeProcess(env).start(timeout=120), path


def render(report: SlowReport) -> str:
    d = report.as_dict()
    return "\n".join([
        f"slow connections: {report.connections} asked, {report.opened} opened, {report.still_open} still open at "
        f"the end; each sends {report.bytes_per_second:g} byte a second",
        f"/health: {len(report.health_ms)} requests, p50 {d['health_p50_ms']} ms, max {report.health_max_ms} ms, "
        f"statuses {sorted(set(report.health_statuses))}",
        f"submission: {len(report.submission_ms)} requests, p50 {d['submission_p50_ms']} ms, max "
        f"{report.submission_max_ms} ms, statuses {sorted(set(report.submission_statuses))}",
        f"run: {report.seconds} s",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Slow-body connections against the production server on "
                                     "127.0.0.1, with /health and submission latency measured meanwhile.")
    parser.add_argument("--connections", type=int, default=64, help="slow connections (default 64)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of measurement (default 10)")
    parser.add_argument("--timeout", type=float, default=5, help="client timeout of each timed request (default 5)")
    parser.add_argument("--port", type=int, help="a server already running on 127.0.0.1 at this port (with --path)")
    parser.add_argument("--path", help="that server's submission path, e.g. /v1/key/TOKEN/projects/1/submission")
    parser.add_argument("--workers", type=int, help="server worker processes of the started server")
    parser.add_argument("--threads", type=int, help="threads per worker of the started server")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--max-ms", type=float, default=1000,
                        help="exit 1 if /health or a submission took longer than this (default 1000)")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.connections > 1000 or args.seconds <= 0 or args.seconds > 600:
        parser.error("--connections must be 1..1000 and --seconds 0..600")
    if (args.port is None) != (args.path is None):
        parser.error("--port and --path go together")
    if args.port is not None:
        report = measure(args.port, args.path, args.connections, args.seconds, timeout=args.timeout)
    else:
        with tempfile.TemporaryDirectory(prefix="ppa-slow-") as folder:
            server, path = _prepared_server(Path(folder), args.workers, args.threads, {})
            try:
                report = measure(int(server.env["PPA_PORT"]), path, args.connections, args.seconds,
                                 timeout=args.timeout)
            finally:
                server.stop()
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    ok = (report.health_max_ms <= args.max_ms and report.submission_max_ms <= args.max_ms
          and set(report.health_statuses) == {200} and set(report.submission_statuses) == {201})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
