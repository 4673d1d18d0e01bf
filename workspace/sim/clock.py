"""Clocks the simulator reads time from and sleeps on.

The simulator never calls ``time.time()`` itself: it is handed a clock.  The wall
clock serves real clients; the manual clock lets a test decide when simulated time
moves, so that the same seed and the same sequence of ``advance`` calls give the
same frames byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...

    async def sleep_until(self, when_ms: int) -> None:
        """Return once ``time_ms() >= when_ms``."""
        ...


class WallClock:
    """Real time: ``time.time()`` and ``asyncio.sleep``."""

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, when_ms: int) -> None:
        delay = (when_ms - self.time_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Time that moves only when told to (tests, deterministic demos).

    Sleepers wake when :meth:`advance` or :meth:`set` moves the time past their
    deadline.  Must be used from one event loop.
    """

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms
        self._moved = asyncio.Condition()

    def time_ms(self) -> int:
        return self._now_ms

    async def sleep_until(self, when_ms: int) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self._now_ms >= when_ms)

    async def advance(self, delta_ms: int) -> None:
        await self.set(self._now_ms + delta_ms)

    async def set(self, now_ms: int) -> None:
        if now_ms < self._now_ms:
            raise ValueError("a clock does not go backwards")
        async with self._moved:
            self._now_ms = now_ms
            self._moved.notify_all()
