"""Shared checks for the protocol tests: OpenRosa replies, what the store holds, form variants, and a
WSGI guard that fails a test when any response is a 401 without a challenge or a 3xx on /submission."""

from __future__ import annotations

import re
from pathlib import Path
from xml.dom import minidom

from lxml import etree

from server import catalog

DATA = Path(__file__).parent / "data"
COMMUNITY_XML = (DATA / "ppa_community.xml").read_bytes()
RESPONSE_NS = "http://openrosa.org/http/response"
SUCCESS = "full submission upload was successful!"
TABLES = ("submissions", "submission_defs", "submission_attachments", "blobs", "quality_flags")


def message(reply) -> str:
    """The text Collect shows: the first element named exactly 'message', read without namespaces (3.4)."""
    assert "OpenRosaResponse" in reply.text, reply.text
    found = minidom.parseString(reply.body).getElementsByTagName("message")
    return found[0].firstChild.data if found and found[0].firstChild else ""


def assert_openrosa_error(reply, status: int, text: str | None = None) -> str:
    """A 4xx as Collect wants it: the status, text/xml, an OpenRosaResponse with nature="error"."""
    assert reply.status == status, (reply.status, reply.text)
    assert "text/xml" in (reply.header("Content-Type") or "")
    root = etree.fromstring(reply.body)
    assert root.tag == f"{{{RESPONSE_NS}}}OpenRosaResponse"
    assert root.find(f"{{{RESPONSE_NS}}}message").get("nature") == "error"
    said = message(reply)
    if text is not None:
        assert text in said, said
    return said


def assert_success(reply) -> None:
    assert reply.status == 201, (reply.status, reply.text)
    assert "text/xml" in (reply.header("Content-Type") or "")
    assert message(reply) == SUCCESS


def counts(store) -> dict[str, int]:
    """Rows in every table a submission writes, typed data tables included."""
    tables = list(TABLES) + store.data_tables()
    return {t: store.db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def variant(xml: bytes = COMMUNITY_XML, form_id: str | None = None, version: str | None = None,
            title: str | None = None, inline_villages: bool = False, extra_field: tuple[str, str] | None = None,
            public_key: str | None = None) -> bytes:
    """A copy of the test form with another id, version, title, no media, an extra typed field, or a key."""
    if form_id:
        xml = xml.replace(b'id="ppa_community"', f'id="{form_id}"'.encode())
    if version:
        xml = xml.replace(b'version="2024112201"', f'version="{version}"'.encode())
    if title:
        xml = xml.replace(b"<h:title>PPA Community Profile</h:title>", f"<h:title>{title}</h:title>".encode())
    if inline_villages:
        xml = xml.replace(b'<instance id="villages" src="jr://file-csv/villages.csv"/>',
                          b'<instance id="villages"><root><item><name>v001</name><label>Kibera</label></item>'
                          b'</root></instance>')
    if extra_field:
        name, kind = extra_field
        xml = xml.replace(b"<meta>", f"<{name}/><meta>".encode(), 1)
        xml = xml.replace(b"</model>", f'<bind nodeset="/data/{name}" type="{kind}"/></model>'.encode())
    if public_key:
        xml = xml.replace(b"</model>", f'<submission base64RsaPublicKey="{public_key}"/></model>'.encode())
    return xml


def publish(store, project_id: int, xml: bytes) -> catalog.Published:
    return catalog.publish(store, project_id, xml, "variant.xml", validate=False)


def move_instance_id_to_root(xml: bytes) -> bytes:
    match = re.search(rb"<instanceID>[^<]*</instanceID>", xml)
    return xml.replace(match.group(0), b"").replace(b"</data>", match.group(0) + b"</data>")


class ResponseGuard:
    """Wraps app.wsgi_app, so it sees test-client and live-server responses alike."""

    def __init__(self, app):
        self.inner = app.wsgi_app
        self.violations: list[str] = []
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")

        def checking(status, headers, exc_info=None):
            code = int(status.split()[0])
            names = {k.lower(): v for k, v in headers}
            if code == 401 and not names.get("www-authenticate", "").strip():
                self.violations.append(f"401 without WWW-Authenticate on {path}")
            if path.endswith("/submission") and 300 <= code < 400:
                self.violations.append(f"{code} on {path}")
            return start_response(status, headers, exc_info)

        return self.inner(environ, checking)
