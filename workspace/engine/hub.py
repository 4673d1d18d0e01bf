"""Fan-out of engine messages to subscribers, with the delivery rules of
``workspace.protocol.engine_api.Subscription``.

Publishing is synchronous and O(subscribers): it only appends to each subscriber's own
bounded queue, so a slow consumer never slows the engine or the other consumers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Hashable

from workspace.engine.conflation import ConflatingQueue, SubscriptionClosed, SubscriptionOverflow
from workspace.session import Message

# Types of which only the latest value matters to a consumer that is behind.
CONFLATED_PER_TYPE = frozenset({"POSITION_UPDATE", "PORTFOLIO_UPDATE", "STATUS"})

_log = logging.getLogger("workspace.engine")


def conflation_key(message: Message) -> Hashable | None:
    """The key under which ``message`` replaces an older queued one; None = keep all."""
    kind = message.get("type")
    if kind == "MARKET_UPDATE":
        return ("MARKET_UPDATE", message.get("symbol"))
    if kind in CONFLATED_PER_TYPE:
        return str(kind)
    return None


class MessageSubscription:
    """One subscriber's queue.  Implements ``engine_api.Subscription``."""

    def __init__(self, hub: Hub, symbols: Collection[str] | None, max_pending: int) -> None:
        self.symbols: set[str] | None = (
            None if symbols is None else {symbol.upper() for symbol in symbols}
        )
        self._hub = hub
        self._queue: ConflatingQueue[Message] = ConflatingQueue(max_pending)

    def put(self, message: Message) -> None:
        if not self._queue.put(message, conflation_key(message)) and self._queue.overflowed:
            self._hub.discard(self)

    def offer(self, message: Message) -> None:
        """Queue a broadcast message if this subscriber wants it (symbol filter)."""
        if (
            self.symbols is not None
            and message.get("type") == "MARKET_UPDATE"
            and message.get("symbol") not in self.symbols
        ):
            return
        self.put(message)

    async def get(self) -> Message:
        return await self._queue.get()

    def get_nowait(self) -> Message:
        return self._queue.get_nowait()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self._queue.get()
        except SubscriptionOverflow:
            raise  # the consumer must learn it missed messages (and resume by seq)
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._queue.close()
        self._hub.discard(self)

    @property
    def closed(self) -> bool:
        return self._queue.closed

    @property
    def overflowed(self) -> bool:
        return self._queue.overflowed

    @property
    def conflated(self) -> int:
        return self._queue.conflated

    @property
    def pending(self) -> int:
        return len(self._queue)


class Hub:
    def __init__(self, max_pending: int = 10_000) -> None:
        self._max_pending = max_pending
        self._subscriptions: list[MessageSubscription] = []
        self.published = 0

    def subscribe(self, symbols: Collection[str] | None = None) -> MessageSubscription:
        subscription = MessageSubscription(self, symbols, self._max_pending)
        self._subscriptions.append(subscription)
        return subscription

    def publish(self, message: Message) -> None:
        self.published += 1
        # Iterate over a copy: an overflowing subscriber removes itself mid-loop.
        for subscription in tuple(self._subscriptions):
            subscription.offer(message)

    def discard(self, subscription: MessageSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            if subscription.overflowed:
                _log.warning(
                    "a subscriber fell %d messages behind and was closed", self._max_pending
                )

    def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    @property
    def conflated(self) -> int:
        return sum(subscription.conflated for subscription in self._subscriptions)
