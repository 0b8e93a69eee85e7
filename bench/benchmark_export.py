"""Export benchmark: N household income submissions (5-member rosters) in a fresh temporary data folder,
then a download (CSV zip by default; --format for the others) timed end to end into a sink that only counts bytes.

    .venv/bin/python -m bench.benchmark_export [--submissions 100000] [--members 5] [--format csv]
                                                [--ingest store|receive] [--json]

Ingest runs in a child process, so the export process's peak memory (VmHWM) is the export's own.
- `--ingest store` (default): `--templates` distinct households (default 200) go through the normal ingest
  function, server.submissions.receive (parse, validate, typed rows, aggregates, lists); the remaining
  submissions are copies of them under new instanceIDs, written through the same store methods receive
  uses (create_submission, add_submission_def, replace_rows) in transactions of 2,000. About 20x faster than
  receive for every submission (~2 ms each in process), with the same rows and XML in the database.
- `--ingest receive`: every submission through receive (100,000 take several minutes).

Reported: rows per second over all tables' rows (submissions + every repeat), MB written, the process's
peak RSS (VmHWM) and RSS growth during the export (sampled from /proc at every chunk).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACES = [("chanderi", "chanderi-w03"), ("chanderi", "chanderi-w07"), ("sindhudurg", "sindhudurg-parule"),
          ("orissa_handloom", "orissa_handloom-nuapatna")]


def store_settings(data: Path, database_url: str | None = None) -> dict:
    """The settings that open the store a run measures: the data folder, and the database URL when there is one."""
    return {"DATA": str(data), **({"DATABASE_URL": database_url} if database_url else {})}


def _open(data: Path, database_url: str | None = None):
    """The store of this data folder (or of the PostgreSQL database at database_url), migrated, with its project."""
    from server import config as config_module
    from server.bootstrap import ensure_default_project
    from server.catalog import FormCache
    from server.storage import open_store

    store = open_store(config_module.load(store_settings(data, database_url)))
    store.migrate()
    report = ensure_default_project(store, "Export benchmark", ROOT / "forms", validate=False)
    return store, FormCache(), report.project_id


def household_xml(form, rng: random.Random, i: int, members: int = 5, cluster: str = "chanderi",
                  hamlet: str = "chanderi-w03", round_no: int = 1, **answers) -> bytes:
    """A realistic household income submission (a new household, so it needs no list entry)."""
    from . import samples

    hh_id = f"{hamlet}-b{uuid.uuid4().hex[:10]}"
    data = samples.household_income(rng, hh_id, cluster=cluster, hamlet=hamlet, members=members, on_list=False,
                                    head=f"Head {i}", round_no=round_no)
    data.update(node="", district="Ashoknagar", state="Madhya Pradesh")
    data.update(answers)
    return samples.instance_xml(form, samples.fill(form, data, rng))


def bulk_households(store, forms, project_id: int, count: int, members: int = 5, templates: int = 200,
                    seed: int = 1, batch: int = 2000) -> int:
    """`count` household submissions: `templates` through submissions.receive, the rest copies of them under
    new instanceIDs written through the store methods receive uses. Returns the number stored."""
    from server import rows, submissions
    from server.central import odata_entities
    from server.xforms import extract, parse_submission
    from schemas import xform as form_schemas

    form = store.get_form(project_id, "household_income")
    formdef = forms.get(store, form["current_def_id"])
    rng = random.Random(seed)
    made: list[tuple[bytes, str, dict]] = []
    for i in range(min(templates, count)):
        cluster, hamlet = PLACES[i % len(PLACES)]
        xml = household_xml(formdef, rng, i, members, cluster, hamlet, round_no=1 + (i // len(PLACES)) % 2)
        receipt = submissions.receive(store, forms, project_id, submissions.Upload(xml=xml))
        record = form_schemas.schema_for(formdef).load(extract(parse_submission(xml).root, formdef).record)
        made.append((xml, receipt.instance_id, record))
    tables = rows.layout(project_id, formdef)
    done = len(made)
    while done < count:
        with store.transaction():
            for _ in range(min(batch, count - done)):
                xml, old_id, record = made[done % len(made)]
                instance_id = f"uuid:{uuid.uuid4()}"
                copy = xml.replace(old_id.encode(), instance_id.encode())
                sid = store.create_submission(project_id, form["id"], instance_id)
                def_id = store.add_submission_def(sid, form["id"], form["current_def_id"],
                                                  {"instance_id": instance_id}, copy)
                store.replace_rows(tables, sid, rows.build(project_id, formdef, record, sid, def_id, instance_id))
                odata_entities.keep(store, forms, project_id, form, [sid])
                done += 1
    return done


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _maxrss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not getrusage's ru_maxrss: on Linux that keeps the parent's peak
    across fork and exec, so an export started by a big benchmark process reported the benchmark's memory."""
    peak = _status_mb("VmHWM")
    if peak:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_export(data: Path, fmt: str = "csv", database_url: str | None = None) -> dict:
    from server import exports

    store, forms, project_id = _open(data, database_url)
    plan = exports.prepare(store, forms, project_id, "household_income")
    with store.export_snapshot() as snapshot:
        submissions = snapshot.count(plan.filter)
    total_rows = exports.count_rows(plan)
    writer = exports.WRITERS[fmt]
    rss_start = rss_peak = _rss_mb()
    maxrss_start = _maxrss_mb()
    written = chunks = 0
    started = time.perf_counter()
    for chunk in writer(plan):
        written += len(chunk)
        chunks += 1
        if chunks % 16 == 0:
            rss_peak = max(rss_peak, _rss_mb())
    seconds = time.perf_counter() - started
    rss_peak = max(rss_peak, _rss_mb())
    store.close()
    return {"format": fmt, "submissions": submissions, "rows": total_rows, "seconds": round(seconds, 2),
            "rows_per_second": round(total_rows / seconds) if seconds else None,
            "mb_written": round(written / 1e6, 1), "rss_start_mb": round(rss_start, 1),
            "rss_peak_during_export_mb": round(rss_peak, 1), "rss_growth_mb": round(rss_peak - rss_start, 1),
            "maxrss_before_mb": round(maxrss_start, 1), "maxrss_mb": round(_maxrss_mb(), 1)}


def _ingest_main(args: argparse.Namespace) -> None:
    store, forms, project_id = _open(Path(args.data))
    started = time.perf_counter()
    if args.ingest == "receive":
        stored = bulk_households(store, forms, project_id, args.submissions, args.members,
                                 templates=args.submissions)
    else:
        stored = bulk_households(store, forms, project_id, args.submissions, args.members, templates=args.templates)
    store.close()
    print(json.dumps({"stored": stored, "seconds": round(time.perf_counter() - started, 1)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--templates", type=int, default=200, help="households through receive (--ingest store)")
    parser.add_argument("--ingest", choices=["store", "receive"], default="store")
    parser.add_argument("--format", choices=["csv", "xlsx", "jsonl", "raw", "dta", "sav"], default="csv")
    parser.add_argument("--data", help="use (and keep) this data folder instead of a temporary one")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--_ingest-only", dest="ingest_only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest_only:
        _ingest_main(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ppa-export-bench-") as tmp:
        data = Path(args.data) if args.data else Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "bench.benchmark_export", "--_ingest-only", "--data", str(data),
                   "--submissions", str(args.submissions), "--members", str(args.members),
                   "--templates", str(args.templates), "--ingest", args.ingest]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        ingest = json.loads(done.stdout.strip().splitlines()[-1])
        result = {"ingest": args.ingest, "ingest_seconds": ingest["seconds"], **run_export(data, args.format)}
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        print(f"export benchmark: {args.submissions} household income submissions, {args.members}-member rosters")
        for key, value in result.items():
            print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
