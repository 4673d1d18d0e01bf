"""``--bus redis://HOST:PORT[/DB]``: what the scale-out processes accept, checked
before anything connects."""

from __future__ import annotations

from urllib.parse import urlsplit

from workspace.errors import InvalidParams

SCHEMES = ("redis", "rediss", "unix")


def check_bus_url(url: str) -> str:
    """``url`` if it names a Redis server (``redis://``, ``rediss://`` for TLS,
    ``unix://`` for a socket); raises ``InvalidParams``."""
    parts = urlsplit(url)
    said = shown(url)  # (never its password)
    if parts.scheme not in SCHEMES:
        raise InvalidParams(
            f"--bus {said!r}: expected redis://HOST:PORT (or rediss://, unix://PATH)"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise InvalidParams(f"--bus {said!r}: no host")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise InvalidParams(f"--bus {said!r}: bad port") from None
    return url


def shown(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()
