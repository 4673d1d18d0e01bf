"""Counting event-loop turns, for the tests of work bounded per loop turn."""

from __future__ import annotations

import asyncio


class Turns:
    """Counts event-loop turns: a callback that reschedules itself with call_soon."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
