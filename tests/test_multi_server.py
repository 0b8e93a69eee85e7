"""Several app servers, one PostgreSQL database (issue 11, item 3): two `ppa serve` processes on different ports with
the same PPA_DATABASE_URL serve one consistent project. Phones send to both at once: household interviews with
photos, identical resubmissions of one interview to both servers, edits of one interview to both (the same edit, and
two different edits), and two informant groups' rankings of one hamlet, one group on each server. Then the export
read through either server, the aggregates (`ppa aggregates rebuild --check`) and every photo read back through
either server are what was sent. A device made on one server works on the other; a sign-in on one is valid on the
other. Runs on PostgreSQL only: SQLite serves one app server per data folder."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench import samples
from server.xforms import parse_xform

from .two_servers import ADMIN, ADMIN_PASSWORD, pair, pg_cluster, port, post, stored_submissions  # noqa: F401

FORMS = Path(__file__).parent.parent / "forms"
PHOTO = (Path(__file__).parent / "data" / "1732262400123.jpg").read_bytes()
HAMLET, CLUSTER = "chanderi-w03", "chanderi"
LISTED = [f"{HAMLET}-two{k}" for k in range(1, 9)]
LEVELS = {"A": [1, 1, 2, 2, 3, 3, 1, 2], "B": [1, 2, 2, 3, 3, 3, 2, 2]}   # happy 1, average 2, sad 3
HOUSEHOLDS = 40        # interviews, every third with a photo
DUPLICATED = range(0, 10)          # sent to both servers at the same moment, byte for byte
SAME_EDIT = range(10, 13)          # one edit, sent to both servers at once
RIVAL_EDITS = range(13, 16)        # two different edits of one interview, one to each server at once


def _interview(form, i: int, seed: int, instance_id: str, deprecated_id: str | None = None,
               photo: bool = False) -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(seed)
    answers = samples.household_income(rng, f"{HAMLET}-t{i:03d}", members=5, on_list=False, head=f"Head {i}")
    answers.update(node="chanderi-contract_weavers", district="Ashoknagar", state="Madhya Pradesh")
    files = {}
    if photo:
        name = f"{1732262400000 + i}.jpg"
        answers.update(photo_consent="yes", photo=name)
        files[name] = PHOTO + hashlib.sha256(f"photo {i}".encode()).digest()   # bytes of its own
    xml = samples.instance_xml(form, samples.fill(form, answers, rng), instance_id=instance_id,
                               deprecated_id=deprecated_id)
    return xml, files


def _uuid(rng: random.Random) -> str:
    import uuid
    return f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def _at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _sign_in(session: requests.Session, base: str) -> None:
    page = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = session.post(f"{base}/login", data={"email": ADMIN, "password": ADMIN_PASSWORD, "csrf_token": token},
                         allow_redirects=False, timeout=30)
    assert reply.status_code in (302, 303), reply.text[:300]


def _tables(data: bytes) -> dict[str, list[dict]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8", newline="")))
            for name in archive.namelist() if name.endswith(".csv")}


def test_two_servers_on_one_database_resolve_concurrent_work_as_one_server_would(pair, tmp_path):
    a, b = pair.servers
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    rng = random.Random(20261130)

    # The manager's household list of the ranked hamlet, imported once: both servers serve it.
    listing = tmp_path / "households.csv"
    listing.write_text("name,label,hamlet,cluster,node,card\n" + "".join(
        f"{hh},Head {k + 1},{HAMLET},{CLUSTER},,{k + 1}\n" for k, hh in enumerate(LISTED)), encoding="utf-8")
    pair.cli("lists", "import", "--project", "1", "households.csv", str(listing))

    # Originals: every interview goes to one server, alternately; the duplicated ones to both at the same moment.
    originals = {}
    for i in range(HOUSEHOLDS):
        instance_id = _uuid(rng)
        originals[i] = (instance_id, *_interview(form, i, i, instance_id, photo=i % 3 == 0))

    def send_original(i: int) -> list[int]:
        _, xml, files = originals[i]
        if i in DUPLICATED:
            return [status for status, _ in _at_once(lambda: post(a, pair.path, xml, files),
                                                     lambda: post(b, pair.path, xml, files))]
        return [post(pair.servers[i % 2], pair.path, xml, files)[0]]

    ranking = parse_xform((FORMS / "well_being_ranking.xml").read_bytes())

    def send_ranking(group: str, server) -> int:
        levels = dict(zip(LISTED, LEVELS[group]))
        answers = samples.well_being_ranking(random.Random(group), LISTED, group=group, cluster=CLUSTER,
                                             hamlet=HAMLET, levels=levels)
        return post(server, pair.path, samples.instance_xml(ranking, answers))[0]

    with ThreadPoolExecutor(8) as pool:
        groups = pool.submit(lambda: _at_once(lambda: send_ranking("A", a), lambda: send_ranking("B", b)))
        statuses = list(pool.map(send_original, range(HOUSEHOLDS)))
        assert groups.result() == [201, 201]
    assert all(s == [201] for s in statuses if len(s) == 1), statuses
    assert [statuses[i] for i in DUPLICATED] == [[201, 201]] * len(DUPLICATED)   # an identical resend is a no-op

    # Edits: the same edit to both servers at once is stored once; two different edits of one interview, one to
    # each server at once: one is taken (201), the other is out of date (409), exactly as one after the other.
    current = {i: originals[i][:2] for i in range(HOUSEHOLDS)}   # i -> (instanceID, XML) expected at the end
    for i in SAME_EDIT:
        new_id = _uuid(rng)
        xml, _ = _interview(form, i, 1000 + i, new_id, deprecated_id=originals[i][0])
        replies = _at_once(lambda: post(a, pair.path, xml), lambda: post(b, pair.path, xml))
        assert [status for status, _ in replies] == [201, 201], replies
        current[i] = (new_id, xml)
    for i in RIVAL_EDITS:
        edits = [(_uuid(rng), seed) for seed in (2000 + i, 3000 + i)]
        xmls = [_interview(form, i, seed, new_id, deprecated_id=originals[i][0])[0] for new_id, seed in edits]
        replies = _at_once(lambda: post(a, pair.path, xmls[0]), lambda: post(b, pair.path, xmls[1]))
        assert sorted(status for status, _ in replies) == [201, 409], replies
        assert b"out of date" in next(body for status, body in replies if status == 409)
        winner = next(k for k, (status, _) in enumerate(replies) if status == 201)
        current[i] = (edits[winner][0], xmls[winner])

    # What the database holds: every interview once, its current version's XML byte for byte.
    store = pair.store(tmp_path / "reader")
    try:
        household_form = store.get_form(1, "household_income")
        stored = stored_submissions(store, household_form["id"])
        assert len(stored) == HOUSEHOLDS == store.count_submissions(household_form["id"])
        for i, (instance_id, xml) in current.items():
            version = store.def_by_instance(household_form["id"], instance_id)
            assert version is not None and version["is_current"], i
            assert store.submission_xml(version["id"]) == xml, i
            versions = store.submission_versions(version["submission_id"])
            assert len(versions) == (2 if i in SAME_EDIT or i in RIVAL_EDITS else 1), i
        ids = {i: store.def_by_instance(household_form["id"], originals[i][0])["submission_id"]
               for i in range(HOUSEHOLDS)}
        wellbeing = {r["hh_id"]: r for r in store.wb_households(1, 1, CLUSTER, HAMLET)}
    finally:
        store.close()
    assert sorted(wellbeing) == LISTED
    assert {hh: r["n_groups"] for hh, r in wellbeing.items()} == {hh: 2 for hh in LISTED}   # both groups combined

    # The aggregates kept at ingest by two servers at once equal a rebuild from the raw XML.
    rebuilt = pair.cli("aggregates", "rebuild", "--project", "1", "--check", check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr

    # The export, read through either server, is the same and holds the current versions with 5-member rosters.
    token = json.loads(pair.cli("token", "create", "--email", ADMIN, "--label", "two servers").stdout)["token"]
    exports = []
    for server in (a, b):
        reply = requests.get(f"http://127.0.0.1:{port(server)}/api/v1/projects/1/forms/household_income/export.csv",
                             headers={"Authorization": f"Bearer {token}"}, timeout=120)
        assert reply.status_code == 200, reply.text[:300]
        exports.append(_tables(reply.content))
    assert exports[0] == exports[1]
    main, members = exports[0]["household_income.csv"], exports[0]["household_income-member.csv"]
    assert sorted(r["KEY"] for r in main) == sorted(instance_id for instance_id, _ in current.values())
    assert len(members) == 5 * HOUSEHOLDS

    # A sign-in on server a is valid on server b; every photo reads back through both, byte for byte.
    with requests.Session() as browser:
        _sign_in(browser, f"http://127.0.0.1:{port(a)}")
        for i, (_, _, files) in originals.items():
            for name, data in files.items():
                if i in SAME_EDIT or i in RIVAL_EDITS:
                    continue        # the edits were sent without the photo: the current version has none
                for server in (a, b):
                    reply = browser.get(f"http://127.0.0.1:{port(server)}/projects/1/submissions/{ids[i]}"
                                        f"/attachments/{name}", allow_redirects=False, timeout=30)
                    assert reply.status_code == 200 and reply.content == data, (i, server.url)


def test_a_device_and_a_sign_in_made_on_one_server_work_on_the_other(pair):
    a, b = pair.servers
    base_a, base_b = f"http://127.0.0.1:{port(a)}", f"http://127.0.0.1:{port(b)}"
    with requests.Session() as browser:
        _sign_in(browser, base_a)
        page = browser.get(f"{base_b}/projects/1/devices", allow_redirects=False, timeout=30)
        assert page.status_code == 200, page.status_code          # signed in on a, recognised by b
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        made = browser.post(f"{base_a}/projects/1/devices", data={"name": "Made on server a", "csrf_token": token},
                            allow_redirects=True, timeout=30)
        assert made.status_code == 200, made.text[:300]
        url = re.search(r"<code>(http://[^<]+/v1/key/[^<]+/projects/1)</code>", made.text).group(1)
    key_path = url.split("/v1/", 1)[1]
    listing = requests.get(f"{base_b}/v1/{key_path}/formList", headers={"X-OpenRosa-Version": "1.0"}, timeout=30)
    assert listing.status_code == 200 and b"household_income" in listing.content
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    xml, _ = _interview(form, 99, 99, _uuid(random.Random(99)))
    status, body = post(b, f"/v1/{key_path}/submission", xml)
    assert status == 201, body[:300]
