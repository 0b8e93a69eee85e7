"""PostgreSQL only: what several app servers on one database rely on (concurrent writers through two pools stay exact,
two first starts migrate once, one secret key), and an outage: a real `ppa serve` answers 503 while PostgreSQL is
down and serves again by itself once it is back."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
import requests

from bench import samples
from server import aggregates, create_app
from server.catalog import FormCache
from server.storage.postgres import PostgresStore
from server.submissions import Upload, receive

from .conftest import FORMS
from .live_server import ServerProcess, free_port, prepare, server_env
from .postgres import Cluster

pytestmark = pytest.mark.postgresql_only
HAMLET, CLUSTER = "chanderi-w03", "chanderi"
OPENROSA = {"X-OpenRosa-Version": "1.0"}


def _households(store, project_id: int, n: int) -> list[str]:
    names = [f"{HAMLET}-c{i}" for i in range(n)]
    store.upsert_list_items(project_id, "households.csv", [(h, {"label": h, "hamlet": HAMLET, "cluster": CLUSTER,
                                                                 "node": ""}) for h in names], source="test")
    return names


def _form(store, forms: FormCache, project_id: int, form_id: str):
    return forms.get(store, store.get_form(project_id, form_id)["current_def_id"])


def test_two_pools_writing_one_hamlet_at_once_keep_the_aggregates_exact(app, store, project):
    """Two store objects (two pools, as two app servers have) write rankings, income interviews, identical
    resubmissions and edits of one hamlet at the same time; every submission is stored once and the incremental
    aggregates equal a rebuild from the raw XML (what `ppa aggregates rebuild --check` compares)."""
    project_id = project["id"]
    households = _households(store, project_id, 24)
    forms = FormCache()
    ranking = _form(store, forms, project_id, "well_being_ranking")
    income = _form(store, forms, project_id, "household_income")
    other = PostgresStore(store.url)
    rng = random.Random(11)
    jobs: list[list[bytes]] = [[], []]
    for n in range(18):   # groups A..F rank the hamlet three times over (a clash of group letters is flagged)
        answers = samples.well_being_ranking(rng, households, group="ABCDEF"[n % 6], cluster=CLUSTER,
                                             hamlet=HAMLET)
        jobs[n % 2].append(samples.instance_xml(ranking, answers))
    for i, hh_id in enumerate(households):
        answers = samples.household_income(rng, hh_id, cluster=CLUSTER, hamlet=HAMLET, members=1 + i % 5)
        jobs[i % 2].append(samples.instance_xml(income, samples.fill(income, answers, rng)))
    for side in (0, 1):   # the other server receives the same bytes too: identical resubmissions
        jobs[1 - side].extend(jobs[side][:6])
    stored: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def send(side: int, target) -> None:
        try:
            for xml in jobs[side]:
                stored[side].append(receive(target, forms, project_id, Upload(xml)).submission_id)
        except BaseException as exc:   # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(0, store)), threading.Thread(target=send, args=(1, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    other.close()
    assert not failures, failures
    distinct = len(set(jobs[0]) | set(jobs[1]))
    assert len(set(stored[0]) | set(stored[1])) == distinct
    assert store.db.execute("SELECT count(*) FROM submissions").fetchone()[0] == distinct
    before = store.aggregate_snapshot(project_id)
    assert before["wb_counts"] and before["income_counts"]
    aggregates.rebuild(store, FormCache(), project_id)
    assert store.aggregate_snapshot(project_id) == before


def test_an_edit_and_its_resubmission_on_two_pools_at_once_store_one_version(app, store, project):
    """The same edit sent to two servers at the same moment: one stores it, the other finds it stored (201, a
    resubmission); the submission has exactly two versions."""
    project_id = project["id"]
    households = _households(store, project_id, 8)
    forms = FormCache()
    ranking = _form(store, forms, project_id, "well_being_ranking")
    answers = samples.well_being_ranking(random.Random(3), households, group="A", cluster=CLUSTER, hamlet=HAMLET)
    first = samples.instance_xml(ranking, answers)
    receipt = receive(store, forms, project_id, Upload(first))
    edit = samples.instance_xml(ranking, answers, deprecated_id=receipt.instance_id)
    other = PostgresStore(store.url)
    results, failures = [], []
    barrier = threading.Barrier(2)

    def send(target) -> None:
        try:
            barrier.wait()
            results.append(receive(target, forms, project_id, Upload(edit)).submission_id)
        except BaseException as exc:   # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in (store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    other.close()
    assert not failures, failures
    assert results == [receipt.submission_id] * 2
    assert len(store.submission_versions(receipt.submission_id)) == 2


def test_two_first_starts_migrate_once(pg_cluster):
    """Two servers starting on an empty database at once: the advisory lock lets one migrate; the other waits and
    finds nothing to do; each migration is recorded once."""
    name = f"fresh_{free_port()}"
    pg_cluster.sql(f"CREATE DATABASE {name}")
    url = pg_cluster.url(name)
    stores = [PostgresStore(url), PostgresStore(url)]
    applied: list[list[str]] = []
    threads = [threading.Thread(target=lambda s=s: applied.append(s.migrate())) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert sorted(map(len, applied))[0] == 0 and len(max(applied, key=len)) == len(stores[0].applied_migrations())
        names = stores[0].applied_migrations()
        assert len(names) == len(set(names)) and "m001_core" in names and "m014_server_settings" in names
    finally:
        for s in stores:
            s.close()
        pg_cluster.drop_database(url)


def test_every_app_server_signs_with_the_key_in_the_database(app, database_url, tmp_path):
    """With PPA_SECRET_KEY empty, the first server makes the key and keeps it in the database; another server on
    the same database (another data folder) reads the same key, and no key file is written."""
    second = create_app({"DATA": str(tmp_path / "second"), "LOG_LEVEL": "WARNING", "FORMS": str(FORMS),
                         "DATABASE_URL": database_url})
    try:
        assert second.config["SECRET_KEY"] == app.config["SECRET_KEY"] and len(app.config["SECRET_KEY"]) == 64
        assert not (tmp_path / "second" / "secret_key").exists()
    finally:
        second.extensions["ppa"].store.close()


def test_a_served_server_answers_503_while_postgresql_is_down_and_recovers_by_itself(tmp_path):
    """A real `ppa serve` on its own PostgreSQL cluster: stopping PostgreSQL turns answers into 503 (never 500);
    once PostgreSQL is started again, the same server process answers 200 again within seconds, without a restart."""
    cluster = Cluster().start()
    try:
        cluster.sql("CREATE DATABASE outage")
        port = free_port()
        (tmp_path / "data").mkdir()   # the server's log and lock; the data is in the database
        env = server_env(tmp_path / "data", port, DATABASE_URL=cluster.url("outage"))
        device = prepare(env)
        server = ServerProcess(env).start()
        try:
            base = f"{server.url}/v1/key/{device['token']}/projects/1"
            assert requests.get(f"{base}/formList", headers=OPENROSA, timeout=10).status_code == 200
            cluster.stop()
            down = [requests.get(f"{base}/formList", headers=OPENROSA, timeout=30).status_code for _ in range(3)]
            health = requests.get(f"{server.url}/health", timeout=30)
            assert down == [503, 503, 503] and health.status_code == 503, (down, health.status_code)
            assert "try again" in requests.get(f"{base}/formList", headers=OPENROSA, timeout=30).text
            cluster._start()
            deadline, status = time.monotonic() + 20, None
            while time.monotonic() < deadline:
                status = requests.get(f"{base}/formList", headers=OPENROSA, timeout=30).status_code
                if status == 200:
                    break
                assert status == 503, status
                time.sleep(0.5)
            assert status == 200, "the server did not reconnect within 20 s"
            assert json.loads(requests.get(f"{server.url}/health", timeout=10).text)["database"] == "ok"
        finally:
            server.stop()
    finally:
        cluster.remove()
