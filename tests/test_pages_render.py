"""No page fails on valid data: every page of the site (the GET routes of app.url_map, so a new page is covered the
day it is added) rendered for every mix of 0-3 informant groups, 0-2 household income interviews and 1-2 rounds,
in-process; one mix again over real HTTP as an NDA; and the cluster page of a two-group round in headless Chromium.
Fleiss' kappa and Kendall's W need three groups: with fewer the cluster page says so instead of failing (#10)."""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from bench import samples
from server.auth import new_session_id, new_token, session_key

from . import chromium
from .web import PASSWORD, ROLE_USERS, make_users

CLUSTER, HAMLET = "chanderi", "chanderi-w03"
HOUSEHOLDS = [f"{HAMLET}-mix{k}" for k in range(1, 5)]
PHOTO = (Path(__file__).parent / "data" / "1732262400123.jpg").read_bytes()
MIXES = list(itertools.product(range(4), range(3), (1, 2)))   # (informant groups, income interviews, rounds)
# Pages that read ?round= or ?by= are rendered once for each value as well.
VARIANTS = {"web.clusters": ["", "?round=1", "?round=2"], "web.nodes": ["", "?round=1", "?round=2"],
            "web.submissions": ["", "?round=1", "?round=2", "?form=household_income&flagged=1"],
            "web.validation_sheet": ["", "?round=1", "?round=2"],
            "web.cluster": ["", "?round=1", "?round=2"] + [f"?by={b}" for b in ("social_group", "head_sex",
                                                                                   "land_class", "node", "hamlet")]}
# Pages for managers and administrators only: an NDA is refused them (the route table in test_scope.py says so too).
MANAGERS_ONLY = {"web.devices", "web.device", "web.device_qr_png", "web.device_qr_svg", "web.device_sheet", "web.forms",
                 "web.project_lists", "web.list_csv", "web.project_people", "web.users", "web.audit_log"}


def _form(app, store, project_id: int, form_id: str):
    return app.extensions["ppa"].forms.get(store, store.get_form(project_id, form_id)["current_def_id"])


def build_mix(app, store, project_id: int, collect, groups: int, incomes: int, rounds: int) -> None:
    """The mix's submissions, sent as Collect sends them: each round, `groups` ranking sessions over the same four
    households and `incomes` income interviews (the first with a photo)."""
    store.upsert_list_items(project_id, "households.csv",
                            [(h, {"label": f"Head {h}", "hamlet": HAMLET, "cluster": CLUSTER, "node": ""})
                             for h in HOUSEHOLDS], source="test")
    ranking, income = _form(app, store, project_id, "well_being_ranking"), _form(app, store, project_id,
                                                                                 "household_income")
    rng = random.Random(groups * 100 + incomes * 10 + rounds)
    for round_no in range(1, rounds + 1):
        for group in range(groups):
            answers = samples.well_being_ranking(rng, HOUSEHOLDS, group="ABC"[group], round_no=round_no)
            reply = collect.submit(samples.instance_xml(ranking, answers))
            assert reply.status == 201, reply.text
        for k in range(incomes):
            answers = samples.household_income(rng, HOUSEHOLDS[k], members=3 + k, round_no=round_no)
            files = {}
            if k == 0:
                answers.update(photo_consent="yes", photo=f"mix-{round_no}.jpg")
                files = {f"mix-{round_no}.jpg": PHOTO}
            reply = collect.submit(samples.instance_xml(income, samples.fill(income, answers, rng)), files)
            assert reply.status == 201, reply.text


# Pages that read none of the mix's submissions (devices, people, users, the audit log, one's account), and downloads
# of the forms no mix fills: rendered in the first mix only, to keep the 24 mixes fast.
SAME_IN_EVERY_MIX = {"web.devices", "web.device", "web.device_qr_png", "web.device_qr_svg", "web.device_sheet",
                     "web.project_people", "web.users", "web.audit_log", "web.account", "web.login"}
FILLED_FORMS = {"well_being_ranking", "household_income"}


def page_urls(app, store, project_id: int, everything: bool = True) -> list[tuple[str, str]]:
    """(endpoint, URL) of every page a signed-in person can GET, with this project's ids filled in (without
    `everything`, not the pages and downloads that are the same in every mix)."""
    from flask import url_for
    device = store.create_device(project_id, "Mix phone", new_token(), actor="test")
    subs = store.submission_page(project_id, {}, None, limit=100)
    values = {"project_id": [project_id], "cluster": [CLUSTER], "hamlet": [HAMLET], "device_id": [device["id"]],
              "submission_id": [s["id"] for s in subs], "list_name": ["households.csv"],
              "form_id": [f["xml_form_id"] for f in store.list_forms(project_id)],
              "fmt": ["csv", "xlsx", "jsonl", "raw"]}
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("web.") or "GET" not in rule.methods \
                    or (not everything and rule.endpoint in SAME_IN_EVERY_MIX):
                continue
            names = sorted(rule.arguments)
            if "name" in names:   # a submission's attachment: each one the mix has
                for sub in subs:
                    for att in store.attachments(store.submission_by_id(project_id, sub["id"])["def_id"]):
                        if att["blob_sha256"]:
                            urls.append((rule.endpoint, url_for(rule.endpoint, project_id=project_id,
                                                                submission_id=sub["id"], name=att["name"])))
                continue
            for combo in itertools.product(*(values[n] for n in names)):
                if not everything and dict(zip(names, combo)).get("form_id", "") not in FILLED_FORMS | {""}:
                    continue
                base = url_for(rule.endpoint, **dict(zip(names, combo)))
                urls += [(rule.endpoint, base + q) for q in VARIANTS.get(rule.endpoint, [""])]
    return urls


def _admin_client(app, store):
    """A test client with an administrator's session, made without a password: argon2 is slow on purpose, and
    sign-in itself is tested over HTTP below and in test_people.py."""
    admin = store.create_user("admin@example.org", "admin", "not a password hash", "not a digest hash")
    session_id = new_session_id()
    store.create_session(session_key(session_id), admin["id"], time.time(), 3600)
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = session_id          # a server-side session, as sign-in makes one
    return client


@pytest.mark.parametrize("groups,incomes,rounds", MIXES,
                         ids=[f"{g}-groups-{i}-incomes-{r}-rounds" for g, i, r in MIXES])
def test_every_page_renders_for_this_mix_of_groups_incomes_and_rounds(app, store, project, collect_client,
                                                                      groups, incomes, rounds):
    build_mix(app, store, project["id"], collect_client, groups, incomes, rounds)
    client = _admin_client(app, store)
    failures, seen = [], set()
    for endpoint, url in page_urls(app, store, project["id"], everything=(groups, incomes, rounds) == MIXES[0]):
        response = client.get(url)
        response.get_data()   # run streamed downloads to the end
        seen.add(endpoint)
        if response.status_code != (302 if endpoint == "web.home" else 200):   # home: the only project opens
            failures.append(f"{url}: {response.status_code}")
    assert failures == []
    assert {"web.cluster", "web.validation_sheet", "web.download"} <= seen
    if incomes:
        assert "web.submission_attachment" in seen
    cluster = client.get(f"/projects/1/clusters/{CLUSTER}").get_data(as_text=True)
    if groups == 1:
        assert "Agreement needs at least two informant groups." in cluster
    elif groups == 2:   # kappa for the pair; the multi-group measures are said to be undefined
        assert "not defined (need 3 or more informant groups; this round has 2)" in cluster
    elif groups == 3:
        assert "Fleiss' kappa: " in cluster and "not defined" not in cluster


def test_the_two_group_mix_renders_for_an_nda_over_real_http(app, store, project, collect_client, live):
    build_mix(app, store, project["id"], collect_client, 2, 1, 2)
    make_users(store, project["id"], store.create_project("Other")["id"])
    session = requests.Session()
    login = session.get(f"{live.url}/login", timeout=30).text
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert session.post(f"{live.url}/login", data={"email": ROLE_USERS["nda"][0], "password": PASSWORD,
                                                   "csrf_token": token}, allow_redirects=False,
                        timeout=30).status_code == 302
    failures = []
    for endpoint, url in page_urls(app, store, project["id"]):
        response = session.get(live.url + url, allow_redirects=False, timeout=60)
        want = 302 if endpoint == "web.home" else 403 if endpoint in MANAGERS_ONLY else 200   # home: opens her project
        if response.status_code != want:
            failures.append(f"{url}: {response.status_code}, expected {want}")
    assert failures == []
    page = session.get(f"{live.url}/projects/1/clusters/{CLUSTER}", timeout=60).text
    assert "not defined (need 3 or more informant groups; this round has 2)" in page


def test_the_cluster_page_of_a_two_group_round_in_the_browser(browser, app, store, project,  # noqa: F811
                                                              collect_client, live):
    build_mix(app, store, project["id"], collect_client, 2, 0, 1)
    make_users(store, project["id"], store.create_project("Other")["id"])
    chromium.sign_in(browser, live.url, ROLE_USERS["manager"][0])
    browser.get(f"{live.url}/projects/1/clusters/{CLUSTER}")
    said = browser.find_element(By.ID, "multi-group").text
    assert said == ("Fleiss' kappa and Kendall's W: not defined (need 3 or more informant groups; this round "
                    "has 2).")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table")) >= 2   # the pairwise kappa table is still there
