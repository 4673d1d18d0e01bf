"""Collects what a feed reports, and waits (with a timeout, never a sleep) for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from workspace.market.feed import FeedState, FeedStatus
from workspace.market.records import FeedRecord


@dataclass
class Collector:
    records: list[FeedRecord] = field(default_factory=list)
    statuses: list[FeedStatus] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_record(self, record: FeedRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def on_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    def states(self) -> list[FeedState]:
        return [s.state for s in self.statuses]

    async def until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async def _wait() -> None:
            while True:
                self._changed.clear()
                if predicate():
                    return
                await self._changed.wait()

        await asyncio.wait_for(_wait(), within)

    async def until_state(
        self, state: FeedState, *, count: int = 1, within: float = 10.0
    ) -> FeedStatus:
        """Wait for the ``count``-th status with ``state``; return it."""
        await self.until(lambda: self.states().count(state) >= count, within)
        return [s for s in self.statuses if s.state is state][count - 1]
