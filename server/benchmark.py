"""Load runs against the production server (scripts/bench): a fresh data folder, gunicorn on 127.0.0.1,
realistic household submissions posted as Collect posts them, throughput and latency measured.

Load goes only to 127.0.0.1, is bounded in count and time, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from . import samples
from .xforms import parse_xform

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`ppa serve` in a subprocess on a fresh data folder; stopped on exit."""

    def __init__(self, data: Path, workers: int = 2, threads: int = 8, synchronous: str = "NORMAL"):
        self.data = data
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(self.port),
                    "PPA_ADMIN_PASSWORD": "bench-admin-password", "PPA_LOG_LEVEL": "WARNING",
                    "PPA_WORKERS": str(workers), "PPA_THREADS": str(threads), "PPA_SYNCHRONOUS": synchronous}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.log = open(self.data / "server.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start; see " + str(self.data / "server.log"))

    def __exit__(self, *exc) -> None:
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def device(self) -> dict:
        out = subprocess.run([sys.executable, "-m", "server.cli", "device", "add", "--project", "1", "bench phone"],
                             cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def rss_mb(self) -> float:
        """Resident memory of the gunicorn master and its workers, in MB."""
        total = 0
        pids = [self.process.pid] + _children(self.process.pid)
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def household_bodies(count: int, members: int = 5, seed: int = 1) -> list[tuple[bytes, str]]:
    """Multipart bodies of household income submissions, each a new household with a full roster."""
    form = parse_xform((ROOT / "forms" / "household_income.xml").read_bytes())
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        hh_id = f"chanderi-w03-b{uuid.uuid4().hex[:10]}"
        answers = samples.household_income(rng, hh_id, cluster="chanderi", hamlet="chanderi-w03", members=members,
                                           on_list=False, head=f"Head {i}")
        answers.update(node="chanderi-contract_weavers", district="Ashoknagar", state="Madhya Pradesh")
        xml = samples.instance_xml(form, samples.fill(form, answers, rng))
        bodies.append(samples.multipart(samples.submission_parts(xml)))
    return bodies


@dataclass
class LoadResult:
    concurrency: int
    submissions: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def post_all(url: str, bodies: list[tuple[bytes, str]], concurrency: int, time_limit_s: float = 300) -> LoadResult:
    """POST every body with `concurrency` keep-alive clients; stop early at the time limit."""
    local = threading.local()
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit_s
    headers = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/v2026.3.0 bench"}

    def send(item: tuple[bytes, str]) -> None:
        nonlocal errors
        if time.monotonic() > deadline:
            return
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.post(url + "/submission?deviceID=collect:bench", data=item[0],
                                headers={**headers, "Content-Type": item[1]}, timeout=60)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            if response.status_code != 201:
                errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, bodies))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return LoadResult(concurrency, len(latencies), round(seconds, 2), round(len(latencies) / seconds, 1),
                      round(pct(0.50), 1), round(pct(0.95), 1), round(pct(0.99), 1), errors)


def populate(store, project_id: int, households: int, clusters: int = 5, hamlets: int = 40, nodes: int = 8,
             seed: int = 1) -> None:
    """Fill the aggregate tables as ingest would, through the store's own upkeep methods, for a size test."""
    rng = random.Random(seed)
    finals = ["happy", "average", "sad"]
    with store.write():
        for i in range(households):
            cluster = f"cluster{i % clusters}"
            hamlet = f"{cluster}-h{(i // clusters) % hamlets}"
            node = f"{cluster}-node{rng.randrange(nodes)}"
            hh_id = f"{hamlet}-{i}"
            final = rng.choice(finals)
            store.set_wb_household(project_id, 1, hh_id, {"cluster": cluster, "hamlet": hamlet, "node": node,
                                                           "n_groups": 3, "mean": 2.0, "final": final,
                                                           "flagged": int(rng.random() < 0.05), "flags": ""})
            size = rng.randint(2, 8)
            income = rng.uniform(2000, 30000)
            y, z = income / size, 897.0
            gap = (z - y) / z if y < z else 0.0
            store.replace_hh_income(project_id, -(i + 1), {
                "round": 1, "hh_id": hh_id, "cluster": cluster, "hamlet": hamlet, "node": node,
                "state": "Madhya Pradesh", "sector": "urban", "size": size, "income_monthly": income,
                "consumption_monthly": None, "head_sex": "male", "social_group": "OBC", "land_class": "marginal",
                "line": z, "line_label": "Tendulkar 2011-12 Madhya Pradesh urban", "poor": int(y < z), "gap": gap,
                "gap2": gap * gap, "neg_income": 0})


def summary_timing(households_sizes: list[int], repeats: int = 50) -> list[dict]:
    """Milliseconds for a cluster summary (well-being by hamlet + income poverty by hamlet) via the JSON API."""
    from . import create_app
    from .api import hash_token
    from .auth import new_token
    from .bootstrap import create_user
    out = []
    for size in households_sizes:
        with tempfile.TemporaryDirectory(prefix="ppa-summary-") as folder:
            app = create_app({"DATA": folder, "LOG_LEVEL": "WARNING"})
            store = app.extensions["ppa"].store
            project = store.create_project("bench")
            user = create_user(store, "r@bench", "researcher", "bench-password", "PPA")
            store.add_membership(user["id"], project["id"])
            secret = new_token()
            store.create_api_token(user["id"], hash_token(secret), "bench")
            started = time.perf_counter()
            populate(store, project["id"], size)
            fill_s = time.perf_counter() - started
            client = app.test_client()
            headers = {"Authorization": f"Bearer {secret}"}
            timings = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for path in ("wellbeing", "poverty"):
                    response = client.get(f"/api/v1/projects/{project['id']}/{path}?round=1&cluster=cluster0"
                                          f"&by=hamlet", headers=headers)
                    assert response.status_code == 200, response.data
                timings.append((time.perf_counter() - t0) * 1000)
            timings.sort()
            out.append({"households": size, "fill_seconds": round(fill_s, 1),
                        "summary_ms_p50": round(timings[len(timings) // 2], 2),
                        "summary_ms_max": round(timings[-1], 2)})
            store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest load run against the production server on 127.0.0.1.")
    parser.add_argument("--count", type=int, default=3000, help="submissions per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--summary", type=int, nargs="*", metavar="HOUSEHOLDS",
                        help="instead of the load run: time a cluster summary at these numbers of households "
                             "(default 100000 1000000)")
    args = parser.parse_args(argv)
    if args.summary is not None:
        rows = summary_timing(args.summary or [100_000, 1_000_000])
        if args.json:
            print(json.dumps(rows))
        else:
            print(f"{'households':>10} {'fill s':>7} {'summary p50 ms':>15} {'max ms':>7}")
            for r in rows:
                print(f"{r['households']:>10} {r['fill_seconds']:>7} {r['summary_ms_p50']:>15} "
                      f"{r['summary_ms_max']:>7}")
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="ppa-bench-") as folder:
        with Server(Path(folder), args.workers, args.threads, args.synchronous) as server:
            device = server.device()
            base = device["server_url"]
            for concurrency in args.concurrency:
                bodies = household_bodies(args.count, args.members, seed=concurrency)
                post_all(base, bodies[:50], concurrency)  # warm-up: workers, caches, first connections
                results.append(post_all(base, bodies[50:], concurrency))
            rss = server.rss_mb()
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results], "server_rss_mb": round(rss, 1),
                          "workers": args.workers, "threads": args.threads, "synchronous": args.synchronous}))
        return 0
    print(f"household income submissions ({args.members}-member roster), gunicorn {args.workers} workers x "
          f"{args.threads} threads, synchronous={args.synchronous}, {os.cpu_count()} cores")
    print(f"{'concurrency':>11} {'count':>6} {'seconds':>8} {'per s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6}")
    for r in results:
        print(f"{r.concurrency:>11} {r.submissions:>6} {r.seconds:>8} {r.per_second:>7} {r.p50_ms:>7} {r.p95_ms:>7} "
              f"{r.p99_ms:>7} {r.errors:>6}")
    print(f"server memory (all processes): {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
