"""Which stream endpoint a handshake asked for: ``/ws``, ``/ws/<streams>``, ``/stream``,
``/stream?streams=a/b``.  Raw (``/ws``) connections get bare payloads, combined
(``/stream``) ones the ``{"stream":..,"data":..}`` envelope."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from workspace.sim.streams import StreamName, parse_stream


@dataclass(frozen=True, slots=True)
class Route:
    combined: bool
    streams: tuple[StreamName, ...]


def parse_route(target: str) -> Route | None:
    """The route of a handshake's request target, or None for an unknown path or a
    malformed stream name."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    if path == "/ws":
        names: list[str] = []
        combined = False
    elif path.startswith("/ws/"):
        names = path[len("/ws/") :].split("/")
        combined = False
    elif path == "/stream":
        joined = parse_qs(parts.query).get("streams", [""])[0]
        names = [n for n in joined.split("/") if n] if joined else []
        combined = True
    else:
        return None
    streams = [parse_stream(n) for n in names]
    valid = tuple(s for s in streams if s is not None)
    if len(valid) != len(streams):
        return None
    unique = tuple({s.name: s for s in valid}.values())
    return Route(combined, unique)
