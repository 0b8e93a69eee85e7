"""scripts/bench is a product tool: a tiny run of it must work on every change (it broke once when households.csv
gained a column the benchmark's own list did not have)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_tiny_benchmark_run_ingests_without_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--sizes", "0", "--count", "40", "--warmup", "5",
                           "--concurrency", "2", "--no-export", "--floor-count", "10", "--tmp", str(tmp_path),
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    (run,) = report["load"]
    assert run["errors"] == 0 and run["statuses"] == {"201": 40} and run["per_second"] > 0, run
    assert report["floor"][0]["refused"] == 0


def test_a_tiny_benchmark_run_on_postgres_with_two_app_servers_ingests_without_errors(tmp_path):
    """scripts/bench --postgres: a temporary PostgreSQL cluster (tests/postgres.py), household interviews over one and
    then two `ppa serve` processes on it, the reads and the export; the report names the engine and the servers."""
    done = subprocess.run([sys.executable, "-m", "bench", "--postgres", "--engines", "postgres", "--servers", "1", "2",
                           "--form", "household_income", "--sizes", "0", "--count", "40", "--warmup", "5",
                           "--concurrency", "4", "--floor-count", "10", "--workers", "1", "--tmp", str(tmp_path),
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert [(r["engine"], r["servers"], r["statuses"]) for r in report["load"]] == [
        ("postgres", 1, {"201": 40}), ("postgres", 2, {"201": 40})]
    assert report["databases"]["postgres"].startswith("PostgreSQL ")
    (export,) = report["exports"]
    assert export["engine"] == "postgres" and export["rows_per_second"] > 0 and "error" not in export
    assert report["floor"][0]["refused"] == 0


def test_the_speedups_comparison_runs_and_reports_both_sides_of_each_pair():
    """bench/speedups.py: each library-replacing speed-up against the library's own code (README, Measured speed)."""
    done = subprocess.run([sys.executable, "-m", "bench.speedups", "--rounds", "1", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert set(report["validation"]) == {"marshmallow", "compiled plan"}
    assert set(report["multipart"]) == {"werkzeug's decoder", "server/multipart.py"}
    assert set(report["session"]) == {"Flask's interface", "signer kept"}
    for pair in ("validation", "multipart", "session"):
        assert all(side["median_ms"] > 0 for side in report[pair].values()), report[pair]
