"""Which stream endpoint a handshake asked for: ``/ws``, ``/ws/<anything>``,
``/stream``, ``/stream?streams=a/b``.  Raw (``/ws``) connections get bare payloads,
combined (``/stream``) ones the ``{"stream":..,"data":..}`` envelope.

Binance accepts any path under ``/ws/``: the segments that are stream names are
subscribed, anything else (ccxt connects to ``/ws/0``, ``/ws/1``...) is ignored and
the client subscribes with ``SUBSCRIBE``.  A ``streams=`` list is read strictly: one
malformed name refuses the handshake.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from workspace.sim.streams import StreamName, parse_stream


@dataclass(frozen=True, slots=True)
class Route:
    combined: bool
    streams: tuple[StreamName, ...]
    # Set when the request asks for something the simulator does not do.
    unsupported: str | None = None


def parse_route(target: str) -> Route | None:
    """The route of a handshake's request target, or None for an unknown path or a
    malformed ``streams=`` list."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    query = parse_qs(parts.query)
    if path == "/ws" or path.startswith("/ws/"):
        names = [n for n in path[len("/ws/") :].split("/") if n] if path != "/ws" else []
        streams = [s for s in (parse_stream(n) for n in names) if s is not None]
        combined = False
    elif path == "/stream":
        joined = query.get("streams", [""])[0]
        names = [n for n in joined.split("/") if n]
        parsed = [parse_stream(n) for n in names]
        streams = [s for s in parsed if s is not None]
        if len(streams) != len(parsed):
            return None
        combined = True
    else:
        return None
    unique = tuple({s.name: s for s in streams}.values())
    unit = query.get("timeUnit", [None])[0]
    unsupported = None
    if unit is not None and unit.upper() != "MILLISECOND":
        unsupported = f"timeUnit={unit} is not supported by the simulator (milliseconds only)"
    return Route(combined, unique, unsupported)
