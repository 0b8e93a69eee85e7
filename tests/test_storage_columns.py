"""The typed-row tables' columns are read from the catalogue once and reused (server/storage/table_columns.py, issue
11): on both engines, a store sees the columns and tables a form version published through another store (another
app server on the same database) brought, a table change that is rolled back leaves nothing cached, and an OData
page of a running server shows a field that a version published elsewhere added. The labels pages show for a
list's items are kept per list version the same way."""

from __future__ import annotations

import json

import pytest
import requests

from server import catalog, rows
from server.storage.postgres import PostgresStore
from server.storage.sqlite import SQLiteStore

from .helpers import DATA

COMMUNITY = (DATA / "ppa_community.xml").read_bytes()
NEW_INSTANCE = "uuid:6a1f3c52-0d7e-4b0e-9a51-2f7d8e4c9b10"


def _with_field(name: str, version: str, form_id: str = "ppa_community") -> bytes:
    """ppa_community.xml as a new version (or a new form) with one more text field."""
    xml = COMMUNITY.replace(b'version="2024112201"', f'version="{version}"'.encode())
    xml = xml.replace(b"<location/>", f"<location/><{name}/>".encode(), 1)
    xml = xml.replace(b'<bind nodeset="/data/location" type="geopoint"/>',
                      b'<bind nodeset="/data/location" type="geopoint"/>'
                      + f'<bind nodeset="/data/{name}" type="string"/>'.encode(), 1)
    assert xml.count(f"/data/{name}".encode()) == 1
    return xml.replace(b'id="ppa_community"', f'id="{form_id}"'.encode())


def _second_store(store):
    """Another store object on the same database: what a second app server (or process) holds."""
    if isinstance(store, PostgresStore):
        return PostgresStore(store.url)
    assert isinstance(store, SQLiteStore)
    return SQLiteStore(store.path)


def _count_reads(store, monkeypatch) -> list[str]:
    """The tables whose columns the store reads from the catalogue from now on."""
    reads: list[str] = []
    read = store._read_table_columns

    def counted(table):
        reads.append(table)
        return read(table)

    monkeypatch.setattr(store, "_read_table_columns", counted)
    return reads


def test_a_tables_columns_are_read_from_the_catalogue_once_and_reused(store, project, monkeypatch):
    table = rows.table_name(project["id"], "ppa_community")
    reads = _count_reads(store, monkeypatch)
    first = store._table_columns(table)
    assert "village" in first and "_submission_id" in first and "_row" not in first
    for _ in range(3):
        assert store._table_columns(table) == first and store.table_exists(table)
        with store.transaction():
            assert store._table_select(table, "r.") == (first, ", ".join(f'r."{c}"' for c in first))
    assert reads == [table]
    first.append("changed by the caller")   # a caller's copy, not the cached list
    assert "changed by the caller" not in store._table_columns(table)


def test_columns_added_by_a_new_form_version_are_seen_by_a_store_that_cached_them(store, project):
    table = rows.table_name(project["id"], "ppa_community")
    new_table = rows.table_name(project["id"], "ppa_community_two")
    assert "notes" not in store._table_columns(table)                 # cached here
    assert not store.table_exists(new_table)                           # a table not there yet
    other = _second_store(store)
    try:
        catalog.publish(other, project["id"], _with_field("notes", "2024112202"), "ppa_community.xml",
                        validate=False)
        catalog.publish(other, project["id"], _with_field("remarks", "1", "ppa_community_two"),
                        "ppa_community_two.xml", validate=False)
    finally:
        other.close()
    assert "notes" in store._table_columns(table)
    columns, _ = store.central_main_rows(table, [1])
    assert columns[-1] == "notes"
    assert store.table_exists(new_table) and "remarks" in store._table_columns(new_table)
    with store.transaction():   # and inside a unit of work (where ingest reads them)
        assert store._table_select(table)[0][-1] == "notes"


def test_a_rolled_back_table_change_leaves_no_cached_columns(store, project):
    table = rows.table_name(project["id"], "ppa_community")
    new_table = rows.table_name(project["id"], "ppa_community_two")
    before = store._table_columns(table)
    with pytest.raises(RuntimeError, match="publish undone"):
        with store.transaction():
            catalog.publish(store, project["id"], _with_field("notes", "2024112202"), "ppa_community.xml",
                            validate=False)
            catalog.publish(store, project["id"], _with_field("notes", "1", "ppa_community_two"),
                            "ppa_community_two.xml", validate=False)
            assert store._table_columns(table) == [*before, "notes"]   # the unit of work sees its own change
            assert store.table_exists(new_table)
            raise RuntimeError("publish undone")
    assert store._table_columns(table) == before
    assert not store.table_exists(new_table)
    # The same version published again with another field (SQLite gives it the rolled-back form_defs id again):
    catalog.publish(store, project["id"], _with_field("remarks", "2024112202"), "ppa_community.xml",
                    validate=False)
    assert store._table_columns(table) == [*before, "remarks"]
    assert store.get_form(project["id"], "ppa_community_two") is None and not store.table_exists(new_table)


def test_list_labels_are_read_once_per_list_version_and_a_change_elsewhere_is_seen(store, project, monkeypatch):
    pid = project["id"]
    store.upsert_list_items(pid, "hamlets.csv", [("zz-h1", {"label": "Old name", "cluster": "chanderi"}),
                                                  ("zz-h2", {"cluster": "chanderi"})], "test")
    labels = store.list_labels(pid, "hamlets.csv")
    assert labels["zz-h1"] == "Old name" and labels["zz-h2"] == "zz-h2"   # no label: the name
    with pytest.raises(TypeError):
        labels["zz-h1"] = "changed by a caller"    # the kept mapping is read-only
    reads = []
    items = store.list_items
    monkeypatch.setattr(store, "list_items", lambda *a: reads.append(a) or items(*a))
    assert store.list_labels(pid, "hamlets.csv") is labels and reads == []
    other = _second_store(store)   # another app server renames a hamlet
    try:
        other.upsert_list_items(pid, "hamlets.csv", [("zz-h1", {"label": "New name", "cluster": "chanderi"})],
                                "test", replace=True)
    finally:
        other.close()
    assert store.list_labels(pid, "hamlets.csv")["zz-h1"] == "New name" and len(reads) == 1
    assert store.list_labels(pid, "no-such-list.csv") == {}


def test_list_labels_read_inside_a_rolled_back_change_are_not_kept(store, project):
    pid = project["id"]
    before = store.list_labels(pid, "hamlets.csv")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.upsert_list_items(pid, "hamlets.csv", [("zz-rolled-back", {"label": "Never"})], "test")
            assert store.list_labels(pid, "hamlets.csv")["zz-rolled-back"] == "Never"
            raise RuntimeError("roll back")
    assert store.list_labels(pid, "hamlets.csv") == before
    # the next change takes the version number the rolled-back one had
    store.upsert_list_items(pid, "hamlets.csv", [("zz-committed", {"label": "Kept"})], "test")
    labels = store.list_labels(pid, "hamlets.csv")
    assert labels["zz-committed"] == "Kept" and "zz-rolled-back" not in labels


def test_an_odata_page_shows_a_field_that_a_version_published_through_another_server_added(live, phone, store,
                                                                                           project,
                                                                                           researcher_token):
    svc = f"{live.url}/v1/projects/{project['id']}/forms/ppa_community.svc/Submissions"
    auth = {"Authorization": f"Bearer {researcher_token}"}
    files = {n: (DATA / n).read_bytes() for n in ("1732262400123.jpg", "audit.csv")}
    assert phone.submit((DATA / "sample_submission.xml").read_bytes(), files).status == 201
    reply = requests.get(svc, headers=auth, timeout=60)   # this server has read the table's columns
    assert reply.status_code == 200 and "notes" not in json.loads(reply.content)["value"][0]
    other = _second_store(store)
    try:
        catalog.publish(other, project["id"], _with_field("notes", "2024112202"), "ppa_community.xml",
                        validate=False)
    finally:
        other.close()
    xml = (DATA / "sample_submission.xml").read_bytes().replace(b'version="2024112201"', b'version="2024112202"')
    xml = xml.replace(b"</location>", b"</location><notes>late rains this year</notes>", 1)
    xml = xml.replace(b"uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37", NEW_INSTANCE.encode())
    assert phone.submit(xml, files).status == 201
    reply = requests.get(svc, headers=auth, timeout=60)
    assert reply.status_code == 200, reply.text[:300]
    entities = {e["__id"]: e for e in json.loads(reply.content)["value"]}
    assert entities[NEW_INSTANCE]["notes"] == "late rains this year"
    assert entities["uuid:34d97f30-4f41-4e4f-afbc-06a2b9499a37"]["notes"] is None
    form = store.get_form(project["id"], "ppa_community")
    kept = {s["instance_id"]: s["def_id"] for s in store.odata_entity_sources(form["id"])}
    body = store.odata_entities([kept[NEW_INSTANCE]], form["current_def_id"])[kept[NEW_INSTANCE]]
    assert json.loads(body)["notes"] == "late rains this year"   # the body kept at ingest has it too
