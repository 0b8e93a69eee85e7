"""A Collect-shaped client: multipart bodies built byte for byte as OkHttp builds them, sent either
through Flask's test client or over real HTTP to a server on 127.0.0.1.

OkHttp 5 (Collect >= v2025.4) writes no Content-Length on each part; OkHttp 4 did. Both shapes
are produced so the server is tested against each (docs/protocol.md 3.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from lxml import etree

from bench.samples import CONTENT_TYPES, Part, multipart, submission_parts  # noqa: F401 (re-exported)
from server.xforms import md5_hash, parse_xform

LIST_NS = {"x": "http://openrosa.org/xforms/xformsList"}
MANIFEST_NS = {"m": "http://openrosa.org/xforms/xformsManifest"}
COLLECT_UA = "org.odk.collect.android/v2026.3.0 Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/UQ1A)"


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Collect:
    """Talks to a server the way Collect does: deviceID on every request, OpenRosa headers, Collect's UA."""

    transport: object                       # a Flask test client, or a base URL like http://127.0.0.1:PORT
    server_url: str                         # e.g. http://127.0.0.1:8080/v1/key/<token>/projects/1
    device_id: str = "collect:Xk3v9QpLm2Zt8RwA"
    okhttp: int = 5
    headers: dict = field(default_factory=dict)

    def _path(self, url: str) -> str:
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, url: str, body: bytes | None = None, content_type: str | None = None,
                headers: dict | None = None, add_device: bool = True, openrosa: bool = True) -> Reply:
        if not url.startswith("http"):
            url = self.server_url.rstrip("/") + url
        if add_device:
            url += ("&" if "?" in url else "?") + f"deviceID={self.device_id}"
        sent = {"User-Agent": COLLECT_UA, **self.headers, **(headers or {})}
        if openrosa:
            sent.setdefault("X-OpenRosa-Version", "1.0")
        if content_type:
            sent["Content-Type"] = content_type
        if isinstance(self.transport, str):
            parts = urlsplit(url)
            target = self.transport.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
            response = requests.request(method, target, data=body, headers=sent, allow_redirects=False, timeout=30)
            return Reply(response.status_code, dict(response.headers), response.content)
        response = self.transport.open(self._path(url), method=method, data=body, headers=sent)
        return Reply(response.status_code, dict(response.headers), response.get_data())

    def get(self, url: str, **kwargs) -> Reply:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs) -> Reply:
        return self.request("HEAD", url, **kwargs)

    def form_list(self, **kwargs) -> Reply:
        return self.get("/formList", **kwargs)

    def download_forms(self) -> dict[str, dict]:
        """What Collect does on 'Download form': list, fetch each form and its media, check every hash.
        {form_id: {"xml": bytes, "def": FormDef, "media": {filename: bytes}}}"""
        listing = self.form_list()
        assert listing.status == 200 and "text/xml" in listing.header("Content-Type")
        forms = {}
        for item in etree.fromstring(listing.body).findall("x:xform", LIST_NS):
            form_id = item.findtext("x:formID", namespaces=LIST_NS)
            xml = self.get(item.findtext("x:downloadUrl", namespaces=LIST_NS))
            assert xml.status == 200 and md5_hash(xml.body) == item.findtext("x:hash", namespaces=LIST_NS)
            media = {}
            manifest_url = item.findtext("x:manifestUrl", namespaces=LIST_NS)
            if manifest_url:
                manifest = self.get(manifest_url)
                assert manifest.status == 200 and manifest.header("X-OpenRosa-Version") == "1.0"
                for entry in etree.fromstring(manifest.body).findall("m:mediaFile", MANIFEST_NS):
                    file = self.get(entry.findtext("m:downloadUrl", namespaces=MANIFEST_NS))
                    assert md5_hash(file.body) == entry.findtext("m:hash", namespaces=MANIFEST_NS)
                    media[entry.findtext("m:filename", namespaces=MANIFEST_NS)] = file.body
            forms[form_id] = {"xml": xml.body, "def": parse_xform(xml.body), "media": media}
        return forms

    def post_parts(self, parts: list[Part], **kwargs) -> Reply:
        body, content_type = multipart(parts, self.okhttp)
        return self.request("POST", "/submission", body=body, content_type=content_type, **kwargs)

    def submit(self, xml: bytes, files: dict[str, bytes] | None = None, incomplete: bool = False, **kwargs) -> Reply:
        return self.post_parts(submission_parts(xml, files, incomplete), **kwargs)

    def send_instance(self, xml: bytes, files: dict[str, bytes], accept_length: int | None = None) -> list[Reply]:
        """Collect's whole upload of one instance: HEAD, then as many POSTs as the split rule needs (3.3)."""
        probe = self.head("/submission")
        limit = accept_length or int(probe.header("X-OpenRosa-Accept-Content-Length") or 10_000_000)
        batches: list[dict[str, bytes]] = [{}]
        size = len(xml)
        for name, content in files.items():
            current = batches[-1]
            if current and (len(current) > 100 or size + len(content) > limit):
                batches.append({})
                size = len(xml)
            batches[-1][name] = content
            size += len(content)
        replies = []
        for index, batch in enumerate(batches):
            reply = self.submit(xml, batch, incomplete=index < len(batches) - 1)
            replies.append(reply)
            if reply.status not in (201, 202):
                break
        return replies
