"""How long the pages with charts take on many ranked households: `.venv/bin/python -m bench.chart_pages 50000`.

Writes HOUSEHOLDS households ranked in rounds 1 and 2 (two clusters, 200 hamlets, random categories) straight into
the kept aggregates of a fresh data folder under /tmp, removed at the end (no submissions: only the page side is measured), signs in and
renders the overview, Clusters and a cluster page in-process, five times each after one warm-up, and prints the
median. Bounded: one process, one thread, no server."""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from server import create_app, reports
from server.bootstrap import create_user, ensure_default_project

FORMS = Path(__file__).resolve().parent.parent / "forms"


def main(households: int) -> None:
    folder = tempfile.mkdtemp(prefix="chart-pages-")
    app = create_app({"DATA": folder, "LOG_LEVEL": "WARNING", "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS)})
    store = app.extensions["ppa"].store
    ensure_default_project(store, "Bench", FORMS, validate=False)
    create_user(store, "admin@example.org", "admin", "a-long-enough-password", "PPA")
    rng = random.Random(1)
    with store.transaction():
        for round_no in (1, 2):
            store.set_wb_households(1, [(round_no, f"hh{i}", {
                "cluster": ("chanderi", "sindhudurg")[i % 2], "hamlet": f"h{i % 200}", "node": "", "n_groups": 3,
                "mean": 2.0, "final": rng.choice(("happy", "average", "sad")), "flagged": 0, "flags": ""})
                for i in range(households)])
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"email": "admin@example.org", "password": "a-long-enough-password",
                                "csrf_token": token})
    runs = {"reports.change_by_hamlet (all clusters)": lambda: reports.change_by_hamlet(store, 1, {}, 1, 2, None)}
    for path in ("/projects/1", "/projects/1/clusters", "/projects/1/clusters/chanderi"):
        runs[f"GET {path}"] = lambda path=path: client.get(path)
    for name, run in runs.items():
        run()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        print(f"{name}: median {1000 * statistics.median(times):.0f} ms of 5 ({households} households x 2 rounds)")
    store.close()
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
