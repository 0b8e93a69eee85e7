"""Who is calling: device tokens in the URL (as Central's app users), Digest for named users, passwords, sessions.

Devices carry a 64-character token in the path (/v1/key/<token>/...); an unknown, malformed
or revoked token gets 403, never 401, because Collect prompts for credentials on 401 and a
token URL has none to give (docs/protocol.md 4.2). Named users use HTTP Digest, which Collect
supports over plain http; every 401 carries a WWW-Authenticate challenge (docs/protocol.md 4.1).

Digest nonces are signed timestamps (Collect keeps no cookies, so they cannot live in a session) that expire after
NONCE_LIFETIME_S; each nonce count (nc) is accepted once, recorded in the database so that every worker process
sees it. A correct answer on an expired nonce or a used nc gets a 401 with stale=true: okhttp-digest (Collect)
then answers the fresh challenge with the same credentials instead of asking the enumerator again.

Failed passwords, by Digest or on the sign-in page, count against the pair (account, address) with exponential
backoff (sign_in_delay), so a stranger elsewhere cannot lock the real user out.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import string
import time
from typing import Any, Mapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import g, request
from flask_httpauth import HTTPDigestAuth

from . import errors

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9!$]{64}$")   # Central's app-user tokens; ours use only [A-Za-z0-9]
TOKEN_ALPHABET = string.ascii_letters + string.digits
NONCE_LIFETIME_S = 5 * 60     # Collect sends HEAD before each upload, so a stale nonce never costs a body twice
FAILURES_FREE = 5             # failed passwords per (account, address) before the backoff starts ...
BACKOFF_FIRST_S = 15          # ... at this many seconds, doubling with each further failure ...
BACKOFF_MAX_S = 15 * 60       # ... up to this
FAILURE_MEMORY_S = 24 * 3600  # failures older than this are forgotten

_hasher = PasswordHasher()


def new_token() -> str:
    """64 random characters of [A-Za-z0-9] (381 bits): the length and pattern of Central's app-user tokens, without
    its '!' and '$', so that a device or API token can be pasted into a shell unquoted. Tokens made before with
    '!' or '$' keep working: devices are checked against TOKEN_PATTERN, API tokens by their hash."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(64))


def token_well_formed(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


# -- passwords -----------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """argon2 verification; with no hash (an unknown or disabled account) a dummy hash is verified instead, so that
    the answer takes as long as for a known account and a wrong password."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def digest_ha1(email: str, realm: str, password: str) -> str:
    """MD5(user:realm:password), stored so that Digest works without keeping the password."""
    return hashlib.md5(f"{email}:{realm}:{password}".encode()).hexdigest()


# -- throttling --------------------------------------------------------------------------------

def sign_in_delay(failures: int, last_failure_at: float | None, now: float) -> float:
    """Seconds until the next password may be tried, after `failures` failed ones (the last at last_failure_at):
    FAILURES_FREE are free, then BACKOFF_FIRST_S, doubling with each further failure, at most BACKOFF_MAX_S."""
    if failures < FAILURES_FREE or last_failure_at is None:
        return 0.0
    wait = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(failures - FAILURES_FREE, 16))
    return max(0.0, last_failure_at + wait - now)


def check_throttle(store, account: str, address: str | None) -> int:
    """Raise 429 while this account may not be tried from this address; else return the failures counted so far."""
    now = time.time()
    failures, last_at = store.sign_in_failures(account, address, now - FAILURE_MEMORY_S)
    wait = sign_in_delay(failures, last_at, now)
    if wait > 0:
        store.audit(account, "user.sign_in_throttled", account, {"ip": address})
        raise errors.too_many_sign_ins(int(wait) + 1)
    return failures


def record_failure(store, account: str, address: str | None, how: str) -> None:
    store.record_sign_in_failure(account, address, time.time(), forget_before=time.time() - FAILURE_MEMORY_S)
    store.audit(account, "user.sign_in_failed", account, {"ip": address, "by": how})


# -- web sessions ----------------------------------------------------------------------------------

def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """What the database keeps of a session id: its SHA-256, so that a copy of the database opens no session."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def user_of_session(store, session: Mapping[str, Any]) -> dict | None:
    """The user whose live session the cookie names; None when it was ended, has expired or the user is disabled."""
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return None
    return store.user_by_session(session_key(session_id), time.time())


# -- Digest ------------------------------------------------------------------------------------------

class NonceSigner:
    """Nonces are "<unix time>.<random>.<HMAC of both>": any worker can check one without shared state."""

    def __init__(self, secret: str):
        self._key = secret.encode()

    def sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, now: float | None = None) -> str:
        body = f"{int(time.time() if now is None else now)}.{secrets.token_hex(8)}"
        return f"{body}.{self.sign(body)}"

    def issued_at(self, nonce: str) -> int | None:
        """When a nonce this server signed was issued; None for anything else."""
        stamp, _, rest = nonce.partition(".")
        salt, _, signature = rest.partition(".")
        if not (re.fullmatch(r"[0-9]{1,12}", stamp) and salt and _same(signature, self.sign(f"{stamp}.{salt}"))):
            return None
        return int(stamp)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of a client's string (any characters) with ours."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class Digest(HTTPDigestAuth):
    """flask-httpauth's Digest (qop=auth, MD5, HA1 stored), plus nonce expiry, single-use nonce counts, stale=true
    and the sign-in throttle."""

    def __init__(self, secret: str, realm: str, store):
        super().__init__(realm=realm, use_ha1_pw=True)
        self.store = store
        self.nonces = NonceSigner(secret)
        self.generate_nonce(self.nonces.issue)
        self.verify_nonce(lambda nonce: self.nonces.issued_at(nonce) is not None)
        self.generate_opaque(lambda: self.nonces.sign("opaque:" + realm))
        self.verify_opaque(lambda opaque: _same(opaque or "", self.nonces.sign("opaque:" + realm)))
        self.get_password(self._ha1)

    def _ha1(self, username: str) -> str | None:
        user = self.store.user_by_email(username)
        return user["digest_ha1"] if user else None

    def authenticate(self, auth, stored_ha1) -> bool:
        g.digest_stale = False
        if not auth or auth.type != "digest" or not auth.username:
            return False   # no credentials yet: the challenge, not a failure
        address = request.remote_addr
        failures = check_throttle(self.store, auth.username, address)
        nc = auth.nc or ""
        if auth.qop != "auth" or not re.fullmatch(r"[0-9a-fA-F]{8}", nc) or not auth.cnonce:
            return False   # without qop=auth there is no nonce count, so no protection against replay
        if not super().authenticate(auth, stored_ha1):
            if self.nonces.issued_at(auth.nonce or "") is not None:   # a nonce of ours: a wrong password
                record_failure(self.store, auth.username, address, "digest")
            return False
        issued = self.nonces.issued_at(auth.nonce)
        now = time.time()
        fresh = issued is not None and 0 <= now - issued < NONCE_LIFETIME_S
        if not fresh or not self.store.use_nonce_count(auth.nonce, int(nc, 16), issued, now - NONCE_LIFETIME_S):
            g.digest_stale = True   # the right password on an expired nonce or a used count
            return False
        if failures:
            self.store.clear_sign_in_failures(auth.username, address)
        return True

    def authenticate_header(self) -> str:
        header = super().authenticate_header()
        return header + ",stale=true" if g.get("digest_stale") else header

