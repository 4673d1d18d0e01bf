"""A share of the event loop for bulk work (resumes), across every connection.

Each connection's resume already goes a page at a time and waits for its client, but
fifty resumes that start together each have a page ready in the same loop turn: the
turn then reads, builds and writes fifty pages before the loop polls its sockets
again, and every other client (a ping, an order) waits that long.  ``LoopShare``
lets at most ``per_turn`` messages of bulk work start per turn, first come first
served; the rest wait for the following turns.  A single request bigger than the
share still gets a turn of its own, so nothing waits forever.
"""

from __future__ import annotations

import asyncio
from collections import deque


class LoopShare:
    def __init__(self, per_turn: int) -> None:
        if per_turn < 1:
            raise ValueError("per_turn must be >= 1")
        self.per_turn = per_turn
        self._used = 0  # granted in the current turn
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()
        self._turn_scheduled = False
        self.waited = 0  # requests that had to wait for a later turn (a figure)

    async def take(self, amount: int) -> None:
        """Return once ``amount`` messages of bulk work may start."""
        if not self._waiters and (self._used == 0 or self._used + amount <= self.per_turn):
            self._used += amount
            self._schedule_turn()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, amount))
        self.waited += 1
        self._schedule_turn()
        await future  # cancelled: the next turn skips it

    def _schedule_turn(self) -> None:
        if not self._turn_scheduled:
            self._turn_scheduled = True
            # Callbacks queued during a turn run in the next one, after the loop polled
            # its sockets: the share starts afresh once other clients had their chance.
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._turn_scheduled = False
        self._used = 0
        waiters = self._waiters
        while waiters:
            future, amount = waiters[0]
            if future.done():  # its task was cancelled
                waiters.popleft()
                continue
            if self._used and self._used + amount > self.per_turn:
                break
            waiters.popleft()
            self._used += amount
            future.set_result(None)
        if waiters or self._used:
            self._schedule_turn()
