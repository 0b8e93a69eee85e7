"""Who is calling: device tokens in the URL (as Central's app users), Digest for named users, passwords.

Devices carry a 64-character token in the path (/v1/key/<token>/...); an unknown, malformed
or revoked token gets 403, never 401, because Collect prompts for credentials on 401 and a
token URL has none to give (PROTOCOL.md 4.2). Named users use HTTP Digest, which Collect
supports over plain http; every 401 carries a WWW-Authenticate challenge (PROTOCOL.md 4.1).
Digest nonces are signed and stateless: Collect keeps no cookies, so they cannot live in a session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_httpauth import HTTPDigestAuth

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9!$]{64}$")
NONCE_LIFETIME_S = 24 * 3600

_hasher = PasswordHasher()


def new_token() -> str:
    """48 random bytes as base64 with '/' -> '!' and '+' -> '$': Central's app-user token shape."""
    return base64.b64encode(secrets.token_bytes(48)).decode().replace("/", "!").replace("+", "$")


def token_well_formed(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest_ha1(email: str, realm: str, password: str) -> str:
    """MD5(user:realm:password), stored so that Digest works without keeping the password."""
    return hashlib.md5(f"{email}:{realm}:{password}".encode()).hexdigest()


def make_digest(secret: str, realm: str, lookup_ha1) -> HTTPDigestAuth:
    """A Digest authenticator whose nonces are HMAC-signed timestamps, valid for a day."""
    digest = HTTPDigestAuth(realm=realm, use_ha1_pw=True)
    key = secret.encode()

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]

    @digest.generate_nonce
    def generate_nonce() -> str:
        stamp = str(int(time.time()))
        return f"{stamp}.{secrets.token_hex(8)}.{sign(stamp)}"

    @digest.verify_nonce
    def verify_nonce(nonce: str) -> bool:
        try:
            stamp, _salt, signature = nonce.split(".")
            fresh = 0 <= time.time() - int(stamp) < NONCE_LIFETIME_S
        except ValueError:
            return False
        return fresh and hmac.compare_digest(signature, sign(stamp))

    @digest.generate_opaque
    def generate_opaque() -> str:
        return sign("opaque:" + realm)

    @digest.verify_opaque
    def verify_opaque(opaque: str) -> bool:
        return hmac.compare_digest(opaque or "", sign("opaque:" + realm))

    @digest.get_password
    def get_ha1(username: str) -> str | None:
        return lookup_ha1(username)

    return digest
