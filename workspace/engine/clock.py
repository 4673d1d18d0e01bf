"""Time sources, injected into the engine so replay never reads the wall clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time_ms(self) -> int:
        """Wall time, ms since the epoch (stamps orders and messages)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (measures latencies and cadences)."""
        ...


class SystemClock:
    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.perf_counter()


class DataClock:
    """Replay time: the latest event time seen in the data, never the wall clock.

    Latencies are still measured on the real monotonic clock: they describe the
    machine, not the market, and never reach the journal."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms

    def advance(self, event_ms: int) -> None:
        if event_ms > self._now_ms:
            self._now_ms = event_ms

    def time_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return time.perf_counter()
