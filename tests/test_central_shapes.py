"""Our Central API against ODK Central's own answers (tests/data/central/README.md): the same form XML published,
the same submission bytes sent over OpenRosa as Collect sent them, then every recorded call replayed in the
recorded order (sign-in, REST, review, OData for both forms, errors) against a server started here. Each answer
must have Central's status, keys, nesting and value types; the form's own data (answers, repeat rows, their
SHA-1 __id and parent keys, instance ids, hashes) must be equal. What differs by nature (ids, timestamps,
tokens, the server's URL) is compared by type and format only; what we do not do is listed in NOT_OURS."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from lxml import etree

from server import create_app

from .central import ADMIN, CENTRAL, recorded, set_up
from .conftest import FORMS, LiveServer
from .web import PASSWORD

HOST = "http://central.example"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIMES = {"createdAt", "updatedAt", "submissionDate", "lastSubmission", "publishedAt", "lastLoginAt", "expiresAt",
         "deletedAt"}
IDS = {"id", "projectId", "submitterId", "actorId", "creatorId"}
# keys Central sends that we do not, and why
NOT_OURS = {"csrf": "we set no session cookie on POST /v1/sessions, so there is nothing for a CSRF token to guard"}
CALLS = sorted(p.name[:-5] for p in CENTRAL.glob("*.json") if p.name[:3] >= "010")


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """Both forms, five submissions over OpenRosa, then every recorded call in order: {number: (ours, theirs)}."""
    app = create_app({"DATA": str(tmp_path_factory.mktemp("central")), "LOG_LEVEL": "WARNING",
                      "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS)})
    server = LiveServer(app)
    app.config["PUBLIC_URL"] = server.url
    reference = set_up(app, server.url)
    token, answers = None, {}
    for name in CALLS:
        call = recorded(name[:3])
        headers = _headers(call["request"]["headers"], token)
        body = call["request"]["body"]
        if name.startswith("010"):
            body = {"email": ADMIN, "password": PASSWORD}
        path = call["request"]["path"].replace("/projects/13", f"/projects/{reference.project_id}")
        reply = requests.request(call["request"]["method"], server.url + path, headers=headers, timeout=60,
                                 json=body if isinstance(body, dict) else None)
        if name.startswith("010"):
            token = reply.json()["token"]
        answers[name] = (reply, call["response"])
    yield server.url, reference.project_id, answers
    server.stop()
    app.extensions["ppa"].store.close()


def _headers(recorded_headers: dict, token: str | None) -> dict:
    out = {k: v for k, v in recorded_headers.items() if k in ("X-Extended-Metadata", "X-Forwarded-Proto")}
    auth = recorded_headers.get("Authorization")
    if auth == "Bearer <token>":
        out["Authorization"] = f"Bearer {token}"
    elif auth and auth.startswith("Basic <base64 of email:password>"):
        wrong = auth != "Basic <base64 of email:password>"   # 620: the recording appended to the password
        secret = f"{ADMIN}:{PASSWORD}{'x' if wrong else ''}"
        out["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    elif auth:
        out["Authorization"] = auth                          # a made-up bearer token, sent as recorded
    return out


def differences(ours, theirs, url: str, project_id: int, path: str = "") -> list[str]:
    """Where our JSON differs from Central's in keys, nesting, types or (for the data itself) values."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {type(ours).__name__}, Central an object"]
        out = [f"{path}/{k}: missing" for k in theirs if k not in ours and k not in NOT_OURS]
        out += [f"{path}/{k}: not in Central's" for k in ours if k not in theirs]
        for key in theirs.keys() & ours.keys():
            out += _value(key, ours[key], theirs[key], url, project_id, f"{path}/{key}")
        return out
    if isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return [f"{path}: {len(ours) if isinstance(ours, list) else type(ours).__name__} items, "
                    f"Central {len(theirs)}"]
        return [d for i, (a, b) in enumerate(zip(ours, theirs)) for d in differences(a, b, url, project_id,
                                                                                     f"{path}[{i}]")]
    return _value("", ours, theirs, url, project_id, path)


def _value(key: str, ours, theirs, url: str, project_id: int, path: str) -> list[str]:
    if key in TIMES and (isinstance(theirs, str) or theirs is None):
        ok = (ours is None) == (theirs is None) and (ours is None or bool(ISO.match(ours)))
        return [] if ok else [f"{path}: {ours!r}, Central {theirs!r}"]
    if key in IDS and not isinstance(theirs, (dict, list)):
        same = type(ours) is type(theirs) and (not isinstance(ours, str) or ours.isdigit() == theirs.isdigit())
        return [] if same else [f"{path}: {ours!r}, Central {theirs!r}"]
    if key == "token":
        return [] if isinstance(ours, str) and len(ours) >= 32 else [f"{path}: {ours!r}"]
    if key == "verbs":   # the caller's rights in our roles' words
        return [] if isinstance(ours, list) and all(isinstance(v, str) for v in ours) else [f"{path}: {ours!r}"]
    if key == "webformsEnabled":   # we serve no web forms (Enketo)
        return [] if isinstance(ours, bool) else [f"{path}: {ours!r}"]
    if key == "@odata.context":
        return [] if _here(ours, url, project_id) == theirs else [f"{path}: {ours!r}, Central {theirs!r}"]
    if key == "@odata.nextLink":
        return _next_link(ours, theirs, url, project_id, path)
    if isinstance(theirs, (dict, list)):
        return differences(ours, theirs, url, project_id, path)
    if type(ours) is not type(theirs) or ours != theirs:
        return [f"{path}: {ours!r} ({type(ours).__name__}), Central {theirs!r} ({type(theirs).__name__})"]
    return []


def _here(text, url: str, project_id: int):
    """Our URL as the recording writes it: Central's host, Central's project number."""
    return text.replace(url, HOST).replace(f"/projects/{project_id}/", "/projects/13/") \
        if isinstance(text, str) else text


def _next_link(ours, theirs, url: str, project_id: int, path: str) -> list[str]:
    """The same link with a $skiptoken naming the same row (ours may say more: where that row is)."""
    if not isinstance(ours, str):
        return [f"{path}: {ours!r}"]
    a, b = urlsplit(_here(ours, url, project_id)), urlsplit(theirs)
    qa, qb = dict(parse_qsl(a.query)), dict(parse_qsl(b.query))
    ta, tb = (json.loads(base64.b64decode(q.pop("$skiptoken")[2:])) for q in (qa, qb))
    same = (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path) and qa == qb and \
        {k: ta.get(k) for k in tb} == tb
    return [] if same else [f"{path}: {ours!r}, Central {theirs!r}"]


def _json_calls() -> list[str]:
    """Every JSON answer but the file (180) and the datasets (570): Central's forms define no entities, so it has
    none, while we serve our four lists as datasets (test_our_lists_are_datasets_with_centrals_fields)."""
    return [n for n in CALLS if isinstance(recorded(n[:3])["response"]["body"], (dict, list))
            and not n.startswith(("180", "570"))]


@pytest.mark.parametrize("name", _json_calls())
def test_our_json_has_centrals_shape(replay, name):
    url, project_id, answers = replay
    ours, theirs = answers[name]
    assert ours.status_code == theirs["status"], ours.text[:300]
    assert ours.headers["Content-Type"] == theirs["headers"]["Content-Type"]
    assert ours.headers.get("OData-Version") == theirs["headers"].get("OData-Version")
    assert "WWW-Authenticate" not in ours.headers
    assert differences(ours.json(), theirs["body"], url, project_id) == []


@pytest.mark.parametrize("name", [n for n in CALLS if n.endswith("metadata")])
def test_our_metadata_document_is_centrals(replay, name):
    _url, _project_id, answers = replay
    ours, theirs = answers[name]
    assert ours.status_code == 200 and ours.headers["Content-Type"] == theirs["headers"]["Content-Type"]
    assert ours.text == theirs["body"]
    etree.fromstring(ours.content)   # well-formed XML


def test_the_submission_xml_is_the_bytes_the_phone_sent(replay):
    _url, _project_id, answers = replay
    ours, theirs = answers["150-get-submission-xml"]
    assert ours.status_code == 200 and ours.headers["Content-Type"] == theirs["headers"]["Content-Type"]
    assert ours.content == (CENTRAL / "submissions" / "household_income-1.xml").read_bytes()
    assert ours.content.decode("utf-8") == theirs["body"]


def test_the_attachment_comes_back_as_sent_with_a_strong_md5_etag(replay):
    _url, _project_id, answers = replay
    ours, theirs = answers["180-get-submission-attachment-file"]
    sent = (CENTRAL / "submissions" / "1795999970282.jpg").read_bytes()
    assert ours.status_code == 200 and ours.content == sent
    assert ours.headers["Content-Type"] == theirs["headers"]["Content-Type"] == "image/jpeg"
    assert ours.headers["ETag"] == f'"{hashlib.md5(sent).hexdigest()}"' == theirs["headers"]["ETag"]
    assert ours.headers["Content-Disposition"].startswith("inline;")
    assert hashlib.sha256(ours.content).hexdigest() in theirs["body"]["omitted"]


def test_the_shape_check_can_fail(replay):
    """The comparison finds a renamed key, a value of another type, a changed answer and a lost repeat row."""
    url, project_id, answers = replay
    theirs = answers["250-odata-household-submissions-expand"][1]["body"]
    ours = json.loads(json.dumps(theirs))
    row = ours["value"][0]
    row["mod_a"]["a_place"]["cluster_renamed"] = row["mod_a"]["a_place"].pop("cluster")
    row["interview"]["mod_b"]["n_members"] = str(row["interview"]["mod_b"]["n_members"])
    row["mod_a"]["a_interview"]["gps"]["coordinates"][0] += 1
    row["interview"]["mod_b"]["member"].pop()
    found = differences(ours, theirs, url, project_id)
    assert len(found) == 5, found


def test_our_lists_are_datasets_with_centrals_fields(replay):
    """Central's Dataset (docs/api.yaml): name, createdAt, projectId, approvalRequired, ownerOnly."""
    _url, project_id, answers = replay
    ours, theirs = answers["570-get-datasets"]
    assert ours.status_code == theirs["status"] == 200
    assert ours.headers["Content-Type"] == theirs["headers"]["Content-Type"]
    assert [d["name"] for d in ours.json()] == ["clusters", "hamlets", "households", "nodes"]
    for dataset in ours.json():
        assert set(dataset) == {"name", "createdAt", "projectId", "approvalRequired", "ownerOnly"}
        assert ISO.match(dataset["createdAt"]) and dataset["projectId"] == project_id
