"""When and whether the feed reconnects: a policy, not a loop.

Two parts, in the style of python-websockets: :meth:`ReconnectPolicy.delays` is a
generator of backoff delays (exponential, with jitter from an injected random source),
and :meth:`ReconnectPolicy.classify` says whether a failure is worth retrying.  The
feed's supervisor asks both; it never catches "everything" and retries, so a bug in the
feed (a ``TypeError`` in a parser, say) stops the feed loudly instead of spinning in an
endless reconnect loop.
"""

from __future__ import annotations

import asyncio
import enum
import random
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)


class Verdict(enum.Enum):
    RETRY = "retry"
    FATAL = "fatal"


class StaleConnection(Exception):
    """Raised inside the feed when it decides to drop a live connection itself.

    ``reason`` is one of ``"stalled"`` (watchdog), ``"max-age"`` (the proactive reconnect
    before Binance's 24 h cut) and ``"serverShutdown"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# HTTP statuses at the handshake that are worth retrying: the server is overloaded or
# asks us to slow down.  Every other 4xx means the request itself is wrong (bad path,
# forbidden, banned IP: 418) and would fail the same way forever.
_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with jitter, capped, reset after a healthy connection.

    Delay ``n`` (0-based) is drawn uniformly from ``[base_n / 2, base_n]`` where
    ``base_n = min(cap_s, initial_s * factor ** n)``: the first retry comes within
    ``initial_s`` (0.5 s), later ones spread out so that many clients dropped at the same
    moment do not all come back at the same moment.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    healthy_after_s: float = 60.0
    """A connection that stayed up this long resets the backoff to ``initial_s``."""
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.cap_s):
            raise ValueError("need 0 < initial_s <= cap_s")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")

    def delays(self) -> Iterator[float]:
        """An endless iterator of delays; start a new one to reset the backoff."""
        base = self.initial_s
        while True:
            yield base / 2 + self.rng.random() * base / 2
            base = min(self.cap_s, base * self.factor)

    def is_healthy(self, connected_for_s: float) -> bool:
        return connected_for_s >= self.healthy_after_s

    @staticmethod
    def classify(exc: BaseException) -> Verdict:
        """Retry transient network trouble; report what would fail the same way again."""
        if isinstance(exc, InvalidURI):
            return Verdict.FATAL
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            if 400 <= status < 500 and status not in _RETRYABLE_4XX:
                return Verdict.FATAL
            return Verdict.RETRY
        if isinstance(exc, ssl.SSLCertVerificationError):
            return Verdict.FATAL  # a wrong host or a man in the middle: retrying won't help
        if isinstance(exc, socket.gaierror):
            # DNS failure: a typo in the host name fails forever, but so does a laptop
            # that is offline for a minute.  Retry; the caller's start timeout bounds it.
            return Verdict.RETRY
        if isinstance(
            exc,
            ConnectionClosed | InvalidHandshake | OSError | TimeoutError | StaleConnection,
        ):
            return Verdict.RETRY
        if isinstance(exc, asyncio.IncompleteReadError | EOFError):
            return Verdict.RETRY
        return Verdict.FATAL
