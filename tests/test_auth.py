"""Safe on a public address (issue #10 items 5, 6 and 13's token alphabet), each over real HTTP against a server the
test starts: Digest nonces expire and get stale=true, a nonce count is accepted once (by every worker process),
wrong passwords by Digest and on the sign-in page share one throttle per account and address with backoff, unknown
e-mails take as long as known ones, signing out and password changes end sessions on the server, `next` stays on
this server, and new tokens are shell-safe while old ones keep working."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from selenium.webdriver.common.by import By

from server import auth
from server.api import hash_token
from server.auth import NONCE_LIFETIME_S, NonceSigner, new_token, sign_in_delay, verify_password
from server.bootstrap import create_user

from . import chromium
from .conftest import ENGINES
from .live_server import ServerProcess, cli, free_port, prepare, server_env
from .web import PASSWORD, csrf

ROOT = Path(__file__).parent.parent
EMAIL = "ana@example.org"
OPENROSA = {"X-OpenRosa-Version": "1.0"}
OLD_SHAPE = "Ab!$" * 16   # 64 characters with Central's '!' and '$', as tokens were made before


# -- helpers ------------------------------------------------------------------------------------------------------

class _From(HTTPAdapter):
    """Connect from another loopback address (127.0.0.2, ...), so the server sees another client address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str = "127.0.0.1") -> requests.Session:
    session = requests.Session()
    session.mount("http://", _From(address))
    return session


def sign_in(session: requests.Session, base: str, email: str, password: str, next_path: str | None = None):
    page = session.get(f"{base}/login", timeout=30).text
    data = {"email": email, "password": password, "csrf_token": csrf(page)}
    if next_path is not None:
        data["next"] = next_path
    return session.post(f"{base}/login", data=data, allow_redirects=False, timeout=30)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def challenge(reply: requests.Response) -> dict[str, str]:
    header = reply.headers["WWW-Authenticate"]
    assert header.startswith("Digest "), header
    return {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}


def digest_header(params: dict[str, str], email: str, password: str, method: str, uri: str, nc: int,
                  nonce: str | None = None, cnonce: str = "f00dcafe") -> str:
    """The Authorization header okhttp-digest (Collect) sends, built by hand so that a test can choose the nc."""
    nonce = nonce or params["nonce"]
    count = f"{nc:08x}"
    ha1, ha2 = _md5(f"{email}:{params['realm']}:{password}"), _md5(f"{method}:{uri}")
    response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{email}", realm="{params["realm"]}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", qop=auth, nc={count}, cnonce="{cnonce}", algorithm=MD5, '
            f'opaque="{params["opaque"]}"')


@pytest.fixture
def ana(app, store, project):
    return create_user(store, EMAIL, "admin", PASSWORD, app.config["DIGEST_REALM"])


def _form_list(session: requests.Session, base: str, header: str | None = None) -> requests.Response:
    headers = {**OPENROSA, **({"Authorization": header} if header else {})}
    return session.get(f"{base}/v1/projects/1/formList", headers=headers, timeout=30)


# -- 5. Digest: nonces expire, stale=true, nonce counts once ---------------------------------------------------------

def test_digest_nonces_expire_within_minutes():
    assert 60 <= NONCE_LIFETIME_S <= 15 * 60


def test_a_nonce_still_within_its_lifetime_is_accepted(app, ana, live):
    phone = client()
    params = challenge(_form_list(phone, live.url))
    young = NonceSigner(app.config["SECRET_KEY"]).issue(time.time() - NONCE_LIFETIME_S + 30)
    header = digest_header(params, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList", 1, nonce=young)
    assert _form_list(phone, live.url, header).status_code == 200


def test_an_expired_nonce_gets_401_with_stale_true_and_collect_retries_without_asking(app, ana, live):
    phone = client()
    params = challenge(_form_list(phone, live.url))
    old = NonceSigner(app.config["SECRET_KEY"]).issue(time.time() - NONCE_LIFETIME_S - 1)
    refused = _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList", 7,
                                                        nonce=old))
    assert refused.status_code == 401
    fresh = challenge(refused)
    assert fresh["stale"] == "true" and fresh["nonce"] != old
    # okhttp-digest answers a stale challenge with the same credentials instead of prompting the enumerator
    again = _form_list(phone, live.url, digest_header(fresh, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList", 1))
    assert again.status_code == 200


def test_an_expired_nonce_with_a_wrong_password_is_not_stale(app, ana, live):
    phone = client()
    params = challenge(_form_list(phone, live.url))
    old = NonceSigner(app.config["SECRET_KEY"]).issue(time.time() - NONCE_LIFETIME_S - 1)
    refused = _form_list(phone, live.url, digest_header(params, EMAIL, "not the password", "GET",
                                                        "/v1/projects/1/formList", 1, nonce=old))
    assert refused.status_code == 401 and "stale" not in challenge(refused)


def test_a_nonce_count_is_never_accepted_twice(ana, live):
    phone, uri = client(), "/v1/projects/1/formList"
    params = challenge(_form_list(phone, live.url))
    first = digest_header(params, EMAIL, PASSWORD, "GET", uri, 1)
    assert _form_list(phone, live.url, first).status_code == 200
    replayed = _form_list(phone, live.url, first)
    assert replayed.status_code == 401 and challenge(replayed)["stale"] == "true"
    assert _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", uri, 2)).status_code == 200
    assert _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", uri, 1,
                                                     cnonce="0ther")).status_code == 401
    assert _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", uri, 3)).status_code == 200


def test_digest_without_qop_auth_has_no_nonce_count_and_is_refused(ana, live):
    phone = client()
    params = challenge(_form_list(phone, live.url))
    realm, nonce, opaque = params["realm"], params["nonce"], params["opaque"]
    response = _md5(f"{_md5(f'{EMAIL}:{realm}:{PASSWORD}')}:{nonce}:{_md5('GET:/v1/projects/1/formList')}")
    header = (f'Digest username="{EMAIL}", realm="{realm}", nonce="{nonce}", uri="/v1/projects/1/formList", '
              f'response="{response}", opaque="{opaque}"')   # RFC 2069 style: no qop, no nc, so replayable
    assert _form_list(phone, live.url, header).status_code == 401


@pytest.mark.parametrize("nonce", ["1700000000.ab.\u00e9t\u00e9", "\u00b2.ab.cd", "no dots", "1700000000.."])
def test_a_forged_or_garbled_nonce_gets_a_fresh_challenge_not_an_error(ana, live, nonce):
    phone = client()
    params = challenge(_form_list(phone, live.url))
    header = digest_header(params, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList", 1, nonce=nonce)
    refused = _form_list(phone, live.url, header.encode("utf-8").decode("latin-1"))
    assert refused.status_code == 401 and "stale" not in challenge(refused)


def test_requests_digest_auth_keeps_working_across_many_requests(ana, live):
    phone = client()
    phone.auth = requests.auth.HTTPDigestAuth(EMAIL, PASSWORD)
    for _ in range(4):   # requests re-uses the nonce with nc 1, 2, 3, ... as Collect does
        assert phone.get(f"{live.url}/v1/projects/1/formList", headers=OPENROSA, timeout=30).status_code == 200


def test_nonce_counts_are_kept_only_while_their_nonce_lives(store):
    assert store.use_nonce_count("issued-long-ago", 1, issued_at=100.0, forget_before=0.0)
    assert store.use_nonce_count("issued-now", 1, issued_at=1000.0, forget_before=500.0)
    assert not store.use_nonce_count("issued-now", 1, issued_at=1000.0, forget_before=500.0)
    assert store.db.execute("SELECT nonce, nc FROM digest_nonce_counts").fetchall() == [("issued-now", 1)]


@pytest.fixture(scope="module", params=ENGINES)
def granian(tmp_path_factory, request):
    """`ppa serve` with three worker processes: nonce counts must be shared through the database (on each engine;
    with PostgreSQL as several app servers share them)."""
    data = tmp_path_factory.mktemp("auth-serve")
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    url = cluster.new_database() if cluster else ""
    env = server_env(data, free_port(), WORKERS=3, THREADS=2, DATABASE_URL=url)
    prepare(env)
    cli(env, "user", "add", "--role", "admin", "--email", EMAIL, stdin=PASSWORD + "\n")
    process = ServerProcess(env).start(timeout=60)
    try:
        yield process
    finally:
        process.stop()
        if cluster:
            cluster.drop_database(url)


def test_a_replayed_nonce_count_is_refused_by_every_worker_process(granian):
    uri = "/v1/projects/1/formList"
    params = challenge(requests.get(granian.url + uri, headers=OPENROSA, timeout=30))
    header = digest_header(params, EMAIL, PASSWORD, "GET", uri, 1)
    assert requests.get(granian.url + uri, headers={**OPENROSA, "Authorization": header}, timeout=30).status_code \
        == 200
    for _ in range(12):   # a new connection each time: Granian hands them to its three workers
        replay = requests.get(granian.url + uri, headers={**OPENROSA, "Authorization": header,
                                                            "Connection": "close"}, timeout=30)
        assert replay.status_code == 401
    for nc in range(2, 8):
        fresh = requests.get(granian.url + uri, timeout=30, headers={
            **OPENROSA, "Connection": "close", "Authorization": digest_header(params, EMAIL, PASSWORD, "GET", uri, nc)})
        assert fresh.status_code == 200


# -- 5. throttling: one throttle for Digest and the sign-in page, per account and address, with backoff --------------

def test_the_backoff_doubles_after_five_free_failures_up_to_fifteen_minutes():
    delays = [sign_in_delay(n, 1000.0, 1000.0) for n in range(0, 14)]
    assert delays == [0, 0, 0, 0, 0, 15, 30, 60, 120, 240, 480, 900, 900, 900]
    assert sign_in_delay(6, 1000.0, 1020.0) == 10   # 30 s after the last failure, 20 s have passed


def test_wrong_digest_passwords_count_toward_the_sign_in_throttle(ana, live):
    stranger = client("127.0.0.1")
    for _ in range(5):
        reply = _form_list(stranger, live.url)
        assert _form_list(stranger, live.url, digest_header(challenge(reply), EMAIL, "guess", "GET",
                                                            "/v1/projects/1/formList", 1)).status_code == 401
    refused = sign_in(client("127.0.0.1"), live.url, EMAIL, PASSWORD)
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
    assert int(refused.headers["Retry-After"]) > 0


def test_wrong_sign_in_passwords_count_toward_the_digest_throttle_with_an_openrosa_429(ana, live):
    for _ in range(5):
        assert sign_in(client("127.0.0.1"), live.url, EMAIL, "guess").status_code == 401
    phone = client("127.0.0.1")
    params = challenge(_form_list(phone, live.url))
    refused = _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList", 1))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "text/xml" in refused.headers["Content-Type"] and "Too many wrong passwords" in refused.text


def test_a_stranger_elsewhere_cannot_lock_the_real_user_out(ana, live):
    for _ in range(8):
        sign_in(client("127.0.0.2"), live.url, EMAIL, "guess")
    assert sign_in(client("127.0.0.2"), live.url, EMAIL, PASSWORD).status_code == 429   # the stranger's address
    assert sign_in(client("127.0.0.1"), live.url, EMAIL, PASSWORD).status_code == 302   # the user's own
    phone = client("127.0.0.1")
    params = challenge(_form_list(phone, live.url))
    assert _form_list(phone, live.url, digest_header(params, EMAIL, PASSWORD, "GET", "/v1/projects/1/formList",
                                                     1)).status_code == 200


def test_after_the_backoff_one_more_failure_doubles_the_wait(ana, store, live):
    twenty_s_ago = time.time() - 20
    for _ in range(5):   # five failures 20 s ago: the 15 s wait is over
        store.record_sign_in_failure(EMAIL, "127.0.0.1", twenty_s_ago, forget_before=0)
    assert sign_in(client(), live.url, EMAIL, "guess again").status_code == 401   # tried, and failed: the 6th
    refused = sign_in(client(), live.url, EMAIL, PASSWORD)
    assert refused.status_code == 429 and 25 <= int(refused.headers["Retry-After"]) <= 31


def test_a_success_forgets_the_failures_of_that_address(ana, store, live):
    for _ in range(4):
        assert sign_in(client(), live.url, EMAIL, "guess").status_code == 401
    assert sign_in(client(), live.url, EMAIL, PASSWORD).status_code == 302
    assert store.sign_in_failures(EMAIL, "127.0.0.1", 0) == (0, None)


def test_an_unknown_email_takes_as_long_as_a_known_one_with_a_wrong_password(app, store, project, live):
    """Medians of interleaved sign-ins, each from its own address (so the throttle never answers instead). Without
    the dummy argon2 verification an unknown e-mail is faster by one whole verification; everything else on both
    paths is the same code and the same SQL. So the medians must differ by less than half of one verification,
    measured here on the same machine: a margin for a loaded machine, still far from the difference it catches."""
    create_user(store, "known@example.org", "manager", PASSWORD, app.config["DIGEST_REALM"])
    stored = store.user_by_email("known@example.org")["password_hash"]
    argon2_s = statistics.median(_timed(lambda: verify_password(stored, "wrong password")) for _ in range(7))
    assert argon2_s > 0.005
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for i in range(15):
        order = ("known", "unknown") if i % 2 else ("unknown", "known")
        for kind in order:
            browser = client(f"127.0.0.{10 + i}")
            page = browser.get(f"{live.url}/login", timeout=30).text
            email = "known@example.org" if kind == "known" else f"nobody{i}@example.org"
            data = {"email": email, "password": "wrong password", "csrf_token": csrf(page)}
            started = time.perf_counter()
            reply = browser.post(f"{live.url}/login", data=data, allow_redirects=False, timeout=30)
            times[kind].append(time.perf_counter() - started)
            assert reply.status_code == 401 and "Wrong e-mail or password." in reply.text
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    print(f"sign-in medians: known e-mail {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms; "
          f"one argon2 verification {argon2_s * 1000:.1f} ms")
    assert abs(known - unknown) < 0.5 * argon2_s, (known, unknown, argon2_s)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# -- 6. sessions ------------------------------------------------------------------------------------------------------

def _signed_in(base: str, email: str = EMAIL, password: str = PASSWORD, address: str = "127.0.0.1"):
    browser = client(address)
    assert sign_in(browser, base, email, password).status_code == 302
    assert browser.get(f"{base}/account", allow_redirects=False, timeout=30).status_code == 200
    return browser


def _copy(browser: requests.Session) -> requests.Session:
    thief = client()
    thief.cookies.update(browser.cookies)
    return thief


def test_signing_out_ends_the_session_so_a_copied_cookie_stops_working(ana, live):
    browser = _signed_in(live.url)
    thief = _copy(browser)
    assert thief.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    page = browser.get(f"{live.url}/account", timeout=30).text
    assert browser.post(f"{live.url}/logout", data={"csrf_token": csrf(page)}, allow_redirects=False,
                        timeout=30).status_code == 302
    gone = thief.get(f"{live.url}/account", allow_redirects=False, timeout=30)
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert thief.get(f"{live.url}/api/v1/projects/1/wellbeing", timeout=30).status_code == 401


def test_a_session_expires_on_the_server_after_its_lifetime(app, store, ana, live):
    browser = _signed_in(live.url)
    with store.transaction() as db:   # twelve hours later
        db.execute("UPDATE web_sessions SET expires_at = ?", [time.time() - 1])
    assert browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302
    _signed_in(live.url)   # a new sign-in clears expired sessions away
    assert store.db.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 1


def test_signing_in_again_ends_the_browsers_previous_session(ana, live):
    browser = _signed_in(live.url)
    earlier = _copy(browser)
    assert sign_in(browser, live.url, EMAIL, PASSWORD).status_code == 302
    assert browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    assert earlier.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302


def test_signing_out_leaves_the_users_other_sessions(ana, live):
    laptop, tablet = _signed_in(live.url), _signed_in(live.url)
    page = laptop.get(f"{live.url}/account", timeout=30).text
    laptop.post(f"{live.url}/logout", data={"csrf_token": csrf(page)}, timeout=30)
    assert tablet.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200


def _change_password(browser: requests.Session, base: str, current: str, new: str, again: str | None = None):
    page = browser.get(f"{base}/account", timeout=30).text
    return browser.post(f"{base}/account/password", timeout=30, data={
        "current": current, "new": new, "again": new if again is None else again, "csrf_token": csrf(page)})


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(ana, live):
    laptop, tablet = _signed_in(live.url), _signed_in(live.url)
    stolen = _copy(tablet)
    done = _change_password(laptop, live.url, PASSWORD, "a brand new password")
    assert "Your password is changed" in done.text
    assert laptop.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    for other in (tablet, stolen):
        assert other.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302
    assert sign_in(client(), live.url, EMAIL, PASSWORD).status_code == 401
    assert sign_in(client(), live.url, EMAIL, "a brand new password").status_code == 302
    phone = client()   # Collect uses the new password too (Digest's HA1 follows the password)
    phone.auth = requests.auth.HTTPDigestAuth(EMAIL, "a brand new password")
    assert phone.get(f"{live.url}/v1/projects/1/formList", headers=OPENROSA, timeout=30).status_code == 200


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failure(ana, store, live):
    laptop, tablet = _signed_in(live.url), _signed_in(live.url)
    refused = _change_password(laptop, live.url, "not my password", "a brand new password")
    assert "Your current password is not right" in refused.text
    assert store.sign_in_failures(EMAIL, "127.0.0.1", 0)[0] == 1
    mismatch = _change_password(laptop, live.url, PASSWORD, "a brand new password", "a brand new passwort")
    assert "The two new passwords differ" in mismatch.text
    assert tablet.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    assert sign_in(client(), live.url, EMAIL, PASSWORD).status_code == 302


def test_an_administrator_resets_a_password_and_every_session_of_that_user_ends(app, store, ana, live):
    nda = create_user(store, "nda@example.org", "nda", PASSWORD, app.config["DIGEST_REALM"])
    store.add_membership(nda["id"], 1, ["chanderi"])
    nda_browser = _signed_in(live.url, "nda@example.org")
    admin = _signed_in(live.url)
    page = admin.get(f"{live.url}/admin/users", timeout=30).text
    short = admin.post(f"{live.url}/admin/users/{nda['id']}/password", timeout=30,
                       data={"password": "short", "csrf_token": csrf(page)})
    assert "at least 10 characters" in short.text
    assert nda_browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    done = admin.post(f"{live.url}/admin/users/{nda['id']}/password", timeout=30,
                      data={"password": "given by the admin", "csrf_token": csrf(page)})
    assert "sessions are signed out" in done.text
    assert nda_browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302
    assert admin.get(f"{live.url}/admin/users", allow_redirects=False, timeout=30).status_code == 200
    assert sign_in(client(), live.url, "nda@example.org", "given by the admin").status_code == 302
    assert any(e["action"] == "user.password_reset" and e["target"] == "nda@example.org"
               for e in store.audit_search(limit=50))


def test_only_an_administrator_may_reset_a_password(app, store, ana, live):
    manager = create_user(store, "manager@example.org", "manager", PASSWORD, app.config["DIGEST_REALM"])
    store.add_membership(manager["id"], 1)
    browser = _signed_in(live.url, "manager@example.org")
    page = browser.get(f"{live.url}/account", timeout=30).text
    refused = browser.post(f"{live.url}/admin/users/{ana['id']}/password", timeout=30,
                           data={"password": "taken over now", "csrf_token": csrf(page)})
    assert refused.status_code == 403
    assert sign_in(client(), live.url, EMAIL, PASSWORD).status_code == 302


def test_ppa_user_password_sets_the_password_and_ends_every_session(app, ana, live):
    browser = _signed_in(live.url)
    env = {"PPA_DATA": app.config["DATA"], "PPA_DATABASE_URL": app.config["DATABASE_URL"], "PPA_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    short = subprocess.run([sys.executable, "-m", "server.cli", "user", "password", "--email", EMAIL], cwd=ROOT,
                           env=env, input="short\n", capture_output=True, text=True, timeout=120)
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    assert browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    done = subprocess.run([sys.executable, "-m", "server.cli", "user", "password", "--email", EMAIL], cwd=ROOT,
                          env=env, input="set from the shell\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"email": EMAIL, "password_set": True, "sessions_ended": True}
    assert browser.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302
    assert sign_in(client(), live.url, EMAIL, "set from the shell").status_code == 302


def test_disabling_a_user_ends_their_sessions(app, store, ana, live):
    other = create_user(store, "other@example.org", "admin", PASSWORD, app.config["DIGEST_REALM"])
    victim = _signed_in(live.url, "other@example.org")
    admin = _signed_in(live.url)
    page = admin.get(f"{live.url}/admin/users", timeout=30).text
    admin.post(f"{live.url}/admin/users/{other['id']}/disable", data={"csrf_token": csrf(page)}, timeout=30)
    assert victim.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302


# -- 6. after sign-in, `next` only leads to a path on this server ----------------------------------------------------

@pytest.mark.parametrize("target", [
    "/\t/evil.example/x", "//evil.example", "https://evil.example", "http://evil.example/x", "/\\evil.example",
    "\\\\evil.example", "javascript:alert(1)", "/\n/evil.example", " //evil.example", "///evil.example",
    "evil.example", "/\u3000/evil.example", "//evil.example@127.0.0.1",
], ids=["tab", "two-slashes", "https", "http", "backslash", "two-backslashes", "javascript", "newline",
        "leading-space", "three-slashes", "no-slash", "ideographic-space", "userinfo"])
def test_after_sign_in_next_never_leads_off_site(ana, live, target):
    reply = sign_in(client(), live.url, EMAIL, PASSWORD, next_path=target)
    assert reply.status_code == 302 and reply.headers["Location"] == "/"


def test_the_login_link_with_an_encoded_tab_does_not_carry_the_target_into_the_form(ana, live):
    """The issue's example: /login?next=/%09/evil.example/x; the page must not even offer it to the form."""
    browser = client()
    page = browser.get(f"{live.url}/login?next=/%09/evil.example/x", timeout=30).text
    assert "evil.example" not in page
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf(page),
            "next": re.search(r'name="next" value="([^"]*)"', page).group(1)}
    reply = browser.post(f"{live.url}/login", data=data, allow_redirects=False, timeout=30)
    assert reply.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/projects/1", "/projects/1/submissions?cluster=chanderi&page=2", "/account"])
def test_after_sign_in_next_leads_to_a_path_on_this_server(ana, live, target):
    reply = sign_in(client(), live.url, EMAIL, PASSWORD, next_path=target)
    assert reply.status_code == 302 and reply.headers["Location"] == target


def _submit(driver, button_id: str) -> None:
    chromium.click_and_wait(driver, driver.find_element(By.ID, button_id))


def test_in_chromium_sign_in_stays_on_this_server_a_password_change_and_sign_out_end_sessions(browser, ana, live):
    """The issue's link in a real browser (which drops the tab and would read //evil.example), then the account
    page's password form, then Sign out: a copy of the browser's cookie stops working."""
    browser.get(f"{live.url}/login?next=/%09/evil.example/x")
    browser.find_element(By.ID, "email").send_keys(EMAIL)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    _submit(browser, "sign-in")
    assert urlsplit(browser.current_url).netloc == urlsplit(live.url).netloc
    other = _signed_in(live.url)
    browser.get(f"{live.url}/account")
    browser.find_element(By.ID, "current-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "new-password").send_keys("changed in chromium")
    browser.find_element(By.ID, "new-password-again").send_keys("changed in chromium")
    _submit(browser, "change-password")
    assert "Your password is changed" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert other.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302
    copy = client()
    copy.cookies.set("session", browser.get_cookie("session")["value"])
    assert copy.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 200
    _submit(browser, "sign-out")
    assert urlsplit(browser.current_url).path == "/login"
    assert copy.get(f"{live.url}/account", allow_redirects=False, timeout=30).status_code == 302


# -- 13 (part). tokens: a shell-safe alphabet; tokens made before keep working -----------------------------------------

def test_new_api_tokens_are_shell_safe_and_work_pasted_unquoted_into_a_shell(ana, live):
    browser = _signed_in(live.url)
    page = browser.get(f"{live.url}/account", timeout=30).text
    shown = browser.post(f"{live.url}/account", data={"label": "R", "csrf_token": csrf(page)}, timeout=30).text
    token = re.search(r'id="new-token">[^<]*<code>([^<]+)</code>', shown).group(1)
    assert re.fullmatch(r"[A-Za-z0-9]{64}", token) and shlex.quote(token) == token
    command = (f"curl -s -o /dev/null -w '%{{http_code}}' -H Authorization:\\ Bearer\\ {token} "
               f"{live.url}/api/v1/projects/1/wellbeing")
    assert subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60).stdout == "200"


def test_new_device_tokens_keep_centrals_shape_without_shell_characters(store, project):
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert auth.token_well_formed(token) and re.fullmatch(r"[A-Za-z0-9]{64}", token)


def test_api_and_device_tokens_made_before_with_bang_and_dollar_keep_working(store, project, ana, live):
    store.create_api_token(ana["id"], hash_token(OLD_SHAPE), "made before")
    reply = requests.get(f"{live.url}/api/v1/projects/1/wellbeing", headers={"Authorization": f"Bearer {OLD_SHAPE}"},
                         timeout=30)
    assert reply.status_code == 200
    store.create_device(project["id"], "Old phone", OLD_SHAPE, actor="test")
    url = f"{live.url}/v1/key/{OLD_SHAPE}/projects/{project['id']}/formList"
    listed = requests.get(url, headers=OPENROSA, timeout=30)
    assert listed.status_code == 200 and f"/v1/key/{OLD_SHAPE}/projects/" in listed.text
