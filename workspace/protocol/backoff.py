"""Reconnect policy for the client: exponential backoff with full jitter, and which
failures are worth retrying.  Pure: the random source is passed in."""

from __future__ import annotations

import random
from collections.abc import Iterator

from websockets.exceptions import InvalidStatus, InvalidURI

# A handshake refused for these reasons will be refused again: retrying only hammers
# the server.
FATAL_STATUSES = frozenset({400, 401, 403, 404})


def backoff_delays(
    first: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Delays before each retry: uniform in [0, min(cap, first * 2**n)].  The first
    retry comes within ``first`` seconds; none waits more than ``cap``."""
    rng = rng or random.Random()
    ceiling = first
    while True:
        yield rng.uniform(0.0, min(cap, ceiling))
        ceiling = min(cap, ceiling * 2)


def is_retryable(error: BaseException) -> bool:
    """Fatal: a handshake the server refused for good (401, 403, 404, 400) or a
    malformed URL.  Anything else the network throws (refused, reset, EOF in the
    handshake of a server still starting, timeouts) is worth another try."""
    if isinstance(error, InvalidStatus):
        return error.response.status_code not in FATAL_STATUSES
    if isinstance(error, InvalidURI):
        return False
    return isinstance(error, Exception)
