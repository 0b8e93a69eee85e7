"""The OData entity bodies kept at ingest (server/central/odata_entities.py, table odata_entities): a default page
of `Submissions` splices each submission's kept body with its __id and __system, over real HTTP on both engines.
That the spliced pages are Central's own shapes is test_central_shapes.py's job; here: that the kept body is what
the page sends, that an edit keeps a new one, that a later form version leaves the older ones unused until
`ppa aggregates rebuild` makes them again, and that what changes after ingest (the review state) is read live."""

from __future__ import annotations

import json
import re
import uuid

import requests
from click.testing import CliRunner

from server import catalog
from server.auth import new_token
from server.cli import main as ppa

from .central import CENTRAL, FORM_FILES, set_up
from .collect import Collect
from .helpers import DATA

SVC = "/v1/projects/{p}/forms/household_income.svc"
HH1 = "uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd"    # household_income-1


def _page(ref, query: str = "") -> bytes:
    reply = ref.session().get(f"{SVC.format(p=ref.project_id)}/Submissions{query}")
    assert reply.status_code == 200, reply.text[:300]
    return reply.content


def _ordered(body: bytes | str):
    """JSON with every object as a list of (name, value) pairs, so that comparing also compares the order."""
    return json.loads(body, object_pairs_hook=list)


def _form(ref) -> dict:
    return ref.store.get_form(ref.project_id, "household_income")


def _kept(ref) -> dict[str, str]:
    """The kept bodies of the form's submissions made against its current version, by first instanceID."""
    form = _form(ref)
    sources = ref.store.odata_entity_sources(form["id"])
    bodies = ref.store.odata_entities([s["def_id"] for s in sources], form["current_def_id"])
    return {s["instance_id"]: bodies[s["def_id"]] for s in sources if s["def_id"] in bodies}


def _mark(ref, instance_id: str, form_def_id: int | None = None) -> None:
    """Replace one submission's kept body with one the builder would never make."""
    form = _form(ref)
    source = next(s for s in ref.store.odata_entity_sources(form["id"]) if s["instance_id"] == instance_id)
    with ref.store.transaction():
        ref.store.put_odata_entity(source["def_id"], form_def_id or form["current_def_id"], '{"kept":"marker"}')


def _rebuild(app, ref) -> dict:
    """`ppa aggregates rebuild` on the test's data folder and database."""
    done = CliRunner().invoke(ppa, ["aggregates", "rebuild", "--project", str(ref.project_id)],
                              env={"PPA_DATA": app.config["DATA"]})
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_ingest_keeps_each_submissions_body_and_the_page_sends_it_as_kept(app, live):
    ref = set_up(app, live.url)
    page = dict(_ordered(_page(ref)))["value"]
    kept = _kept(ref)
    assert len(page) == 3 and set(kept) == {dict(e)["__id"] for e in page}
    for entity in page:
        data = [(name, value) for name, value in entity if name not in ("__id", "__system")]
        assert [name for name, _ in entity][-2:] == ["__id", "__system"]
        assert _ordered(kept[dict(entity)["__id"]]) == data


def test_the_page_splices_the_kept_body_and_a_rebuild_makes_it_again(app, live):
    ref = set_up(app, live.url)
    before = _page(ref)
    _mark(ref, HH1)
    marked = {e["__id"]: e for e in json.loads(_page(ref))["value"]}
    assert list(marked[HH1]) == ["kept", "__id", "__system"] and marked[HH1]["kept"] == "marker"
    assert marked[HH1]["__system"]["formVersion"] == "2026112201"
    assert _rebuild(app, ref)["odata_entities"] == 5   # three households, two rankings
    assert _page(ref) == before


def test_an_edit_keeps_the_new_versions_body(app, live):
    ref = set_up(app, live.url)
    token = new_token()
    ref.store.create_device(ref.project_id, "editor", token, actor="test")
    phone = Collect(live.url, f"{live.url}/v1/key/{token}/projects/{ref.project_id}")
    xml = (CENTRAL / "submissions" / "household_income-1.xml").read_bytes()
    edited_id = f"uuid:{uuid.uuid4()}"
    edit = xml.replace(f"<instanceID>{HH1}</instanceID>".encode(),
                       f"<instanceID>{edited_id}</instanceID><deprecatedID>{HH1}</deprecatedID>".encode())
    edit = re.sub(rb"<hh_head_name>[^<]*</hh_head_name>", b"<hh_head_name>Edited Name</hh_head_name>", edit)
    files = {m.decode(): (CENTRAL / "submissions" / m.decode()).read_bytes()
             for m in re.findall(rb">([0-9]+\.jpg)<", xml)}
    assert phone.submit(edit, files).status == 201
    entity = next(e for e in json.loads(_page(ref))["value"] if e["__id"] == HH1)
    assert entity["meta"]["instanceID"] == edited_id
    assert '"hh_head_name": "Edited Name"' in json.dumps(entity)
    assert entity["__system"]["edits"] == 1
    assert _ordered(_kept(ref)[HH1]) == [(k, v) for k, v in _ordered(json.dumps(entity))
                                         if k not in ("__id", "__system")]


def test_a_later_form_version_leaves_older_bodies_unused_until_a_rebuild(app, live):
    ref = set_up(app, live.url)
    before = _page(ref)
    older = _form(ref)["current_def_id"]
    _mark(ref, HH1, older)
    newer = FORM_FILES["household_income"].read_bytes().replace(b'version="2026112201"', b'version="2026112202"')
    assert newer != FORM_FILES["household_income"].read_bytes()
    catalog.publish(ref.store, ref.project_id, newer, "household_income.xml", validate=False)
    assert _form(ref)["current_def_id"] != older and _kept(ref) == {}
    assert _page(ref) == before   # built from the typed rows: the marker made against the older version is unused
    _rebuild(app, ref)
    assert set(_kept(ref)) == {e["__id"] for e in json.loads(before)["value"]}
    assert _page(ref) == before


def test_a_review_after_ingest_shows_on_the_spliced_page(app, live):
    ref = set_up(app, live.url)
    kept = _kept(ref)[HH1]
    reply = ref.session().send("PATCH", f"/v1/projects/{ref.project_id}/forms/household_income/submissions/{HH1}",
                               json={"reviewState": "approved"})
    assert reply.status_code == 200, reply.text
    entity = next(e for e in json.loads(_page(ref))["value"] if e["__id"] == HH1)
    assert entity["__system"]["reviewState"] == "approved" and _kept(ref)[HH1] == kept


def test_options_that_change_the_body_build_it_from_the_typed_rows(app, live):
    ref = set_up(app, live.url)
    _mark(ref, HH1)
    for query in ("?$wkt=true", "?$select=__id,meta"):
        entity = next(e for e in json.loads(_page(ref, query))["value"] if e["__id"] == HH1)
        assert "kept" not in entity and entity["meta"]["instanceID"] == HH1, query


def test_an_encrypted_submission_keeps_an_empty_body_and_its_entity_is_only_id_and_system(live, phone, store,
                                                                                          project,
                                                                                          researcher_token):
    envelope = (DATA / "encrypted_sample" / "envelope.xml").read_bytes()
    files = {n: (DATA / "encrypted_sample" / n).read_bytes()
             for n in ("1732262400123.jpg.enc", "audit.csv.enc", "submission.xml.enc")}
    assert phone.submit(envelope, files).status == 201
    form = store.get_form(project["id"], "ppa_community")
    (source,) = store.odata_entity_sources(form["id"])
    assert store.odata_entities([source["def_id"]], form["current_def_id"]) == {source["def_id"]: "{}"}
    reply = requests.get(f"{live.url}/v1/projects/{project['id']}/forms/ppa_community.svc/Submissions",
                         headers={"Authorization": f"Bearer {researcher_token}"}, timeout=60)
    assert reply.status_code == 200, reply.text[:300]
    (entity,) = json.loads(reply.content)["value"]
    assert list(entity) == ["__id", "__system"] and entity["__id"] == "uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37"
    assert entity["__system"]["status"] == "notDecrypted"
