"""How long the monitoring report takes over N household interviews of one week by ten phones, sent as Collect
sends them through Flask's test client (issue #14): `.venv/bin/python -m bench.monitoring_report 2000`."""

import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import samples
from server import create_app, monitoring
from server.auth import new_token
from server.bootstrap import ensure_default_project
from tests.collect import Collect

FORMS = Path(__file__).resolve().parent.parent / "forms"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
data = tempfile.mkdtemp()
app = create_app({"DATA": data, "LOG_LEVEL": "WARNING", "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS)})
store = app.extensions["ppa"].store
ensure_default_project(store, "Bench", FORMS, validate=False)
form = app.extensions["ppa"].forms.get(store, store.get_form(1, "household_income")["current_def_id"])
phones = []
for k in range(10):
    t = new_token()
    store.create_device(1, f"phone {k}", t, actor="bench")
    phones.append(Collect(app.test_client(), f"http://localhost/v1/key/{t}/projects/1"))
rng = random.Random(1)
started = time.perf_counter()
for i in range(N):
    hh = f"chanderi-w03-b{i}"
    a = samples.household_income(rng, hh, members=4, on_list=False, head=f"Head {i}")
    start = dt.datetime(2026, 11, 16 + i % 7, 9, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    a.update(start=start.strftime("%Y-%m-%dT%H:%M:%S.000+05:30"),
             end=(start + dt.timedelta(minutes=rng.randint(3, 40))).strftime("%Y-%m-%dT%H:%M:%S.000+05:30"),
             node="", state="Madhya Pradesh", sector="urban")
    assert phones[i % 10].submit(samples.instance_xml(form, samples.fill(form, a, rng))).status == 201
ingest = time.perf_counter() - started
times = []
for _ in range(5):
    t0 = time.perf_counter()
    body = monitoring.report(store, 1, None, "2026-11-16", "2026-11-22")
    times.append(time.perf_counter() - t0)
print(f"N={N} ingest {ingest:.1f}s ({N/ingest:.0f}/s through the test client); report median "
      f"{statistics.median(times)*1000:.0f} ms over 5, {len(body['enumerators'])} enumerators, {len(body['days'])} days")
store.close()
shutil.rmtree(data)
