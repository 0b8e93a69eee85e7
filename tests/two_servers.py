"""Two production servers (`ppa serve`, Granian's main process and workers) on one PostgreSQL database, for the tests
of several app servers (issue 11, items 3 and 5): a temporary cluster for the module (tests/postgres.py), a fresh
database per test, two data folders of their own, one `ppa init` and device, and helpers that send Collect-shaped
submissions to a server and read back what the database holds."""

from __future__ import annotations

import http.client
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench import samples
from server import config as config_module
from server.storage import open_store

from .live_server import ServerProcess, cli, free_port, prepare, server_env
from .postgres import Cluster

HEADERS = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/v2026.3.0 okhttp/5 (two servers)"}
ADMIN = "admin@localhost"
ADMIN_PASSWORD = "live-admin-password"   # tests/live_server.server_env's


@dataclass
class Pair:
    """Two servers on one database: their environments, the device's submission path, the database URL."""

    a: ServerProcess
    b: ServerProcess
    path: str            # /v1/key/<token>/projects/1/submission
    url: str             # the database

    @property
    def servers(self) -> tuple[ServerProcess, ServerProcess]:
        return self.a, self.b

    def store(self, folder: Path):
        """The database's store, opened in this process (a data folder of its own)."""
        return open_store(config_module.load({"DATA": str(folder), "DATABASE_URL": self.url}))

    def cli(self, *args: str, check: bool = True):
        return cli(self.a.env, *args, check=check)


@pytest.fixture(scope="module")
def pg_cluster():
    cluster = Cluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture
def pair(pg_cluster, tmp_path):
    name = f"two_{uuid.uuid4().hex[:12]}"
    pg_cluster.sql(f"CREATE DATABASE {name}")
    # The test cluster runs with synchronous_commit=off for speed; an acknowledged commit could then be lost when
    # PostgreSQL itself stops abruptly. Here it is on, as in production: a 201 means the commit reached the log.
    pg_cluster.sql(f"ALTER DATABASE {name} SET synchronous_commit = on")
    url = pg_cluster.url(name)
    envs = [server_env(tmp_path / folder, free_port(), DATABASE_URL=url, WORKERS=2, THREADS=4)
            for folder in ("a", "b")]
    for env in envs:
        Path(env["PPA_DATA"]).mkdir(exist_ok=True)   # each server's log and lock; the data is in the database
    device = prepare(envs[0])            # ppa init and a device, on the shared database, through server a's settings
    a = ServerProcess(envs[0]).start()
    try:
        b = ServerProcess(envs[1]).start()
    except BaseException:
        a.stop()
        raise
    try:
        yield Pair(a, b, urlsplit(device["server_url"]).path + "/submission?deviceID=collect:two-servers", url)
    finally:
        a.kill()
        b.kill()
        pg_cluster.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def port(server: ServerProcess) -> int:
    return int(server.env["PPA_PORT"])


def post(server: ServerProcess, path: str, xml: bytes, files: dict[str, bytes] | None = None,
         timeout: float = 60) -> tuple[int, bytes]:
    """One submission as Collect sends it (multipart, OkHttp's shape), on a connection of its own."""
    body, content_type = samples.multipart(samples.submission_parts(xml, files or {}))
    conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=timeout)
    try:
        conn.request("POST", path, body, {**HEADERS, "Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stored_submissions(store, form_id: int) -> list[dict]:
    """Every submission of a form (paged through the store's own list)."""
    out, after = [], 0
    while True:
        page = store.list_submissions(form_id, limit=500, after_id=after)
        if not page:
            return out
        out += page
        after = page[-1]["id"]


def check_whole(store, form_id: int, sent: dict[str, tuple[bytes, dict[str, bytes]]]) -> list[dict]:
    """Every submission in `sent` (instanceID -> (XML, files)) is stored exactly once with its XML byte for byte and
    its files; and nothing in the form is half-stored: every stored submission has its current version, and every
    file its XML names is there. Returns the stored submissions."""
    stored = stored_submissions(store, form_id)
    assert len({s["instance_id"] for s in stored}) == len(stored)            # no instanceID twice
    for instance_id, (xml, files) in sent.items():
        version = store.def_by_instance(form_id, instance_id)
        assert version is not None, instance_id
        assert store.submission_xml(version["id"]) == xml, instance_id
        held = {a["name"]: store.get_blob(a["blob_sha256"]) if a["blob_sha256"] else None
                for a in store.attachments(version["id"])}
        assert held == files, instance_id
    for submission in stored:
        xml = store.submission_xml(submission["def_id"])
        assert xml, submission
        photo = re.search(rb"<photo>([^<]+)</photo>", xml)
        slots = {a["name"]: a["blob_sha256"] for a in store.attachments(submission["def_id"])}
        assert sorted(slots) == ([photo.group(1).decode()] if photo else []), submission["instance_id"]
        assert all(slots.values()), submission["instance_id"]                # every expected file arrived whole
    return stored
