"""Coalescing of panel updates: at most one flush per interval, latest state wins.

Panels apply every message to their pure state model at once (cheap, in Python) and
only *mark* themselves dirty; the coalescer turns any number of marks into at most
one flush per ``interval`` seconds.  The flush reads the latest state, so nothing is
queued: a burst of 1000 ticks costs one trait sync, not 1000.

The first mark after a quiet period flushes on the next loop iteration (``delay 0``,
so every message already queued in the same iteration is folded in); later marks
wait until ``interval`` has passed since the previous flush.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Protocol

DEFAULT_INTERVAL_S = 0.1
"""10 flushes per second per panel: about what an eye can follow."""

URGENT_INTERVAL_S = 0.1
"""The shortest gap between flushes a panel with a longer interval keeps for what the
user is waiting for (:meth:`Coalescer.mark_urgent`)."""


class _Handle(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], _Handle]
"""``scheduler(delay_s, callback)``, like ``loop.call_later``; injectable for tests."""


class Coalescer:
    """Calls ``flush`` at most once per ``interval`` seconds after ``mark()``."""

    def __init__(
        self,
        flush: Callable[[], None],
        interval: float = DEFAULT_INTERVAL_S,
        *,
        scheduler: Scheduler | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        # (a NaN fails every comparison; a bool is no number of seconds)
        if isinstance(interval, bool) or not (
            isinstance(interval, int | float) and 0 <= interval < math.inf
        ):
            raise ValueError(f"interval must be a number of seconds >= 0, got {interval!r}")
        self._flush = flush
        self._interval = interval
        self._scheduler = scheduler
        self._clock = clock
        self._on_error = on_error
        self._handle: _Handle | None = None
        self._due = 0.0  # when the pending flush runs (coalescer clock)
        # -inf: the very first mark flushes without waiting
        self._last_flush = float("-inf")
        self._closed = False
        self.flushes = 0
        self.marks = 0

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def pending(self) -> bool:
        """A flush is scheduled and has not run yet."""
        return self._handle is not None

    def mark(self) -> None:
        """Something changed; make sure a flush follows (at most one is pending)."""
        self.marks += 1
        if self._closed or self._handle is not None:
            return
        self._arm(max(0.0, self._last_flush + self._interval - self._clock()))

    def _arm(self, delay: float) -> None:
        self._due = self._clock() + delay
        self._handle = self._schedule(delay, self._run)

    def mark_urgent(self) -> None:
        """Something the user is waiting for changed (their money, their order): flush as
        a panel of :data:`URGENT_INTERVAL_S` would, even when this one's interval is
        longer (a ticket refreshes its prices twice a second, but the balance a fill
        changed must show when the portfolio shows it)."""
        self.marks += 1
        if self._closed:
            return
        due = self._last_flush + min(self._interval, URGENT_INTERVAL_S)
        if self._handle is not None:
            if self._due <= due:
                return  # the pending flush comes soon enough
            self._handle.cancel()
        self._arm(max(0.0, due - self._clock()))

    def now(self) -> float:
        """The coalescer's clock (injectable): panels time their notices with it."""
        return self._clock()

    def later(self, delay: float, callback: Callable[[], None]) -> _Handle:
        """Run ``callback`` after ``delay`` seconds on the coalescer's scheduler."""
        return self._schedule(delay, callback)

    def flush_now(self) -> None:
        """Flush at once (e.g. on close, or a user action whose result must show now)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._run()

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, delay: float, callback: Callable[[], None]) -> _Handle:
        if self._scheduler is not None:
            return self._scheduler(delay, callback)
        return asyncio.get_running_loop().call_later(delay, callback)

    def _run(self) -> None:
        self._handle = None
        if self._closed:
            return
        self._last_flush = self._clock()
        self.flushes += 1
        try:
            self._flush()
        except Exception as exc:  # a broken flush must not kill the loop's callback
            if self._on_error is None:
                raise
            self._on_error(exc)
