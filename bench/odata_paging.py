"""OData paging benchmark: how long one page of 1,000 rows takes at the first, a middle and the last offset of
`Submissions` and of a repeat table (the household roster), with N household income submissions, over real HTTP
from the production server (`ppa serve`) started here on 127.0.0.1; then its memory while it streams each whole
table.

    .venv/bin/python -m bench.odata_paging [--submissions 100000] [--members 5] [--page 1000] [--repeats 5]
                                           [--data FOLDER] [--json]

Pages after the first are asked for as a client following @odata.nextLink asks for them: with the $skiptoken our
server would have written for the row before (made here from the database, so that the last page does not need
the 99 pages before it). Seeding: a few households through the normal ingest, the rest copies under new
instanceIDs written through the same store methods (bench.benchmark_export.bulk_households), in a child process.
Then every submission's kept OData body is made again, as `ppa aggregates rebuild` does (timed: a folder seeded
before migration m016 has none), so that `Submissions` is measured as a server that has them serves it.
Reported per page, after WARM_UP unmeasured first pages: the median and the slowest of --repeats downloads, whole
body received; for the streams: rows,
seconds, MB sent and the growth of the server's RSS (all its processes) while streaming.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("Submissions", "Submissions.interview.mod_b.member")
ADMIN, PASSWORD = "bench@example.org", "a-long-enough-password"
WARM_UP = 4            # unmeasured first pages per table, so that each worker has met the table once


def _seed(data: Path, submissions: int, members: int) -> None:
    from bench.benchmark_export import _open, bulk_households
    store, forms, project_id = _open(data)
    bulk_households(store, forms, project_id, submissions, members, templates=min(200, submissions))
    store.close()


def _rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            pass
    return total


class _Served:
    """The production server (`ppa serve`, bench.serve_process) on 127.0.0.1 on the data folder, in processes of
    its own (the client's reading and the server do not share an interpreter), with an administrator's API token."""

    def __init__(self, data: Path):
        from server.api import hash_token
        from server.auth import new_token
        from server.bootstrap import create_user
        from bench.serve_process import ServeProcess, free_port
        from server.storage import SQLiteStore
        self.store = SQLiteStore(data / "ppa.db")
        self.store.migrate()
        user = self.store.user_by_email(ADMIN) or create_user(self.store, ADMIN, "admin", PASSWORD, "PPA")
        token = new_token()
        self.store.create_api_token(user["id"], hash_token(token), "bench")
        self.headers = {"Authorization": f"Bearer {token}"}
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(port),
               "PPA_PUBLIC_URL": self.url, "PPA_ADMIN_EMAIL": ADMIN, "PPA_ADMIN_PASSWORD": PASSWORD,
               "PPA_LOG_LEVEL": "WARNING"}
        self.process = ServeProcess(env).start(timeout=120)

    def rss_mb(self) -> float:
        return _rss_mb(self.process.pids())

    def close(self) -> None:
        self.process.stop()
        self.store.close()


def _tokens(served: _Served, table: str, page: int) -> dict[str, str | None]:
    """The $skiptoken of the first, a middle and the last page of `table`, as our nextLinks write them."""
    from server.central.odata import make_skiptoken
    from server.rows import table_name
    store = served.store
    form_id = store.get_form(1, "household_income")["id"]
    if table == "Submissions":
        total = store.central_count(form_id, None)
        def key(offset: int) -> dict:
            (row,) = store.central_submissions(form_id, None, limit=1, offset=offset)
            return {"instanceId": row["instance_id"]}
    else:
        name = table_name(1, "household_income", "member")
        total = store.central_repeat_count(name, form_id, None)
        def key(offset: int) -> dict:
            columns, (row,) = store.central_repeat_page(name, form_id, None, None, 1, offset=offset)
            return {"position": [row[columns.index("_submission_id")], row[columns.index("_rowid")]]}
    middle = (total // 2 // page) * page
    last = max(0, ((total - 1) // page) * page)
    return {"first": None, **{f"at {o:,}": make_skiptoken(key(o - 1)) for o in (middle, last) if o > 0},
            "total": str(total)}


def _time_page(served: _Served, table: str, page: int, token: str | None, repeats: int) -> dict:
    url = f"{served.url}/v1/projects/1/forms/household_income.svc/{table}"
    params = {"$top": str(page), **({"$skiptoken": token} if token else {})}
    times, rows = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        reply = requests.get(url, params=params, headers=served.headers, timeout=300)
        body = reply.content   # the whole body received; parsed only after the clock stops
        times.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, reply.text[:300]
        rows = len(json.loads(body)["value"])
    return {"rows": rows, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def _stream_all(served: _Served, table: str) -> dict:
    """The whole table in one response, read as it comes, with the server's RSS (all its processes) sampled
    meanwhile."""
    url = f"{served.url}/v1/projects/1/forms/household_income.svc/{table}"
    start_rss = peak = served.rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, served.rss_mb())
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size = 0
    with requests.get(url, headers=served.headers, stream=True, timeout=3600) as reply:
        for chunk in reply.iter_content(1 << 16):
            size += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"seconds": round(seconds, 3), "bytes_sent": size, "mb_sent": round(size / 1e6, 1),
            "rss_start_mb": round(start_rss, 1), "rss_growth_mb": round(peak - start_rss, 1)}


def _keep_bodies(store) -> int:
    """Make every submission's kept OData body again (a folder seeded before migration m016 has none)."""
    from server.catalog import FormCache
    from server.central import odata_entities
    return odata_entities.rebuild(store, FormCache(), 1)


def run(submissions: int, members: int, page: int, repeats: int, tmp: str | None, keep: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ppa-odata-bench-", dir=tmp) as folder:
        data = Path(keep or folder)
        started = time.perf_counter()
        if not (data / "ppa.db").exists():
            data.mkdir(parents=True, exist_ok=True)
            seeded = subprocess.run([sys.executable, "-m", "bench.odata_paging", "--_seed", str(data),
                                     "--submissions", str(submissions), "--members", str(members)],
                                    cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
            if seeded.returncode != 0:
                raise RuntimeError(seeded.stderr[-3000:])
        result: dict = {"submissions": submissions, "members": members, "page": page,
                        "seed_seconds": round(time.perf_counter() - started, 1), "pages": {}, "streams": {}}
        served = _Served(data)
        started = time.perf_counter()   # what `ppa aggregates rebuild` spends on the kept OData bodies
        result["kept_bodies"] = _keep_bodies(served.store)
        result["keep_seconds"] = round(time.perf_counter() - started, 1)
        try:
            for table in TABLES:
                for _ in range(WARM_UP):   # every worker process compiles a table's row builder once
                    _time_page(served, table, page, None, 1)
                tokens = _tokens(served, table, page)
                total = tokens.pop("total")
                result["pages"][table] = {"rows_in_table": int(total), **{
                    where: _time_page(served, table, page, token, repeats) for where, token in tokens.items()}}
            for table in TABLES:
                result["streams"][table] = _stream_all(served, table)
        finally:
            served.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tmp", help="where the temporary data folder goes")
    parser.add_argument("--data", help="use (and keep) this data folder; seeded only when it has no database yet")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--_seed", dest="seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        _seed(Path(args.seed), args.submissions, args.members)
        return 0
    result = run(args.submissions, args.members, args.page, args.repeats, args.tmp, args.data)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"OData paging: {args.submissions:,} household income submissions, {args.members}-member rosters, "
          f"pages of {args.page:,} (seeded in {result['seed_seconds']} s; {result['kept_bodies']:,} OData bodies "
          f"kept in {result['keep_seconds']} s)")
    for table, pages in result["pages"].items():
        print(f"  {table} ({pages['rows_in_table']:,} rows)")
        for where, timing in pages.items():
            if where != "rows_in_table":
                print(f"    {where:<14} {timing['rows']:>5} rows  median {timing['median_ms']:>7} ms  "
                      f"max {timing['max_ms']:>7} ms")
    for table, stream in result["streams"].items():
        print(f"  whole {table}: {stream['seconds']} s, {stream['mb_sent']} MB, "
              f"RSS +{stream['rss_growth_mb']} MB (from {stream['rss_start_mb']} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
