"""Behind a reverse proxy (README, Several app servers): with PPA_PROXIES=1 the client's address the proxy appended to
X-Forwarded-For is the one sign-in throttling and the audit log see, and what a client put there itself is not; with
the default 0 the header is ignored, since anyone can send it. Over real HTTP to a server started by the test."""

from __future__ import annotations

import re

import requests

from server import create_app
from server.bootstrap import create_user

from .conftest import FORMS, LiveServer

EMAIL, PASSWORD = "manager@example.org", "a-long-enough-password"


def _served(tmp_path, proxies: int):
    app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING", "FORMS": str(FORMS), "PROXIES": proxies})
    store = app.extensions["ppa"].store
    create_user(store, EMAIL, "manager", PASSWORD, "PPA")
    return LiveServer(app), store


def _fail_sign_in(base: str, forwarded_for: str) -> int:
    with requests.Session() as session:
        page = session.get(f"{base}/login", timeout=30).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        reply = session.post(f"{base}/login", data={"email": EMAIL, "password": "wrong", "csrf_token": token},
                             headers={"X-Forwarded-For": forwarded_for}, allow_redirects=False, timeout=30)
        return reply.status_code


def _failures(store) -> dict[str, int]:
    return {address: store.sign_in_failures(EMAIL, address, 0)[0]
            for address in ("127.0.0.1", "203.0.113.7", "198.51.100.9")}


def test_behind_one_trusted_proxy_the_address_it_appended_is_the_one_throttling_counts(tmp_path):
    server, store = _served(tmp_path, proxies=1)
    try:
        assert _fail_sign_in(server.url, "198.51.100.9, 203.0.113.7") == 401   # a client's own value, the proxy's
        assert _failures(store) == {"127.0.0.1": 0, "203.0.113.7": 1, "198.51.100.9": 0}
    finally:
        server.stop()
        store.close()


def test_without_a_proxy_setting_a_forwarded_for_header_is_ignored(tmp_path):
    server, store = _served(tmp_path, proxies=0)
    try:
        assert _fail_sign_in(server.url, "198.51.100.9, 203.0.113.7") == 401
        assert _failures(store) == {"127.0.0.1": 1, "203.0.113.7": 0, "198.51.100.9": 0}
    finally:
        server.stop()
        store.close()
