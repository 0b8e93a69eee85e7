"""Hostile or broken submissions: each gets a clear 4xx as an OpenRosaResponse, nothing is stored,
and the server still answers /health afterwards. Run through the test client and over real HTTP."""

from __future__ import annotations

import json

import pytest

from server import create_app
from server.auth import new_token

from . import factories
from .collect import Collect, Part, multipart, submission_parts
from .conftest import FORMS, LiveServer
from .helpers import COMMUNITY_XML, DATA, ResponseGuard, assert_openrosa_error, counts, publish

PHOTO = "1732262400123.jpg"
HEAD = b'<data id="ppa_community" version="2024112201">'


@pytest.fixture(autouse=True)
def guard(app):
    checker = ResponseGuard(app)
    yield checker
    assert checker.violations == []


def _health(collect: Collect) -> None:
    reply = collect.get(collect.server_url.split("/v1/")[0] + "/health", add_device=False, openrosa=False)
    assert reply.status == 200
    assert json.loads(reply.body)["status"] == "ok"


def _refused(collect, store, before: dict, reply, status: int, text: str | None = None) -> str:
    said = assert_openrosa_error(reply, status, text)
    assert counts(store) == before
    _health(collect)
    return said


@pytest.fixture
def before(store, project):
    return counts(store)


def _doc(body: bytes, prolog: bytes = b"<?xml version='1.0' encoding='UTF-8' ?>") -> bytes:
    return prolog + HEAD + body + f"<meta><instanceID>{factories.new_instance_id()}</instanceID></meta></data>".encode()


def test_billion_laughs_is_refused(collect, store, before):
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    lol = f'<?xml version="1.0"?><!DOCTYPE data [{"".join(entities)}]>'.encode()
    xml = _doc(b"<group_name>&lol9;</group_name>", prolog=lol)
    _refused(collect, store, before, collect.submit(xml, {PHOTO: b"x"}), 400, "DOCTYPE")


def test_external_entity_is_refused(collect, store, before):
    prolog = b'<?xml version="1.0"?><!DOCTYPE data [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    said = _refused(collect, store, before, collect.submit(_doc(b"<group_name>&xxe;</group_name>", prolog)), 400)
    assert "root:" not in said


def test_external_dtd_is_refused(collect, store, before):
    prolog = b'<?xml version="1.0"?><!DOCTYPE data SYSTEM "http://127.0.0.1:9/evil.dtd">'
    _refused(collect, store, before, collect.submit(_doc(b"<village>v001</village>", prolog)), 400)


def test_doctype_hidden_after_a_comment_is_refused(collect, store, before):
    prolog = b"<?xml version='1.0'?><!-- " + b"x" * 5000 + b' --><!DOCTYPE data [<!ENTITY a "b">]>'
    _refused(collect, store, before, collect.submit(_doc(b"<village>&a;</village>", prolog)), 400)


def test_truncated_xml_is_refused(collect, store, before):
    xml = factories.community()
    _refused(collect, store, before, collect.submit(xml[: len(xml) // 2], {PHOTO: b"x"}), 400)


def test_non_utf8_bytes_declared_as_utf8_are_refused(collect, store, before):
    xml = factories.community(group_name="Caf\u00e9").replace("Caf\u00e9".encode(), "Caf\u00e9".encode("latin-1"))
    _refused(collect, store, before, collect.submit(xml), 400)


def test_xml_that_is_not_well_formed_is_refused(collect, store, before):
    xml = _doc(b"<village>v001</group_name>")
    _refused(collect, store, before, collect.submit(xml), 400)


def test_empty_xml_part_is_refused(collect, store, before):
    _refused(collect, store, before, collect.submit(b"", {PHOTO: b"x"}), 400)


def test_root_without_id_is_refused(collect, store, before):
    xml = factories.community().replace(b'id="ppa_community" ', b"")
    _refused(collect, store, before, collect.submit(xml, {PHOTO: b"x"}), 400, "form ID xml attribute missing")


@pytest.mark.parametrize("name", ["../../etc/passwd", "photos/1732262400123.jpg", "..", "a\x00.jpg",
                                  "\x1b[31mred.jpg"])
def test_attachment_part_name_with_a_path_or_control_character_is_refused(collect, store, before, name):
    parts = submission_parts(factories.community()) + [Part(name, b"x", "x.jpg", "image/jpeg")]
    _refused(collect, store, before, collect.post_parts(parts), 400, "is not allowed")


def test_attachment_part_name_with_a_backslash_is_refused(collect, store, before):
    # The header must escape it (quoted-string); werkzeug drops an unescaped backslash, leaving no separator.
    parts = submission_parts(factories.community()) + [Part("..\\\\evil.jpg", b"x", "x.jpg", "image/jpeg")]
    _refused(collect, store, before, collect.post_parts(parts), 400, "is not allowed")


def test_binary_answer_naming_a_path_is_refused(collect, store, before):
    xml = factories.community(photo="../secret.jpg")
    _refused(collect, store, before, collect.submit(xml), 400, "photo")


def test_encrypted_envelope_naming_a_path_is_refused(collect, store, before):
    envelope = (DATA / "encrypted_sample" / "envelope.xml").read_bytes()
    envelope = envelope.replace(b"<file>audit.csv.enc</file>", b"<file>../../audit.csv.enc</file>")
    _refused(collect, store, before, collect.submit(envelope, {"submission.xml.enc": b"x"}), 400, "is not allowed")


def test_thousands_of_parts_are_413(collect, app, store, before):
    count = app.config["MAX_PARTS"] * 4
    parts = submission_parts(factories.community()) + [Part(f"f{i}.jpg", b"x", f"f{i}.jpg") for i in range(count)]
    _refused(collect, store, before, collect.post_parts(parts), 413)


def test_deeply_nested_elements_are_refused(collect, app, store, before):
    depth = app.config["MAX_XML_DEPTH"] + 5
    xml = _doc(b"<a>" * depth + b"</a>" * depth)
    _refused(collect, store, before, collect.submit(xml), 400, "levels deep")


def test_nesting_beyond_the_parser_limit_is_refused(collect, store, before):
    xml = _doc(b"<a>" * 5000 + b"</a>" * 5000)
    _refused(collect, store, before, collect.submit(xml), 400)


def test_over_long_instance_id_is_refused(collect, store, before):
    xml = factories.community(instance_id="uuid:" + "7" * 250)
    _refused(collect, store, before, collect.submit(xml), 400, "249")


def test_multipart_with_a_wrong_boundary_is_refused(collect, store, before):
    body, _ = multipart(submission_parts(factories.community()), boundary="the-real-one")
    reply = collect.request("POST", "/submission", body=body, content_type="multipart/form-data; boundary=other")
    _refused(collect, store, before, reply, 400)


def test_multipart_without_a_boundary_is_refused(collect, store, before):
    body, _ = multipart(submission_parts(factories.community()))
    reply = collect.request("POST", "/submission", body=body, content_type="multipart/form-data")
    _refused(collect, store, before, reply, 400)


def test_multipart_cut_off_mid_part_is_refused(collect, store, before):
    body, content_type = multipart(submission_parts(factories.community(), {PHOTO: b"x" * 1000}))
    reply = collect.request("POST", "/submission", body=body[:60], content_type=content_type)
    _refused(collect, store, before, reply, 400)


def test_xml_part_over_the_xml_limit_is_413(collect, app, store, before):
    app.config["MAX_XML_BYTES"] = 2000
    xml = factories.community(group_name="x" * 3000)
    _refused(collect, store, before, collect.submit(xml), 413)


# --------------------------------------------------------------------------- body over MAX_SUBMISSION_BYTES

@pytest.fixture
def small_app(tmp_path):
    app = create_app({"DATA": str(tmp_path / "small"), "LOG_LEVEL": "WARNING", "PUBLIC_URL": "http://localhost",
                      "FORMS": str(FORMS), "MAX_SUBMISSION_BYTES": 100_000})
    yield app
    app.extensions["ppa"].store.close()


@pytest.fixture(params=["client", "http"])
def small_collect(small_app, request):
    store = small_app.extensions["ppa"].store
    project = store.create_project("Small")
    publish(store, project["id"], COMMUNITY_XML)
    token = new_token()
    store.create_device(project["id"], "phone", token, actor="test")
    checker = ResponseGuard(small_app)
    if request.param == "client":
        yield Collect(small_app.test_client(), f"http://localhost/v1/key/{token}/projects/{project['id']}")
    else:
        server = LiveServer(small_app)
        yield Collect(server.url, f"{server.url}/v1/key/{token}/projects/{project['id']}")
        server.stop()
    assert checker.violations == []


def test_body_over_the_submission_limit_is_413_in_openrosa_form(small_app, small_collect):
    store = small_app.extensions["ppa"].store
    before = counts(store)
    assert small_collect.head("/submission").header("X-OpenRosa-Accept-Content-Length") == "100000"
    reply = small_collect.submit(factories.community(), {PHOTO: b"\xff" * 150_000})
    _refused(small_collect, store, before, reply, 413, "100000 bytes")


def test_body_under_the_submission_limit_is_accepted(small_app, small_collect):
    reply = small_collect.submit(factories.community(), {PHOTO: b"\xff" * 50_000})
    assert reply.status == 201, reply.text
