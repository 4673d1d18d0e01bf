"""The per-connection send queue: control replies are never dropped, live data may be.

One slow reader must not stall the market for everyone else, so live frames beyond
``limit`` are dropped (and counted) instead of queued without bound.  Replies,
events such as ``serverShutdown`` and firehose batches always go through, in order.
Replays pace themselves with :meth:`Outbox.put_paced`, which waits for room instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

OutItem = bytes | Sequence[bytes]


class Outbox:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: deque[tuple[OutItem, bool]] = deque()
        self._live = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.dropped = 0

    def put_live(self, frame: bytes) -> bool:
        if self._live >= self._limit:
            self.dropped += 1
            return False
        self._items.append((frame, True))
        self._live += 1
        self._ready.set()
        return True

    async def put_paced(self, frame: bytes) -> None:
        while self._live >= self._limit:
            self._room.clear()
            await self._room.wait()
        self.put_live(frame)

    def put_control(self, item: OutItem) -> None:
        self._items.append((item, False))
        self._ready.set()

    async def get(self) -> OutItem:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item, live = self._items.popleft()
        if live:
            self._live -= 1
            self._room.set()
        return item
