"""Handshake checks: the token (``?token=`` or ``Authorization: Bearer``) and the
``Origin`` policy.  Pure functions of the request's path and headers."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection, Mapping
from urllib.parse import parse_qs, urlsplit

# A page's origin on this machine: JupyterLab's own page, a dashboard served locally.
LOOPBACK_HOSTS = frozenset({"localhost", "localhost."})
WEB_SCHEMES = frozenset({"http", "https"})


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer T`` header, if there is one."""
    scheme, _, value = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def token_of(path: str, headers: Mapping[str, str]) -> str | None:
    bearer = _bearer(headers)
    if bearer is not None:
        return bearer
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_conflict(path: str, headers: Mapping[str, str]) -> str | None:
    """Why the tokens a handshake carries disagree, if they do (two different
    ``?token=`` values, or one that is not the ``Authorization`` header's): one of them
    was silently used, so a client (or a proxy adding a header) could act as another
    user than it meant to."""
    given = set(parse_qs(urlsplit(path).query).get("token", []))
    if len(given) > 1:
        return "two different tokens in the query string: give one"
    bearer = _bearer(headers)
    if bearer is not None and given and bearer not in given:
        return "the Authorization header and ?token= give different tokens: give one"
    return None


def token_ok(expected: str | None, path: str, headers: Mapping[str, str]) -> bool:
    if expected is None:
        return True
    given = token_of(path, headers)
    # compare_digest: the time taken does not tell an attacker how much matched.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def origin_ok(allowed: Collection[str] | None, origin: str | None) -> bool:
    """Whether a handshake with this ``Origin`` header may proceed.

    A request without ``Origin`` is not a browser page's (websocat, bots, another
    notebook): it passes.  A browser always sends the page's origin, and any page the
    user has open can open a WebSocket to 127.0.0.1 (cross-site WebSocket hijacking:
    the same-origin policy does not apply to WebSockets).  So, with no allow-list, only
    pages served from this machine pass (``http(s)://localhost``, ``127.0.0.0/8``,
    ``[::1]``, any port); with one, the listed origins (``*``: any)."""
    if origin is None:
        return True
    if not allowed:
        return is_loopback_origin(origin)
    return "*" in allowed or origin.rstrip("/").lower() in allowed


def is_loopback_origin(origin: str) -> bool:
    """``http(s)://`` a loopback host, any port; not ``null`` (a sandboxed frame or a
    file), not a name that merely resolves to loopback (DNS rebinding gives an
    attacker's name the address 127.0.0.1, never the name ``localhost``)."""
    try:
        parts = urlsplit(origin.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        return False
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return False
    return host.lower() in LOOPBACK_HOSTS or _is_loopback_address(host)


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_origins(text: str | None) -> tuple[str, ...] | None:
    """``--origins`` / ``CORS_ORIGINS``: comma-separated origins, each checked by
    :func:`allowed_origin` (raises ``ValueError``); empty or unset: ``None``."""
    if not text or not text.strip():
        return None
    origins = tuple(allowed_origin(part) for part in text.split(",") if part.strip())
    if not origins:
        raise ValueError(f"no origin in {text!r}: {_ORIGIN_FORM}")
    return origins


_ORIGIN_FORM = "expected scheme://host[:port] with no path (e.g. http://localhost:3000), or *"


def allowed_origin(value: str) -> str:
    """One allowed origin as a browser writes it (lower-case scheme and host, no
    trailing slash), or ``*`` / ``null`` as given.  What a browser can never send
    (no scheme, a path, ``localhost:3000`` without ``http://``) is refused: such an
    entry silently let no page in."""
    origin = value.strip().rstrip("/")
    if origin in ("*", "null"):
        return origin
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if (
        parts is None
        or not parts.scheme
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(f"{value.strip()!r} is not an origin: {_ORIGIN_FORM}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    return _is_loopback_address(host.strip("[]"))
