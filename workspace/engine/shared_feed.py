"""``SharedFeed``: one market feed for several engines (multi-user mode: one engine per
account, the market data shared).

The real feed (``BinanceFeed`` on Binance or on the simulator) is built once, with the
shared feed's own callbacks; every engine gets a ``FeedShare`` (``share()`` is the
``FeedFactory`` an engine takes), which behaves towards its engine like a feed of its
own: its own ``subscribed`` symbols, books and kline series, reference counted onto the
real feed, and only the records of what it holds.  The books themselves are the real
feed's (one book per symbol, updated in place by the feed, read by every account).
Feed states and gaps go to every share; a share that starts after the feed is up is
told its current state at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from workspace.engine.feed_port import (
    FeedCallbacks,
    FeedFactory,
    FeedPort,
    FeedStatusLike,
    GapLike,
)
from workspace.market.book import OrderBook
from workspace.market.records import DepthSnapshot, DepthUpdate, FeedRecord, Kline

log = logging.getLogger("workspace.engine")


class SharedFeed:
    def __init__(self, factory: FeedFactory) -> None:
        self.feed: FeedPort = factory(FeedCallbacks(self._on_record, self._on_status, self._on_gap))
        self.shares: list[FeedShare] = []
        self._symbols: Counter[str] = Counter()
        self._books: Counter[str] = Counter()
        self._klines: Counter[tuple[str, str]] = Counter()
        self._lock = asyncio.Lock()
        self._started: asyncio.Task[None] | None = None
        self._running = 0
        self._status: FeedStatusLike | None = None
        self.taps: list[Callable[[FeedRecord], None]] = []
        """Called with every record of the real feed, before the engines get it (the
        scale-out's feed owner copies them to Redis for the other shards)."""

    def share(self, callbacks: FeedCallbacks) -> FeedShare:
        """A ``FeedFactory``: the feed as one engine sees it."""
        share = FeedShare(self, callbacks)
        self.shares.append(share)
        return share

    # -- the real feed's callbacks: fanned out ---------------------------------------------
    def _on_record(self, record: FeedRecord | tuple[FeedRecord, ...]) -> None:
        if isinstance(record, tuple):
            for item in record:
                self._on_record(item)
            return
        for tap in self.taps:
            tap(record)
        symbol = getattr(record, "symbol", None)
        if isinstance(record, DepthSnapshot | DepthUpdate):
            wanted = [s for s in self.shares if symbol in s.held_books]
        elif isinstance(record, Kline):
            key = (record.symbol, record.interval)
            wanted = [s for s in self.shares if key in s.kline_series]
        else:
            wanted = [s for s in self.shares if symbol in s.symbols]
        for share in wanted:
            share.callbacks.on_record(record)  # the engine's: never raises

    def _on_status(self, status: FeedStatusLike) -> None:
        self._status = status
        for share in tuple(self.shares):
            if share.started:
                share.callbacks.on_status(status)

    def _on_gap(self, gap: GapLike) -> None:
        for share in tuple(self.shares):
            if share.started:
                share.callbacks.on_gap(gap)

    # -- reference counting --------------------------------------------------------------
    async def start_share(self, share: FeedShare) -> None:
        async with self._lock:
            if self._started is None:
                self._started = asyncio.get_running_loop().create_task(
                    self.feed.start(), name="shared-feed.start"
                )
            starting = self._started
        try:
            await asyncio.shield(starting)
        except BaseException:
            async with self._lock:
                if self._started is starting and starting.done():
                    self._started = None  # the next share tries again
            raise
        self._running += 1
        share.started = True
        if self._status is not None:
            share.callbacks.on_status(self._status)

    async def stop_share(self, share: FeedShare) -> None:
        await share.release_all()
        if share in self.shares:
            self.shares.remove(share)
        if share.started:
            share.started = False
            self._running -= 1
        async with self._lock:
            if self._running == 0 and self._started is not None:
                self._started = None
                await self.feed.stop()

    async def stop(self) -> None:
        """Stop the real feed whatever the shares do (the host is stopping)."""
        async with self._lock:
            self._started = None
            self._running = 0
            await self.feed.stop()

    async def add_symbols(self, symbols: list[str]) -> None:
        async with self._lock:
            new = [s for s in symbols if self._symbols[s] == 0]
            if new:
                await self.feed.subscribe(*new)
            for symbol in symbols:
                self._symbols[symbol] += 1

    async def remove_symbols(self, symbols: list[str]) -> None:
        async with self._lock:
            gone = []
            for symbol in symbols:
                self._symbols[symbol] -= 1
                if self._symbols[symbol] <= 0:
                    del self._symbols[symbol]
                    gone.append(symbol)
            if gone:
                await self.feed.unsubscribe(*gone)

    async def add_books(self, symbols: list[str]) -> None:
        async with self._lock:
            new = [s for s in symbols if self._books[s] == 0]
            if new:
                await self.feed.subscribe_book(*new)
            for symbol in symbols:
                self._books[symbol] += 1

    async def remove_books(self, symbols: list[str]) -> None:
        async with self._lock:
            gone = []
            for symbol in symbols:
                self._books[symbol] -= 1
                if self._books[symbol] <= 0:
                    del self._books[symbol]
                    gone.append(symbol)
            if gone:
                await self.feed.unsubscribe_book(*gone)

    async def add_klines(self, symbol: str, intervals: list[str]) -> None:
        async with self._lock:
            new = [i for i in intervals if self._klines[(symbol, i)] == 0]
            if new:
                await self.feed.subscribe_klines(symbol, *new)
            for interval in intervals:
                self._klines[(symbol, interval)] += 1

    async def remove_klines(self, symbol: str, intervals: list[str]) -> None:
        async with self._lock:
            gone = []
            for interval in intervals:
                self._klines[(symbol, interval)] -= 1
                if self._klines[(symbol, interval)] <= 0:
                    del self._klines[(symbol, interval)]
                    gone.append(interval)
            if gone:
                await self.feed.unsubscribe_klines(symbol, *gone)


class FeedShare:
    """One engine's view of a ``SharedFeed`` (implements ``FeedPort``)."""

    def __init__(self, shared: SharedFeed, callbacks: FeedCallbacks) -> None:
        self.shared = shared
        self.callbacks = callbacks
        self.started = False
        self.symbols: set[str] = set()
        self.own_books: set[str] = set()
        self.kline_series: set[tuple[str, str]] = set()

    @property
    def state(self) -> str:
        return self.shared.feed.state

    @property
    def subscribed(self) -> frozenset[str]:
        return frozenset(self.symbols)

    @property
    def held_books(self) -> frozenset[str]:
        """The books whose depth records this share's engine gets: the ones it asked
        for, and those the real feed keeps for the symbols it streams (``keep_books``)."""
        real = self.shared.feed.books
        return frozenset(self.own_books | (self.symbols & real))

    @property
    def books(self) -> frozenset[str]:
        return self.held_books

    async def start(self) -> None:
        await self.shared.start_share(self)

    async def stop(self) -> None:
        await self.shared.stop_share(self)

    async def release_all(self) -> None:
        symbols, self.symbols = sorted(self.symbols), set()
        books, self.own_books = sorted(self.own_books), set()
        series, self.kline_series = sorted(self.kline_series), set()
        if symbols:
            await self.shared.remove_symbols(symbols)
        if books:
            await self.shared.remove_books(books)
        for symbol, interval in series:
            await self.shared.remove_klines(symbol, [interval])

    async def subscribe(self, *symbols: str) -> None:
        new = [s for s in dict.fromkeys(symbols) if s not in self.symbols]
        if new:
            await self.shared.add_symbols(new)
            self.symbols.update(new)

    async def unsubscribe(self, *symbols: str) -> None:
        gone = [s for s in dict.fromkeys(symbols) if s in self.symbols]
        if gone:
            self.symbols.difference_update(gone)
            await self.shared.remove_symbols(gone)

    def book(self, symbol: str) -> OrderBook | None:
        return self.shared.feed.book(symbol) if symbol in self.held_books else None

    async def wait_for_book(self, symbol: str, timeout_s: float | None = 10.0) -> OrderBook:
        waiter = getattr(self.shared.feed, "wait_for_book", None)
        if waiter is None:
            raise TimeoutError(f"the order book of {symbol} cannot be waited for")
        book: OrderBook = await waiter(symbol, timeout_s)
        return book

    async def subscribe_book(self, *symbols: str) -> None:
        new = [s for s in dict.fromkeys(symbols) if s not in self.own_books]
        if new:
            await self.shared.add_books(new)
            self.own_books.update(new)

    async def unsubscribe_book(self, *symbols: str) -> None:
        gone = [s for s in dict.fromkeys(symbols) if s in self.own_books]
        if gone:
            self.own_books.difference_update(gone)
            await self.shared.remove_books(gone)

    async def subscribe_klines(self, symbol: str, *intervals: str) -> None:
        new = [i for i in dict.fromkeys(intervals) if (symbol, i) not in self.kline_series]
        if new:
            await self.shared.add_klines(symbol, new)
            self.kline_series.update((symbol, i) for i in new)

    async def unsubscribe_klines(self, symbol: str, *intervals: str) -> None:
        gone = [i for i in dict.fromkeys(intervals) if (symbol, i) in self.kline_series]
        if gone:
            self.kline_series.difference_update((symbol, i) for i in gone)
            await self.shared.remove_klines(symbol, gone)

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Any]:
        rows: list[Any] = await self.shared.feed.klines(
            symbol, interval, limit=limit, start_ms=start_ms, end_ms=end_ms
        )
        return rows

    async def exchange_symbols(self) -> Mapping[str, Any]:
        listing = getattr(self.shared.feed, "exchange_symbols", None)
        if listing is None:
            return {}
        result: Mapping[str, Any] = await listing()
        return result
