"""People, roles and one-scan device setup: the QR code decodes to settings that configure Collect completely;
an NDA never sees another cluster (every route: test_scope.py); revoked
devices, disabled users and revoked tokens are refused on their next request; sign-ins are throttled."""

from __future__ import annotations

import io
import json
import re

import pytest
import zxingcpp
from PIL import Image

from server import qr
from server.api import hash_token
from server.auth import new_token

from .collect import Collect
from .web import PASSWORD, ROLE_USERS, csrf, make_users, sign_in, submit_household


@pytest.fixture
def world(app, store, project, collect_client):
    """Project 1 with households in Chanderi and Sindhudurg, a second project, and a user per role."""
    other = store.create_project("Another programme")
    users = make_users(store, project["id"], other["id"])
    ids = {"chanderi": submit_household(collect_client, app, store, project["id"], "chanderi", "chanderi-w03",
                                         "chanderi-w03-t1"),
           "sindhudurg": submit_household(collect_client, app, store, project["id"], "sindhudurg",
                                          "sindhudurg-parule", "sindhudurg-parule-t1", seed=2)}
    form = store.get_form(project["id"], "household_income")
    subs = {c: store.get_submission(form["id"], i)["id"] for c, i in ids.items()}
    return {"project": project, "other": other, "users": users, "submissions": subs}


def client_for(app, role: str | None):  # one sign-in per client: argon2 is slow on purpose
    client = app.test_client()
    if role is not None:
        assert sign_in(client, ROLE_USERS[role][0]).status_code == 302
    return client


# -- one-scan setup ------------------------------------------------------------------------------------------

def test_the_device_qr_code_decodes_to_settings_that_configure_collect_completely(app, store, world):
    admin = client_for(app, "admin")
    page = admin.get("/projects/1/devices").get_data(as_text=True)
    created = admin.post("/projects/1/devices", data={"name": "Rekha S., tablet 7", "csrf_token": csrf(page),
                                                      "form_id": [str(f["id"]) for f in store.list_forms(1)]})
    assert created.status_code == 302
    device_id = int(created.headers["Location"].rsplit("/", 1)[-1])
    image = admin.get(f"/projects/1/devices/{device_id}/qr.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))   # a real QR decoder
    settings = qr.decode(found.text)
    assert set(settings) == {"general", "admin", "project"}
    assert settings["general"]["form_update_mode"] == "match_exactly"
    assert settings["general"]["autosend"] == "wifi_and_cellular"
    assert settings["admin"]["change_server"] is False
    assert settings["project"] == {"name": "Test PPA", "icon": "T", "color": settings["project"]["color"]}
    # a Collect-shaped client configured from nothing but that JSON lists, downloads and submits
    phone = Collect(app.test_client(), settings["general"]["server_url"])
    listing = phone.form_list()
    assert listing.status == 200 and b"household_income" in listing.body
    download = re.search(rb"<downloadUrl>([^<]+household_income\.xml)</downloadUrl>", listing.body).group(1).decode()
    assert phone.get(download).status == 200
    submit_household(phone, app, store, 1, "chanderi", "chanderi-w07", "chanderi-w07-qr")


def test_the_qr_code_is_also_svg_and_an_a4_onboarding_sheet(app, store, world):
    admin = client_for(app, "admin")
    device = store.create_device(1, "Anil K., phone 2", new_token(), actor="test")
    svg = admin.get(f"/projects/1/devices/{device['id']}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    sheet = admin.get(f"/projects/1/devices/{device['id']}/sheet").get_data(as_text=True)
    assert "Anil K., phone 2" in sheet and "Test PPA" in sheet and "<svg" in sheet and "Scan" in sheet


def test_a_device_receives_and_may_submit_only_the_forms_it_is_given(app, store, world):
    token = new_token()
    device = store.create_device(1, "Ranking team phone", token, actor="test")
    store.set_device_forms(device["id"], [store.get_form(1, "well_being_ranking")["id"]])
    phone = Collect(app.test_client(), f"http://localhost/v1/key/{token}/projects/1")
    listing = phone.form_list().body
    assert b"well_being_ranking" in listing and b"household_income" not in listing
    assert phone.get("/forms/household_income.xml").status == 404
    form_xml = store.form_def_xml(store.get_form(1, "household_income")["current_def_id"])
    from bench import samples
    from server.xforms import parse_xform
    import random
    form = parse_xform(form_xml)
    rng = random.Random(1)
    xml = samples.instance_xml(form, samples.fill(form, samples.household_income(rng, "x-1"), rng))
    refused = phone.submit(xml)
    assert refused.status == 403 and b"OpenRosaResponse" in refused.body


# -- the role table: every role against every route, with NDAs' clusters, is tests/test_scope.py ------------------

# -- an NDA never sees another cluster's data, anywhere ---------------------------------------------------------

def test_an_nda_sees_only_their_clusters_in_lists_summaries_api_and_exports(app, store, world):
    nda = client_for(app, "nda")
    listing = nda.get("/projects/1/submissions").get_data(as_text=True)
    assert "chanderi-w03" in listing and "sindhudurg" not in listing
    assert "sindhudurg" not in nda.get("/projects/1/submissions?cluster=&review_state=").get_data(as_text=True)
    assert nda.get("/projects/1/submissions?cluster=sindhudurg").status_code == 403
    assert "sindhudurg" not in nda.get("/projects/1/clusters").get_data(as_text=True)
    export = nda.get("/projects/1/downloads/household_income.csv").data
    assert b"chanderi-w03-t1" in export or len(export) > 0
    assert b"sindhudurg-parule-t1" not in export
    token = new_token()
    store.create_api_token(world["users"]["nda"]["id"], hash_token(token), "nda")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    poverty = api.get("/api/v1/projects/1/poverty?by=cluster", headers=headers).get_json()
    assert {row["cluster"] for row in poverty["rows"]} == {"chanderi"}
    households = api.get("/api/v1/projects/1/export/households.csv", headers=headers).get_data(as_text=True)
    assert "chanderi-w03-t1" in households and "sindhudurg" not in households
    assert api.get("/api/v1/projects/1/wellbeing?cluster=sindhudurg", headers=headers).status_code == 403
    jsonl = api.get("/api/v1/projects/1/forms/household_income/export.jsonl", headers=headers).get_data(as_text=True)
    assert "chanderi-w03-t1" in jsonl and "sindhudurg" not in jsonl


# -- revocation, throttling, sessions, CSRF, audit -----------------------------------------------------------------

def test_a_revoked_device_is_refused_on_its_next_request(app, store, world):
    token = new_token()
    device = store.create_device(1, "Lost phone", token, actor="test")
    phone = Collect(app.test_client(), f"http://localhost/v1/key/{token}/projects/1")
    assert phone.form_list().status == 200
    admin = client_for(app, "admin")
    page = admin.get(f"/projects/1/devices/{device['id']}").get_data(as_text=True)
    assert admin.post(f"/projects/1/devices/{device['id']}/revoke", data={"csrf_token": csrf(page)}).status_code == 302
    assert phone.form_list().status == 403


def test_a_disabled_user_loses_their_session_and_tokens_at_once(app, store, world):
    researcher = client_for(app, "researcher")
    token = new_token()
    store.create_api_token(world["users"]["researcher"]["id"], hash_token(token), "scripts")
    assert researcher.get("/projects/1").status_code == 200
    admin = client_for(app, "admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    admin.post(f"/admin/users/{world['users']['researcher']['id']}/disable", data={"csrf_token": csrf(page)})
    assert researcher.get("/projects/1").status_code == 302            # back to sign-in
    api = app.test_client().get("/api/v1/projects/1/wellbeing", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert sign_in(app.test_client(), ROLE_USERS["researcher"][0]).status_code == 401


def test_a_revoked_api_token_is_refused(app, store, world):
    manager = client_for(app, "manager")
    page = manager.get("/account").get_data(as_text=True)
    shown = manager.post("/account", data={"label": "R scripts", "csrf_token": csrf(page)}).get_data(as_text=True)
    token = re.search(r'id="new-token">[^<]*<code>([^<]+)</code>', shown).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/projects/1/wellbeing", headers=headers).status_code == 200
    manager.post("/account/tokens/revoke", data={"csrf_token": csrf(page)})
    assert app.test_client().get("/api/v1/projects/1/wellbeing", headers=headers).status_code == 401


def test_sign_out_everywhere_ends_every_session(app, world):
    laptop, tablet = client_for(app, "manager"), client_for(app, "manager")
    page = laptop.get("/account").get_data(as_text=True)
    laptop.post("/logout/everywhere", data={"csrf_token": csrf(page)})
    assert tablet.get("/projects/1").status_code == 302


def test_repeated_failed_sign_ins_are_throttled(app, world):
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "manager@example.org", "wrong password").status_code == 401
    refused = sign_in(client, "manager@example.org", PASSWORD)
    assert refused.status_code == 429 and b"Too many wrong passwords" in refused.data


def test_a_form_post_without_its_csrf_token_is_refused(app, world):
    admin = client_for(app, "admin")
    response = admin.post("/projects/1/devices", data={"name": "no token"})
    assert response.status_code == 400


def test_passwords_are_stored_with_a_slow_hash(store, world):
    stored = store.user_by_email("admin@example.org")["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_audit_log_records_sign_ins_reviews_exports_devices_and_revocations(app, store, world):
    admin = client_for(app, "admin")
    page = admin.get("/account").get_data(as_text=True)
    admin.post(f"/projects/1/submissions/{world['submissions']['chanderi']}/review",
               data={"state": "approved", "comment": "ok", "csrf_token": csrf(page)})
    admin.get("/projects/1/downloads/household_income.csv").get_data()
    created = admin.post("/projects/1/devices", data={"name": "Phone 9", "csrf_token": csrf(page)})
    device_id = int(created.headers["Location"].rsplit("/", 1)[-1])
    admin.post(f"/projects/1/devices/{device_id}/revoke", data={"csrf_token": csrf(page)})
    actions = {e["action"] for e in store.audit_search(limit=500)}
    assert {"user.sign_in", "submission.review", "export", "device.create", "device.revoke",
            "form.publish"} <= actions
    filtered = admin.get("/admin/audit?action=device.revoke").get_data(as_text=True)
    assert "<td>device.revoke</td>" in filtered and "<td>user.sign_in</td>" not in filtered
    assert json.loads(store.audit_search(action="device.create")[0]["details"])["name"] == "Phone 9"


# -- a project's manager: forms, lists, people ---------------------------------------------------------------

def test_a_manager_publishes_a_version_closes_a_form_imports_a_list_and_adds_an_nda(app, store, world):
    from pathlib import Path
    manager = client_for(app, "manager")
    page = manager.get("/projects/1/forms").get_data(as_text=True)
    token = csrf(page)
    source = (Path(__file__).parent.parent / "forms" / "poverty_nodes.xml").read_bytes()
    bumped = re.sub(rb'version="\d+"', b'version="2099010101"', source, count=1)
    published = manager.post("/projects/1/forms", data={"csrf_token": token,
                                                        "file": (io.BytesIO(bumped), "poverty_nodes.xml")},
                             content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "version 2099010101: published" in published
    manager.post("/projects/1/forms/well_being_ranking/state", data={"state": "closing", "csrf_token": token})
    phone_token = new_token()
    store.create_device(1, "phone", phone_token, actor="test")
    listing = Collect(app.test_client(), f"http://localhost/v1/key/{phone_token}/projects/1").form_list().body
    assert b"well_being_ranking" not in listing and b"<version>2099010101</version>" in listing
    imported = manager.post("/projects/1/lists", data={
        "csrf_token": token, "list_name": "hamlets.csv",
        "file": (io.BytesIO(b"name,label,cluster,sector\nchanderi-w15,Chanderi ward 15,chanderi,urban\n"), "h.csv")},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "1 row(s) added" in imported
    assert b"chanderi-w15" in manager.get("/projects/1/lists/hamlets.csv").data
    manager.post("/projects/1/people", data={"csrf_token": token, "email": "nda2@example.org", "role": "nda",
                                             "clusters": "sindhudurg", "password": PASSWORD})
    nda2 = app.test_client()
    assert sign_in(nda2, "nda2@example.org").status_code == 302
    listing = nda2.get("/projects/1/submissions").get_data(as_text=True)
    assert "sindhudurg-parule" in listing and "chanderi-w03" not in listing
    refused = manager.post("/projects/1/people", data={"csrf_token": token, "email": "boss@example.org",
                                                       "role": "manager", "password": PASSWORD},
                           follow_redirects=True).get_data(as_text=True)
    assert "you may add: nda, researcher" in refused
