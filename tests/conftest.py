"""Fixtures: a fresh app and database per test, a project with the test form and the PPA forms,
a device token, and a Collect-shaped client that runs through Flask's test client and over real HTTP.

Every test that uses a database (through the `app`, `store` or `database_url` fixtures) runs twice: on SQLite and on
a real PostgreSQL that the session starts (tests/postgres.py), each test in a fresh database. PPA_TEST_ENGINES
(a comma-separated list: sqlite, postgresql) restricts the engines for quick local runs. A test that is about
SQLite's own machinery carries @pytest.mark.sqlite_only("why") and runs on SQLite alone."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server import catalog, create_app
from server.auth import new_token
from server.bootstrap import ensure_default_project

from .collect import Collect

DATA = Path(__file__).parent / "data"
FORMS = Path(__file__).parent.parent / "forms"
ENGINES = [e.strip() for e in os.environ.get("PPA_TEST_ENGINES", "sqlite,postgresql").split(",") if e.strip()]
if not ENGINES or set(ENGINES) - {"sqlite", "postgresql"}:
    raise RuntimeError(f"PPA_TEST_ENGINES={os.environ.get('PPA_TEST_ENGINES')!r}: give sqlite, postgresql or both")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): a test of SQLite's own machinery; not run on PostgreSQL")
    config.addinivalue_line("markers", "postgresql_only: a test of PostgreSQL's own machinery; not run on SQLite")


def _left_out(item) -> bool:
    callspec = getattr(item, "callspec", None)
    engine = callspec.params.get("engine") if callspec else None
    if item.get_closest_marker("sqlite_only"):
        return engine == "postgresql"
    if item.get_closest_marker("postgresql_only"):
        return engine == "sqlite" or "postgresql" not in ENGINES
    return False


def pytest_collection_modifyitems(config, items):
    """A test marked sqlite_only keeps only its SQLite run, one marked postgresql_only its PostgreSQL run."""
    kept, dropped = [], []
    for item in items:
        (dropped if _left_out(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's PostgreSQL cluster, with the migrated template database; removed at the end."""
    from .postgres import Cluster
    cluster = Cluster().start()
    try:
        cluster.make_template()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(params=ENGINES)
def engine(request):
    """The storage engine of this run of the test: sqlite or postgresql."""
    return request.param


def _database_url(engine: str, request):
    """Empty for SQLite (the file in PPA_DATA), else a fresh PostgreSQL database, dropped afterwards."""
    if engine == "sqlite":
        yield ""
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def database_url(engine, request):
    """PPA_DATABASE_URL of this test: empty for SQLite (the file in PPA_DATA), a fresh database for PostgreSQL."""
    yield from _database_url(engine, request)


@pytest.fixture(scope="module", params=ENGINES)
def module_database_url(request):
    """database_url for a fixture shared by a module's tests (a served server, a fuzzed app): once per engine."""
    yield from _database_url(request.param, request)


@pytest.fixture
def app(tmp_path, database_url, monkeypatch):
    app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING", "PUBLIC_URL": "http://localhost",
                      "FORMS": str(FORMS), "DATABASE_URL": database_url})
    monkeypatch.setenv("PPA_DATABASE_URL", database_url)   # `ppa` commands the test runs use the same database
    yield app
    app.extensions["ppa"].store.close()


@pytest.fixture
def store(app):
    return app.extensions["ppa"].store


@pytest.fixture
def project(store):
    """The default project (the three PPA forms, the lists) plus the small JavaRosa-made test form."""
    report = ensure_default_project(store, "Test PPA", FORMS, validate=False)
    published = catalog.publish(store, report.project_id, (DATA / "ppa_community.xml").read_bytes(),
                                "ppa_community.xml", validate=False)
    store.set_form_attachment(published.def_id, "villages.csv", (DATA / "villages.csv").read_bytes())
    return store.get_project(report.project_id)


@pytest.fixture
def token(store, project):
    token = new_token()
    store.create_device(project["id"], "Enumerator 1 phone", token, actor="test")
    return token


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live(app):
    server = LiveServer(app)
    app.config["PUBLIC_URL"] = server.url
    yield server
    server.stop()


def _collect(app, request, project, token, mode):
    if mode == "http":
        live = request.getfixturevalue("live")
        transport, public = live.url, live.url
    else:
        transport, public = app.test_client(), app.config["PUBLIC_URL"]
    return Collect(transport, f"{public}/v1/key/{token}/projects/{project['id']}")


@pytest.fixture(params=["client", "http"])
def collect(app, request, project, token):
    """Collect against the app, once through the test client and once over real HTTP."""
    return _collect(app, request, project, token, request.param)


@pytest.fixture
def collect_client(app, request, project, token):
    return _collect(app, request, project, token, "client")


@pytest.fixture
def researcher_token(store, project):
    """A researcher of the project and the bearer token of their API access (the secret itself)."""
    from server.api import hash_token
    from server.auth import new_token
    from server.bootstrap import create_user
    from .web import PASSWORD
    user = create_user(store, "researcher@example.org", "researcher", PASSWORD, "PPA")
    store.add_membership(user["id"], project["id"])
    secret = new_token()
    store.create_api_token(user["id"], hash_token(secret), "tests")
    return secret


@pytest.fixture
def phone(live, project, token):
    """A Collect-shaped client of the live server, on the project's device token."""
    from .collect import Collect
    return Collect(live.url, f"{live.url}/v1/key/{token}/projects/{project['id']}")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium (tests/chromium.py), closed at the end of the test."""
    from . import chromium
    driver = chromium.start(tmp_path)
    yield driver
    driver.quit()


@pytest.fixture
def screenshots(tmp_path_factory) -> Path:
    """Where the browser tests leave a screenshot of each page they test, for review: $PPA_SCREENSHOTS, else a
    folder under pytest's basetemp. Not part of the repository."""
    import os
    folder = Path(os.environ.get("PPA_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
