"""Cluster scope on every route, over real HTTP against a server started here (#10).

The table below names, for every route of app.url_map, what each caller gets: the four roles, a manager of another
project ("outsider"), no credentials, and on the device routes a device of this project, of another project and a
revoked one. The NDA is limited to chanderi; the project also holds sindhudurg's data. Every route an NDA reaches
has a case on another cluster (or, when it answers for the whole project, a check that the answer holds only
chanderi), and every NDA answer that is not refused is searched, zip members included, for any trace of
sindhudurg. A route added without cases here fails test_every_route_has_cases_and_a_cluster_case.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import requests

from bench import samples
from server import create_app
from server.api import hash_token
from server.auth import new_token
from server.bootstrap import create_user, ensure_default_project

from .collect import Collect, multipart, submission_parts
from .conftest import FORMS, LiveServer
from .web import PASSWORD, ROLE_USERS, make_users

PEOPLE = ("admin", "manager", "nda", "researcher", "outsider", None)
DEVICES = ("device", "foreign_device", "revoked_device")
OTHER = "sindhudurg"                      # the cluster the NDA may not see
PHOTO = (Path(__file__).parent / "data" / "1732262400123.jpg").read_bytes()
HAMLETS = {"chanderi": "chanderi-w03", "sindhudurg": "sindhudurg-parule"}
NODES = {"chanderi": "chanderi-contract_weavers", "sindhudurg": "sindhudurg-cashew_wage_workers"}


@dataclass
class World:
    app: object
    url: str
    phone: Collect                                   # this project's device, in-process, to make data
    ids: dict = field(default_factory=dict)          # what the paths are formatted with
    tokens: dict = field(default_factory=dict)       # device caller -> token
    api_tokens: dict = field(default_factory=dict)   # role -> API token
    sessions: dict = field(default_factory=dict)     # role -> signed-in requests.Session
    csrf: dict = field(default_factory=dict)         # role -> the session's CSRF token


def household_xml(world: World, cluster: str, deprecated_id: str | None = None) -> tuple[str, bytes]:
    """(instanceID, XML) of a household income interview in `cluster`, with a photo named in it."""
    store = world.app.extensions["ppa"].store
    form = world.app.extensions["ppa"].forms.get(store, store.get_form(1, "household_income")["current_def_id"])
    rng = random.Random()
    hh_id = f"{HAMLETS[cluster]}-s{rng.getrandbits(32):08x}"
    answers = samples.household_income(rng, hh_id, cluster=cluster, hamlet=HAMLETS[cluster], members=3,
                                       on_list=False, head=f"Head of {hh_id}")
    answers.update(state={"chanderi": "Madhya Pradesh", "sindhudurg": "Maharashtra"}[cluster],
                   sector="urban" if cluster == "chanderi" else "rural", node="", photo_consent="yes",
                   photo="1732262400123.jpg")
    instance_id = samples.new_instance_id()
    return instance_id, samples.instance_xml(form, samples.fill(form, answers, rng), instance_id, deprecated_id)


def submit(world: World, cluster: str) -> str:
    """A household of `cluster` sent by this project's device (no cluster limit); its instanceID."""
    instance_id, xml = household_xml(world, cluster)
    reply = world.phone.submit(xml, {"1732262400123.jpg": PHOTO})
    assert reply.status == 201, reply.text
    return instance_id


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_database_url):
    app = create_app({"DATA": str(tmp_path_factory.mktemp("scope")), "LOG_LEVEL": "WARNING",
                      "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS),
                      "DATABASE_URL": module_database_url})
    store = app.extensions["ppa"].store
    ensure_default_project(store, "Test PPA", FORMS, validate=False)
    other = store.create_project("Another programme")
    users = make_users(store, 1, other["id"])
    leaver = create_user(store, "leaver@example.org", "researcher", PASSWORD, "PPA")
    store.add_membership(leaver["id"], 1)
    tokens = {name: new_token() for name in ("device", "foreign_device", "revoked_device", "spare")}
    device = store.create_device(1, "Enumerator phone", tokens["device"], actor="test")
    store.create_device(other["id"], "Phone of another programme", tokens["foreign_device"], actor="test")
    store.revoke_device(store.create_device(1, "Lost phone", tokens["revoked_device"], actor="test")["id"])
    spare = store.create_device(1, "Phone to revoke", tokens["spare"], actor="test")
    server = LiveServer(app)
    app.config["PUBLIC_URL"] = server.url
    w = World(app=app, url=server.url, phone=Collect(app.test_client(), f"{server.url}/v1/key/{tokens['device']}"
                                                                          "/projects/1"), tokens=tokens)
    ranking = app.extensions["ppa"].forms.get(store, store.get_form(1, "well_being_ranking")["current_def_id"])
    nodes = app.extensions["ppa"].forms.get(store, store.get_form(1, "poverty_nodes")["current_def_id"])
    for cluster, hamlet in HAMLETS.items():
        rated = [f"{hamlet}-r{k}" for k in range(1, 4)]
        store.upsert_list_items(1, "households.csv", [(h, {"label": f"Head of {h}", "hamlet": hamlet,
                                                           "cluster": cluster, "node": ""}) for h in rated], "test")
        answers = samples.well_being_ranking(random.Random(7), rated, group="A", cluster=cluster, hamlet=hamlet)
        answers["group_label"] = f"Women's group of {cluster}"
        assert w.phone.submit(samples.instance_xml(ranking, answers)).status == 201
        node = samples.poverty_node(random.Random(8), cluster=cluster, existing=NODES[cluster])
        reply = w.phone.submit(samples.instance_xml(nodes, samples.fill(nodes, node, random.Random(9))))
        assert reply.status == 201, reply.text
        instance = submit(w, cluster)
        sub = store.get_submission(store.get_form(1, "household_income")["id"], instance)
        w.ids[cluster], w.ids[f"{cluster}_instance"] = sub["id"], instance
    w.ids.update(device=device["id"], spare=spare["id"], leaver=leaver["id"])
    for role in ROLE_USERS:
        w.api_tokens[role] = new_token()
        store.create_api_token(users[role]["id"], hash_token(w.api_tokens[role]), "scope table")
        session = requests.Session()
        page = session.get(f"{w.url}/login", timeout=60).text
        signed = session.post(f"{w.url}/login", data={"email": ROLE_USERS[role][0], "password": PASSWORD,
                                                      "csrf_token": _csrf(page)}, allow_redirects=False, timeout=60)
        assert signed.status_code == 302
        w.sessions[role], w.csrf[role] = session, _csrf(session.get(f"{w.url}/account", timeout=60).text)
    yield w
    server.stop()
    store.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# -- the table --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    method: str
    path: str                                  # formatted with World.ids (and {token} on device routes)
    expect: dict                               # caller -> status; callers not named get 403
    scope: str | None = None                   # "own": the NDA's cluster; "other": another; "whole": the project
    send: Callable[[World, str | None], dict] | None = None   # the request's form or body, made per caller
    central: bool = False                      # Central's REST API or OData: Bearer (an API token), JSON errors


WEEKS = "from=2026-11-01&to=2026-11-30"     # the days the samples' interviews fall on (samples._interview)
MEMBERS = {"admin": 200, "manager": 200, "nda": 200, "researcher": 200}
NOT_NDA = {"admin": 200, "manager": 200, "researcher": 200}
MANAGERS = {"admin": 200, "manager": 200}
MANAGERS_302 = {"admin": 302, "manager": 302}
REVIEWERS_302 = {"admin": 302, "manager": 302, "nda": 302}
COLLECTORS = {"admin": 200, "manager": 200, "nda": 200}


def body(**data) -> Callable[[World, str | None], dict]:
    return lambda world, caller: {"json": data}


def central(method: str, path: str, expect: dict, scope: str | None = None,
            send: Callable[[World, str | None], dict] | None = None) -> Case:
    return Case(method, path, expect, scope, send, central=True)


SUB = "/v1/projects/1/forms/household_income/submissions"
SVC = "/v1/projects/1/forms/household_income.svc"
CENTRAL_CASES = [
    central("GET", "/v1/users/current", {**MEMBERS, "outsider": 200}),
    central("GET", "/v1/projects", {**MEMBERS, "outsider": 200}),
    central("GET", "/v1/projects/1", MEMBERS),
    central("GET", "/v1/projects/1/forms", MEMBERS, "whole"),
    central("GET", "/v1/projects/1/forms/household_income", MEMBERS, "whole"),
    central("GET", "/v1/projects/1/forms/household_income/versions", MEMBERS),
    central("GET", "/v1/projects/1/forms/household_income/fields?odata=true", MEMBERS),
    central("GET", SUB, MEMBERS, "whole"),
    *[c for suffix in ("", ".xml", "/versions", "/attachments", "/attachments/1732262400123.jpg", "/comments")
      for c in (central("GET", f"{SUB}/{{chanderi_instance}}{suffix}", MEMBERS, "own"),
                central("GET", f"{SUB}/{{sindhudurg_instance}}{suffix}", NOT_NDA, "other"))],
    central("PATCH", f"{SUB}/{{chanderi_instance}}", COLLECTORS, "own", body(reviewState="approved")),
    central("PATCH", f"{SUB}/{{sindhudurg_instance}}", MANAGERS, "other", body(reviewState="approved")),
    central("POST", f"{SUB}/{{chanderi_instance}}/comments", COLLECTORS, "own", body(body="seen")),
    central("POST", f"{SUB}/{{sindhudurg_instance}}/comments", MANAGERS, "other", body(body="seen")),
    central("GET", SVC, MEMBERS),
    central("GET", f"{SVC}/", MEMBERS),
    central("GET", f"{SVC}/$metadata", MEMBERS),
    central("GET", f"{SVC}/Submissions?$expand=*", MEMBERS, "whole"),
    central("GET", f"{SVC}/Submissions.interview.mod_b.member", MEMBERS, "whole"),
    central("GET", f"{SVC}/Submissions('{{chanderi_instance}}')", MEMBERS, "own"),
    central("GET", f"{SVC}/Submissions('{{sindhudurg_instance}}')", NOT_NDA, "other"),
    central("GET", f"{SVC}/Submissions('{{sindhudurg_instance}}')/interview/mod_b/member", NOT_NDA, "other"),
    central("GET", "/v1/projects/1/datasets", MEMBERS),
    central("GET", "/v1/projects/1/datasets/households/entities", MEMBERS, "whole"),
    central("GET", "/v1/projects/1/datasets/households.svc/Entities", MEMBERS, "whole"),
    central("GET", "/v1/projects/1/forms/household_income.xml", MEMBERS),   # the path shared with OpenRosa
]


def form(**data) -> Callable[[World, str | None], dict]:
    return lambda world, caller: {"data": data}


def sent(cluster: str, edits: str | None = None) -> Callable[[World, str | None], dict]:
    """A submission of `cluster`; with `edits`, an edit (meta/deprecatedID) of a new submission of that cluster."""
    def make(world: World, caller: str | None) -> dict:
        deprecated = submit(world, edits) if edits else None
        _instance, xml = household_xml(world, cluster, deprecated)
        body, content_type = multipart(submission_parts(xml, {"1732262400123.jpg": PHOTO}))
        return {"data": body, "headers": {"Content-Type": content_type}}
    return make


CASES = [
    # pages: the project, its clusters, nodes, submissions, the validation sheet, downloads
    Case("GET", "/", {"admin": 200, "manager": 302, "nda": 302, "researcher": 302, "outsider": 302}),
    Case("GET", "/account", {**MEMBERS, "outsider": 200}),
    Case("POST", "/account", {**MEMBERS, "outsider": 200}, send=form(label="scope table")),
    Case("POST", "/account/password", {**{role: 302 for role in MEMBERS}, "outsider": 302},
         send=form(current="not the password", new="a new password 1", confirm="a new password 1")),
    Case("POST", "/account/language", {"admin": 302, "manager": 302, "nda": 302, "researcher": 302, "outsider": 302},
         send=form(language="")),
    Case("GET", "/projects/1", MEMBERS, "whole"),
    Case("GET", "/projects/1/clusters", MEMBERS, "whole"),
    Case("GET", "/projects/1/clusters/chanderi", MEMBERS, "own"),
    Case("GET", "/projects/1/clusters/sindhudurg", NOT_NDA, "other"),
    Case("GET", "/projects/1/nodes", MEMBERS, "whole"),
    Case("GET", "/projects/1/nodes?cluster=chanderi", MEMBERS, "own"),
    Case("GET", "/projects/1/nodes?cluster=sindhudurg", NOT_NDA, "other"),
    Case("POST", f"/projects/1/nodes/{NODES['chanderi']}/review", REVIEWERS_302, "own",
         form(status="reviewed", round="1", comment="seen")),
    Case("POST", f"/projects/1/nodes/{NODES['sindhudurg']}/review", {**MANAGERS_302, "nda": 404}, "other",
         form(status="reviewed", round="1", comment="seen")),
    Case("GET", "/projects/1/submissions", MEMBERS, "whole"),
    Case("GET", "/projects/1/submissions?cluster=chanderi", MEMBERS, "own"),
    Case("GET", "/projects/1/submissions?cluster=sindhudurg", NOT_NDA, "other"),
    Case("GET", "/projects/1/submissions/{chanderi}", MEMBERS, "own"),
    Case("GET", "/projects/1/submissions/{sindhudurg}", NOT_NDA, "other"),
    Case("GET", "/projects/1/submissions/{chanderi}.xml", MEMBERS, "own"),
    Case("GET", "/projects/1/submissions/{sindhudurg}.xml", NOT_NDA, "other"),
    Case("GET", "/projects/1/submissions/{chanderi}/attachments/1732262400123.jpg", MEMBERS, "own"),
    Case("GET", "/projects/1/submissions/{sindhudurg}/attachments/1732262400123.jpg", NOT_NDA, "other"),
    Case("POST", "/projects/1/submissions/{chanderi}/review", REVIEWERS_302, "own",
         form(state="hasIssues", comment="checked")),
    Case("POST", "/projects/1/submissions/{sindhudurg}/review", MANAGERS_302, "other",
         form(state="hasIssues", comment="checked")),
    Case("POST", "/projects/1/submissions/{sindhudurg}/review", MANAGERS_302, "other", form(comment="a comment")),
    Case("GET", "/projects/1/hamlets/chanderi-w03/validation-sheet", MEMBERS, "own"),
    Case("GET", "/projects/1/hamlets/sindhudurg-parule/validation-sheet", NOT_NDA, "other"),
    Case("GET", "/projects/1/downloads", MEMBERS, "whole"),
    Case("GET", "/projects/1/downloads/household_income.csv", MEMBERS, "whole"),
    Case("GET", "/projects/1/downloads/well_being_ranking.xlsx?cluster=chanderi", MEMBERS, "own"),
    Case("GET", "/projects/1/downloads/household_income.raw?cluster=sindhudurg", NOT_NDA, "other"),
    Case("GET", "/projects/1/downloads/household_income.jsonl?cluster=chanderi&cluster=sindhudurg", NOT_NDA,
         "other"),
    # enumerator monitoring: the page, the submissions behind a figure, the daily CSV, the thresholds
    Case("GET", f"/projects/1/monitoring?{WEEKS}", MEMBERS, "whole"),
    Case("GET", f"/projects/1/monitoring?cluster=chanderi&{WEEKS}", MEMBERS, "own"),
    Case("GET", f"/projects/1/monitoring?cluster=sindhudurg&{WEEKS}", NOT_NDA, "other"),
    Case("GET", f"/projects/1/submissions?check=flagged&{WEEKS}", MEMBERS, "whole"),
    Case("GET", f"/projects/1/monitoring/daily.csv?{WEEKS}", MEMBERS, "whole"),
    Case("GET", f"/projects/1/monitoring/daily.csv?cluster=chanderi&{WEEKS}", MEMBERS, "own"),
    Case("GET", f"/projects/1/monitoring/daily.csv?cluster=sindhudurg&{WEEKS}", NOT_NDA, "other"),
    Case("POST", "/projects/1/monitoring/thresholds", MANAGERS_302,
         send=form(short_minutes="10", outlier_k="3", gps_far_m="500", unknown_share="0.2")),
    # managing a project: managers and administrators only
    Case("GET", "/projects/1/devices", MANAGERS),
    Case("POST", "/projects/1/devices", MANAGERS_302, send=form(name="")),
    Case("GET", "/projects/1/devices/{device}", MANAGERS),
    Case("POST", "/projects/1/devices/{device}/forms", MANAGERS_302, send=form()),
    Case("GET", "/projects/1/devices/{device}/qr.png", MANAGERS),
    Case("GET", "/projects/1/devices/{device}/qr.svg", MANAGERS),
    Case("GET", "/projects/1/devices/{device}/sheet", MANAGERS),
    Case("POST", "/projects/1/devices/{spare}/revoke", MANAGERS_302, send=form()),
    Case("GET", "/projects/1/forms", MANAGERS),
    Case("POST", "/projects/1/forms", MANAGERS_302, send=form()),
    Case("POST", "/projects/1/forms/household_income/state", MANAGERS_302, send=form(state="open")),
    Case("POST", "/projects/1/language", MANAGERS_302, send=form(language="en")),
    Case("GET", "/projects/1/lists", MANAGERS),
    Case("POST", "/projects/1/lists", MANAGERS_302, send=form(list_name="households.csv")),
    Case("GET", "/projects/1/lists/households.csv", MANAGERS),
    Case("GET", "/projects/1/people", MANAGERS),
    Case("POST", "/projects/1/people", MANAGERS_302, send=form(email="", role="nobody")),
    # administration
    Case("GET", "/admin/users", {"admin": 200}),
    Case("POST", "/admin/users", {"admin": 302}, send=form(email="admin@example.org", role="researcher")),
    Case("POST", "/admin/users/{leaver}/disable", {"admin": 302}, send=form()),
    Case("POST", "/admin/users/{leaver}/password", {"admin": 302}, send=form(password="too short")),
    Case("GET", "/admin/audit", {"admin": 200}),
    # the JSON API and its CSV exports
    *[c for name in ("wellbeing", "agreement", "poverty", "poverty/decomposition", "concordance", "nodes",
                     f"monitoring?{WEEKS}",
                     "change?from=1&to=1", "change?from=1&to=1&by=hamlet", "submissions/daily",
                     "submissions/daily?by=enumerator", "map", "export/households.csv", "export/ratings.csv",
                     "export/categories.csv", "export/field_households.csv",
                     "forms/household_income/export.csv", "forms/well_being_ranking/export.xlsx")
      for c in (Case("GET", f"/api/v1/projects/1/{name}", MEMBERS, "whole"),
                Case("GET", f"/api/v1/projects/1/{name}{'&' if '?' in name else '?'}cluster=chanderi", MEMBERS,
                     "own"),
                Case("GET", f"/api/v1/projects/1/{name}{'&' if '?' in name else '?'}cluster=sindhudurg", NOT_NDA,
                     "other"))],
    # OpenRosa for named users (HTTP Digest): NDAs get their clusters' lists, send and edit only their clusters
    Case("GET", "/v1/projects/1/formList", COLLECTORS),
    Case("GET", "/v1/projects/1/forms/household_income.xml", COLLECTORS),
    Case("GET", "/v1/projects/1/forms/household_income/manifest", COLLECTORS, "whole"),
    *[Case("GET", f"/v1/projects/1/forms/household_income/attachments/{name}", COLLECTORS, "whole")
      for name in ("clusters.csv", "hamlets.csv", "households.csv")],
    Case("GET", "/v1/projects/1/forms/poverty_nodes/attachments/nodes.csv", COLLECTORS, "whole"),
    Case("GET", "/v1/projects/1/submission", {"admin": 204, "manager": 204, "nda": 204}),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201, "nda": 201}, "own",
         sent("chanderi")),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201}, "other", sent("sindhudurg")),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201, "nda": 201}, "own",
         sent("chanderi", edits="chanderi")),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201}, "other",
         sent("sindhudurg", edits="sindhudurg")),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201}, "other",   # into the NDA's scope
         sent("chanderi", edits="sindhudurg")),
    Case("POST", "/v1/projects/1/submission", {"admin": 201, "manager": 201}, "other",   # out of it
         sent("sindhudurg", edits="chanderi")),
    # OpenRosa for devices (token in the URL): a device belongs to its whole project and has no cluster limit
    Case("GET", "/v1/key/{token}/projects/1/formList", {"device": 200}),
    Case("GET", "/v1/key/{token}/projects/1/forms/household_income.xml", {"device": 200}),
    Case("GET", "/v1/key/{token}/projects/1/forms/household_income/manifest", {"device": 200}),
    Case("GET", "/v1/key/{token}/projects/1/forms/household_income/attachments/households.csv", {"device": 200}),
    Case("GET", "/v1/key/{token}/projects/1/submission", {"device": 204}),
    Case("POST", "/v1/key/{token}/projects/1/submission", {"device": 201}, send=sent("sindhudurg")),
    # ODK Central's REST API and OData feed, for researchers' tools (Bearer here; Basic in test_central_api.py)
    *CENTRAL_CASES,
]

# Routes without cases, and why.
NO_CASES = {
    ("static", "GET"): "the stylesheets: public, no data",
    ("health", "GET"): "public liveness check: no project data",
    ("web.login", "GET"): "the sign-in form", ("web.login", "POST"): "signing in (every session here does it)",
    ("web.logout", "POST"): "ends the caller's own session (test_people.py); it would end the table's sessions",
    ("web.logout_everywhere", "POST"): "ends the caller's own sessions (test_people.py)",
    ("web.revoke_tokens", "POST"): "revokes the caller's own API tokens (test_people.py)",
    ("web.revoke_token", "POST"): "revokes one of the caller's own API tokens; another's is 404 (test_first_day.py)",
    ("central.create_session", "POST"): "signing in for scripts (test_central_api.py)",
    ("central.end_session", "DELETE"): "ends the caller's own session (test_central_api.py)",
}
# Routes an NDA reaches that hold nothing of any cluster, and why.
NOT_CLUSTERED = {
    ("web.home", "GET"): "the projects one belongs to",
    ("web.account", "GET"): "one's own API tokens", ("web.account", "POST"): "one's own API tokens",
    ("web.change_password", "POST"): "one's own password",
    ("web.account_language", "POST"): "one's own language for labels",
    ("openrosa_user.form_list", "GET"): "form definitions: the same for every cluster",
    ("openrosa_user.form_xml", "GET"): "form definitions: the same for every cluster",
    ("openrosa_user.submission_probe", "GET"): "an empty 204 before Collect uploads",
    ("central.current_user", "GET"): "one's own account",
    ("central.projects", "GET"): "the projects one belongs to",
    ("central.project", "GET"): "a project's name",
    ("central.form_versions", "GET"): "form definitions: the same for every cluster",
    ("central.form_fields_list", "GET"): "form definitions: the same for every cluster",
    ("central.service", "GET"): "the names of a form's tables",
    ("central.edmx", "GET"): "a form's structure",
    ("central.datasets", "GET"): "the names of the lists",
}


def _anonymous(case: Case) -> int:
    if case.path.startswith(("/api/", "/v1/")):
        return 401
    return 400 if case.method == "POST" else 302   # a form without its CSRF token; a page: off to sign-in


def call(world: World, case: Case, caller: str | None) -> requests.Response:
    path = case.path.format(**world.ids, token=world.tokens.get(caller, ""))
    kwargs: dict = {"allow_redirects": False, "timeout": 120}
    if case.send is not None:
        kwargs.update(case.send(world, caller))
    headers = kwargs.pop("headers", {})
    if case.central:
        if caller is not None:
            headers["Authorization"] = f"Bearer {world.api_tokens[caller]}"
        return requests.request(case.method, world.url + path, headers=headers, **kwargs)
    if path.startswith("/v1/"):
        headers["X-OpenRosa-Version"] = "1.0"
        if not path.startswith("/v1/key/") and caller is not None:
            kwargs["auth"] = requests.auth.HTTPDigestAuth(ROLE_USERS[caller][0], PASSWORD)
        return requests.request(case.method, world.url + path, headers=headers, **kwargs)
    if path.startswith("/api/"):
        if caller is not None:
            headers["Authorization"] = f"Bearer {world.api_tokens[caller]}"
        return requests.request(case.method, world.url + path, headers=headers, **kwargs)
    if case.method == "POST" and caller is not None:
        kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": world.csrf[caller]}
    session = world.sessions[caller] if caller is not None else requests.Session()
    return session.request(case.method, world.url + path, headers=headers, **kwargs)


def text_of(body: bytes) -> str:
    """A response as text to search, zip archives (CSV zips, raw zips, workbooks) opened member by member."""
    if body.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "\n".join(text_of(archive.read(name)) + name for name in archive.namelist())
    return body.decode("utf-8", "replace")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path}" + (f" [{c.scope}]" if c.scope else "")
                                             for c in CASES])
def test_every_caller_gets_what_the_table_says(world, case):
    failures = []
    for caller in (DEVICES if case.path.startswith("/v1/key/") else PEOPLE):
        want = case.expect.get(caller, _anonymous(case) if caller is None else 403)
        response = call(world, case, caller)
        if response.status_code != want:
            failures.append(f"{caller}: {response.status_code}, expected {want}: {response.text[:200]}")
        if caller == "nda" and response.status_code < 400 and OTHER in text_of(response.content).lower():
            failures.append(f"nda: the answer holds {OTHER}'s data")
        if case.path.startswith("/v1/") and not case.central and response.status_code in (403, 404):
            assert "OpenRosaResponse" in response.text   # Collect shows the message
    assert failures == []


def test_every_route_has_cases_and_a_cluster_case(world):
    """A route of app.url_map without a case fails here; so does a route an NDA reaches without a case on another
    cluster (or on the whole project, searched for other clusters' data), unless it holds no cluster's data."""
    adapter = world.app.url_map.bind("127.0.0.1")
    scopes, nda_reaches = defaultdict(set), defaultdict(bool)
    for case in CASES:
        path = case.path.format(**world.ids, token=world.tokens["device"]).split("?")[0]
        endpoint, _args = adapter.match(path, method=case.method)
        scopes[(endpoint, case.method)].add(case.scope)
        nda_reaches[(endpoint, case.method)] |= case.expect.get("nda", 403) < 400
    routes = {(rule.endpoint, method) for rule in world.app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert sorted(routes - set(scopes) - set(NO_CASES)) == []
    assert sorted(set(scopes) - routes) == []
    unscoped = [key for key, reaches in nda_reaches.items()
                if reaches and not scopes[key] & {"other", "whole"} and key not in NOT_CLUSTERED]
    assert unscoped == []


# -- what the table cannot say on its own ---------------------------------------------------------------------------

def test_an_nda_phone_gets_lists_of_its_clusters_and_a_device_gets_the_whole_project(world):
    def households(auth=None, prefix="/v1/projects/1"):
        response = requests.get(f"{world.url}{prefix}/forms/household_income/attachments/households.csv",
                                auth=auth, headers={"X-OpenRosa-Version": "1.0"}, timeout=60)
        assert response.status_code == 200
        return response.text

    nda = households(requests.auth.HTTPDigestAuth(ROLE_USERS["nda"][0], PASSWORD))
    admin = households(requests.auth.HTTPDigestAuth(ROLE_USERS["admin"][0], PASSWORD))
    device = households(prefix=f"/v1/key/{world.tokens['device']}/projects/1")
    assert "chanderi-w03-r1" in nda and "sindhudurg" not in nda
    assert "sindhudurg-parule-r1" in admin and admin == device
    manifest = requests.get(f"{world.url}/v1/projects/1/forms/household_income/manifest",
                            auth=requests.auth.HTTPDigestAuth(ROLE_USERS["nda"][0], PASSWORD),
                            headers={"X-OpenRosa-Version": "1.0"}, timeout=60).text
    import hashlib
    assert f"md5:{hashlib.md5(nda.encode()).hexdigest()}" in manifest   # the hash Collect checks is of her copy


def test_the_check_for_other_clusters_data_can_fail(world):
    """The search the table runs on NDAs' answers finds sindhudurg where an unlimited reader is shown it."""
    for path in ("/projects/1/submissions", "/projects/1/clusters"):
        assert OTHER in text_of(world.sessions["admin"].get(world.url + path, timeout=60).content)
    export = world.sessions["admin"].get(world.url + "/projects/1/downloads/household_income.csv", timeout=60)
    assert OTHER in text_of(export.content) and export.content.startswith(b"PK")


def _digest_post(world: World, xml: bytes, role: str = "nda") -> requests.Response:
    body, content_type = multipart(submission_parts(xml))
    return requests.post(f"{world.url}/v1/projects/1/submission", data=body, timeout=60,
                         auth=requests.auth.HTTPDigestAuth(ROLE_USERS[role][0], PASSWORD),
                         headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type})


@pytest.mark.parametrize("old,new", [("sindhudurg", "sindhudurg"), ("sindhudurg", "chanderi"),
                                     ("chanderi", "sindhudurg")])
def test_an_nda_edit_of_another_clusters_submission_is_refused_and_nothing_changes(world, old, new):
    store = world.app.extensions["ppa"].store
    base = submit(world, old)
    form_id = store.get_form(1, "household_income")["id"]
    before = store.submission_by_id(1, store.get_submission(form_id, base)["id"])
    _instance, xml = household_xml(world, new, deprecated_id=base)
    refused = _digest_post(world, xml)
    assert refused.status_code == 403 and "text/xml" in refused.headers["Content-Type"]
    said = re.search(r"<message[^>]*>([^<]*)</message>", refused.text).group(1)
    assert "only send and edit submissions of the clusters you are assigned to" in said
    if new == "sindhudurg":
        assert "sindhudurg" in said            # her own XML named it
    else:
        assert "sindhudurg" not in said        # the stored submission's cluster is not told
    after = store.submission_by_id(1, before["id"])
    assert after["def_id"] == before["def_id"] and after["cluster"] == old and after["hamlet"] == HAMLETS[old]
    assert store.get_submission(form_id, _instance) is None
    assert _digest_post(world, xml, role="admin").status_code == 201   # the same edit by an administrator


def test_the_validation_sheet_shows_only_the_readers_clusters(app, store, project, collect_client, live):
    """Issue #10 item 4a: the sheet of a hamlet with no rated households showed another cluster's groups, piles
    and criteria. A hamlet of another cluster is refused; and where another cluster's session names one of the
    NDA's hamlets, it is left out of her sheet."""
    make_users(store, project["id"], store.create_project("Other")["id"])
    ranking = app.extensions["ppa"].forms.get(store, store.get_form(1, "well_being_ranking")["current_def_id"])
    for cluster, hamlet, label in (("sindhudurg", "sindhudurg-parule", "Parule women"),
                                   ("sindhudurg", "chanderi-w03", "Cashew workers, misfiled")):
        answers = samples.well_being_ranking(random.Random(3), [], group="D", cluster=cluster, hamlet=hamlet)
        answers.update(group_label=label, n_listed_hh=0)
        reply = collect_client.submit(samples.instance_xml(ranking, answers))
        assert reply.status == 201, reply.text
    assert store.wb_households(1, 1, None, "sindhudurg-parule") == []   # no rated households: the old hole
    nda, admin = requests.Session(), requests.Session()
    for session, role in ((nda, "nda"), (admin, "admin")):
        page = session.get(f"{live.url}/login", timeout=60).text
        session.post(f"{live.url}/login", data={"email": ROLE_USERS[role][0], "password": PASSWORD,
                                                "csrf_token": _csrf(page)}, timeout=60)
    other = nda.get(f"{live.url}/projects/1/hamlets/sindhudurg-parule/validation-sheet?round=1", timeout=60)
    assert other.status_code == 403 and "Parule women" not in other.text
    own = nda.get(f"{live.url}/projects/1/hamlets/chanderi-w03/validation-sheet?round=1", timeout=60)
    assert own.status_code == 200 and "misfiled" not in own.text and "cannot save" not in own.text
    shown = admin.get(f"{live.url}/projects/1/hamlets/chanderi-w03/validation-sheet?round=1", timeout=60).text
    assert "misfiled" in shown and "cannot save for the next day" in shown
    assert "Parule women" in admin.get(f"{live.url}/projects/1/hamlets/sindhudurg-parule/validation-sheet?round=1",
                                       timeout=60).text


def test_an_nda_cannot_top_up_another_clusters_submission_that_todays_checks_refuse(world, monkeypatch):
    """An identical resubmission is topped up even when today's checks refuse its data (a split upload's next part);
    the stored submission's cluster is checked then, so an NDA cannot add files to another cluster's submission."""
    from server import errors, submissions
    store = world.app.extensions["ppa"].store
    instance_id, xml = household_xml(world, "sindhudurg")
    assert world.phone.submit(xml).status == 201            # sent without its photo: one slot left to fill
    sub = store.submission_by_id(1, store.get_submission(store.get_form(1, "household_income")["id"],
                                                         instance_id)["id"])

    def refuse(*_args):
        raise errors.invalid_submission({"income": ["no longer valid"]}, "household_income")
    monkeypatch.setattr(submissions, "_prepare", refuse)
    body, content_type = multipart(submission_parts(xml, {"1732262400123.jpg": PHOTO}))
    refused = requests.post(f"{world.url}/v1/projects/1/submission", data=body, timeout=60,
                            auth=requests.auth.HTTPDigestAuth(ROLE_USERS["nda"][0], PASSWORD),
                            headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type})
    assert refused.status_code == 403 and "clusters you are assigned to" in refused.text
    assert [a["blob_sha256"] for a in store.attachments(sub["def_id"])] == [None]
    topped = requests.post(f"{world.url}/v1/projects/1/submission", data=body, timeout=60,
                           auth=requests.auth.HTTPDigestAuth(ROLE_USERS["admin"][0], PASSWORD),
                           headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type})
    assert topped.status_code == 201
    assert [a["blob_sha256"] is not None for a in store.attachments(sub["def_id"])] == [True]


def test_an_nda_sees_only_the_rounds_of_their_clusters(app, store, project, collect_client, live):
    """Round 2 exists only in sindhudurg: for the chanderi NDA the latest round is 1 and no page offers round 2."""
    make_users(store, project["id"], store.create_project("Other")["id"])
    ranking = app.extensions["ppa"].forms.get(store, store.get_form(1, "well_being_ranking")["current_def_id"])
    for cluster, round_no in (("chanderi", 1), ("sindhudurg", 1), ("sindhudurg", 2)):
        hamlet = HAMLETS[cluster]
        store.upsert_list_items(1, "households.csv", [(f"{hamlet}-r1", {"label": "Head", "hamlet": hamlet,
                                                                        "cluster": cluster, "node": ""})], "test")
        answers = samples.well_being_ranking(random.Random(5), [f"{hamlet}-r1"], cluster=cluster, hamlet=hamlet,
                                             round_no=round_no)
        assert collect_client.submit(samples.instance_xml(ranking, answers)).status == 201
    tokens = {}
    for role in ("nda", "researcher"):
        tokens[role] = new_token()
        store.create_api_token(store.user_by_email(ROLE_USERS[role][0])["id"], hash_token(tokens[role]), "rounds")

    def wellbeing(role):
        return requests.get(f"{live.url}/api/v1/projects/1/wellbeing", timeout=60,
                            headers={"Authorization": f"Bearer {tokens[role]}"}).json()

    assert (wellbeing("nda")["rounds"], wellbeing("nda")["round"]) == ([1], 1)
    assert (wellbeing("researcher")["rounds"], wellbeing("researcher")["round"]) == ([1, 2], 2)
    assert sum(r["n_rated"] + r["n_unrated"] for r in wellbeing("nda")["rows"]) == 1   # chanderi's household
    nda = requests.Session()
    page = nda.get(f"{live.url}/login", timeout=60).text
    nda.post(f"{live.url}/login", data={"email": ROLE_USERS["nda"][0], "password": PASSWORD,
                                        "csrf_token": _csrf(page)}, timeout=60)
    for path in ("/projects/1/clusters", "/projects/1/clusters/chanderi"):
        assert re.findall(r'<option value="(\d+)"', nda.get(live.url + path, timeout=60).text) == ["1"], path
    nodes = nda.get(f"{live.url}/projects/1/nodes", timeout=60).text   # no node record in any round: none offered
    assert "No poverty-node records yet." in nodes and "round 2" not in nodes and '<option value="2"' not in nodes
