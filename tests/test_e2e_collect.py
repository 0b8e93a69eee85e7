"""End to end against the production server: `ppa serve` (Granian) on 127.0.0.1, a Collect-shaped client
configured only with its server_url, the three PPA forms downloaded, filled from the downloaded lists, sent
(one as a split upload with a photo), and every acknowledged submission read back with its attachments."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from bench import samples
from bench.serve_process import ServeProcess, free_port
from server.storage import SQLiteStore

from .collect import Collect

ROOT = Path(__file__).parent.parent
PHOTO = (Path(__file__).parent / "data" / "1732262400123.jpg").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "PPA_DATA": str(data), "PPA_HOST": "127.0.0.1", "PPA_PORT": str(free_port()),
           "PPA_ADMIN_PASSWORD": "e2e-admin-password", "PPA_LOG_LEVEL": "WARNING", "PPA_WORKERS": "2"}
    process = ServeProcess(env).start(timeout=30)
    try:
        device = subprocess.run([sys.executable, "-m", "server.cli", "device", "add", "--project", "1", "Tablet 7"],
                                cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        yield {"url": process.url, "data": data, "device": json.loads(device.stdout), "process": process}
    finally:
        process.stop()


@pytest.fixture(scope="module")
def phone(server):
    return Collect(server["url"], server["device"]["server_url"])


def _csv_lookup(media: dict[str, bytes]):
    def lookup(name: str, column: str) -> list[str]:
        rows = csv.DictReader(io.StringIO(media[name].decode("utf-8")))
        return sorted({row[column] for row in rows if row.get(column)})
    return lookup


def test_collect_downloads_fills_and_sends_all_three_forms(server, phone):
    forms = phone.download_forms()
    assert set(forms) == {"well_being_ranking", "poverty_nodes", "household_income"}
    assert {"clusters.csv", "hamlets.csv", "households.csv"} <= set(forms["household_income"]["media"])
    rng = random.Random(7)
    hamlets = list(csv.DictReader(io.StringIO(forms["household_income"]["media"]["hamlets.csv"].decode())))
    hamlet = hamlets[0]
    sent = {}

    # 1. an informant group ranks the hamlet and lists two new households
    wbr = forms["well_being_ranking"]
    answers = samples.fill(wbr["def"], samples.well_being_ranking(rng, [], cluster=hamlet["cluster"],
                                                                  hamlet=hamlet["name"], new=2),
                           rng, _csv_lookup(wbr["media"]))
    new_households = [row["new_hh_id"] for row in answers["new_household"]]
    xml = samples.instance_xml(wbr["def"], answers)
    assert [r.status for r in phone.send_instance(xml, {})] == [201]
    sent["well_being_ranking"] = (xml, {})

    # 2. the household income form, refreshed, offers the new households; a 5-member household with a photo,
    #    sent as a split upload (Collect splits when the files exceed the advertised size)
    hh = phone.download_forms()["household_income"]
    offered = _csv_lookup(hh["media"])("households.csv", "name")
    assert set(new_households) <= set(offered)
    answers = samples.fill(hh["def"], samples.household_income(rng, new_households[0], cluster=hamlet["cluster"],
                                                               hamlet=hamlet["name"], members=5),
                           rng, _csv_lookup(hh["media"]))
    answers["photo"] = "1732262400123.jpg"
    xml = samples.instance_xml(hh["def"], answers)
    files = {"1732262400123.jpg": PHOTO, "stray-note.txt": b"not referenced by the form"}
    replies = phone.send_instance(xml, files, accept_length=len(xml) + len(PHOTO) + 10)
    assert [r.status for r in replies] == [201, 201]
    assert all("full submission upload was successful!" in r.text for r in replies)
    sent["household_income"] = (xml, {"1732262400123.jpg": PHOTO})

    # 3. a poverty node
    node = forms["poverty_nodes"]
    answers = samples.fill(node["def"], samples.poverty_node(rng, cluster=hamlet["cluster"]), rng,
                           _csv_lookup(node["media"]))
    xml = samples.instance_xml(node["def"], answers)
    assert [r.status for r in phone.send_instance(xml, {})] == [201]
    sent["poverty_nodes"] = (xml, {})

    # every acknowledged submission reads back, XML byte for byte, with its attachments
    store = SQLiteStore(Path(server["data"]) / "ppa.db")
    try:
        for form_id, (xml, files) in sent.items():
            form = store.get_form(1, form_id)
            instance_id = etree.fromstring(xml).findtext("meta/instanceID")
            submission = store.get_submission(form["id"], instance_id)
            assert submission is not None, form_id
            assert store.submission_xml(submission["def_id"]) == xml
            stored = {a["name"]: store.get_blob(a["blob_sha256"]) for a in store.attachments(submission["def_id"])}
            assert stored == files
        income = store.get_form(1, "household_income")
        members = store.rows("data_1_household_income__member")
        assert len(members) == 5 and all(m["_parent_key"].startswith("uuid:") for m in members)
        assert store.count_submissions(income["id"]) == 1
    finally:
        store.close()


def test_a_revoked_phone_is_refused_on_its_next_request(server):
    env = {**os.environ, "PPA_DATA": str(server["data"]), "PPA_LOG_LEVEL": "WARNING"}
    added = subprocess.run([sys.executable, "-m", "server.cli", "device", "add", "--project", "1", "Lost phone"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    device = json.loads(added.stdout)
    phone = Collect(server["url"], device["server_url"])
    assert phone.form_list().status == 200
    subprocess.run([sys.executable, "-m", "server.cli", "device", "revoke", str(device["id"])], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    refused = phone.form_list()
    assert refused.status == 403 and "revoked" in refused.text
