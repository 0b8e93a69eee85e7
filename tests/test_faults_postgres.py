"""Faults under two app servers on one PostgreSQL database (issue 11, item 5).

- kill -9 of one app server (its whole process group) while phones send to both: every submission either server
  answered 201 is stored exactly once, byte for byte with its photo; nothing half-stored; the other server keeps
  serving; the aggregates equal a rebuild from the raw XML.
- PostgreSQL stopped and started again under the running app servers: while it is down, phones get a clear 503
  (never a 500) from both; once it is back both answer again within seconds without being restarted; a phone's
  resend of what got 503 is stored once, and nothing is half-stored."""

from __future__ import annotations

import http.client
import random
import threading
import time
from pathlib import Path

from server.xforms import parse_xform

from . import factories
from .live_server import send_until_stopped
from .two_servers import check_whole, pair, pg_cluster, port, post  # noqa: F401 (fixtures)

FORMS = Path(__file__).parent.parent / "forms"
SENDERS = 8            # four phones on each server
KILL_AFTER = 120       # acknowledged submissions (both servers together) before server a is killed
TOTAL = 900            # prepared, more than are sent


def _households(count: int, seed: int, prefix: str) -> list[tuple[str, bytes, dict[str, bytes]]]:
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    rng = random.Random(seed)
    return [factories.household_with_photo(form, rng, i, members=5, photo_every=3, prefix=prefix)
            for i in range(count)]


def test_sigkill_of_one_app_server_mid_load_keeps_every_acknowledged_submission_once(pair, tmp_path):
    a, b = pair.servers
    items = _households(TOTAL, 20261130, "f")
    acked: dict[str, tuple[bytes, dict[str, bytes]]] = {}
    other: list[int] = []
    lock = threading.Lock()
    enough, stop = threading.Event(), threading.Event()
    queue = iter(items)

    def on_reply(item, status, reply):
        with lock:
            if status == 201:
                acked[item[0]] = item[1:]
                if len(acked) >= KILL_AFTER:
                    enough.set()
            elif status is not None:
                other.append(status)

    threads = [threading.Thread(target=send_until_stopped,
                                args=(port(pair.servers[i % 2]), pair.path, queue, lock, stop, on_reply, "faults-test"),
                                daemon=True) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), f"only {len(acked)} acknowledged in 120 s"
    a.kill()                                  # SIGKILL to server a's whole group, requests in flight
    time.sleep(1.0)                           # server b goes on taking submissions meanwhile
    stop.set()
    for thread in threads:
        thread.join(60)
    assert other == [], other                 # nothing but 201 from a server that was answering
    assert not a.group_alive()

    status, body = post(b, pair.path, *items[-1][1:])   # server b still serves
    assert status == 201, body[:300]
    acked[items[-1][0]] = items[-1][1:]

    store = pair.store(tmp_path / "reader")
    try:
        form = store.get_form(1, "household_income")
        stored = check_whole(store, form["id"], acked)
    finally:
        store.close()
    assert len(stored) >= len(acked) >= KILL_AFTER
    rebuilt = pair.cli("aggregates", "rebuild", "--project", "1", "--check", check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr


def test_postgres_restarted_under_both_servers_gives_503_then_both_answer_again(pair, pg_cluster, tmp_path):
    items = iter(_households(200, 20261201, "r"))
    sent: dict[str, tuple[bytes, dict[str, bytes]]] = {}
    for server in pair.servers:                                        # both serve before the outage
        instance_id, xml, files = next(items)
        assert post(server, pair.path, xml, files)[0] == 201
        sent[instance_id] = (xml, files)

    pg_cluster.stop()                                                  # the database goes away under them
    refused = []
    try:
        for server in pair.servers:
            for _ in range(3):
                instance_id, xml, files = next(items)
                status, body = post(server, pair.path, xml, files)
                assert status == 503, (status, body[:300])             # a clear "try again", never a 500
                refused.append((instance_id, xml, files))
            conn = http.client.HTTPConnection("127.0.0.1", port(server), timeout=30)
            conn.request("GET", pair.path.replace("/submission", "/formList"), headers={"X-OpenRosa-Version": "1.0"})
            response = conn.getresponse()
            response.read()
            conn.close()
            assert response.status == 503, response.status
    finally:
        pg_cluster._start()                                           # tests/postgres.py: start the stopped cluster
    back = time.monotonic()

    recovered = {}
    for server in pair.servers:                                        # neither server is restarted
        instance_id, xml, files = next(items)
        while True:
            status, body = post(server, pair.path, xml, files)
            if status == 201:
                break
            assert status == 503, (status, body[:300])
            assert time.monotonic() - back < 15, "no answer 15 s after PostgreSQL was back"
            time.sleep(0.2)
        recovered[server.url] = round(time.monotonic() - back, 2)
        sent[instance_id] = (xml, files)
    print(f"answering again after PostgreSQL came back: {recovered} s")
    assert max(recovered.values()) < 10, recovered

    for k, (instance_id, xml, files) in enumerate(refused):           # Collect resends what got 503
        assert post(pair.servers[k % 2], pair.path, xml, files)[0] == 201
        sent[instance_id] = (xml, files)
    store = pair.store(tmp_path / "reader")
    try:
        stored = check_whole(store, store.get_form(1, "household_income")["id"], sent)
    finally:
        store.close()
    assert len(stored) == len(sent)
    rebuilt = pair.cli("aggregates", "rebuild", "--project", "1", "--check", check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
