"""pyodk, ODK's own Python client, driven unchanged against a server started here: only its base URL differs from
a researcher's script for ODK Central. The project is tests/central.py's (both forms, the five recorded
submissions sent over OpenRosa)."""

from __future__ import annotations

import pytest
from lxml import etree
from pyodk.client import Client

from .central import ADMIN, NDA, NDA_CLUSTERS, served_reference
from .web import PASSWORD

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
HOUSEHOLDS = {"uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd", "uuid:4167a70b-c75e-4a7b-8141-822ade0b8965",
              "uuid:f1452bf9-c96a-434a-9c71-331e83e33e26"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_reference(tmp_path_factory.mktemp("pyodk")) as reference:
        yield reference


def client(served, tmp_path, email: str = ADMIN) -> Client:
    """A pyodk client as a researcher configures one: a config file and a cache file."""
    config = tmp_path / f"{email}.toml"
    config.write_text(f'[central]\nbase_url = "{served.url}"\nusername = "{email}"\npassword = "{PASSWORD}"\n'
                      f"default_project_id = {served.project_id}\n", encoding="utf-8")
    cache = tmp_path / f"{email}-cache.toml"
    cache.touch()   # pyodk logs an error when it finds no cache file to read on its first sign-in
    return Client(config_path=config, cache_path=cache).open()


def test_pyodk_signs_in_and_lists_projects_and_forms(served, tmp_path):
    with client(served, tmp_path) as odk:
        assert [p.name for p in odk.projects.list()] == ["Household survey reference"]
        forms = {f.xmlFormId: f for f in odk.forms.list()}
        assert set(forms) == {"household_income", "well_being_ranking"}
        assert forms["household_income"].version == "2026112201" and forms["household_income"].state == "open"
    assert "token" in (tmp_path / f"{ADMIN}-cache.toml").read_text()   # the session pyodk keeps for next time


def test_pyodk_lists_and_gets_submissions(served, tmp_path):
    with client(served, tmp_path) as odk:
        listed = odk.submissions.list(form_id="household_income")
        assert {s.instanceId for s in listed} == HOUSEHOLDS
        one = odk.submissions.get("uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd", form_id="household_income")
        assert one.instanceId == "uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd" and one.submitterId > 0
        assert one.deviceId == "collect:Xb2Qh7Lr5Nw0Tz9A" and one.reviewState is None


def test_pyodk_reads_the_submissions_table_with_filter_expand_and_count(served, tmp_path):
    with client(served, tmp_path) as odk:
        table = odk.submissions.get_table(form_id="household_income", expand="*", count=True,
                                          filter="__system/submissionDate ge 2020-01-01T00:00:00Z and "
                                                 "year(__system/submissionDate) ge 2020")
        assert table["@odata.count"] == 3 and {r["__id"] for r in table["value"]} == HOUSEHOLDS
        row = next(r for r in table["value"] if r["__id"] == "uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd")
        assert len(row["interview"]["mod_b"]["member"]) == 4
        assert row["mod_a"]["a_interview"]["gps"]["type"] == "Point"
        first = odk.submissions.get_table(form_id="household_income", top=1, count=True)
        assert first["@odata.count"] == 3 and len(first["value"]) == 1 and "@odata.nextLink" in first


def test_pyodk_reads_a_repeat_table(served, tmp_path):
    with client(served, tmp_path) as odk:
        members = odk.submissions.get_table(form_id="household_income", table_name="Submissions.interview.mod_b.member",
                                            count=True)
    assert members["@odata.count"] == 15 == len(members["value"])
    assert {r["__Submissions-id"] for r in members["value"]} == HOUSEHOLDS
    assert all(len(r["__id"]) == 40 for r in members["value"])


def test_pyodk_reviews_a_submission_with_a_comment(served, tmp_path):
    instance = "uuid:4167a70b-c75e-4a7b-8141-822ade0b8965"
    with client(served, tmp_path) as odk:
        odk.submissions.review(instance, "approved", form_id="household_income", comment="Checked on the phone.")
        assert odk.submissions.get(instance, form_id="household_income").reviewState == "approved"
        comments = odk.submissions.list_comments(instance, form_id="household_income")
        assert [c.body for c in comments] == ["Checked on the phone."]
        approved = odk.submissions.get_table(form_id="household_income", filter="__system/reviewState eq 'approved'")
    assert [r["__id"] for r in approved["value"]] == [instance]
    assert any(e["action"] == "submission.review" and e["actor"] == ADMIN
               for e in served.store.audit_entries("submission.review"))


def test_pyodk_lists_the_households_as_entities(served, tmp_path):
    with client(served, tmp_path) as odk:
        households = odk.entities.list(entity_list_name="households")
    assert households and all(h.currentVersion.data["cluster"] for h in households)
    assert "mandi_leather-h01-001" in {h.uuid for h in households}


def test_an_nda_reads_only_their_clusters_through_pyodk(served, tmp_path):
    with client(served, tmp_path, NDA) as odk:
        table = odk.submissions.get_table(form_id="household_income", expand="*")
        households = odk.entities.list(entity_list_name="households")
    assert {r["mod_a"]["a_place"]["cluster"] for r in table["value"]} == set(NDA_CLUSTERS)
    assert {h.currentVersion.data["cluster"] for h in households} == set(NDA_CLUSTERS)


@pytest.mark.parametrize("form_id", ["household_income", "well_being_ranking"])
def test_every_entity_set_the_metadata_declares_can_be_read(served, tmp_path, form_id):
    with client(served, tmp_path) as odk:
        reply = odk.session.get(f"projects/{served.project_id}/forms/{form_id}.svc/$metadata")
        assert reply.status_code == 200
        document = etree.fromstring(reply.content)
        sets = [e.get("Name") for e in document.iter(f"{EDM}EntitySet")]
        assert sets[0] == "Submissions" and len(sets) > 1
        for name in sets:
            table = odk.submissions.get_table(form_id=form_id, table_name=name, count=True)
            assert table["@odata.count"] == len(table["value"]) > 0, name
