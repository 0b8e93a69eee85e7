"""bench/odata_paging must keep working: a tiny run (30 submissions, pages of 10) over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_tiny_odata_paging_run_reads_full_pages_at_every_offset(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.odata_paging", "--submissions", "30", "--members", "3",
                           "--page", "10", "--repeats", "1", "--tmp", str(tmp_path), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    submissions = report["pages"]["Submissions"]
    members = report["pages"]["Submissions.interview.mod_b.member"]
    assert submissions["rows_in_table"] == 30 and members["rows_in_table"] == 90
    for pages in (submissions, members):
        timings = [t for where, t in pages.items() if where != "rows_in_table"]
        assert len(timings) == 3 and all(t["rows"] == 10 and t["median_ms"] > 0 for t in timings)
    for stream in report["streams"].values():
        assert stream["bytes_sent"] > 1000 and stream["seconds"] > 0
