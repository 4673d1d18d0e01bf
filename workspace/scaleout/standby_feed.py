"""``StandbyFeed``: the market feed of an engine started ``--feed binance --standby``
while another engine owns the feed: it takes the owner's market from Redis
(``BusFeed``) and, when the engine takes the feed over (``take_over``), the exchange's
own streams (``BinanceFeed``), with the same callbacks, so the accounts on it keep
running: the symbols and order books they follow are asked of the new feed (candle
series there are none: a bus-fed engine's candles are the owner's); each book is
rebuilt from the exchange's snapshot (the engine sees a new book, as after a sequence
gap) and the time without an owner is a gap in the account's journal (the bus feed
reads ``down`` once the owner's claim lapses).

Both feeds follow one exchange, so prices carry on where the owner left them: a
standby needs a real exchange feed (``binance``, or the simulator run as a process of
its own and named by ``WORKSPACE_BINANCE_URL``), never a simulator of its own, whose
market would be another one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from workspace.engine.feed_port import FeedCallbacks, FeedFactory, FeedPort
from workspace.market.book import OrderBook
from workspace.market.exchange_info import SymbolInfo
from workspace.market.records import Kline
from workspace.market.subscriptions import normalize_symbol
from workspace.scaleout.bus_feed import BusFeed

_log = logging.getLogger("workspace.scaleout")


class StandbyFeed:
    def __init__(self, bus: BusFeed, real: FeedFactory, callbacks: FeedCallbacks) -> None:
        self.bus = bus
        self._real = real
        self._callbacks = callbacks
        self._feed: FeedPort = bus
        # the books the engines asked for by name: the bus feed's own ``books`` also
        # lists every streamed symbol when books are kept for all of them, which the
        # exchange's feed does by its configuration, not as books asked for
        self._books: set[str] = set()
        self.took_over = False

    # -- the switch ------------------------------------------------------------------
    async def take_over(self) -> None:
        """Stop following the owner and stream from the exchange instead (the engine
        has claimed the feed)."""
        if self.took_over:
            return
        self.took_over = True
        symbols = sorted(self.bus.subscribed)
        await self.bus.stop()
        # the time without an owner is one gap, closed by the exchange's first record
        callbacks = self._callbacks
        self.bus.outage.began("the feed owner stopped; a standby took the feed over")
        real = self._real(
            FeedCallbacks(
                self.bus.outage.passing(callbacks.on_record),
                callbacks.on_status,
                callbacks.on_gap,
            )
        )
        self._feed = real
        await real.start()
        if symbols:
            await real.subscribe(*symbols)
        if self._books:
            await real.subscribe_book(*sorted(self._books))
        # no candle series to carry over: the bus feed serves none (the owner does)
        _log.warning(
            "took the market feed over: %d symbols, %d books from the exchange",
            len(symbols),
            len(self._books),
        )

    # -- FeedPort: the feed's, the books asked for kept for the switch -----------------
    @property
    def state(self) -> str:
        return self._feed.state

    @property
    def subscribed(self) -> frozenset[str]:
        return self._feed.subscribed

    async def start(self) -> None:
        await self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    async def subscribe(self, *symbols: str) -> None:
        await self._feed.subscribe(*symbols)

    async def unsubscribe(self, *symbols: str) -> None:
        await self._feed.unsubscribe(*symbols)

    @property
    def books(self) -> frozenset[str]:
        return self._feed.books

    def book(self, symbol: str) -> OrderBook | None:
        return self._feed.book(symbol)

    async def wait_for_book(self, symbol: str, timeout_s: float | None = 10.0) -> OrderBook:
        # both feeds have it (not part of FeedPort: a replay has no live book to wait for)
        feed: Any = self._feed
        book: OrderBook = await feed.wait_for_book(symbol, timeout_s)
        return book

    async def subscribe_book(self, *symbols: str) -> None:
        self._books.update(normalize_symbol(s) for s in symbols)
        await self._feed.subscribe_book(*symbols)

    async def unsubscribe_book(self, *symbols: str) -> None:
        self._books.difference_update(s.upper() for s in symbols)
        await self._feed.unsubscribe_book(*symbols)

    async def subscribe_klines(self, symbol: str, *intervals: str) -> None:
        await self._feed.subscribe_klines(symbol, *intervals)

    async def unsubscribe_klines(self, symbol: str, *intervals: str) -> None:
        await self._feed.unsubscribe_klines(symbol, *intervals)

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Kline]:
        return await self._feed.klines(
            symbol, interval, limit=limit, start_ms=start_ms, end_ms=end_ms
        )

    async def exchange_symbols(self) -> Mapping[str, SymbolInfo]:
        feed: Any = self._feed  # the owner's listing, then the exchange's own
        listing: Mapping[str, SymbolInfo] = await feed.exchange_symbols()
        return listing


__all__ = ["StandbyFeed"]
