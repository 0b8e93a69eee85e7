"""What a phone or a list can make a reviewer's browser do (issue #10 items 1, 2 and 8), over real HTTP against a
server started by the test: files come back typed by the server, inline only as pictures, sound or film; names
cannot change the saved name; every response carries the security headers; the lists people download are
neutralised for spreadsheets while phones get the exact bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from urllib.parse import quote

import pytest
import requests
from PIL import Image
from werkzeug.http import parse_options_header

from server import media_types
from server.api import hash_token
from server.auth import new_token
from server.http_security import CSP, FILE_CSP
from bench.samples import Part

from .collect import Collect
from .factories import community
from .helpers import DATA
from .web import PASSWORD, ROLE_USERS, csrf, make_users, submit_household

SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)">'
       b'<script>fetch("/admin/users")</script><rect width="10" height="10"/></svg>')
HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>"
HOSTILE = "x\".html; filename*=UTF-8''evil.html; a=\".jpg"


def _picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


JPEG, PNG = _picture("JPEG"), _picture("PNG")


def _part_name(name: str) -> str:
    """A multipart name or filename with its quotes escaped, as RFC 7578's quoted-string allows."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _send_photo(phone: Collect, file_name: str, content: bytes, declared: str) -> str:
    """A ppa_community submission whose image question (photo) names `file_name`, sent with the file as one
    Collect-shaped multipart POST, the file's part declaring `declared`. Returns the instanceID."""
    xml = community(photo=file_name)
    parts = [Part("xml_submission_file", xml, "submission.xml", "text/xml"),
             Part(_part_name(file_name), content, _part_name(file_name), declared)]
    reply = phone.post_parts(parts)
    assert reply.status == 201, reply.text
    return re.search(rb"<instanceID>([^<]+)</instanceID>", xml).group(1).decode()


def _sign_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    signed = session.post(f"{base}/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(page)},
                          allow_redirects=False, timeout=30)
    assert signed.status_code == 302, signed.text
    return session


def _assert_secured(response: requests.Response, where: str) -> None:
    headers = response.headers
    assert headers.get("Content-Security-Policy"), where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], where


@pytest.fixture
def sent(app, store, project, token, live):
    """Over real HTTP from a Collect-shaped phone: an SVG with script, an HTML page and a real JPEG and PNG, each
    under the image question of its own submission and each declared as an image; plus a file with a hostile
    name. Returns {label: (submission id, file name)} and a manager's signed-in session."""
    other = store.create_project("Other")
    make_users(store, project["id"], other["id"])
    phone = Collect(live.url, f"{live.url}/v1/key/{token}/projects/{project['id']}")
    form = store.get_form(project["id"], "ppa_community")
    files = {"svg": ("drawing.svg", SVG, "image/svg+xml"), "html": ("page.html", HTML, "text/html"),
             "html_as_jpeg": ("page.jpg", HTML, "image/jpeg"), "jpeg": ("1732262400200.jpg", JPEG, "image/jpeg"),
             "png": ("sketch.png", PNG, "image/png"), "hostile": (HOSTILE, HTML, "image/jpeg")}
    out = {}
    for label, (name, content, declared) in files.items():
        instance_id = _send_photo(phone, name, content, declared)
        out[label] = (store.get_submission(form["id"], instance_id)["id"], name)
    return out, _sign_in(live.url, ROLE_USERS["manager"][0])


def _attachment(live, session, submission_id: int, name: str) -> requests.Response:
    response = session.get(f"{live.url}/projects/1/submissions/{submission_id}/attachments/{quote(name, safe='')}",
                           timeout=30)
    assert response.status_code == 200, response.text
    _assert_secured(response, name)
    return response


# -- item 1: files from phones ----------------------------------------------------------------------------------

def test_an_svg_with_script_declared_as_an_image_is_served_as_a_download(live, sent):
    files, session = sent
    served = _attachment(live, session, *files["svg"])
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert parse_options_header(served.headers["Content-Disposition"]) == ("attachment", {"filename": "drawing.svg"})
    assert served.content == SVG                                                  # kept whole, only not run
    assert "sandbox" in served.headers["Content-Security-Policy"]


def test_an_html_page_declared_as_html_or_as_a_jpeg_is_served_as_a_download(live, sent):
    files, session = sent
    for label in ("html", "html_as_jpeg"):
        served = _attachment(live, session, *files[label])
        assert served.headers["Content-Type"] == "application/octet-stream", label
        assert served.headers["Content-Disposition"].startswith("attachment;"), label
        assert served.content == HTML


def test_a_real_jpeg_and_png_under_an_image_question_are_shown_inline(live, sent):
    files, session = sent
    for label, content, kind in (("jpeg", JPEG, "image/jpeg"), ("png", PNG, "image/png")):
        served = _attachment(live, session, *files[label])
        assert served.headers["Content-Type"] == kind
        assert parse_options_header(served.headers["Content-Disposition"]) == ("inline", {"filename": files[label][1]})
        assert served.content == content
        assert served.headers["Content-Security-Policy"] == FILE_CSP


def test_the_submission_page_shows_only_real_pictures(live, sent):
    files, session = sent
    for label, shown in (("jpeg", True), ("png", True), ("svg", False), ("html_as_jpeg", False)):
        submission_id, name = files[label]
        page = session.get(f"{live.url}/projects/1/submissions/{submission_id}", timeout=30)
        _assert_secured(page, label)
        href = f"/projects/1/submissions/{submission_id}/attachments/{quote(name)}"
        assert (f'<img src="{href}"' in page.text) is shown, label
        assert f'<a href="{href}">' in page.text                                  # always offered as a link


def test_the_stored_type_is_the_servers_decision_not_the_phones(store, sent):
    files, _session = sent
    stored = {label: store.submission_attachment(sid, name)["content_type"] for label, (sid, name) in files.items()}
    assert stored == {"svg": "application/octet-stream", "html": "application/octet-stream",
                      "html_as_jpeg": "application/octet-stream", "jpeg": "image/jpeg", "png": "image/png",
                      "hostile": "application/octet-stream"}


def test_a_file_stored_with_the_phones_own_type_is_decided_again_when_served(app, store, project, live, sent):
    """Files stored before the server decided types carry the phone's claim; the bytes decide when served."""
    files, session = sent
    submission_id, name = files["svg"]
    def_id = store.submission_by_id(project["id"], submission_id)["def_id"]
    with store.transaction():
        assert store.fill_attachment(def_id, name, SVG, "image/svg+xml")           # as an older server stored it
    served = _attachment(live, session, submission_id, name)
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment;")


def test_a_hostile_file_name_cannot_change_the_saved_name(live, sent):
    files, session = sent
    served = _attachment(live, session, *files["hostile"])
    kind, params = parse_options_header(served.headers["Content-Disposition"])
    assert (kind, params) == ("attachment", {"filename": HOSTILE})                # one parameter, the whole name
    assert "filename*" not in params
    assert served.headers["Content-Disposition"] == \
        'attachment; filename="x\\".html; filename*=UTF-8\'\'evil.html; a=\\".jpg"'
    # a name in Devanagari keeps its letters through filename*, with an ASCII fallback beside it
    from server.http_security import disposition
    assert parse_options_header(disposition("फ़ोटो \"1\".jpg"))[1]["filename"] == "फ़ोटो \"1\".jpg"


def test_every_download_of_files_is_an_attachment_with_nosniff(live, sent, store, project, token):
    """The raw zip and the CSV zip with media (pages and API), the submission XML, and the form attachments phones
    fetch: each a download, never shown in the page."""
    files, session = sent
    api_token = _api_token(store, ROLE_USERS["manager"][0])
    submission_id = files["jpeg"][0]
    for url, headers in (("/projects/1/downloads/ppa_community.raw", {}),
                         ("/projects/1/downloads/ppa_community.csv?media=1", {}),
                         (f"/projects/1/submissions/{submission_id}.xml", {}),
                         ("/api/v1/projects/1/forms/ppa_community/export.raw", {"Authorization": f"Bearer {api_token}"}),
                         ("/api/v1/projects/1/forms/ppa_community/export.csv?media=1",
                          {"Authorization": f"Bearer {api_token}"})):
        served = session.get(live.url + url, headers=headers, timeout=60)
        assert served.status_code == 200, (url, served.text[:200])
        _assert_secured(served, url)
        assert served.headers["Content-Disposition"].startswith("attachment;"), url
        if url.endswith(".raw"):
            names = zipfile.ZipFile(io.BytesIO(served.content)).namelist()
            assert any(n.endswith("/drawing.svg") for n in names), url                # inside a zip, not served
    phone = requests.get(f"{live.url}/v1/key/{token}/projects/1/forms/ppa_community/attachments/villages.csv",
                         headers={"X-OpenRosa-Version": "1.0"}, timeout=30)
    assert phone.status_code == 200 and phone.content == (DATA / "villages.csv").read_bytes()
    _assert_secured(phone, "form attachment")
    assert parse_options_header(phone.headers["Content-Disposition"]) == ("attachment", {"filename": "villages.csv"})


def _api_token(store, email: str) -> str:
    from server.api import hash_token
    from server.auth import new_token
    value = new_token()
    store.create_api_token(store.user_by_email(email)["id"], hash_token(value), "test")
    return value


@pytest.mark.parametrize("kind, content, served", [
    ("image", b"\xff\xd8\xff\xe0" + bytes(20), "image/jpeg"),
    ("image", b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png"),
    ("image", b"GIF89a" + bytes(20), "image/gif"),
    ("image", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    ("image", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "application/octet-stream"),
    ("image", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "application/octet-stream"),   # HEIF: not shown
    ("image", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "application/octet-stream"),   # a film, asked a picture
    ("audio", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "audio/mp4"),                  # Android's recorder
    ("video", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
    ("video", b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00", "video/3gpp"),
    ("audio", b"#!AMR\n" + bytes(20), "audio/amr"),
    ("audio", b"ID3\x04\x00" + bytes(20), "audio/mpeg"),
    ("audio", b"OggS\x00" + bytes(20), "audio/ogg"),
    ("audio", b"RIFF\x10\x00\x00\x00WAVEfmt ", "audio/wav"),
    ("video", b"\x1a\x45\xdf\xa3" + bytes(20), "video/webm"),
    ("audio", b"\xff\xd8\xff\xe0" + bytes(20), "application/octet-stream"),             # a picture, asked a sound
    ("file", b"\xff\xd8\xff\xe0" + bytes(20), "application/octet-stream"),              # a file question: download
    ("image", b"", "application/octet-stream"),
])
def test_the_type_is_decided_from_the_question_and_the_first_bytes(kind, content, served):
    assert media_types.decide(kind, content) == served
    assert media_types.inline(served) is (served != media_types.DOWNLOAD)


def test_the_question_kind_comes_from_the_upload_controls_mediatype(app, store, project):
    form = app.extensions["ppa"].forms.get(store, store.get_form(project["id"], "ppa_community")["current_def_id"])
    assert {f.name: f.media for f in form.fields if f.type == "binary"} == {"photo": "image", "audit": "file"}
    assert [media_types.question_kind(m) for m in ("image/*", "audio/*", "video/*", "*/*", None)] == \
        ["image", "audio", "video", "file", "file"]


# -- item 2: security headers on every response ------------------------------------------------------------------

@pytest.fixture
def every_page(app, store, project, token, live, collect_client):
    """A project with data in two clusters, a device, a photo, people; the values to fill every route with."""
    other = store.create_project("Other")
    make_users(store, project["id"], other["id"])
    submit_household(collect_client, app, store, project["id"], "chanderi", "chanderi-w03", "chanderi-w03-t1")
    phone = Collect(live.url, f"{live.url}/v1/key/{token}/projects/{project['id']}")
    instance_id = _send_photo(phone, "1732262400200.jpg", JPEG, "image/jpeg")
    submission_id = store.get_submission(store.get_form(1, "ppa_community")["id"], instance_id)["id"]
    device = store.list_devices(1)[0]
    values = {"project_id": 1, "submission_id": submission_id, "device_id": device["id"], "cluster": "chanderi",
              "hamlet": "chanderi-w03", "form_id": "ppa_community", "fmt": "csv", "list_name": "households.csv",
              "xml_form_id": "ppa_community", "name": "1732262400200.jpg", "filename": "app.css", "token": token,
              "instance_id": instance_id, "resource": "Submissions"}
    return values


# endpoints (after the blueprint's name) whose variables or query differ from every_page's
_BY_ENDPOINT = {"attachment": ({"name": "villages.csv"}, ""), "change_summary": ({}, "?from=1&to=1"),
                "entities": ({"name": "households"}, ""), "entities_feed": ({"name": "households"}, "")}


def _urls(app, values: dict) -> list[str]:
    """Every GET route of the app with its variables filled in; fails on a variable the table does not know, so
    a new route cannot go unvisited."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        special, query = _BY_ENDPOINT.get(rule.endpoint.rsplit(".", 1)[-1], ({}, ""))
        filled = {**values, **special}
        unknown = set(rule.arguments) - set(filled)
        assert not unknown, f"{rule.rule}: give a value for {sorted(unknown)} in every_page"
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", quote(str(filled[arg]), safe=""), path)
        urls.append(path + query)
    return sorted(set(urls))


def test_every_response_carries_the_security_headers(app, live, every_page):
    """Every GET route, signed in as the administrator (pages, files, API, health) or as a phone (OpenRosa), and
    the sign-in page, an error page and a static file anonymously."""
    admin = _sign_in(live.url, ROLE_USERS["admin"][0])
    store = app.extensions["ppa"].store
    bearer = new_token()   # Central's API (server/central): scripts send a Bearer token, not Digest
    store.create_api_token(store.user_by_email(ROLE_USERS["admin"][0])["id"], hash_token(bearer), "headers")
    routes = app.url_map.bind("127.0.0.1")
    seen = {}
    for path in _urls(app, every_page):
        if routes.match(path.split("?")[0])[0].startswith("central."):
            response = requests.get(live.url + path, headers={"Authorization": f"Bearer {bearer}"}, timeout=60)
        elif path.startswith("/v1/key/"):
            response = requests.get(live.url + path, headers={"X-OpenRosa-Version": "1.0"}, timeout=60)
        elif path.startswith("/v1/projects/"):
            response = requests.get(live.url + path, headers={"X-OpenRosa-Version": "1.0"}, timeout=60,
                                    auth=requests.auth.HTTPDigestAuth(ROLE_USERS["admin"][0], PASSWORD))
        else:
            response = admin.get(live.url + path, timeout=60, allow_redirects=False)
        _assert_secured(response, path)
        assert response.headers["Content-Security-Policy"] in (CSP, FILE_CSP), path
        seen[path] = response.status_code
    assert {p: s for p, s in seen.items() if s not in (200, 204)} == {}
    assert len(seen) >= 40
    for path, status in (("/login", 200), ("/projects/1", 302), ("/no/such/page", 404), ("/static/app.js", 200)):
        response = requests.get(live.url + path, allow_redirects=False, timeout=30)
        assert response.status_code == status, path
        _assert_secured(response, path)


def test_templates_and_static_files_carry_nothing_the_policy_blocks():
    """No inline script, event handler, style attribute or javascript: URL in any template, and no eval, string
    timers or HTML written from script in the static files (the browser test checks what a page really does). A
    data block (<script type="application/json">, filled with |tojson, which escapes <, > and &) runs nothing."""
    from pathlib import Path
    root = Path(__file__).parent.parent / "server"
    found = []
    for path in sorted((root / "templates").glob("*.html")) + [root / "http_errors.py"]:
        text = path.read_text(encoding="utf-8")
        # a JSON data block (type="application/json") is never run: the charts' data travels in those
        for pattern in (r"<script(?![^>]*\b(?:src=|type=\"application/json\"))", r"\son[a-z]+\s*=", r"\sstyle\s*=",
                        r"javascript:", r"<style"):
            found += [f"{path.name}: {m.group(0)!r}" for m in re.finditer(pattern, text, re.I)]
    for path in sorted((root / "static").glob("*.js")):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\beval\s*\(", r"new\s+Function", r"set(?:Timeout|Interval)\s*\(\s*['\"]", r"innerHTML",
                        r"\.style\s*=", r"setAttribute\(\s*['\"]style"):
            found += [f"{path.name}: {m.group(0)!r}" for m in re.finditer(pattern, text)]
    assert found == []


# -- item 8: the lists people download ---------------------------------------------------------------------------

FORMULAS = {"chanderi-w03-f1": "=HYPERLINK(\"http://example.org\",\"click\")", "chanderi-w03-f2": "+1+2",
            "chanderi-w03-f3": "-2+3", "chanderi-w03-f4": "@SUM(A1)", "chanderi-w03-f5": "-12.5",
            "chanderi-w03-f6": "Head 'quoted'"}


def test_the_list_a_manager_downloads_is_neutralised_and_phones_get_the_exact_bytes(app, store, project, token, live):
    store.upsert_list_items(1, "households.csv", [(hh, {"label": label, "hamlet": "chanderi-w03", "cluster": "chanderi",
                                                        "node": ""}) for hh, label in FORMULAS.items()],
                            source="test")
    other = store.create_project("Other")
    make_users(store, project["id"], other["id"])
    manager = _sign_in(live.url, ROLE_USERS["manager"][0])
    download = manager.get(f"{live.url}/projects/1/lists/households.csv", timeout=30)
    assert download.status_code == 200
    _assert_secured(download, "list download")
    assert parse_options_header(download.headers["Content-Disposition"]) == ("attachment",
                                                                             {"filename": "households.csv"})
    labels = {row["name"]: row["label"] for row in csv.DictReader(io.StringIO(download.content.decode("utf-8")))}
    assert {k: labels[k] for k in FORMULAS} == {
        "chanderi-w03-f1": "'=HYPERLINK(\"http://example.org\",\"click\")", "chanderi-w03-f2": "'+1+2",
        "chanderi-w03-f3": "'-2+3", "chanderi-w03-f4": "'@SUM(A1)",
        "chanderi-w03-f5": "-12.5",                                                  # a number is left as it is
        "chanderi-w03-f6": "Head 'quoted'"}

    phone_copy = _phone_list(live, token)
    phone_labels = {row["name"]: row["label"] for row in csv.DictReader(io.StringIO(phone_copy.decode("utf-8")))}
    assert {k: phone_labels[k] for k in FORMULAS} == FORMULAS                      # the values, byte for byte

    # downloaded, then imported again unchanged: the values, and so the phones' bytes, stay as they were
    page = manager.get(f"{live.url}/projects/1/lists", timeout=30).text
    imported = manager.post(f"{live.url}/projects/1/lists", timeout=60, allow_redirects=False,
                            data={"list_name": "households.csv", "update": "1", "csrf_token": csrf(page)},
                            files={"file": ("households.csv", download.content, "text/csv")})
    assert imported.status_code == 302
    assert _phone_list(live, token) == phone_copy


def _phone_list(live, token: str) -> bytes:
    """households.csv as Collect fetches it: from the manifest, checked against the manifest's MD5."""
    base = f"{live.url}/v1/key/{token}/projects/1"
    manifest = requests.get(f"{base}/forms/household_income/manifest", headers={"X-OpenRosa-Version": "1.0"},
                            timeout=30).text
    md5 = re.search(r"<filename>households\.csv</filename>\s*<hash>md5:([0-9a-f]+)</hash>", manifest).group(1)
    body = requests.get(f"{base}/forms/household_income/attachments/households.csv",
                        headers={"X-OpenRosa-Version": "1.0"}, timeout=30).content
    assert hashlib.md5(body).hexdigest() == md5
    return body


def test_the_apis_analysis_csvs_neutralise_what_a_phone_wrote(store, project, phone, live):
    """A head's name is free text from a phone: in the API's field_households.csv it reaches researchers' spreadsheets
    neutralised, as in every other export."""
    import random
    from pathlib import Path

    from bench import samples
    from server import lists
    from server.xforms import parse_xform
    forms = Path(__file__).parent.parent / "forms"
    _columns, items = lists.read_csv((forms / "households.csv").read_bytes(), "households.csv")
    listed = [(name, row) for name, row in items if row["hamlet"] == "chanderi-w03"]
    store.upsert_list_items(project["id"], "households.csv", listed, source="listing")
    answers = samples.well_being_ranking(random.Random(5), [name for name, _ in listed], new=1)
    answers["new_household"][0]["new_hh_head"] = '=HYPERLINK("http://evil.example","open")'
    xml = samples.instance_xml(parse_xform((forms / "well_being_ranking.xml").read_bytes()), answers)
    reply = phone.submit(xml)
    assert reply.status == 201, reply.text
    make_users(store, project["id"], store.create_project("Other")["id"])
    served = requests.get(f"{live.url}/api/v1/projects/{project['id']}/export/field_households.csv",
                          headers={"Authorization": f"Bearer {_api_token(store, ROLE_USERS['manager'][0])}"},
                          timeout=30)
    assert served.status_code == 200, served.text
    (row,) = csv.DictReader(io.StringIO(served.text))
    assert row["head_names"] == '\'=HYPERLINK("http://evil.example","open")'
    assert row["household_id"] == "chanderi-w03-m900"
