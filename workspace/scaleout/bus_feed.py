"""``BusFeed``: the market feed of an engine that does not own it (``engine --feed
bus``): the feed owner's records, read from Redis.

It is a ``FeedPort`` (what ``BinanceFeed`` is to an engine), so the engines of a shard
take the owner's market exactly as the owner's own engines do: the same tickers,
trades and book tickers in the same order (``P:feed:{SYM}``, see ``feed_records``),
and local order books built by Binance's rules from the owner's current book (the
``depth_snapshot`` market command) and the diff events that follow.  Symbols are
acquired from the owner like a gateway acquires them (``P:commands:market``), so the
owner streams what any shard's accounts hold; the exchange's listing (for the orders'
filters) is the owner's too.  The owner's STATUS (``P:status``) is this feed's state;
when the owner restarts (another ``engine_boot``) every symbol is acquired again.

An owner that is not running yet is no error: the symbols are followed at once and
acquired in the background until the owner answers; the account waits for prices as
it would for an exchange that is down.

An owner that dies (killed with -9) leaves its last STATUS behind, so the feed also
watches the owner's claim (``P:feed-owner``, a heartbeat): once it lapses the state is
``down`` ("the feed owner stopped"), which the engine shows and records as a gap until
an owner (the same one restarted, or a standby taking over) publishes its STATUS
again.  ``owner_gone`` is set while no engine claims the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from workspace.bus import entries
from workspace.bus.keys import BusKeys
from workspace.bus.link import Entry, last_entry, raise_if_cancelled
from workspace.bus.rpc import CommandClient, beating
from workspace.bus.tail import StreamTail
from workspace.engine.feed_port import FeedCallbacks
from workspace.errors import EngineUnavailable, InvalidParams, WorkspaceError
from workspace.market.book import OrderBook
from workspace.market.decode import parse_depth_snapshot
from workspace.market.errors import RestError
from workspace.market.exchange_info import SymbolInfo
from workspace.market.local_books import LocalBooks
from workspace.market.records import DepthSnapshot, DepthUpdate, Kline, Trade
from workspace.market.status import FeedState, FeedStats, FeedStatus
from workspace.market.subscriptions import normalize_symbol
from workspace.protocol.messages import now_ms
from workspace.scaleout import feed_records
from workspace.scaleout.hold_lease import HoldLease
from workspace.scaleout.outage import Outage

_log = logging.getLogger("workspace.scaleout")

OWNER_CHECK_S = 1.0
"""How often the feed looks at the owner's claim (which lapses 10 s after its last beat)."""
RETRY_S = (0.2, 5.0)
"""First and longest pause between two attempts to acquire a symbol from the owner."""
LISTING_TTL_S = 600.0


class BusFeed:
    def __init__(
        self,
        url: str,
        keys: BusKeys,
        callbacks: FeedCallbacks,
        *,
        keep_books: bool = True,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.keys = keys
        self.callbacks = callbacks
        self.keep_books = keep_books
        self.client = CommandClient(url, keys, f"feed-{secrets.token_hex(5)}", timeout_s=timeout_s)
        self.tail = StreamTail(url, name="bus feed")
        self.stats = FeedStats()
        self.outage = Outage(callbacks.on_gap)
        self._deliver = self.outage.passing(callbacks.on_record)
        self._books = LocalBooks(
            fetch_snapshot=self._fetch_snapshot,
            deliver=self._deliver,
            record_gap=callbacks.on_gap,
            stats=self.stats,
        )
        self._symbols: set[str] = set()
        self._acquired: set[str] = set()  # symbols the running owner streams for us
        self._owner_lock = asyncio.Lock()  # acquires, releases and lease renewals in turn
        self.lease = HoldLease(
            self.client,
            keys,
            "bus-feed",
            lambda: {"symbol": sorted(self._acquired)},
            self._owner_lock,
        )
        self._last_trade: dict[str, int] = {}
        self._state = FeedState.DOWN
        self._boot: object = None
        self._listing: Mapping[str, SymbolInfo] | None = None
        self._listing_at = 0.0
        self._wake = asyncio.Event()
        self.owner_gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._running = False

    # -- FeedPort ----------------------------------------------------------------------
    @property
    def state(self) -> str:
        return str(self._state)

    @property
    def subscribed(self) -> frozenset[str]:
        return frozenset(self._symbols)

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        await self.client.start()
        await self.tail.start()
        await self.tail.follow(self.keys.status, self._on_status, after=None)
        top = await last_entry(self.tail._control, self.keys.status)
        if top is not None:
            self._on_status(self.keys.status, [top])
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._acquire_loop(), name="bus-feed.acquire")
        self._watch = loop.create_task(self._watch_owner(), name="bus-feed.owner")
        self.lease.start()

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._watch = None
        await self._books.close()
        async with self._owner_lock:
            await self.lease.give_up()  # the owner releases all this feed acquired at once
            self._acquired.clear()
        await self.tail.stop()
        await self.client.stop()

    async def subscribe(self, *symbols: str) -> None:
        for name in dict.fromkeys(normalize_symbol(s) for s in symbols):
            if name in self._symbols:
                continue
            # follow first: every record after the owner starts streaming it is read
            await self.tail.follow(self.keys.feed(name), self._on_records, after=None)
            self._symbols.add(name)
            if self.keep_books:
                self._books.want(name)
            if self._boot is None:
                continue  # no owner has run yet: acquired in the background
            try:
                await self._acquire(name)
            except EngineUnavailable:
                pass  # the owner is not up: acquired in the background
            except BaseException:
                await self._forget(name)
                raise
        self._wake.set()

    async def unsubscribe(self, *symbols: str) -> None:
        for symbol in symbols:
            name = symbol.upper()
            if name not in self._symbols:
                continue
            await self._forget(name)
            async with self._owner_lock:
                if name in self._acquired:
                    self._acquired.discard(name)
                    with contextlib.suppress(WorkspaceError):
                        await self.client.call(
                            self.keys.market_commands, "release_symbol", self.lease.args(name)
                        )

    async def _forget(self, name: str) -> None:
        self._symbols.discard(name)
        self._books.drop(name)
        self._last_trade.pop(name, None)
        await self.tail.leave(self.keys.feed(name))

    @property
    def books(self) -> frozenset[str]:
        return self._books.symbols

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.book(symbol)

    async def wait_for_book(self, symbol: str, timeout_s: float | None = 10.0) -> OrderBook:
        return await asyncio.wait_for(self._books.wait_synced(symbol.upper()), timeout_s)

    async def subscribe_book(self, *symbols: str) -> None:
        for symbol in symbols:
            name = normalize_symbol(symbol)
            if name not in self._symbols:
                await self.subscribe(name)
            self._books.want(name)

    async def unsubscribe_book(self, *symbols: str) -> None:
        if self.keep_books:
            return  # kept for every streamed symbol, as the owner keeps them
        for symbol in symbols:
            self._books.drop(symbol.upper())

    async def subscribe_klines(self, symbol: str, *intervals: str) -> None:
        raise InvalidParams("candles are served by the engine that owns the market feed")

    async def unsubscribe_klines(self, symbol: str, *intervals: str) -> None:
        return None

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Kline]:
        raise InvalidParams("candles are served by the engine that owns the market feed")

    async def exchange_symbols(self) -> Mapping[str, SymbolInfo]:
        """The owner's listing (its feed's ``exchangeInfo``), cached for a while."""
        loop = asyncio.get_running_loop()
        if self._listing is None or loop.time() - self._listing_at > LISTING_TTL_S:
            reply = await self.client.call(self.keys.market_commands, "listing", {})
            self._listing = {
                name: msgspec.convert(info, SymbolInfo, strict=False)
                for name, info in dict(reply).items()
            }
            self._listing_at = loop.time()
        return self._listing

    # -- from Redis --------------------------------------------------------------------
    def _on_records(self, key: str, items: Sequence[Entry]) -> None:
        deliver = self._deliver
        books = self._books
        for _id, fields in items:
            kind, data = fields.get(b"k"), fields.get(b"r")
            if kind is None or data is None:
                continue
            try:
                record = feed_records.decode(kind, data)
            except msgspec.DecodeError as error:
                self.stats.parse_errors += 1
                _log.error("%s: an unreadable record: %s", key, error)
                continue
            if record is None:
                continue
            self.stats.records += 1
            if type(record) is DepthUpdate:
                books.on_update(record)  # delivers what it applies, in order
                continue
            if type(record) is Trade:
                # a record written twice (a pipeline retried after a Redis failure)
                # must not fill twice: trade ids only grow
                trade_id = record.agg_id if record.agg_id is not None else record.trade_id
                if trade_id is not None:
                    if trade_id <= self._last_trade.get(record.symbol, -1):
                        continue
                    self._last_trade[record.symbol] = trade_id
            deliver(record)

    def _on_status(self, _key: str, items: Sequence[Entry]) -> None:
        message = entries.message_of(items[-1][1])
        if message is None:
            return
        feed = message.get("feed")
        try:
            state = FeedState(str(feed))
        except ValueError:
            state = FeedState.DOWN
        boot = message.get("engine_boot")
        if boot != self._boot:
            if self._boot is not None:
                self._acquired.clear()  # a restarted owner streams only its own symbols
                self._wake.set()
                # what the exchange sent while no owner ran (or another took over) is lost
                self.outage.began("the feed owner restarted")
            self._boot = boot
        if state != self._state:
            self._state = state
            reason = f"the feed owner's feed is {feed}"
            if state != FeedState.CONNECTED:
                self.outage.began(reason)
            self.callbacks.on_status(FeedStatus(state, reason, now_ms()))

    # -- the owner ---------------------------------------------------------------------
    async def _watch_owner(self) -> None:
        """A killed owner says nothing: its claim lapsing is the only sign."""
        control = self.tail._control
        while True:
            await asyncio.sleep(OWNER_CHECK_S)
            owned = await beating(control, self.keys.feed_owner)
            if owned is None:
                continue  # Redis itself is away: the tail reports that
            if owned:
                self.owner_gone.clear()
                continue
            self.owner_gone.set()
            if self._state != FeedState.DOWN:
                self._state = FeedState.DOWN
                reason = "the feed owner stopped: its claim lapsed and no engine took it over"
                self.outage.began(reason)
                self.callbacks.on_status(FeedStatus(FeedState.DOWN, reason, now_ms()))

    async def _acquire(self, name: str) -> None:
        async with self._owner_lock:
            await self.client.call(
                self.keys.market_commands, "acquire_symbol", self.lease.args(name)
            )
            self._acquired.add(name)

    async def _acquire_loop(self) -> None:
        """Acquire from the owner what it does not stream for us yet (not up at
        subscribe time, or restarted since)."""
        pause = RETRY_S[0]
        while True:
            missing = [s for s in self._symbols if s not in self._acquired]
            if not missing:
                self._wake.clear()
                await self._wake.wait()
                pause = RETRY_S[0]
                continue
            try:
                for name in missing:
                    if name in self._symbols:
                        await self._acquire(name)
                pause = RETRY_S[0]
            except WorkspaceError as error:
                raise_if_cancelled(error)
                _log.debug("bus feed: acquiring from the feed owner failed: %s", error)
                await asyncio.sleep(pause)
                pause = min(RETRY_S[1], pause * 2)
            raise_if_cancelled()

    async def _fetch_snapshot(self, symbol: str) -> DepthSnapshot:
        try:
            reply = await self.client.call(
                self.keys.market_commands, "depth_snapshot", {"symbol": symbol}
            )
        except WorkspaceError as error:
            raise RestError(f"the feed owner gave no book of {symbol}: {error}") from None
        if not isinstance(reply, dict):
            raise RestError(f"the feed owner has no book of {symbol} yet")
        return parse_depth_snapshot(symbol, entries.dumps(reply))


def depth_snapshot_of(book: OrderBook) -> dict[str, Any]:
    """The owner's answer to ``depth_snapshot``: its whole book, as Binance's REST
    depth answers (``lastUpdateId``, ``bids``, ``asks``, decimal strings)."""
    return {
        "lastUpdateId": book.last_update_id,
        "bids": [[str(price), str(qty)] for price, qty in book.bids()],
        "asks": [[str(price), str(qty)] for price, qty in book.asks()],
    }


def listing_of(listing: Mapping[str, SymbolInfo]) -> dict[str, Any]:
    return {name: msgspec.to_builtins(info) for name, info in listing.items()}
