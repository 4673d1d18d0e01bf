"""Handshake checks: the token (``?token=`` or ``Authorization: Bearer``) and the
``Origin`` allow-list.  Pure functions of the request's path and headers."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection, Mapping
from urllib.parse import parse_qs, urlsplit


def token_of(path: str, headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_ok(expected: str | None, path: str, headers: Mapping[str, str]) -> bool:
    if expected is None:
        return True
    given = token_of(path, headers)
    # compare_digest: the time taken does not tell an attacker how much matched.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def origin_ok(allowed: Collection[str] | None, origin: str | None) -> bool:
    """No allow-list: any origin.  With one: a request without ``Origin`` (a non-browser
    client such as websocat) passes; a browser's origin must be listed (or ``*``)."""
    if not allowed or origin is None:
        return True
    return "*" in allowed or origin.rstrip("/") in allowed


def parse_origins(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    return origins or None


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
