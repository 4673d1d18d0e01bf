"""Fan-out of engine messages to the server's connections, indexed by symbol.

The server takes ONE subscription on the engine (every symbol) and routes each
message itself: a ``MARKET_UPDATE`` only to the connections holding its symbol
(a dict lookup, not a scan of every client), everything else to every connection.
Each connection gets a ``ConnectionFeed``: the engine's ``Subscription`` contract
(bounded, conflating per symbol, never dropping order events) on the engine's own
conflating queue, so a ``ProtocolSession`` cannot tell it from an engine
subscription.  ``EngineView`` hands these out in place of the engine's.

Delivery of a burst: the router puts every message of the burst into the queues of
its connections *quietly* (no wake-up per message), then tells each connection that
got something once (``ConnectionFeed.ready``).  A connection whose writer is idle and
whose socket takes data writes everything ready at once, right there, in one system
call (``Connection.flush_ready``); otherwise its writer task is woken and does it,
with backpressure.  Either way every message still goes through the connection's
conflating queue and its ``ProtocolSession``, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Hashable
from decimal import Decimal
from typing import Any

from workspace.engine.conflation import ConflatingQueue, SubscriptionClosed
from workspace.engine.hub import conflation_key
from workspace.protocol.engine_api import EngineApi, Subscription
from workspace.session import Listener, Message
from workspace.trading.requests import OrderRequest

_log = logging.getLogger("workspace.server")


class ConnectionFeed:
    """One connection's queue (implements ``engine_api.Subscription``)."""

    def __init__(self, router: SymbolRouter, max_pending: int) -> None:
        self._router = router
        self._queue: ConflatingQueue[Message] = ConflatingQueue(max_pending)
        self._symbols: set[str] = set()
        # Set by the connection: writes what is ready now; False = wake the writer.
        self.on_ready: Callable[[], bool] | None = None
        # The queue's own method, not a wrapper: called for every delivered message.
        self.get_nowait: Callable[[], Message] = self._queue.get_nowait

    @property
    def symbols(self) -> set[str] | None:
        return self._symbols

    @symbols.setter
    def symbols(self, symbols: set[str] | None) -> None:
        new = set(symbols or ())
        self._router.reindex(self, self._symbols, new)
        self._symbols = new

    def put(self, message: Message) -> None:
        if not self._queue.put(message, conflation_key(message)) and self._queue.overflowed:
            self._router.discard(self)

    def put_quiet(self, message: Message, key: Hashable | None) -> None:
        """Queue a routed message without waking the consumer (see ``ready``)."""
        if not self._queue.put(message, key, wake=False) and self._queue.overflowed:
            self._router.discard(self)

    def ready(self) -> None:
        """The router is done with a burst: deliver what it queued."""
        on_ready = self.on_ready
        if on_ready is None or not on_ready():
            self._queue.wake()

    async def get(self) -> Message:
        return await self._queue.get()

    def __len__(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self._queue.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._queue.close()
        self._router.discard(self)

    @property
    def conflated(self) -> int:
        return self._queue.conflated


COALESCE_TURNS = 4


def _drain(get_nowait: Any) -> list[Message]:
    """Everything already queued, without waiting."""
    out: list[Message] = []
    if get_nowait is None:
        return out
    while True:
        try:
            out.append(get_nowait())
        except asyncio.QueueEmpty:
            return out


class SymbolRouter:
    def __init__(self, engine: EngineApi, max_pending: int = 10_000) -> None:
        self.engine = engine
        self.max_pending = max_pending
        self._feeds: set[ConnectionFeed] = set()
        self._by_symbol: dict[str, set[ConnectionFeed]] = {}
        self._source: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.routed = 0

    def start(self) -> None:
        if self._task is None:
            self._source = self.engine.subscribe_messages(None)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="server.fanout")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if self._source is not None:
            self._source.close()
            self._source = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for feed in tuple(self._feeds):
            feed.close()

    @property
    def subscribers(self) -> int:
        """Connection feeds currently routed to (one per open connection)."""
        return len(self._feeds)

    @property
    def indexed_symbols(self) -> int:
        return len(self._by_symbol)

    def subscribe(self) -> ConnectionFeed:
        feed = ConnectionFeed(self, self.max_pending)
        self._feeds.add(feed)
        return feed

    def discard(self, feed: ConnectionFeed) -> None:
        self._feeds.discard(feed)
        self.reindex(feed, feed.symbols or set(), set())

    def reindex(self, feed: ConnectionFeed, old: set[str], new: set[str]) -> None:
        for symbol in old - new:
            holders = self._by_symbol.get(symbol)
            if holders is not None:
                holders.discard(feed)
                if not holders:
                    del self._by_symbol[symbol]
        if feed in self._feeds:
            for symbol in new - old:
                self._by_symbol.setdefault(symbol, set()).add(feed)

    async def _run(self) -> None:
        source = self._source
        assert source is not None
        get_nowait = getattr(source, "get_nowait", None)
        try:
            while True:
                batch = [await source.get()]
                # A burst (the feed hands ticks over one frame per callback) arrives
                # over a few loop turns: collect it first, so that each connection's
                # writer wakes once for the whole burst and writes it in one system
                # call.  Bounded: a steady stream is routed at least every few turns.
                for _ in range(COALESCE_TURNS):
                    await asyncio.sleep(0)
                    more = _drain(get_nowait)
                    if not more:
                        break
                    batch += more
                self._route_batch(batch)
        except SubscriptionClosed:
            _log.warning("the engine closed the server's subscription")

    def _route(self, message: Message) -> None:
        self._route_batch([message])

    def _route_batch(self, batch: list[Message]) -> None:
        """Queue each message for its connections, then deliver to each once."""
        touched: set[ConnectionFeed] = set()
        by_symbol = self._by_symbol
        for message in batch:
            self.routed += 1
            if message.get("type") == "MARKET_UPDATE":
                symbol = message.get("symbol")
                holders = by_symbol.get(symbol)  # type: ignore[arg-type]
                if holders:
                    # One key for every connection.  A keyed put never overflows (so
                    # straight to the queue, and ``holders`` cannot change meanwhile).
                    key = conflation_key(message)
                    for feed in holders:
                        feed._queue.put(message, key, wake=False)
                    touched.update(holders)
                continue
            key = conflation_key(message)  # None for order events: never conflated
            feeds = tuple(self._feeds)  # an overflowing feed removes itself
            for feed in feeds:
                feed.put_quiet(message, key)
            touched.update(feeds)
        for feed in touched:
            feed.ready()


class EngineView:
    """The engine as one connection's ``ProtocolSession`` sees it: every call goes to
    the engine except ``subscribe_messages``, which the router answers (the feed it
    hands out is kept as ``feed``, for the connection to attach its writer to)."""

    def __init__(self, engine: EngineApi, router: SymbolRouter) -> None:
        self._engine = engine
        self._router = router
        self.feed: ConnectionFeed | None = None

    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> ConnectionFeed:
        feed = self._router.subscribe()
        feed.symbols = set(symbols) if symbols is not None else set()
        self.feed = feed
        return feed

    async def acquire_symbol(self, symbol: str) -> str:
        return await self._engine.acquire_symbol(symbol)

    async def release_symbol(self, symbol: str) -> None:
        await self._engine.release_symbol(symbol)

    def market_update(self, symbol: str) -> Message | None:
        return self._engine.market_update(symbol)

    def status_message(self) -> Message:
        return self._engine.status_message()

    def portfolio_message(self) -> Message:
        return self._engine.portfolio_message()

    def positions_message(self) -> Message:
        return self._engine.positions_message()

    def orders_message(self, status: str | None = None) -> Message:
        return self._engine.orders_message(status)

    @property
    def seq(self) -> int:
        return self._engine.seq

    def order_events_since(self, seq: int) -> list[Message]:
        return self._engine.order_events_since(seq)

    def place_order(self, request: OrderRequest) -> Message:
        return self._engine.place_order(request)

    def cancel_order(self, order_id: str) -> Message:
        return self._engine.cancel_order(order_id)

    def close_position(self, position_id: str, quantity: Decimal | None = None) -> Message:
        return self._engine.close_position(position_id, quantity)

    def replay_ticks(
        self, symbol: str, start_ms: int, end_ms: int, speed: float
    ) -> AsyncIterator[Message]:
        return self._engine.replay_ticks(symbol, start_ms, end_ms, speed)

    @property
    def server_clients(self) -> int:
        return self._engine.server_clients

    @server_clients.setter
    def server_clients(self, count: int) -> None:
        self._engine.server_clients = count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
