"""Access tokens: made at random, stored only as a salted scrypt hash, compared in
constant time.

A token reads ``<token_id>.<secret>``: ``token_id`` (12 hex digits, random, stored in
clear) finds the one user to check, so a handshake costs one scrypt, not one per
user; ``secret`` (43 URL-safe characters, 256 random bits) is what proves it.  Only
``scrypt(secret, salt)`` is kept, with a salt of its own per token, so the users file
gives away nothing a client could log in with.

Why scrypt for a random 256-bit secret, which no dictionary can guess: a users file
that leaks (a backup, a copied folder) must not become a list of working tokens, and a
slow, memory-hard hash also keeps a weak token that someone put in by hand from being
recovered.  It costs ~45 ms of CPU per check; the server runs it in a thread and
remembers the tokens it has verified (``workspace.users.directory``), so a client that
reconnects does not pay it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

import msgspec

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
HASH_BYTES = 32
SALT_BYTES = 16

TOKEN_ID_RE = re.compile(r"^[0-9a-f]{12}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


class TokenHash(msgspec.Struct, frozen=True, kw_only=True):
    """What the users file keeps of a token (the token itself is never stored)."""

    id: str
    scheme: str = "scrypt"
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    salt: str  # base64
    hash: str  # base64 of scrypt(secret, salt)

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` hashes to this one (constant-time comparison)."""
        if self.scheme != "scrypt":
            return False
        try:
            salt = base64.b64decode(self.salt, validate=True)
            expected = base64.b64decode(self.hash, validate=True)
        except ValueError:
            return False
        given = _scrypt(secret, salt, self.n, self.r, self.p, len(expected))
        return hmac.compare_digest(given, expected)


def new_token() -> tuple[str, TokenHash]:
    """A fresh token (to show the user once) and the hash to store."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    stored = TokenHash(
        id=token_id,
        salt=base64.b64encode(salt).decode(),
        hash=base64.b64encode(digest).decode(),
    )
    return f"{token_id}.{secret}", stored


def split_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else ``None``."""
    token_id, dot, secret = token.partition(".")
    if not dot or not TOKEN_ID_RE.match(token_id) or not SECRET_RE.match(secret):
        return None
    return token_id, secret


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=length
    )
