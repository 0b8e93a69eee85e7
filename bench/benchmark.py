"""Load runs against the production server (scripts/bench, python -m bench).

A fresh data folder, `ppa serve` (Granian) on 127.0.0.1, and a realistic PPA workload for all three forms:
hamlet by hamlet and round by round, three informant groups rank every household of the hamlet, every
household is interviewed for the income module (5-member roster, wage job, enterprise, loan), and every poverty
node has one session per round. The hamlet and household lists are imported first with `ppa lists import`, as a
project manager would, so every submission passes the list checks.

At each database size (empty; 100,000 submissions; with --large 1,000,000) the run measures:
  - ingest over HTTP at concurrency 1, 8 and 32: submissions per second, p50/p95/p99 latency, errors, and the
    CPU used by the server (Granian's main process and workers), by this client and by anything else on the machine;
  - the same pipeline without HTTP (parse, validate, store in-process through submissions.receive): the floor;
  - a cluster summary through the JSON API (well-being and income poverty by hamlet for one cluster);
  - a page of the submissions list: the store's paging query near the end, and the web page if it exists;
  - the CSV-zip export (bench/benchmark_export.run_export) in its own process: rows per second, peak memory.

`--form household_income` sends (and fills with) household interviews alone. With `--database-url URL` (or
`--postgres`, a temporary cluster started by tests/postgres.py) the same run then measures PostgreSQL: two
`ppa serve` processes on different ports with that one database, each load once over one of them and once dealt out
over both; the report puts every engine in one table.

The database is filled between sizes in-process, through the real ingest function (submissions.receive: parse,
validate, typed rows, aggregates, lists) on the same data folder while the server idles, 500 submissions per
transaction, with the submissions generated in a second process. Every row is what an HTTP submission writes.

Load goes only to 127.0.0.1, is bounded in count and time, and the server is stopped at the end (its whole
process group).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import datetime as dt
import http.client
import io
import itertools
import json
import multiprocessing
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import requests

from server.xforms import FormDef, parse_xform

from . import samples
from .benchmark_export import store_settings
from .serve_process import ServeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "forms"
FORM_IDS = ("household_income", "well_being_ranking", "poverty_nodes")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
USER_AGENT = "org.odk.collect.android/v2026.3.0 okhttp/5 (bench)"
ADMIN_EMAIL = "admin@localhost"
ADMIN_PASSWORD = "bench-admin-password"


# --------------------------------------------------------------------------- the server

class Server:
    """`ppa serve` in its own process group on a data folder; the whole group is stopped on exit."""

    def __init__(self, data: Path, workers: int | None = None, threads: int | None = None,
                 synchronous: str = "NORMAL", log_level: str | None = None, database_url: str | None = None):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(self.port),
                    "PPA_ADMIN_EMAIL": ADMIN_EMAIL, "PPA_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "PPA_SYNCHRONOUS": synchronous}
        if database_url:
            self.env["PPA_DATABASE_URL"] = database_url   # every app server of a run on the same database
        else:
            self.env.pop("PPA_DATABASE_URL", None)
        for name, value in (("PPA_WORKERS", workers), ("PPA_THREADS", threads), ("PPA_LOG_LEVEL", log_level)):
            if value is not None:
                self.env[name] = str(value)
            else:
                self.env.pop(name, None)   # the production default
        self.process: ServeProcess | None = None

    def __enter__(self) -> "Server":
        self.process = ServeProcess(self.env).start(timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.stop()

    def cli(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env, input=stdin,
                             capture_output=True, text=True, check=True)
        return out.stdout

    def pids(self) -> list[int]:
        return self.process.pids() if self.process is not None else []

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's main process and its live workers."""
        total = 0
        for pid in self.pids():
            try:
                fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields_[11]) + int(fields_[12])
            except (FileNotFoundError, IndexError, ValueError):
                continue
        return total / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory of the server's main process and its workers, in MB."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


# --------------------------------------------------------------------------- the workload

def _read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


class Workload:
    """PPA fieldwork as a stream of (form_id, xml): round by round, hamlet by hamlet.

    Each round: every poverty node of every cluster has a session; in each hamlet three informant groups
    (A, B, C) rank all its households, and every household is interviewed (household income, 5 members).
    A round is 200 hamlets x 5 clusters x 40 households: 40,000 income interviews, 3,000 rankings of 40
    households each, 11 node sessions (43,011 submissions). The form allows 20 rounds; after that the rounds
    start again, and a household's later interview replaces its earlier one, as it would in the field.
    """

    def __init__(self, seed: int = 1, hamlets_per_cluster: int = 200, households_per_hamlet: int = 40,
                 members: int = 5, only: str | None = None):
        self.seed = seed
        self.members = members
        self.only = only   # a form id: that form's submissions alone (the household interviews, say)
        self.forms: dict[str, FormDef] = {f: parse_xform((FORMS / f"{f}.xml").read_bytes()) for f in FORM_IDS}
        self.clusters = {row["name"]: row for row in _read_csv(FORMS / "clusters.csv")}
        self.nodes: dict[str, list[str]] = {}
        for row in _read_csv(FORMS / "nodes.csv"):
            self.nodes.setdefault(row["cluster"], []).append(row["name"])
        self.hamlets = [(f"{cluster}-bh{j:03d}", cluster) for cluster in self.clusters
                        for j in range(hamlets_per_cluster)]
        self.households = {h: [f"{h}-hh{k:03d}" for k in range(households_per_hamlet)] for h, _ in self.hamlets}

    def list_csv(self) -> dict[str, str]:
        """hamlets.csv and households.csv as a manager imports them."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["name", "label", "cluster", "sector"])
        for hamlet, cluster in self.hamlets:
            writer.writerow([hamlet, f"Hamlet {hamlet[-3:]} of {cluster}", cluster, self.clusters[cluster]["sector"]])
        hamlets = out.getvalue()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["name", "label", "hamlet", "cluster", "node", "card"])   # card: on the social map
        for hamlet, cluster in self.hamlets:
            nodes = self.nodes.get(cluster) or [""]
            for k, hh in enumerate(self.households[hamlet]):
                writer.writerow([hh, f"Head {k + 1} ({hh})", hamlet, cluster, nodes[k % len(nodes)], str(k + 1)])
        return {"hamlets.csv": hamlets, "households.csv": out.getvalue()}

    def per_round(self) -> int:
        return sum(1 for _ in self._plan(1))

    def stream(self, skip: int = 0) -> Iterator[tuple[str, bytes]]:
        """The submissions in field order, from the `skip`-th on. Each one has its own random generator, seeded
        by its place in the stream, so skipping costs nothing and every instanceID is new."""
        index, skip = divmod(skip, self.per_round())
        for index in itertools.count(index):
            round_no = index % 20 + 1
            for position, (make, args) in enumerate(self._plan(round_no)):
                if position < skip:
                    continue
                yield make(random.Random(f"{self.seed}-{index}-{position}"), *args)
            skip = 0

    def _plan(self, round_no: int) -> Iterator[tuple]:
        wanted = (lambda form_id: self.only in (None, form_id))
        if wanted("poverty_nodes"):
            for cluster, nodes in self.nodes.items():
                for node in nodes:
                    yield self._node, (cluster, node, round_no)
        for hamlet, cluster in self.hamlets:
            households = self.households[hamlet]
            if wanted("well_being_ranking"):
                for group in "ABC":
                    yield self._ranking, (cluster, hamlet, households, group, round_no)
            if wanted("household_income"):
                for k, hh in enumerate(households):
                    yield self._income, (cluster, hamlet, hh, k, round_no)

    def _xml(self, form_id: str, answers: dict, rng: random.Random) -> tuple[str, bytes]:
        form = self.forms[form_id]
        return form_id, samples.instance_xml(form, samples.fill(form, answers, rng),
                                             instance_id=f"uuid:{_uuid(rng)}")

    def _income(self, rng, cluster, hamlet, hh, k, round_no):
        answers = samples.household_income(rng, hh, cluster=cluster, hamlet=hamlet, members=self.members,
                                           on_list=True, round_no=round_no, head=f"Head {k + 1}")
        info = self.clusters[cluster]
        nodes = self.nodes.get(cluster) or [""]
        answers.update(node=nodes[k % len(nodes)], state=info["state"], district=info["district"],
                       sector=info["sector"])
        return self._xml("household_income", answers, rng)

    def _ranking(self, rng, cluster, hamlet, households, group, round_no):
        answers = samples.well_being_ranking(rng, households, group=group, cluster=cluster, hamlet=hamlet,
                                             round_no=round_no)
        answers["sector"] = self.clusters[cluster]["sector"]
        return self._xml("well_being_ranking", answers, rng)

    def _node(self, rng, cluster, node, round_no):
        return self._xml("poverty_nodes", samples.poverty_node(rng, cluster=cluster, round_no=round_no,
                                                               existing=node), rng)


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID from the workload's own generator, so a run is reproducible."""
    import uuid
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def bodies(items: list[tuple[str, bytes]]) -> list[tuple[bytes, str]]:
    """Multipart bodies exactly as Collect (OkHttp 5) writes them."""
    return [samples.multipart(samples.submission_parts(xml)) for _, xml in items]


# --------------------------------------------------------------------------- load over HTTP

@dataclass
class LoadResult:
    size: int                      # submissions in the database when the run started
    concurrency: int
    submissions: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float          # of one core, all app servers together
    client_cpu_pct: float
    other_cpu_pct: float           # everything else on the machine during the run
    statuses: dict = field(default_factory=dict)


def _pct(ordered: list[float], p: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1) if ordered else 0.0


def post_all(servers: list[Server], path: str, items: list[tuple[bytes, str]], concurrency: int, size: int = 0,
             time_limit_s: float = 120) -> LoadResult:
    """POST every body over `concurrency` keep-alive connections (http.client, one thread each); with several app
    servers the connections are dealt out over them in turn, as a round-robin proxy would."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + time_limit_s
    headers = {"X-OpenRosa-Version": "1.0", "User-Agent": USER_AGENT, "Connection": "keep-alive"}

    def worker(server: Server) -> None:
        mine, seen = [], {}
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while time.monotonic() < deadline:
            i = next(counter)
            if i >= len(items):
                break
            body, content_type = items[i]
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, {**headers, "Content-Type": content_type})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            mine.append(time.perf_counter() - started)
            seen[status] = seen.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker, args=(servers[i % len(servers)],)) for i in range(concurrency)]
    servers_cpu = (lambda: sum(server.cpu_seconds() for server in servers))
    cpu0, server0, busy0 = time.process_time(), servers_cpu(), _machine_busy_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    client = time.process_time() - cpu0
    server_cpu = servers_cpu() - server0
    other = max(0.0, _machine_busy_seconds() - busy0 - client - server_cpu)
    ordered = sorted(latencies)
    errors = sum(n for status, n in statuses.items() if status != 201)
    return LoadResult(size, concurrency, len(ordered), round(seconds, 2), round(len(ordered) / seconds, 1),
                      _pct(ordered, 0.50), _pct(ordered, 0.95), _pct(ordered, 0.99), errors,
                      round(100 * server_cpu / seconds), round(100 * client / seconds),
                      round(100 * other / seconds), statuses)


# --------------------------------------------------------------------------- filling and the in-process floor

def _generate(args: tuple[int, str | None, int, int]) -> list[tuple[str, bytes]]:
    seed, only, start, count = args
    return list(itertools.islice(_WORKLOAD_FOR_PROCESS(seed, only).stream(start), count))


_WORKLOADS: dict[tuple, Workload] = {}


def _WORKLOAD_FOR_PROCESS(seed: int, only: str | None) -> Workload:  # noqa: N802 - a cache per generator process
    if (seed, only) not in _WORKLOADS:
        _WORKLOADS[seed, only] = Workload(seed, only=only)
    return _WORKLOADS[seed, only]


def generated(seed: int, start: int, count: int, chunk: int = 500, ahead: int = 4,
              only: str | None = None) -> Iterator[list[tuple[str, bytes]]]:
    """Chunks of the workload made in a child process, so generating does not slow the ingest it feeds. At most
    `ahead` chunks wait: generating is faster than ingest, and an unbounded queue (Pool.imap) held 3 GB of
    waiting submissions by the millionth."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        jobs = iter([(seed, only, s, min(chunk, start + count - s)) for s in range(start, start + count, chunk)])
        waiting = collections.deque(pool.apply_async(_generate, (job,)) for job in itertools.islice(jobs, ahead))
        while waiting:
            ready = waiting.popleft().get()
            for job in itertools.islice(jobs, 1):
                waiting.append(pool.apply_async(_generate, (job,)))
            yield ready


class Ingest:
    """submissions.receive in this process on the server's data folder: how the database is filled."""

    def __init__(self, data: Path, database_url: str | None = None):
        from server import config as config_module
        from server.catalog import FormCache
        from server.storage import open_store

        self.store = open_store(config_module.load(store_settings(data, database_url)))
        self.forms = FormCache()

    def run(self, items: list[tuple[str, bytes]], per_transaction: int = 1) -> tuple[float, float, int]:
        """(seconds, CPU seconds, refused) to receive the items; several per transaction when asked."""
        from server import errors, submissions

        refused = 0
        cpu0, started = time.process_time(), time.perf_counter()
        for start in range(0, len(items), per_transaction):
            with self.store.transaction() if per_transaction > 1 else _nothing():
                for _, xml in items[start:start + per_transaction]:
                    try:
                        submissions.receive(self.store, self.forms, 1, submissions.Upload(
                            xml=xml, user_agent=USER_AGENT, device_ref="collect:bench-fill"))
                    except errors.Problem:
                        refused += 1
        return time.perf_counter() - started, time.process_time() - cpu0, refused

    def count(self) -> int:
        return self.store.count_all_submissions()

    def close(self) -> None:
        self.store.close()


class _nothing:  # noqa: N801 - a context manager that does nothing
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- reads at size

def _timed(fn, repeats: int) -> dict:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": round(timings[len(timings) // 2], 2), "max_ms": round(timings[-1], 2)}


def cluster_summary(server: Server, token: str, cluster: str = "chanderi", repeats: int = 30) -> dict:
    """Well-being and income poverty by hamlet for one cluster (latest round), through the JSON API."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}

    def once() -> None:
        for what in ("wellbeing", "poverty"):
            conn.request("GET", f"/api/v1/projects/1/{what}?cluster={cluster}&by=hamlet", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"/api/v1/projects/1/{what}: {response.status} {body[:200]!r}")

    once()
    try:
        return _timed(once, repeats)
    finally:
        conn.close()


def list_page(ingest: Ingest, repeats: int = 30) -> dict:
    """The store's paging query for 50 submissions of the household form, near the end of the list."""
    store = ingest.store
    form = store.get_form(1, "household_income")
    last = store.last_submission_id(form["id"])
    after = max(0, last - 200)
    return _timed(lambda: store.list_submissions(form["id"], limit=50, after_id=after), repeats)


def web_page(server: Server, repeats: int = 20) -> dict | None:
    """GET /projects/1/submissions (the newest page) signed in as the administrator, if the page exists."""
    session = requests.Session()
    probe = session.get(server.url + "/projects/1/submissions", allow_redirects=False, timeout=30)
    if probe.status_code == 404:
        return None
    form = session.get(server.url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', form)
    signed_in = session.post(server.url + "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                           **({"csrf_token": csrf.group(1)} if csrf else {})},
                             allow_redirects=False, timeout=30)
    if signed_in.status_code not in (302, 303):
        return {"error": f"sign-in answered {signed_in.status_code}"}

    def once() -> None:
        response = session.get(server.url + "/projects/1/submissions", allow_redirects=False, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"/projects/1/submissions: {response.status_code}")

    once()
    try:
        return _timed(once, repeats)
    finally:
        session.close()


def export_run(data: Path, database_url: str | None = None) -> dict:
    """bench/benchmark_export.run_export on this data folder (and database), in a fresh process (its peak memory is
    the export's own)."""
    code = ("import json, sys; from pathlib import Path; from bench.benchmark_export import run_export; "
            "print(json.dumps(run_export(Path(sys.argv[1]), 'csv', sys.argv[2] or None)))")
    done = subprocess.run([sys.executable, "-c", code, str(data), database_url or ""], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the run

def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"date": dt.date.today().isoformat(), "nproc": os.cpu_count(), "cpu": model,
            "ram_gb": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version()}


def run(args: argparse.Namespace, say) -> dict:
    """Every engine the arguments name, one after the other, into one report."""
    report: dict = {"machine": machine(), "settings": {}, "databases": {}, "load": [], "floor": [], "reads": [],
                    "fill": [], "exports": [], "server_rss_mb": {}, "database_mb": {}}
    for engine in args.engines:
        url = args.database_url if engine == "postgres" else None
        counts = sorted(set(args.servers)) if engine == "postgres" else [1]   # one server per SQLite data folder
        run_engine(args, say, report, engine, url, counts)
    return report


def run_engine(args: argparse.Namespace, say, report: dict, engine: str, database_url: str | None,
               server_counts: list[int]) -> None:
    """The load, the floor, the reads and the export at each database size, on one engine: SQLite in the data folder,
    or PostgreSQL at database_url with as many app servers as the largest of server_counts (each with a data folder
    of its own, all on the one database); each load runs over 1..n of them as server_counts says."""
    sizes = args.sizes or [0, 100_000] + ([1_000_000] if args.large else [])
    workload = Workload(args.seed, only=args.form)
    with tempfile.TemporaryDirectory(prefix=f"ppa-bench-{engine}-", dir=args.tmp) as folder, \
            contextlib.ExitStack() as stack:
        first = Path(args.data) if args.data else Path(folder) / "server1"
        folders = [first] + [Path(folder) / f"server{i}" for i in range(2, max(server_counts) + 1)]
        servers = []
        for data in folders:   # one after the other: the first creates the schema, the others find it made
            data.mkdir(parents=True, exist_ok=True)
            servers.append(stack.enter_context(Server(data, args.workers, args.threads, args.synchronous,
                                                      args.log_level, database_url)))
        server = servers[0]
        report["settings"] = {"workers": server.env.get("PPA_WORKERS", "default"),
                              "threads": server.env.get("PPA_THREADS", "default"),
                              "synchronous": args.synchronous, "form": args.form or "all three (field mix)",
                              "log_level": server.env.get("PPA_LOG_LEVEL", "default (INFO)")}
        lists_dir = first / "lists"
        lists_dir.mkdir(exist_ok=True)
        for name, text in workload.list_csv().items():
            (lists_dir / name).write_text(text, encoding="utf-8")
            server.cli("lists", "import", "--project", "1", name, str(lists_dir / name))
        device = json.loads(server.cli("device", "add", "--project", "1", "bench phone"))
        path = urlsplit(device["server_url"]).path + "/submission?deviceID=collect:bench"
        token = json.loads(server.cli("token", "create", "--email", ADMIN_EMAIL, "--label", "bench"))["token"]
        ingest = Ingest(first, database_url)
        stack.callback(ingest.close)
        report["databases"][engine] = ingest.store.engine_version()
        position = 0   # how far into the workload stream we are (each item is one submission)
        for size in sizes:
            have = ingest.count()
            if size > have:
                say(f"{engine}: filling the database from {have:,} to {size:,} submissions (in-process receive)")
                seconds, refused, done = 0.0, 0, 0
                for chunk in generated(args.seed, position, size - have, only=args.form):
                    s, _, r = ingest.run(chunk, per_transaction=500)
                    seconds, refused, done = seconds + s, refused + r, done + len(chunk)
                    position += len(chunk)
                    if done % 20_000 < len(chunk):
                        say(f"  {have + done:,} submissions, {done / seconds:,.0f}/s")
                report["fill"].append({"engine": engine, "to": size, "submissions": done,
                                       "seconds": round(seconds, 1),
                                       "per_second": round(done / seconds) if seconds else None, "refused": refused})
            size_now = ingest.count()
            for count in server_counts:
                for concurrency in args.concurrency:
                    items = list(itertools.islice(workload.stream(position), args.count + args.warmup))
                    position += len(items)
                    payload = bodies(items)
                    post_all(servers[:count], path, payload[:args.warmup], concurrency, size_now)   # warm-up
                    result = post_all(servers[:count], path, payload[args.warmup:], concurrency, size_now,
                                      args.time_limit)
                    report["load"].append({"engine": engine, "servers": count, **asdict(result)})
                    say(f"  {engine} x{count} size {size_now:,} c={concurrency}: {result.per_second}/s "
                        f"p99 {result.p99_ms} ms errors {result.errors} (server {result.server_cpu_pct}% client "
                        f"{result.client_cpu_pct}% other {result.other_cpu_pct}% CPU)")
                    size_now = ingest.count()
            if args.floor_count:
                items = list(itertools.islice(workload.stream(position), args.floor_count))
                position += len(items)
                seconds, cpu, refused = ingest.run(items)
                report["floor"].append({"engine": engine, "size": size_now, "submissions": len(items),
                                        "per_second": round(len(items) / seconds),
                                        "cpu_ms_each": round(cpu / len(items) * 1000, 3), "refused": refused})
                say(f"  {engine} size {size_now:,} in-process: {len(items) / seconds:,.0f}/s")
            reads = {"engine": engine, "size": ingest.count(), "summary": cluster_summary(server, token),
                     "list_query": list_page(ingest), "web_page": web_page(server)}
            report["reads"].append(reads)
            say(f"  {engine} size {reads['size']:,} summary {reads['summary']} list {reads['list_query']} "
                f"web {reads['web_page']}")
            if not args.no_export:
                say(f"  {engine} size {reads['size']:,}: export (CSV zip) of the household form")
                report["exports"].append({"engine": engine, "size": reads["size"],
                                          **export_run(first, database_url)})
        report["server_rss_mb"][engine] = round(sum(s.rss_mb() for s in servers), 1)
        report["database_mb"][engine] = round(ingest.store.database_bytes() / 1e6)


def _label(engine: str, servers: int) -> str:
    return "SQLite" if engine == "sqlite" else f"PostgreSQL x{servers}"


def render(report: dict) -> str:
    m = report["machine"]
    databases = "; ".join(report.get("databases", {}).values())
    lines = [f"PPA bench {m['date']}: {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, "
             f"{databases}",
             f"server: Granian workers={report['settings']['workers']} threads={report['settings']['threads']}, "
             f"synchronous={report['settings']['synchronous']}, log level {report['settings']['log_level']}"
             + ("; PostgreSQL x2: two app servers on one database, the connections dealt out over both"
                if any(r["servers"] > 1 for r in report["load"]) else ""),
             "",
             f"ingest over HTTP ({report['settings']['form']})",
             f"{'engine':<15} {'DB size':>10} {'conc.':>5} {'subm.':>6} {'per s':>7} {'p50 ms':>7} {'p95 ms':>7} "
             f"{'p99 ms':>7} {'errors':>6} {'server':>7} {'client':>7} {'other':>6}"]
    for r in report["load"]:
        lines.append(f"{_label(r['engine'], r['servers']):<15} {r['size']:>10,} {r['concurrency']:>5} "
                     f"{r['submissions']:>6} {r['per_second']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} "
                     f"{r['errors']:>6} {r['server_cpu_pct']:>6}% {r['client_cpu_pct']:>6}% {r['other_cpu_pct']:>5}%")
    if report["floor"]:
        lines += ["", "without HTTP (submissions.receive in-process, one thread)",
                  f"{'engine':<15} {'DB size':>10} {'subm.':>6} {'per s':>7} {'CPU ms each':>12}"]
        for r in report["floor"]:
            lines.append(f"{_label(r['engine'], 1):<15} {r['size']:>10,} {r['submissions']:>6} "
                         f"{r['per_second']:>7} {r['cpu_ms_each']:>12}")
    exports = {(e["engine"], e["size"]): e for e in report.get("exports", [])}
    lines += ["", "reads (ms: p50 / max) and the CSV-zip export of the household form (in a process of its own)",
              f"{'engine':<15} {'DB size':>10} {'cluster summary':>16} {'list query':>14} {'web list page':>16} "
              f"{'export rows/s':>14} {'peak MB':>8}"]
    for r in report["reads"]:
        web = r["web_page"]
        web_text = "n/a" if web is None else (web.get("error") or f"{web['p50_ms']} / {web['max_ms']}")
        export = exports.get((r["engine"], r["size"]))
        if export is None:
            export_text = f"{'not run':>14} {'':>8}"
        elif "error" in export:
            export_text = f"failed: {export['error']}"
        else:
            export_text = f"{export['rows_per_second']:>14,} {export['maxrss_mb']:>8}"
        lines.append(f"{_label(r['engine'], 1):<15} {r['size']:>10,} {r['summary']['p50_ms']:>7} / "
                     f"{r['summary']['max_ms']:<6} {r['list_query']['p50_ms']:>6} / {r['list_query']['max_ms']:<5} "
                     f"{web_text:>16} {export_text}")
    if report.get("fill"):
        lines += ["", "fill (in-process receive, 500 per transaction): " + "; ".join(
            f"{_label(f['engine'], 1)} to {f['to']:,}: {f['submissions']:,} in {f['seconds']} s "
            f"({f['per_second']:,}/s)" for f in report["fill"])]
    for engine, rss in report.get("server_rss_mb", {}).items():
        lines.append(f"{_label(engine, 1)}: app server memory at the end (all processes of all servers) {rss} MB; "
                     f"database {report['database_mb'].get(engine)} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load runs against the production server on 127.0.0.1.")
    parser.add_argument("--count", type=int, default=3000, help="submissions per concurrency level (default 3000)")
    parser.add_argument("--warmup", type=int, default=200, help="submissions sent first, not measured")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--large", action="store_true", help="also measure at 1,000,000 submissions")
    parser.add_argument("--sizes", type=int, nargs="+", help="database sizes to measure at (default 0 100000)")
    parser.add_argument("--form", choices=FORM_IDS,
                        help="send and fill with this form's submissions only (default: the field mix of all three)")
    parser.add_argument("--database-url", metavar="URL",
                        help="also measure PostgreSQL at this URL (an empty database the run may fill), with one "
                             "and two app servers; the same run measures SQLite first unless --engines says not")
    parser.add_argument("--postgres", action="store_true",
                        help="start a temporary PostgreSQL cluster for the run (tests/postgres.py; Debian's "
                             "postgresql package), instead of --database-url")
    parser.add_argument("--engines", nargs="+", choices=["sqlite", "postgres"],
                        help="the engines to measure, in this order (default: sqlite, and postgres when a "
                             "PostgreSQL database is given)")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2],
                        help="app servers on the PostgreSQL database, one load run each (default 1 2)")
    parser.add_argument("--floor-count", type=int, default=2000,
                        help="submissions for the in-process floor (0: not measured)")
    parser.add_argument("--workers", type=int, help="server worker processes (default: the server's default)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: the server's default)")
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    parser.add_argument("--log-level", help="server log level (default: the server's default, INFO)")
    parser.add_argument("--time-limit", type=float, default=120, help="seconds at most per load run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--tmp", help="folder for the temporary data folder (default: the system's)")
    parser.add_argument("--data", help="use (and keep) this data folder; a later run continues filling it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save", metavar="FILE", help="also write the report as JSON to FILE")
    parser.add_argument("--summary", type=int, nargs="*", metavar="HOUSEHOLDS",
                        help="instead of the load run: time a cluster summary in-process on synthetic aggregates "
                             "at these numbers of households (default 100000 1000000)")
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
    if args.postgres and args.database_url:
        parser.error("--postgres starts a database of its own: give it or --database-url, not both")
    # A run stopped with SIGTERM (or Ctrl-C) still stops its servers and its temporary PostgreSQL on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.ExitStack() as stack:
        if args.postgres:
            args.database_url = stack.enter_context(temporary_postgres())
        postgres = args.database_url is not None
        args.engines = args.engines or (["sqlite", "postgres"] if postgres else ["sqlite"])
        if "postgres" in args.engines and not postgres:
            parser.error("--engines postgres needs --database-url URL or --postgres")
        if args.data and len(args.engines) > 1:
            parser.error("--data keeps one engine's data folder: name one engine with --engines")
        say = (lambda text: print(text, file=sys.stderr, flush=True))
        report = run(args, say)
    if args.save:
        Path(args.save).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report) if args.json else render(report))
    return 0


@contextlib.contextmanager
def temporary_postgres() -> Iterator[str]:
    """A PostgreSQL cluster of the tests' kind (tests/postgres.py: a temporary folder, a free loopback port), with one
    empty database for the run; its URL. Stopped and removed at the end."""
    from tests.postgres import Cluster

    cluster = Cluster().start()
    try:
        cluster.sql("CREATE DATABASE ppa_bench")
        yield cluster.url("ppa_bench")
    finally:
        cluster.remove()


# --------------------------------------------------------------------------- synthetic aggregates (--summary)

def populate(store, project_id: int, households: int, clusters: int = 5, hamlets: int = 40, nodes: int = 8,
             seed: int = 1) -> None:
    """Fill the aggregate tables as ingest would, through the store's own upkeep methods, for a size test."""
    rng = random.Random(seed)
    finals = ["happy", "average", "sad"]
    with store.transaction():
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
                "gap2": gap * gap, "neg_income": 0, "income_complete": 1})


def summary_timing(households_sizes: list[int], repeats: int = 50) -> list[dict]:
    """Milliseconds for a cluster summary (well-being by hamlet + income poverty by hamlet) via the JSON API."""
    from server import context, create_app
    from server.api import hash_token
    from server.auth import new_token
    from server.bootstrap import create_user
    out = []
    for size in households_sizes:
        with tempfile.TemporaryDirectory(prefix="ppa-summary-") as folder:
            app = create_app({"DATA": folder, "LOG_LEVEL": "WARNING"})
            with app.app_context():
                store = context.store()
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


if __name__ == "__main__":
    sys.exit(main())
