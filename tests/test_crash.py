"""kill -9 in the middle of a load: the production server (Granian's main process and workers) is killed with SIGKILL,
as a crash or the OOM killer would, while eight phones are sending household interviews (every third with a
photo). After a restart on the same data folder, every submission that was answered 201 is there exactly once,
byte for byte, with its photo; nothing half-stored exists; the aggregates equal a rebuild from the raw XML; and
SQLite's integrity check passes. With PPA_SYNCHRONOUS=NORMAL in WAL mode this is what SQLite guarantees against a
crash of the process (a power cut needs FULL: see README, Speed and durability). The same runs on PostgreSQL
(PPA_DATABASE_URL), where the killed server's open transactions are rolled back by the database."""

from __future__ import annotations

import http.client
import random
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from bench import samples
from server.storage import Store
from server.xforms import parse_xform

from . import factories
from .live_server import ServerProcess, cli, free_port, open_served_store, prepare, send_until_stopped, server_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGKILL")

FORMS = Path(__file__).parent.parent / "forms"
SENDERS = 8
KILL_AFTER = 150          # acknowledged submissions before the kill
TOTAL = 1200              # prepared, far more than can be sent before the kill


def _submissions(count: int) -> list[tuple[str, bytes, dict[str, bytes]]]:
    """(instanceID, XML, files): new households of the sample hamlets, every third with a photo of its own."""
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    rng = random.Random(20261122)
    out = []
    for i in range(count):
        out.append(factories.household_with_photo(form, rng, i, members=5, photo_every=3, prefix="k"))
    return out


def _load_until_killed(server: ServerProcess, path: str, items: list, kill_after: int) -> dict[str, tuple]:
    """Eight keep-alive senders; the whole server process group is killed once kill_after were acknowledged.
    Returns the acknowledged submissions by instanceID."""
    acked: dict[str, tuple] = {}
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()
    queue = iter(items)
    other: list[tuple[int, bytes]] = []

    def on_reply(item, status, reply) -> None:
        if status is None:
            return        # the server is gone
        with lock:
            if status == 201 and b"full submission upload was successful!" in reply:
                acked[item[0]] = item
                if len(acked) >= kill_after:
                    enough.set()
            else:
                other.append((status, reply[:300]))

    threads = [threading.Thread(target=send_until_stopped, daemon=True,
                                args=(int(server.env["PPA_PORT"]), path, queue, lock, stop, on_reply, "crash-test"))
               for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert enough.wait(60), f"only {len(acked)} acknowledged in 60 s"
    server.kill()                      # mid-load: the senders still have requests in flight
    stop.set()
    for thread in threads:
        thread.join(30)
    deadline = time.monotonic() + 10       # the kernel reaps the workers shortly after the master
    while server.group_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.group_alive()
    assert other == [], other          # nothing but 201 while the server was answering
    with lock:
        return dict(acked)


def test_sigkill_mid_load_keeps_every_acknowledged_submission_whole(tmp_path, database_url):
    data = tmp_path / "data"
    env = server_env(data, free_port(), WORKERS=2, THREADS=4, DATABASE_URL=database_url)
    device = prepare(env)
    path = urlsplit(device["server_url"]).path + "/submission?deviceID=collect:crash-test"
    items = _submissions(TOTAL)

    server = ServerProcess(env).start()
    try:
        acked = _load_until_killed(server, path, items, KILL_AFTER)
    finally:
        server.kill()
    assert len(acked) >= KILL_AFTER

    # Restart on the same folder: it comes up, and a phone resending an acknowledged submission gets 201 again
    # (identical XML is a no-op, as Collect's blind retries need).
    server = ServerProcess(env).start()
    try:
        instance_id, xml, files = next(iter(acked.values()))
        body, content_type = samples.multipart(samples.submission_parts(xml, files))
        conn = http.client.HTTPConnection("127.0.0.1", int(env["PPA_PORT"]), timeout=30)
        conn.request("POST", path, body, {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"})
        assert conn.getresponse().status == 201
        conn.close()
    finally:
        server.stop()

    store = open_served_store(env)
    try:
        _check_whole(store, acked)
    finally:
        store.close()
    # Aggregates kept at ingest equal a recomputation from the raw XML of what survived.
    rebuilt = cli(env, "aggregates", "rebuild", "--project", "1", "--check", check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr


def _check_whole(store: Store, acked: dict[str, tuple]) -> None:
    db = store.db
    assert store.integrity_check() == "ok"
    if store.engine == "sqlite":   # PostgreSQL checks every foreign key at each write
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    form = store.get_form(1, "household_income")

    # every acknowledged submission: exactly once, its XML byte for byte, its photo
    for instance_id, (_, xml, files) in acked.items():
        defs = db.execute("SELECT id FROM submission_defs WHERE form_id = ? AND instance_id = ?",
                          [form["id"], instance_id]).fetchall()
        assert len(defs) == 1, instance_id
        assert store.submission_xml(defs[0][0]) == xml
        stored = {a["name"]: store.get_blob(a["blob_sha256"]) if a["blob_sha256"] else None
                  for a in store.attachments(defs[0][0])}
        assert stored == files, instance_id

    # nothing half-stored, acknowledged or not
    assert db.execute("SELECT count(*) FROM submissions s LEFT JOIN submission_defs d ON d.id = s.current_def_id "
                      "AND d.submission_id = s.id WHERE d.id IS NULL").fetchone()[0] == 0   # a submission, no def
    assert db.execute("SELECT count(*) FROM submission_defs d LEFT JOIN submissions s ON s.id = d.submission_id "
                      "WHERE s.id IS NULL").fetchone()[0] == 0                             # a def, no submission
    assert db.execute("SELECT count(*) FROM submission_attachments WHERE blob_sha256 IS NULL").fetchone()[0] == 0
    stored = db.execute("SELECT s.id, d.id, d.instance_id, d.xml FROM submissions s "
                        "JOIN submission_defs d ON d.id = s.current_def_id WHERE s.form_id = ?",
                        [form["id"]]).fetchall()
    assert len(stored) >= len(acked)
    print(f"acknowledged {len(acked)}, stored {len(stored)}")
    for submission_id, def_id, instance_id, xml in stored:
        photo = etree.fromstring(bytes(xml)).findtext("interview/photo_grp/photo")
        slots = [a["name"] for a in store.attachments(def_id)]
        assert slots == ([photo] if photo else []), instance_id           # the slots its XML expects, filled
        main = db.execute("SELECT count(*) FROM data_1_household_income WHERE _submission_id = ?",
                          [submission_id]).fetchone()[0]
        members = db.execute("SELECT count(*) FROM data_1_household_income__member WHERE _submission_id = ?",
                             [submission_id]).fetchone()[0]
        assert (main, members) == (1, 5), instance_id                      # its typed rows
    households = db.execute("SELECT count(*) FROM hh_income WHERE project_id = 1").fetchone()[0]
    listed = db.execute("SELECT count(*) FROM list_items WHERE project_id = 1 AND list_name = 'households.csv' "
                        "AND source LIKE 'submission:%'").fetchone()[0]
    assert households == listed == len(stored)                             # its aggregates and list items
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == len(stored)
