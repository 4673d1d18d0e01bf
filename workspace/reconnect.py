"""When and whether a connection is opened again: one policy for every client we run.

The market feed (``workspace.market``) and ``RealtimeClient`` both use it.  In the style
of python-websockets, reconnecting is a *policy*, not a loop:

- :meth:`ReconnectPolicy.delays` is an endless generator of backoff delays with **full
  jitter** (delay ``n`` is uniform in ``[0, min(cap_s, first_s * factor**n)]``): the
  first retry comes within ``first_s`` (fast: most drops are momentary), later ones
  spread out up to ``cap_s``, and clients dropped at the same moment do not come back
  at the same moment (AWS's "Exponential Backoff And Jitter" found full jitter to do
  the least total work against a recovering server).
- :func:`classify` says whether a failure is worth retrying.  Only what is known to be
  transient is retried (network errors, timeouts, closed connections, HTTP 5xx / 408 /
  425 / 429 at the handshake, and :class:`ReconnectRequested`); anything else, a
  ``TypeError`` from a bug in a message handler for instance, is :attr:`Verdict.FATAL`:
  the owner stops loudly instead of reconnecting forever.
- :class:`Backoff` is the bookkeeping in between (sans-I/O: times come in): the delay
  sequence restarts only after a connection **stayed up** ``healthy_after_s``, so a
  server that accepts and drops at once is retried ever more slowly, not every 0.5 s.

Planned reconnects (the owner replaces a healthy connection on purpose: a server
shutdown notice, a maximum connection age) are not failures and take no delay from
here; see :meth:`Backoff.planned`.

This module sits at the package root and imports nothing of the workspace, so every
layer may use it.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from workspace.config_types import check_field_types

__all__ = [
    "RETRYABLE_4XX",
    "Backoff",
    "HandshakeRejected",
    "ReconnectPolicy",
    "ReconnectRequested",
    "Verdict",
    "classify",
]


class Verdict(enum.Enum):
    RETRY = "retry"
    FATAL = "fatal"


class ReconnectRequested(Exception):
    """Raised by a connection's owner to drop it and open another: always retryable.

    Subclass it for the owner's own reasons (the feed's ``StaleConnection``: silence,
    maximum age, server shutdown notice); ``reason`` says which.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HandshakeRejected(Exception):
    """The server answered the opening handshake with an HTTP status instead of 101.

    Transports other than python-websockets raise this (with the status) so that
    :func:`classify` judges every transport's refusal by the same rule.
    """

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"HTTP {status} at handshake" + (f": {detail}" if detail else ""))
        self.status = status


RETRYABLE_4XX = frozenset({408, 425, 429})
"""Handshake statuses below 500 that are worth retrying: the server is busy or asks us
to slow down.  Every other 4xx says the request itself is wrong (a bad path, a bad
token, a banned address: 418) and would be refused the same way forever."""


def _status_verdict(status: int) -> Verdict:
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Verdict.FATAL
    return Verdict.RETRY


def classify(exc: BaseException) -> Verdict:
    """Retry transient trouble; call fatal what would fail the same way again."""
    if isinstance(exc, ReconnectRequested):
        return Verdict.RETRY
    if isinstance(exc, InvalidURI):
        return Verdict.FATAL
    if isinstance(exc, InvalidStatus):
        return _status_verdict(exc.response.status_code)
    if isinstance(exc, HandshakeRejected):
        return _status_verdict(exc.status)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Verdict.FATAL  # a wrong host or a man in the middle: retrying won't help
    # DNS failures (socket.gaierror, an OSError) are retried: a typo in a host name fails
    # forever, but so does a laptop that is offline for a minute; the owner's start
    # timeout bounds the first connection.
    if isinstance(
        exc,
        ConnectionClosed
        | InvalidHandshake
        | OSError
        | TimeoutError
        | EOFError
        | asyncio.IncompleteReadError,
    ):
        return Verdict.RETRY
    return Verdict.FATAL


@dataclass(frozen=True)
class ReconnectPolicy:
    """Capped exponential backoff with full jitter, reset after a healthy connection.

    The defaults suit an exchange (Binance allows 300 connection attempts per 5 minutes
    per address); a client of a server on the same machine may lower ``cap_s`` to come
    back sooner after a long outage.
    """

    first_s: float = 0.25
    """Ceiling of the first delay: the first retry comes within this."""
    factor: float = 2.0
    cap_s: float = 30.0
    """No delay is longer than this."""
    healthy_after_s: float = 30.0
    """A connection that stayed up this long restarts the delays at ``first_s``."""
    min_planned_s: float = 1.0
    """A planned replacement of a connection younger than this counts as a failure."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_field_types(self)
        # written so that a NaN fails each check (it fails every comparison)
        if not (0 < self.first_s <= self.cap_s < math.inf):
            raise ValueError("need 0 < first_s <= cap_s, finite")
        if not 1 <= self.factor < math.inf:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.healthy_after_s < math.inf:
            raise ValueError("healthy_after_s must be >= 0")
        if not 0 <= self.min_planned_s < math.inf:
            raise ValueError("min_planned_s must be >= 0")

    def ceilings(self) -> Iterator[float]:
        """The upper bound of each delay: ``first_s``, ``first_s * factor`` ... ``cap_s``."""
        ceiling = self.first_s
        while True:
            yield ceiling
            ceiling = min(self.cap_s, ceiling * self.factor)

    def delays(self) -> Iterator[float]:
        """An endless iterator of delays; start a new one to reset the backoff."""
        rng = self.rng
        for ceiling in self.ceilings():
            yield rng.random() * ceiling

    def is_healthy(self, connected_for_s: float) -> bool:
        return connected_for_s >= self.healthy_after_s

    @staticmethod
    def classify(exc: BaseException) -> Verdict:
        """:func:`classify`, here too so that a policy can be passed around alone."""
        return classify(exc)

    def backoff(self) -> Backoff:
        return Backoff(self)


class Backoff:
    """One connection owner's place in the delay sequence.

    ::

        backoff = policy.backoff()
        while True:
            try:
                ws = await connect(...)
            except Exception as exc:
                if classify(exc) is Verdict.FATAL: raise
                await asyncio.sleep(backoff.failed())
                continue
            backoff.connected(clock())
            ...                                   # serve until it ends
            await asyncio.sleep(backoff.lost(clock()))
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self._delays = policy.delays()
        self._connected_at: float | None = None
        self.attempts = 0
        """Delays handed out since the last reset."""

    def failed(self) -> float:
        """The delay after a failed connection attempt (the sequence goes on)."""
        self._connected_at = None
        return self._next()

    def connected(self, now: float) -> None:
        """A connection is up (it counts as healthy only once it stayed up)."""
        self._connected_at = now

    def lost(self, now: float) -> float:
        """The delay after an established connection ended at ``now``.

        Restarts the sequence first if that connection stayed up ``healthy_after_s``;
        otherwise the sequence goes on, so a server that accepts and drops at once is
        retried ever more slowly.
        """
        since = self._connected_at
        self._connected_at = None
        if since is not None and self.policy.is_healthy(now - since):
            self.reset()
        return self._next()

    def planned(self, now: float) -> float:
        """The delay before replacing a connection on purpose (a server shutdown notice,
        the maximum connection age): none, and the sequence restarts, so a planned
        reconnect never inherits a backoff grown by earlier failures.

        A connection cut "on purpose" within ``min_planned_s`` of opening is a server
        that misbehaves, not a plan: that counts as :meth:`lost`, so the owner cannot be
        made to reconnect in a tight loop.
        """
        since = self._connected_at
        if since is None or now - since < self.policy.min_planned_s:
            return self.lost(now)
        self._connected_at = None
        self.reset()
        return 0.0

    def reset(self) -> None:
        self._delays = self.policy.delays()
        self.attempts = 0

    def _next(self) -> float:
        self.attempts += 1
        return next(self._delays)
