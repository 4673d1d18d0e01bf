"""A bounded, conflating, single-consumer queue: the delivery primitive of the hub.

Items put with a ``key`` replace a still-queued item with the same key in place (latest
wins, the position in the queue is kept so relative order stays sensible); items put
without a key are kept in order and never dropped.  Keyed items are bounded by the
number of distinct keys; unkeyed items by ``max_pending``: a consumer that falls that
far behind is closed with ``SubscriptionOverflow`` (loudly, so it can resume from its
last ``seq``) instead of growing memory without bound or silently losing events.

A producer that puts many items in one go (the server's fan-out routing a burst)
may put them with ``wake=False`` and call :meth:`ConflatingQueue.wake` once at the
end: one wake-up of the consumer per burst instead of one per item.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Periodic state of which only the latest matters to a consumer that is behind.
CONFLATED_PER_TYPE = frozenset({"POSITION_UPDATE", "PORTFOLIO_UPDATE", "STATUS"})

# Marks the slots of unkeyed items; private, so no caller's key can be mistaken for one.
_FIFO = object()


def conflation_key(message: dict[str, Any]) -> Hashable | None:
    """The key under which a message replaces an older queued one (latest wins), for a
    queue that keeps arrival order: market data per symbol and kind, periodic state
    per type; None (kept, in order) for everything else."""
    kind = message.get("type")
    if kind == "MARKET_UPDATE" or kind == "BOOK_UPDATE":
        return (kind, message.get("symbol"))
    if kind in CONFLATED_PER_TYPE and "id" not in message:  # a reply is never replaced
        return str(kind)
    return None


class SubscriptionClosed(Exception):
    """``get()`` on a closed queue."""


class SubscriptionOverflow(SubscriptionClosed):
    """The consumer fell more than ``max_pending`` unconflatable items behind."""


class ConflatingQueue(Generic[T]):
    def __init__(self, max_pending: int = 10_000) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self._max_pending = max_pending
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._fifo_count = 0
        # Slots are (_FIFO, n) for unkeyed items and ("k", key) for keyed ones: no clash.
        self._serial = itertools.count()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._overflowed = False
        self._conflated = 0

    # -- producer side -------------------------------------------------------------
    def put(self, item: T, key: Hashable | None = None, *, wake: bool = True) -> bool:
        """Queue ``item``; returns False when the queue is (or just became) closed.
        ``wake=False`` leaves the consumer asleep: the producer calls :meth:`wake`
        once it has put the whole burst."""
        if self._closed:
            return False
        items = self._items
        if key is None:
            if self._fifo_count >= self._max_pending:
                self._overflowed = True
                self.close()
                return False
            slot: Hashable = (_FIFO, next(self._serial))
            self._fifo_count += 1
        else:
            slot = ("k", key)
            if slot in items:
                items[slot] = item  # keeps its position: latest value, original slot
                self._conflated += 1
                return True
        items[slot] = item
        if wake and self._waiters:
            self._wake()
        return True

    def wake(self) -> None:
        """Wake the consumer if it waits and something is queued (after quiet puts)."""
        if self._waiters and self._items:
            self._wake()

    def close(self) -> None:
        """Drop what is queued and wake the consumer (it gets ``SubscriptionClosed``)."""
        if self._closed:
            return
        self._closed = True
        self._items.clear()
        self._fifo_count = 0
        self._wake()

    # -- consumer side -------------------------------------------------------------
    def get_nowait(self) -> T:
        if not self._items:
            self._raise_if_closed()
            raise asyncio.QueueEmpty
        slot, item = self._items.popitem(last=False)
        if slot[0] is _FIFO:  # type: ignore[index]  # every slot is a 2-tuple
            self._fifo_count -= 1
        return item

    async def get(self) -> T:
        while not self._items:
            self._raise_if_closed()
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self.get_nowait()

    # -- state ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    @property
    def conflated(self) -> int:
        return self._conflated

    def __len__(self) -> int:
        return len(self._items)

    def _raise_if_closed(self) -> None:
        if self._overflowed:
            raise SubscriptionOverflow(
                f"consumer fell more than {self._max_pending} messages behind"
            )
        if self._closed:
            raise SubscriptionClosed("subscription closed")

    def _wake(self) -> None:
        if not self._waiters:  # the common case when the consumer is busy: nothing to do
            return
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
