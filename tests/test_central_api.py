"""Central's REST API and OData feed on our server, over real HTTP: signing in (session tokens, API tokens, HTTP
Basic, the throttle), reviews with their audit entries and effect on the aggregates, and the OData options
($filter, paging by $skiptoken, $select, $wkt) with their refusals. Shapes against Central's own answers are in
test_central_shapes.py, pyodk in test_central_pyodk.py, every route's roles and clusters in test_scope.py."""

from __future__ import annotations

import base64

import pytest
import requests

from .central import ADMIN, MANAGER, NDA, NDA_CLUSTERS, RESEARCHER, Api, served_reference, set_up
from .web import PASSWORD, sign_in

HH1 = "uuid:bc3917f0-94e7-4f9c-8e22-17697a50c1dd"    # household_income-1: orissa_stone_carving, round 1
SVC = "/v1/projects/{p}/forms/household_income.svc"
SUB = "/v1/projects/{p}/forms/household_income/submissions"


@pytest.fixture
def ref(app, live):
    """A project of its own, for a test that changes something (a review, a token, the throttle)."""
    return set_up(app, live.url)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One project for the tests that only read."""
    with served_reference(tmp_path_factory.mktemp("central-api")) as reference:
        yield reference


def _basic(email: str = ADMIN, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()


def _problem(reply: requests.Response, status: int, code: float) -> dict:
    assert reply.status_code == status, reply.text[:300]
    assert reply.json()["code"] == code and "WWW-Authenticate" not in reply.headers
    return reply.json()


# -- signing in ---------------------------------------------------------------------------------------------

def test_a_session_token_works_until_it_is_ended(shared):
    api = shared.session(RESEARCHER)
    me = api.get("/v1/users/current")
    assert me.status_code == 200 and me.json()["email"] == RESEARCHER and me.json()["lastLoginAt"]
    assert api.send("DELETE", "/v1/sessions/current").json() == {"success": True}
    _problem(api.get("/v1/users/current"), 401, 401.2)


def test_wrong_passwords_are_throttled_as_on_the_sign_in_page(ref):
    for _ in range(5):
        reply = requests.post(f"{ref.url}/v1/sessions", json={"email": ADMIN, "password": "wrong"}, timeout=30)
        _problem(reply, 401, 401.2)
    refused = requests.post(f"{ref.url}/v1/sessions", json={"email": ADMIN, "password": PASSWORD}, timeout=30)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    basic = requests.get(f"{ref.url}/v1/projects", headers={"Authorization": _basic(),
                                                           "X-Forwarded-Proto": "https"}, timeout=30)
    assert basic.status_code == 429   # the same count for Basic: one throttle per account and address
    failed = [e for e in ref.store.audit_entries("user.sign_in_failed") if e["actor"] == ADMIN]
    assert len(failed) == 5


def test_a_sign_in_without_email_or_password_is_refused(shared):
    for body in ({}, {"email": ADMIN}, {"email": ADMIN, "password": 12}, ["x"]):
        _problem(requests.post(f"{shared.url}/v1/sessions", json=body, timeout=30), 400, 400.3)


def test_basic_is_refused_over_plain_http_and_works_behind_https(shared):
    url = f"{shared.url}{SVC.format(p=shared.project_id)}/Submissions"
    _problem(requests.get(url, headers={"Authorization": _basic()}, timeout=30), 401, 401.3)
    reply = requests.get(url, headers={"Authorization": _basic(), "X-Forwarded-Proto": "https"}, timeout=30)
    assert reply.status_code == 200 and len(reply.json()["value"]) == 3
    _problem(requests.get(url, headers={"Authorization": _basic(password="not it"), "X-Forwarded-Proto": "https"},
                          timeout=30), 401, 401.2)
    _problem(requests.get(url, headers={"Authorization": "Basic !!!", "X-Forwarded-Proto": "https"}, timeout=30),
             401, 401.2)


def test_an_api_token_is_a_bearer_token_too(ref, store):
    from server.api import hash_token
    from server.auth import new_token
    secret = new_token()
    store.create_api_token(store.user_by_email(RESEARCHER)["id"], hash_token(secret), "ruODK")
    api = Api(ref.url, {"Authorization": f"Bearer {secret}"})
    assert api.get(f"{SUB.format(p=ref.project_id)}").status_code == 200
    store.revoke_api_tokens(store.user_by_email(RESEARCHER)["id"])
    _problem(api.get(f"{SUB.format(p=ref.project_id)}"), 401, 401.2)


def test_a_signed_in_browser_reads_but_cannot_review(shared):
    browser = requests.Session()
    assert sign_in(_RequestsClient(browser, shared.url), ADMIN).status_code == 302
    assert browser.get(f"{shared.url}/v1/projects", timeout=30).status_code == 200
    reply = browser.patch(f"{shared.url}{SUB.format(p=shared.project_id)}/{HH1}", json={"reviewState": "approved"},
                          timeout=30)
    _problem(reply, 401, 401.2)   # no CSRF token on these routes: a cookie alone never writes


class _RequestsClient:
    """tests.web.sign_in speaks Flask's test client; this gives it a requests session on the live server."""

    def __init__(self, session: requests.Session, url: str):
        self.session, self.url = session, url

    def get(self, path: str):
        return _Page(self.session.get(self.url + path, timeout=30))

    def post(self, path: str, data: dict):
        return _Page(self.session.post(self.url + path, data=data, allow_redirects=False, timeout=30))


class _Page:
    def __init__(self, reply: requests.Response):
        self.status_code, self.reply = reply.status_code, reply

    def get_data(self, as_text: bool = False):
        return self.reply.text if as_text else self.reply.content


def test_the_form_xml_path_takes_bearer_and_basic_for_scripts_and_digest_for_phones(shared):
    path = f"{shared.url}/v1/projects/{shared.project_id}/forms/household_income.xml"
    bearer = shared.session(RESEARCHER).get(f"/v1/projects/{shared.project_id}/forms/household_income.xml")
    basic = requests.get(path, headers={"Authorization": _basic(RESEARCHER), "X-Forwarded-Proto": "https"},
                         timeout=30)
    digest = requests.get(path, auth=requests.auth.HTTPDigestAuth(NDA, PASSWORD),
                          headers={"X-OpenRosa-Version": "1.0"}, timeout=30)
    assert bearer.status_code == basic.status_code == digest.status_code == 200
    assert bearer.content == basic.content == digest.content and b'id="household_income"' in bearer.content


def test_the_submissions_list_streams_every_submission_once_across_chunks(ref, monkeypatch):
    from server.central import rest
    api = ref.session()
    whole = api.get(SUB.format(p=ref.project_id)).json()
    monkeypatch.setattr(rest, "CHUNK", 2)   # three submissions: a full read of two, then one of one
    chunked = api.get(SUB.format(p=ref.project_id)).json()
    assert chunked == whole and len(whole) == 3 and len({s["instanceId"] for s in whole}) == 3


# -- reviewing ------------------------------------------------------------------------------------------------

def test_rejecting_through_the_api_takes_the_household_out_of_the_aggregates_and_approving_brings_it_back(ref):
    api = ref.session(MANAGER)
    counted = {r["hh_id"] for r in ref.store.hh_income(ref.project_id, 1, "orissa_stone_carving")}
    assert "orissa_stone_carving-h01-001" in counted
    reply = api.send("PATCH", f"{SUB.format(p=ref.project_id)}/{HH1}", json={"reviewState": "rejected"})
    assert reply.status_code == 200 and reply.json()["reviewState"] == "rejected" and reply.json()["updatedAt"]
    assert "orissa_stone_carving-h01-001" not in {
        r["hh_id"] for r in ref.store.hh_income(ref.project_id, 1, "orissa_stone_carving")}
    api.send("PATCH", f"{SUB.format(p=ref.project_id)}/{HH1}", json={"reviewState": "approved"})
    assert "orissa_stone_carving-h01-001" in {
        r["hh_id"] for r in ref.store.hh_income(ref.project_id, 1, "orissa_stone_carving")}


def test_a_review_and_a_comment_are_audited_as_the_review_page_audits_them(ref):
    api = ref.session(MANAGER)
    api.send("PATCH", f"{SUB.format(p=ref.project_id)}/{HH1}", json={"reviewState": "hasIssues"})
    api.send("POST", f"{SUB.format(p=ref.project_id)}/{HH1}/comments", json={"body": "Member 4's age?"})
    sub_id = ref.store.central_submission(ref.store.get_form(ref.project_id, "household_income")["id"], HH1)["id"]
    target = f"{ref.project_id}/{sub_id}"
    review = [e for e in ref.store.audit_entries("submission.review") if e["target"] == target]
    comment = [e for e in ref.store.audit_entries("submission.comment") if e["target"] == target]
    assert [e["actor"] for e in review] == [MANAGER] and [e["actor"] for e in comment] == [MANAGER]
    page_comments = ref.store.comments(sub_id)   # what the review page shows
    assert [c["body"] for c in page_comments if c["body"]] == ["Member 4's age?"]


def test_an_unknown_review_state_is_refused_and_nothing_changes(shared):
    api = shared.session(MANAGER)
    for body in ({"reviewState": "received"}, {"reviewState": "edited"}, {"reviewState": None}, {}, ["approved"]):
        reply = api.send("PATCH", f"{SUB.format(p=shared.project_id)}/{HH1}", json=body)
        _problem(reply, 400, 400.8)
    assert api.get(f"{SUB.format(p=shared.project_id)}/{HH1}").json()["reviewState"] is None


def test_an_empty_comment_is_refused(shared):
    api = shared.session(MANAGER)
    for body in ({"body": "  "}, {}, {"body": 5}):
        _problem(api.send("POST", f"{SUB.format(p=shared.project_id)}/{HH1}/comments", json=body), 400, 400.3)
    assert api.get(f"{SUB.format(p=shared.project_id)}/{HH1}/comments").json() == []


def test_a_researcher_reads_but_may_not_review(shared):
    api = shared.session(RESEARCHER)
    assert api.get(f"{SUB.format(p=shared.project_id)}/{HH1}").status_code == 200
    _problem(api.send("PATCH", f"{SUB.format(p=shared.project_id)}/{HH1}", json={"reviewState": "approved"}), 403,
             403.1)


# -- OData ------------------------------------------------------------------------------------------------------

def _walk(api: Api, url: str) -> list[dict]:
    rows, pages = [], 0
    while url:
        body = api.get(url.removeprefix(api.url)).json()
        rows += body["value"]
        url = body.get("@odata.nextLink")
        pages += 1
        assert pages < 100
    return rows


def test_following_nextlink_reads_every_submission_once(shared):
    api = shared.session()
    rows = _walk(api, f"{shared.url}{SVC.format(p=shared.project_id)}/Submissions?$top=1&$count=true")
    whole = api.get(f"{SVC.format(p=shared.project_id)}/Submissions").json()["value"]
    assert [r["__id"] for r in rows] == [r["__id"] for r in whole] and len(rows) == 3


def test_following_nextlink_reads_every_repeat_row_once(shared):
    api = shared.session()
    table = f"{SVC.format(p=shared.project_id)}/Submissions.interview.mod_b.member"
    rows = _walk(api, f"{shared.url}{table}?$top=4")
    whole = api.get(table).json()["value"]
    assert [r["__id"] for r in rows] == [r["__id"] for r in whole] and len(rows) == 15
    skipped = api.get(f"{table}?$skip=13").json()
    assert [r["__id"] for r in skipped["value"]] == [r["__id"] for r in whole[13:]]
    assert "@odata.nextLink" not in skipped


@pytest.mark.parametrize("expression, expected", [
    ("__system/reviewState eq null", 3),
    ("__system/reviewState ne null", 0),
    ("__system/submissionDate gt 2020-01-01", 3),
    ("__system/submissionDate lt 2020-01-01T00:00:00.000Z", 0),
    ("year(__system/submissionDate) ge 2020 and month(__system/submissionDate) le 12", 3),
    ("not (__system/submissionDate le now())", 0),
    ("__system/submitterId eq 'SUBMITTER' or __system/reviewState eq 'approved'", 3),
    ("$root/Submissions/__system/submitterId ne SUBMITTER", 0),
])
def test_filter_operators_and_functions(shared, expression, expected):
    api = shared.session()
    submitter = api.get(f"{SUB.format(p=shared.project_id)}/{HH1}").json()["submitterId"]
    reply = api.get(f"{SVC.format(p=shared.project_id)}/Submissions",
                    params={"$filter": expression.replace("SUBMITTER", str(submitter)), "$count": "true"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["@odata.count"] == expected == len(reply.json()["value"])


def test_a_filter_on_a_repeat_table_applies_to_its_submissions(ref):
    api = ref.session()
    api.send("PATCH", f"{SUB.format(p=ref.project_id)}/{HH1}", json={"reviewState": "approved"})
    reply = api.get(f"{SVC.format(p=ref.project_id)}/Submissions.interview.mod_b.member",
                    params={"$filter": "__system/reviewState eq 'approved'", "$count": "true"})
    assert reply.json()["@odata.count"] == 4 and {r["__Submissions-id"] for r in reply.json()["value"]} == {HH1}


@pytest.mark.parametrize("expression, status, code", [
    ("__system/reviewState eq", 400, 400.18),
    ("__system/reviewState eq 'approved' and", 400, 400.18),
    ("(" * 40 + "__system/reviewState eq null" + ")" * 40, 400, 400.18),
    ("__system/submissionDate gt 'yesterday'", 400, 400.18),
    ("__system/reviewState gt 'approved'", 400, 400.18),
    ("mod_a/a_place/cluster eq 'chanderi'", 501, 501.5),
    ("length(__system/deviceId) eq 3", 501, 501.5),
])
def test_a_filter_we_cannot_run_is_refused_with_centrals_codes(shared, expression, status, code):
    reply = shared.session().get(f"{SVC.format(p=shared.project_id)}/Submissions", params={"$filter": expression})
    _problem(reply, status, code)


@pytest.mark.parametrize("query, status, code", [
    ({"$top": "-1"}, 400, 400.8), ({"$top": "ten"}, 400, 400.8), ({"$skip": "1.5"}, 400, 400.8),
    ({"$skiptoken": "01bm90IGpzb24="}, 400, 400.35), ({"$skiptoken": "garbage"}, 400, 400.35),
    ({"$skiptoken": "01" + base64.b64encode(b'{"instanceId": "uuid:nobody"}').decode()}, 400, 400.35),
    ({"$orderby": "__system/submissionDate"}, 501, 501.4), ({"$expand": "interview"}, 501, 501.4),
])
def test_paging_and_options_we_do_not_take_are_refused(shared, query, status, code):
    reply = shared.session().get(f"{SVC.format(p=shared.project_id)}/Submissions", params=query)
    _problem(reply, status, code)


def test_select_keeps_only_the_named_properties_nested(shared):
    reply = shared.session().get(f"{SVC.format(p=shared.project_id)}/Submissions",
                              params={"$select": "__id,mod_a/a_place/cluster,__system/reviewState"})
    rows = reply.json()["value"]
    assert rows and all(set(r) == {"__id", "mod_a", "__system"} for r in rows)
    assert all(set(r["mod_a"]) == {"a_place"} and set(r["mod_a"]["a_place"]) == {"cluster"} for r in rows)
    assert all(set(r["__system"]) == {"reviewState"} for r in rows)


def test_wkt_writes_points_as_text_longitude_first(shared):
    api = shared.session()
    plain = api.get(f"{SVC.format(p=shared.project_id)}/Submissions('{HH1}')").json()["value"][0]
    wkt = api.get(f"{SVC.format(p=shared.project_id)}/Submissions('{HH1}')", params={"$wkt": "true"}).json()
    lon, lat, alt = plain["mod_a"]["a_interview"]["gps"]["coordinates"]
    assert wkt["value"][0]["mod_a"]["a_interview"]["gps"] == f"POINT ({lon} {lat} {alt})"
    assert (lat, lon) == (16.7730749, 80.9865234)   # the XML says "lat lon alt accuracy"


def test_an_nda_feed_counts_only_their_clusters(shared):
    api = shared.session(NDA)
    feed = api.get(f"{SVC.format(p=shared.project_id)}/Submissions", params={"$count": "true"}).json()
    members = api.get(f"{SVC.format(p=shared.project_id)}/Submissions.interview.mod_b.member",
                      params={"$count": "true"}).json()
    assert feed["@odata.count"] == len(feed["value"]) == 2   # household_income-2 and -3 are mandi_leather's
    assert {r["mod_a"]["a_place"]["cluster"] for r in feed["value"]} == set(NDA_CLUSTERS)
    assert members["@odata.count"] == 11 and HH1 not in {r["__Submissions-id"] for r in members["value"]}
    _problem(api.get(f"{SVC.format(p=shared.project_id)}/Submissions('{HH1}')"), 403, 403.1)
    listed = api.get(SUB.format(p=shared.project_id)).json()
    assert HH1 not in {s["instanceId"] for s in listed} and len(listed) == 2


def test_unknown_forms_tables_and_instances_are_404(shared):
    api = shared.session()
    for path in ("/v1/projects/{p}/forms/nothing.svc", "/v1/projects/{p}/forms/nothing.svc/$metadata",
                 SVC + "/Submissions.interview.nothing", SVC + "/Submissions('uuid:nobody')",
                 SVC + f"/Submissions('{HH1}')/interview/nothing", SUB + "/uuid:nobody/attachments",
                 SUB + f"/{HH1}/attachments/nothing.jpg", "/v1/projects/{p}/datasets/nothing/entities",
                 "/v1/projects/999/forms"):
        _problem(api.get(path.format(p=shared.project_id)), 404, 404.1)
