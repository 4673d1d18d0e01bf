"""The Binance market-data feed: one combined-stream connection, kept alive.

::

    feed = BinanceFeed(FeedConfig.from_env(), on_record=engine.on_record, on_status=show)
    await feed.start()                    # returns once connected
    await feed.subscribe("btcusdt", "ETHUSDT")
    ...
    await feed.stop()

One supervisor task owns the connection.  It connects to ``<stream_url>/stream``,
(re)subscribes every wanted stream in batched SUBSCRIBE messages (rate limited), then
reads frames and hands each decoded record to ``on_record`` synchronously.  When the
connection ends it asks the :class:`~workspace.reconnect.ReconnectPolicy`
whether to retry and how long to wait; it never retries what the policy calls fatal.
A watchdog drops the connection when subscribed streams go silent and before the
connection reaches Binance's 24 h limit.  The policy is :mod:`workspace.reconnect`'s,
shared with ``RealtimeClient``.  Every state change goes to ``on_status``;
every outage is recorded in :attr:`BinanceFeed.gaps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, cast

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from workspace.errors import InvalidParams
from workspace.market.book import OrderBook
from workspace.market.config import FeedConfig, add_feed_arguments, rest_left_at_binance
from workspace.market.connection import DirectConnection, FeedConnection, StaleConnection
from workspace.market.decode import (
    RECORD_TYPES,
    BadRecordError,
    ControlReply,
    FrameError,
    ServerShutdown,
    decode_feed_frame,
    parse_depth_snapshot,
    parse_klines,
)
from workspace.market.errors import (
    FeedError,
    FeedFatalError,
    RestError,
    SubscriptionError,
    TooManyStreamsError,
    UnknownSymbolError,
)
from workspace.market.exchange_info import ExchangeInfoCache, SymbolInfo
from workspace.market.local_books import LocalBooks
from workspace.market.picows_connection import open_picows
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedRecord,
    Kline,
    MarketRecord,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
)
from workspace.market.rest import DEPTH_PATH, KLINES_PATH, MAX_KLINES, RestClient
from workspace.market.sanity import CHECKS, SanityLimits, not_a_number, problem
from workspace.market.stall import CadenceWatch
from workspace.market.status import FeedState, FeedStats, FeedStatus, Gap
from workspace.market.subscriptions import (
    DIFF_DEPTH_STREAMS,
    MAX_STREAMS_PER_CONNECTION,
    ControlRateLimiter,
    Method,
    check_kline_interval,
    control_messages,
    normalize_symbol,
    stream_names,
)
from workspace.reconnect import ReconnectPolicy, Verdict, classify

__all__ = [
    "BinanceFeed",
    "FeedConfig",
    "FeedError",
    "FeedFatalError",
    "FeedState",
    "FeedStats",
    "FeedStatus",
    "Gap",
    "RestError",
    "SubscriptionError",
    "SymbolInfo",
    "TooManyStreamsError",
    "UnknownSymbolError",
    "add_feed_arguments",
]

log = logging.getLogger(__name__)

_INVALID_SYMBOL: Final = -1121  # Binance's error code for an unknown symbol

_LOGGED_BAD_FRAMES: Final = 10
"""Log the first bad frames (and consumer errors) in full; after that only every 1000th:
a garbage flood, or a consumer failing on every record, must not become a log flood."""


class _ConnectionLost(FeedError):
    """A control request's connection ended before its reply came."""


RecordCallback = Callable[[FeedRecord], object]
"""``on_record``: every record, the book and kline records included."""
TickCallback = Callable[[MarketRecord], object]
"""A callback that takes only tickers and trades: enough while no book or kline stream
is subscribed (it gets nothing else then)."""
StatusCallback = Callable[[FeedStatus], object]
GapCallback = Callable[[Gap], object]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StaleConnection):
        return exc.reason
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code} at handshake"
    if isinstance(exc, ConnectionClosed):
        return f"connection closed ({exc})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ignore(_: FeedRecord) -> None:
    return None


_TIMED: Final = frozenset({Ticker, MiniTicker, Trade, Kline, DepthUpdate})
"""Records whose event time marks the end of an outage (a kline's is never None on a
stream; BookTicker and PartialDepth carry none)."""

_NOMINAL_INTERVAL_S: Final[dict[object, float]] = {Ticker: 1.0, MiniTicker: 1.0, PartialDepth: 1.0}
"""Streams Binance pushes on a fixed beat (the others come as the market moves); the
stall detector starts from these and then learns each stream's own pace."""

_RECORD_OF_KIND: Final[dict[str, type]] = {
    "ticker": Ticker, "miniTicker": MiniTicker, "bookTicker": BookTicker, "aggTrade": Trade,
    "trade": Trade, "depth": DepthUpdate, "depth@100ms": DepthUpdate,
}  # fmt: skip


def _record_type(stream_kind: str) -> type:
    if stream_kind in _RECORD_OF_KIND:
        return _RECORD_OF_KIND[stream_kind]
    if stream_kind.startswith("ticker_"):
        return Ticker
    if stream_kind.startswith("kline_"):
        return Kline
    return PartialDepth  # depth5, depth10@100ms ...


def _drop(_: bytes) -> None:
    """The handler of a connection being retired: what it still delivers is moot."""


def _position(record: FeedRecord) -> tuple[tuple[object, ...], int]:
    """A record's stream and its place in it, to skip what two connections both deliver:
    trade ids, book ticker and partial depth update ids, event times otherwise."""
    if isinstance(record, Trade):
        return (Trade, record.symbol, record.event_type), record.id
    if isinstance(record, BookTicker):
        return (BookTicker, record.symbol), record.update_id
    if isinstance(record, PartialDepth):
        return (PartialDepth, record.symbol), record.last_update_id
    if isinstance(record, Ticker):
        return (Ticker, record.symbol, record.event_type), record.event_time
    if isinstance(record, Kline):
        return (Kline, record.symbol, record.interval), record.event_time or 0
    if isinstance(record, MiniTicker):
        return (MiniTicker, record.symbol), record.event_time
    return (type(record), record.symbol), 0


class _Handover:
    """How far each connection of a make-before-break handover has got."""

    def __init__(self) -> None:
        self.old_last_ms: int | None = None
        self.new_last_ms: int | None = None
        self.caught_up = asyncio.Event()

    def handler(
        self, on_message: Callable[[bytes], None], *, old: bool, feed: BinanceFeed
    ) -> Callable[[bytes], None]:
        def handle(data: bytes) -> None:
            feed._frame_event_ms = None
            on_message(data)
            event_ms = feed._frame_event_ms
            if event_ms is None:
                return
            if old:
                self.old_last_ms = max(self.old_last_ms or 0, event_ms)
            else:
                self.new_last_ms = max(self.new_last_ms or 0, event_ms)
            if (
                self.new_last_ms is not None
                and self.old_last_ms is not None
                and self.new_last_ms >= self.old_last_ms
            ):
                self.caught_up.set()

        return handle


class BinanceFeed:
    """A self-healing client of Binance's combined stream (or anything speaking it).

    ``on_record`` is called synchronously on the event loop for every record, so it
    must be quick; an exception from it is logged and counted, never stops the feed.
    ``clock`` (monotonic seconds), ``wall_ms`` and ``policy`` (with its random source)
    are injectable so tests can drive time and jitter.
    """

    def __init__(
        self,
        config: FeedConfig | None = None,
        on_record: RecordCallback | TickCallback = _ignore,
        on_status: StatusCallback | None = None,
        *,
        on_gap: GapCallback | None = None,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
        exchange_info: ExchangeInfoCache | None = None,
    ) -> None:
        self.config = config if config is not None else FeedConfig.from_env()
        # A TickCallback is only ever called with what it takes: book and kline records
        # come only for the streams its owner subscribes (subscribe_book, kline kinds).
        self._on_record = cast(RecordCallback, on_record)
        self._on_status = on_status
        self._on_gap = on_gap
        self._policy = policy if policy is not None else ReconnectPolicy(rng=random.Random())
        self._clock = clock
        self._wall_ms = wall_ms
        self._exchange_info = exchange_info
        self._limiter = ControlRateLimiter(self.config.control_messages_per_s)

        self._symbols: dict[str, None] = {}  # wanted symbols, in subscription order
        self._book_symbols: dict[str, None] = {}  # symbols with a book asked for
        self._kline_intervals: dict[str, dict[str, None]] = {}  # symbol -> intervals
        diff_kinds = [k for k in self.config.streams if k in DIFF_DEPTH_STREAMS]
        self._diff_kind = diff_kinds[0] if diff_kinds else self.config.book_stream
        self._live_streams: set[str] = set()  # subscribed on the current connection
        self._ws: FeedConnection | None = None
        self._pending: dict[int, asyncio.Future[ControlReply]] = {}
        self._next_id = 1
        self._control_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stopping = False

        self._state = FeedState.DOWN
        self._error: BaseException | None = None
        self._last_error: BaseException | None = None
        self._stats = FeedStats()
        self._gaps: list[Gap] = []
        self._open_gap: tuple[int | None, str] | None = None
        self._last_event_ms: int | None = None
        self._quiet_since = 0.0
        self._limits = SanityLimits(
            max_future_skew_ms=_ms(self.config.max_future_skew_s),
            max_event_age_ms=_ms(self.config.max_event_age_s),
        )
        self._counts: dict[tuple[type, str], int] = {}
        self._cadence: CadenceWatch[tuple[type, str]] | None = (
            CadenceWatch(
                stall_after_s=self.config.stall_after_s,
                factor=self.config.stall_factor,
                nominal_interval_s=_NOMINAL_INTERVAL_S,
            )
            if self.config.stall_after_s is not None
            else None
        )
        self._silent: frozenset[str] = frozenset()
        self._conn: FeedConnection | None = None  # the connection being served
        self._frame_event_ms: int | None = None  # of the last record taken (handovers)
        self._handover_reason: str | None = None
        self._handover_wanted = asyncio.Event()
        self._dedup: dict[tuple[object, ...], int] | None = None  # during a handover
        self._rest: RestClient | None = None
        self._books = LocalBooks(
            fetch_snapshot=self._snapshot_for_book,
            deliver=self._deliver,
            record_gap=self._add_gap,
            stats=self._stats,
            on_bad=self._bad_record,
            buffer_limit=self.config.book_buffer_limit,
            retry_s=self.config.book_snapshot_retry_s,
        )

    # ----------------------------------------------------------------- public API

    @property
    def state(self) -> FeedState:
        return self._state

    @property
    def subscribed(self) -> frozenset[str]:
        """The symbols the feed keeps subscribed (upper case), across reconnects."""
        return frozenset(self._symbols)

    @property
    def streams(self) -> frozenset[str]:
        """The stream names confirmed on the current connection."""
        return frozenset(self._live_streams)

    @property
    def silent_streams(self) -> frozenset[str]:
        """Streams quiet for longer than their pace allows (``"BTCUSDT Ticker"``), as of
        the last watchdog look; the feed is ``stalled`` when every stream it can judge is."""
        return self._silent

    @property
    def gaps(self) -> list[Gap]:
        """Completed outages, oldest first (a copy)."""
        return list(self._gaps)

    @property
    def stats(self) -> FeedStats:
        return self._stats

    @property
    def error(self) -> BaseException | None:
        """The fatal error that brought the feed down, if any."""
        return self._error

    @property
    def last_error(self) -> BaseException | None:
        """The most recent retryable connect failure (why it is reconnecting)."""
        return self._last_error

    async def start(self) -> None:
        """Connect; return once connected.  Raises :class:`FeedFatalError` if the
        connection fails fatally, or does not come up within ``start_timeout_s``."""
        if self._task is not None and not self._task.done():
            raise FeedError("feed already started")
        mismatch = rest_left_at_binance(self.config)
        if mismatch is not None:
            log.warning("%s", mismatch)
        self._stopping = False
        self._error = None
        self._connected.clear()
        task = self._task = asyncio.create_task(self._supervise(), name="binance-feed")
        waiter = asyncio.create_task(self._connected.wait(), name="binance-feed-start")
        try:
            done, _ = await asyncio.wait(
                {task, waiter},
                timeout=self.config.start_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        if self._connected.is_set():
            return
        if task in done:
            if task.cancelled():
                raise FeedError("feed stopped while starting")
            task.result()  # a bug in the supervisor surfaces here
            raise FeedFatalError(
                f"cannot connect to {self.config.combined_stream_url}: "
                f"{_describe(self._error) if self._error else 'stopped'}"
            ) from self._error
        last = self._last_error
        await self.stop()
        raise FeedFatalError(
            f"no connection to {self.config.combined_stream_url} within "
            f"{self.config.start_timeout_s} s"
            + (f" (last error: {_describe(last)})" if last else "")
        ) from last

    async def stop(self) -> None:
        """Close the connection and end the supervisor; leaves no task behind."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # Cancel until it is done: on Python 3.11 an asyncio.wait_for whose inner
            # future completes at the moment of the cancellation swallows it (CPython
            # gh-86296), and the supervisor would carry on.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not warn
        await self._books.close()
        self._books.reset_all()
        if self._open_gap is not None:
            before, reason = self._open_gap
            self._add_gap(Gap(before, None, reason))
            self._open_gap = None
        if self._state is not FeedState.DOWN:
            self._set_state(FeedState.DOWN, "stopped")

    async def exchange_symbols(self) -> Mapping[str, SymbolInfo]:
        """The exchange's listed symbols (cached ``/api/v3/exchangeInfo``)."""
        if self._exchange_info is None:
            self._exchange_info = ExchangeInfoCache(
                self.config.rest_url,
                ttl_s=self.config.exchange_info_ttl_s,
                timeout_s=self.config.rest_timeout_s,
            )
        return await self._exchange_info.symbols()

    async def subscribe(self, *symbols: str) -> None:
        """Subscribe the configured streams of each symbol.

        Validates every symbol first: a malformed or unlisted one raises
        :class:`UnknownSymbolError` / :class:`MalformedSymbolError` (both
        ``InvalidSymbol``) and nothing is subscribed.  Returns when the server
        confirmed; while reconnecting, returns at once and the next connection
        subscribes them.  Symbols already subscribed are left as they are.
        """
        wanted = [normalize_symbol(s) for s in symbols]
        if self.config.validate_symbols and wanted:
            await self._check_listed(wanted)
        new = [s for s in dict.fromkeys(wanted) if s not in self._symbols]
        if not new:
            return

        def add() -> None:
            for symbol in new:
                self._symbols[symbol] = None

        def undo() -> None:
            for symbol in new:
                self._symbols.pop(symbol, None)

        await self._change_streams(new, add, undo)

    async def unsubscribe(self, *symbols: str) -> None:
        """Stop the streams of each symbol; symbols not subscribed are ignored."""
        gone = [
            s for s in dict.fromkeys(normalize_symbol(s) for s in symbols) if s in self._symbols
        ]
        if not gone:
            return

        def remove() -> None:
            for symbol in gone:
                del self._symbols[symbol]

        await self._change_streams(gone, remove)

    # ------------------------------------------------------------ books and klines

    @property
    def books(self) -> frozenset[str]:
        """Symbols whose local order book the feed keeps (``subscribe_book`` or a diff
        depth kind in ``config.streams``)."""
        return self._books.symbols

    def book(self, symbol: str) -> OrderBook | None:
        """The synchronised local book of ``symbol``; ``None`` if its book is not kept
        or is being (re)built from a snapshot.

        The object is updated in place as events arrive; ``on_record`` sees each
        :class:`DepthUpdate` right after it was applied.  Use :meth:`OrderBook.copy`
        to keep a view that does not change.
        """
        book = self._books.book(symbol)  # the fast path: already an exchange name
        if book is None and not symbol.isupper():
            book = self._books.book(normalize_symbol(symbol))
        return book

    async def wait_for_book(self, symbol: str, timeout_s: float | None = 10.0) -> OrderBook:
        """Wait until the book of ``symbol`` is synchronised; raises ``TimeoutError``,
        or :class:`FeedError` if its book is not kept."""
        name = normalize_symbol(symbol)
        if name not in self._books.symbols:
            raise FeedError(f"no order book is kept for {name}: call subscribe_book first")
        return await asyncio.wait_for(self._books.wait_synced(name), timeout_s)

    async def subscribe_book(self, *symbols: str) -> None:
        """Keep a local order book for each symbol: subscribe its diff depth stream
        (``config.book_stream``, ``depth@100ms`` by default) and synchronise it with a
        REST snapshot.  Validated like :meth:`subscribe`; returns once the stream is
        subscribed (the book follows: :meth:`wait_for_book`)."""
        wanted = [normalize_symbol(s) for s in symbols]
        if self.config.validate_symbols and wanted:
            await self._check_listed(wanted)
        new = [s for s in dict.fromkeys(wanted) if s not in self._book_symbols]
        if not new:
            return

        def add() -> None:
            for symbol in new:
                self._book_symbols[symbol] = None

        def undo() -> None:
            for symbol in new:
                self._book_symbols.pop(symbol, None)

        await self._change_streams(new, add, undo)

    async def unsubscribe_book(self, *symbols: str) -> None:
        """Stop keeping the books of these symbols (others are ignored)."""
        gone = [
            s
            for s in dict.fromkeys(normalize_symbol(s) for s in symbols)
            if s in self._book_symbols
        ]
        if not gone:
            return

        def remove() -> None:
            for symbol in gone:
                del self._book_symbols[symbol]

        await self._change_streams(gone, remove)

    async def subscribe_klines(self, symbol: str, *intervals: str) -> None:
        """Subscribe ``<symbol>@kline_<interval>`` for each interval (``"1m"``, ``"1h"``
        ...; all of Binance's); the feed delivers them as :class:`Kline` records."""
        name = normalize_symbol(symbol)
        chosen = [check_kline_interval(i) for i in intervals]
        if self.config.validate_symbols:
            await self._check_listed([name])
        current = self._kline_intervals.get(name, {})
        new = [i for i in dict.fromkeys(chosen) if i not in current]
        if not new:
            return

        def add() -> None:
            bucket = self._kline_intervals.setdefault(name, {})
            for interval in new:
                bucket[interval] = None

        def undo() -> None:
            bucket = self._kline_intervals.get(name, {})
            for interval in new:
                bucket.pop(interval, None)
            if not bucket:
                self._kline_intervals.pop(name, None)

        await self._change_streams([name], add, undo)

    async def unsubscribe_klines(self, symbol: str, *intervals: str) -> None:
        """Stop these kline streams of ``symbol`` (all of them if no interval is named)."""
        name = normalize_symbol(symbol)
        current = self._kline_intervals.get(name)
        if not current:
            return
        gone = [i for i in (intervals or tuple(current)) if i in current]
        if not gone:
            return

        def remove() -> None:
            for interval in gone:
                current.pop(interval, None)
            if not current:
                self._kline_intervals.pop(name, None)

        await self._change_streams([name], remove)

    def _rest_client(self) -> RestClient:
        if self._rest is None:
            self._rest = RestClient(self.config.rest_url, timeout_s=self.config.rest_timeout_s)
        return self._rest

    async def depth_snapshot(self, symbol: str, limit: int | None = None) -> DepthSnapshot:
        """``GET /api/v3/depth``: the book of ``symbol`` (``limit`` levels a side, by
        default ``config.book_snapshot_limit``).  Raises :class:`RestError`
        (:class:`UnknownSymbolError` for a symbol the exchange does not know)."""
        name = normalize_symbol(symbol)
        levels = self.config.book_snapshot_limit if limit is None else limit
        if not isinstance(levels, int) or not 1 <= levels <= 5000:
            raise InvalidParams(f"depth limit must be an integer from 1 to 5000, got {limit!r}")
        body = await self._rest_get(DEPTH_PATH, {"symbol": name, "limit": levels})
        try:
            snapshot = parse_depth_snapshot(name, body, self._wall_ms())
        except FrameError as exc:
            raise RestError(str(exc)) from exc
        self._refuse_bad([snapshot], "depth snapshot")
        return snapshot

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Kline]:
        """``GET /api/v3/klines``: up to ``limit`` (1-1000) candles, oldest first; the
        most recent ones unless ``start_ms`` / ``end_ms`` (UTC milliseconds, inclusive
        open times) say otherwise.  The last one may still be forming
        (``closed=False``).  Raises :class:`InvalidParams`, :class:`RestError`
        (:class:`UnknownSymbolError` for a symbol the exchange does not know)."""
        name = normalize_symbol(symbol)
        check_kline_interval(interval)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_KLINES:
            raise InvalidParams(f"klines limit must be an integer from 1 to {MAX_KLINES}")
        for value in (start_ms, end_ms):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InvalidParams("start_ms and end_ms must be non-negative integers (ms)")
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise InvalidParams("start_ms must not be after end_ms")
        params = {
            "symbol": name,
            "interval": interval,
            "limit": limit,
            "startTime": start_ms,
            "endTime": end_ms,
        }
        body = await self._rest_get(KLINES_PATH, params)
        try:
            klines = parse_klines(name, interval, body, self._wall_ms())
        except FrameError as exc:
            raise RestError(str(exc)) from exc
        self._refuse_bad(klines, "klines")
        return klines

    def _refuse_bad(self, records: Sequence[FeedRecord], what: str) -> None:
        """A REST answer with a record too wrong to use is refused whole (a history
        with a hole in it would look complete)."""
        now_ms = self._wall_ms()
        for record in records:
            wrong = problem(record, now_ms, self._limits)
            if wrong is not None:
                self._bad_record(wrong, record)
                raise RestError(f"bad {what} for {record.symbol} from the exchange: {wrong}")

    async def _rest_get(self, path: str, params: Mapping[str, object]) -> bytes:
        try:
            return await self._rest_client().get(path, params)
        except RestError as exc:
            if exc.error_code == _INVALID_SYMBOL:
                raise UnknownSymbolError(f"unknown symbol {params.get('symbol')}: {exc}") from exc
            raise

    async def _snapshot_for_book(self, symbol: str) -> DepthSnapshot:
        body = await self._rest_get(
            DEPTH_PATH, {"symbol": symbol, "limit": self.config.book_snapshot_limit}
        )
        snapshot = parse_depth_snapshot(symbol, body, self._wall_ms())
        self._refuse_bad([snapshot], "depth snapshot")
        return snapshot

    # ------------------------------------------------------------ stream bookkeeping

    def _kinds_for(self, symbol: str) -> list[str]:
        kinds = list(self.config.streams) if symbol in self._symbols else []
        if symbol in self._book_symbols and self._diff_kind not in kinds:
            kinds.append(self._diff_kind)
        for interval in self._kline_intervals.get(symbol, ()):
            kind = f"kline_{interval}"
            if kind not in kinds:
                kinds.append(kind)
        return kinds

    def _wanted_streams(self, symbols: Iterable[str] | None = None) -> list[str]:
        if symbols is None:
            symbols = {**self._symbols, **self._book_symbols, **self._kline_intervals}
        return [n for s in symbols for n in stream_names(s, self._kinds_for(s))]

    def _sync_books(self) -> None:
        """Keep a book for exactly the symbols whose diff depth stream is wanted."""
        wanted = {s for s in self._wanted_symbols() if self._diff_kind in self._kinds_for(s)}
        for symbol in self._books.symbols - wanted:
            self._books.drop(symbol)
        for symbol in wanted:
            self._books.want(symbol)

    def _wanted_symbols(self) -> dict[str, None]:
        return {**self._symbols, **self._book_symbols, **dict.fromkeys(self._kline_intervals)}

    async def _change_streams(
        self,
        symbols: list[str],
        change: Callable[[], None],
        undo: Callable[[], None] | None = None,
    ) -> None:
        """Apply ``change`` to the wanted sets, then (UN)SUBSCRIBE the streams of
        ``symbols`` that it added or removed.  A refused SUBSCRIBE is undone."""
        before = self._wanted_streams(symbols)
        change()
        after = self._wanted_streams(symbols)
        added = [n for n in after if n not in before]
        removed = [n for n in before if n not in after]
        if added:
            total = len(self._wanted_streams())
            if total > MAX_STREAMS_PER_CONNECTION:
                if undo is not None:
                    undo()
                raise TooManyStreamsError(
                    f"{total} streams would exceed Binance's {MAX_STREAMS_PER_CONNECTION} "
                    "per connection; nothing subscribed"
                )
        self._sync_books()
        self._forget_paces()
        if removed:
            await self._send_control("UNSUBSCRIBE", removed)
        if added:
            try:
                await self._send_control("SUBSCRIBE", added)
            except SubscriptionError:
                if undo is not None:
                    undo()
                    self._sync_books()
                raise

    # ------------------------------------------------------------ subscriptions

    async def _check_listed(self, symbols: Iterable[str]) -> None:
        listing = await self.exchange_symbols()
        unknown = [s for s in symbols if s not in listing]
        if unknown:
            raise UnknownSymbolError(
                f"unknown symbol(s) {', '.join(unknown)}: not listed by the exchange; "
                "nothing subscribed"
            )
        halted = [s for s in symbols if not listing[s].trading]
        if halted:
            detail = ", ".join(f"{s} ({listing[s].status})" for s in halted)
            raise UnknownSymbolError(f"symbol(s) not trading: {detail}; nothing subscribed")

    async def _send_control(self, method: Method, streams: list[str]) -> None:
        """Send ``method`` for the streams not already in that state on this connection.

        Runs under the control lock, against the current connection's live set, so a
        subscribe racing with a reconnect's resubscription is neither lost nor doubled.
        """
        async with self._control_lock:
            ws = self._ws
            if ws is None:
                return  # the next connection subscribes self._symbols
            if method == "SUBSCRIBE":
                todo = [s for s in streams if s not in self._live_streams]
            else:
                todo = [s for s in streams if s in self._live_streams]
            if not todo:
                return
            try:
                await self._request(ws, method, todo)
            except _ConnectionLost:
                return  # the reconnect will (re)apply self._symbols
            if self._ws is not ws:
                return  # that connection is gone; its successor starts from scratch
            if method == "SUBSCRIBE":
                self._live_streams.update(todo)
                self._quiet_since = self._clock()
            else:
                self._live_streams.difference_update(todo)

    async def _request(
        self,
        ws: FeedConnection,
        method: Method,
        streams: list[str],
        limiter: ControlRateLimiter | None = None,
    ) -> None:
        """Send batched control messages at Binance's pace and wait for every reply."""
        limiter = self._limiter if limiter is None else limiter
        loop = asyncio.get_running_loop()
        futures: list[tuple[int, asyncio.Future[ControlReply]]] = []
        messages = list(
            control_messages(method, streams, self._next_id, self.config.max_params_per_request)
        )
        self._next_id += len(messages)
        try:
            for request_id, payload in messages:
                delay = limiter.delay(loop.time())
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing, required by the server's limit
                future: asyncio.Future[ControlReply] = loop.create_future()
                self._pending[request_id] = future
                futures.append((request_id, future))
                try:
                    await ws.send(payload.decode())
                except ConnectionClosed as exc:
                    raise _ConnectionLost(str(exc)) from exc
                limiter.record(loop.time())
            for request_id, future in futures:
                try:
                    reply = await asyncio.wait_for(future, self.config.reply_timeout_s)
                except TimeoutError:
                    raise SubscriptionError(
                        f"no reply to {method} id {request_id} within "
                        f"{self.config.reply_timeout_s} s"
                    ) from None
                if not reply.ok:
                    raise SubscriptionError(
                        f"{method} id {request_id} refused: {reply.error_msg} "
                        f"(code {reply.error_code})",
                        reply.error_code,
                    )
        finally:
            for request_id, _ in futures:
                self._pending.pop(request_id, None)

    def _on_reply(self, reply: ControlReply) -> None:
        future = self._pending.get(reply.id) if isinstance(reply.id, int) else None
        if future is None:
            log.warning("control reply matches no pending request: %r", reply)
        elif not future.done():
            future.set_result(reply)

    # -------------------------------------------------------------- supervision

    def _set_state(self, state: FeedState, reason: str, *, always: bool = False) -> None:
        if state is self._state and not always:
            return
        self._state = state
        if state is FeedState.CONNECTED:
            self._connected.set()
        if self._on_status is not None:
            try:
                self._on_status(FeedStatus(state, reason, self._wall_ms()))
            except Exception:
                log.exception("on_status callback failed")

    def _go_down(self, exc: BaseException) -> None:
        self._error = exc
        log.error("feed down, not retrying: %s", _describe(exc), exc_info=exc)
        # Reported even when the feed was already "down" (a fatal first connect).
        self._set_state(FeedState.DOWN, f"fatal: {_describe(exc)}", always=True)

    async def _supervise(self) -> None:
        backoff = self._policy.backoff()
        attempts = 0
        while not self._stopping:
            try:
                ws = await self._open()
            except Exception as exc:
                if classify(exc) is Verdict.FATAL:
                    self._go_down(exc)
                    return
                self._last_error = exc
                attempts += 1
                log.info("connect to %s failed: %s", self.config.combined_stream_url, exc)
                # Reported on every failed attempt, not only on the state change: the
                # reason (HTTP 503, refused ...) and the attempt count are what a user
                # watching a reconnecting feed wants to see.
                self._set_state(
                    FeedState.RECONNECTING,
                    f"connect failed (attempt {attempts}): {_describe(exc)}",
                    always=True,
                )
                await asyncio.sleep(backoff.failed())
                continue
            attempts = 0
            backoff.connected(self._clock())
            planned = False
            try:
                await self._serve(ws)
            except Exception as exc:
                if classify(exc) is Verdict.FATAL:
                    self._go_down(exc)  # logged with its traceback; kept in self.error
                    return
                reason = _describe(exc)
                planned = isinstance(exc, StaleConnection) and exc.planned
            finally:
                current, self._conn = self._conn or ws, None
                await self._forget_connection(current)
            if self._stopping:
                return
            self._stats.reconnects += 1
            if self._open_gap is None:
                self._open_gap = (self._last_event_ms, reason)
            log.warning("feed connection lost (%s); reconnecting", reason)
            self._set_state(FeedState.RECONNECTING, reason)
            now = self._clock()
            delay = backoff.planned(now) if planned else backoff.lost(now)
            if delay > 0:
                await asyncio.sleep(delay)

    async def _open(self) -> FeedConnection:
        if self.config.transport == "picows":
            return await open_picows(
                self.config.combined_stream_url,
                open_timeout=self.config.open_timeout_s,
                max_size=self.config.max_frame_bytes,
            )
        connection = await connect(
            self.config.combined_stream_url,
            open_timeout=self.config.open_timeout_s,
            # Binance pings us every 20 s and the library pongs on its own; our own pings
            # would spend the 5 msg/s budget.  The watchdog covers a dead connection.
            ping_interval=None,
            close_timeout=1.0,
            compression=None,
            max_size=self.config.max_frame_bytes,
            create_connection=DirectConnection,
        )
        return cast(DirectConnection, connection)  # create_connection above

    async def _forget_connection(self, ws: FeedConnection) -> None:
        # No lock needed: these are plain assignments on the loop's one thread.  Failing
        # the pending replies first releases a control request holding the lock.
        self._ws = None
        self._live_streams = set()
        self._books.reset_all()  # events were missed: every book starts over
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_ConnectionLost("connection closed"))
        self._pending.clear()
        if ws.failure.done():
            ws.failure.exception()  # already acted on; mark it retrieved
        else:
            ws.failure.cancel()
        with contextlib.suppress(Exception):
            await ws.close()

    async def _serve(self, ws: FeedConnection) -> None:
        """Run the connection until it ends; always ends by raising.

        A planned replacement (``serverShutdown``, the maximum age) is made before the
        old connection is broken (:meth:`_hand_over`), so this goes on with the new one.
        """
        self._limiter.reset()
        self._live_streams = set()
        self._ws = self._conn = ws
        self._handover_reason = None
        reader = asyncio.create_task(self._until_ended(ws), name="binance-feed-connection")
        ws.attach(self._on_message)
        streams = self._wanted_streams()
        subscribe = asyncio.create_task(
            self._send_control("SUBSCRIBE", streams), name="binance-feed-resubscribe"
        )
        tasks = [subscribe, reader]
        try:
            done, _ = await asyncio.wait({reader, subscribe}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()
                raise ConnectionError("reader ended")
            # said once and kept while connected: the stream count changes with each
            # (un)subscribe, so only the connect-time count is worded as past
            reason = f"connected to {self.config.combined_stream_url}" + (
                f", {len(streams)} streams resubscribed" if streams else ""
            )
            try:
                subscribe.result()
            except SubscriptionError as exc:
                if exc.error_code is None:
                    # No reply at all: this connection is not working; try a fresh one.
                    raise StaleConnection(f"resubscribe failed: {exc}") from exc
                # A refusal would repeat on every connection; reconnecting would loop.
                # Stay connected with what the server accepted, and say so.
                log.error("resubscription refused: %s", exc)
                reason = f"resubscribe refused: {exc}"
            self._quiet_since = self._clock()
            connected_at = self._clock()
            if self._cadence is not None:
                self._cadence.restart(connected_at)
            self._set_state(FeedState.CONNECTED, reason)
            while True:
                planned = await self._watch(reader, connected_at)
                ws, reader = await self._hand_over(ws, reader, planned)
                tasks.append(reader)
                connected_at = self._clock()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def _plan_handover(self, reason: str) -> None:
        """Ask the watchdog to replace the connection, make-before-break."""
        if self._handover_reason is None:
            self._handover_reason = reason
            self._handover_wanted.set()

    async def _watch(self, reader: asyncio.Task[None], connected_at: float) -> str:
        """Watch the connection; return the reason of a planned replacement, or raise
        why the connection ended (or went silent)."""
        config = self.config
        wanted = self._handover_wanted
        while True:
            if self._handover_reason is not None:
                return self._handover_reason
            waiter = asyncio.ensure_future(wanted.wait())
            try:
                done, _ = await asyncio.wait(
                    {reader, waiter},
                    timeout=config.watchdog_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
            if reader in done:
                reader.result()
                raise ConnectionError("reader ended")
            now = self._clock()
            if now - connected_at >= config.max_connection_age_s:
                self._plan_handover("max-age")
                continue
            self._look_for_stall(now)
            if self._live_streams:
                last = self._stats.last_message_monotonic
                quiet_since = self._quiet_since if last is None else max(last, self._quiet_since)
                if now - quiet_since >= config.silence_timeout_s:
                    raise StaleConnection("stalled")

    async def _hand_over(
        self, old: FeedConnection, old_reader: asyncio.Task[None], reason: str
    ) -> tuple[FeedConnection, asyncio.Task[None]]:
        """Make-before-break: open and subscribe a new connection while the old one keeps
        delivering, skip what both deliver, then close the old one.

        If the new connection cannot be made, raise ``StaleConnection(reason)``: the
        supervisor then reconnects the ordinary way (with no delay: it was planned).
        """
        log.info("replacing the feed connection (%s), make-before-break", reason)
        progress = _Handover()
        self._dedup = {}
        self._books.handing_over = True
        old.attach(progress.handler(self._on_message, old=True, feed=self))
        new: FeedConnection | None = None
        new_reader: asyncio.Task[None] | None = None
        try:
            try:
                new = await self._open()
            except Exception as exc:
                raise StaleConnection(reason) from exc
            new_reader = asyncio.create_task(self._until_ended(new), name="binance-feed-connection")
            new.attach(progress.handler(self._on_message, old=False, feed=self))
            async with self._control_lock:
                streams = self._wanted_streams()
                limiter = ControlRateLimiter(self.config.control_messages_per_s)
                try:
                    await self._request(new, "SUBSCRIBE", streams, limiter)
                except (SubscriptionError, _ConnectionLost) as exc:
                    raise StaleConnection(reason) from exc
                self._ws = self._conn = new
                self._live_streams = set(streams)
                self._limiter = limiter
            # Both deliver now; the old one goes once the new one has caught up with it
            # (or has died, or after a grace period).
            waiter = asyncio.ensure_future(progress.caught_up.wait())
            try:
                await asyncio.wait(
                    {waiter, old_reader, new_reader},
                    timeout=self.config.handover_grace_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
            if new_reader.done():
                new_reader.result()
                raise ConnectionError("new connection ended during the handover")
            if old_reader.done() and not progress.caught_up.is_set() and self._open_gap is None:
                # The old connection ended before the new one caught up: events between
                # its last and the new one's first were missed.
                self._open_gap = (progress.old_last_ms, reason)
            new.attach(self._on_message)
            self._stats.handovers += 1
            return new, new_reader
        except BaseException:
            if new_reader is not None:
                new_reader.cancel()
            if new is not None and self._conn is not new:
                with contextlib.suppress(Exception):
                    await new.close()
            raise
        finally:
            self._dedup = None
            self._books.handing_over = False
            self._handover_reason = None
            self._handover_wanted.clear()
            if self._conn is not old:
                old.attach(_drop)
                if old_reader.done() and not old_reader.cancelled():
                    old_reader.exception()  # it ended on its own: retrieved, not raised
                old_reader.cancel()
                if old.failure.done():
                    old.failure.exception()
                else:
                    old.failure.cancel()
                with contextlib.suppress(Exception):
                    await old.close()

    async def _until_ended(self, ws: FeedConnection) -> None:
        """Return never; raise why the connection ended (closed, or the handler's error)."""
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            await asyncio.wait({closed, ws.failure}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if ws.failure.done():
            ws.failure.result()  # StaleConnection("serverShutdown"), or a bug: raise it
        raise ws.close_exc

    def _on_message(self, data: bytes) -> None:
        """The hot path, called from the socket's ``data_received``: frame in, records out."""
        stats = self._stats
        stats.messages += 1
        stats.last_message_monotonic = self._clock()
        try:
            item = decode_feed_frame(data)
        except BadRecordError as exc:
            self._bad_record(str(exc), data)
            return
        except FrameError as exc:
            self._bad_frame(data, exc)
            return
        kind = type(item)
        if kind in RECORD_TYPES:
            self._take(item, kind)  # type: ignore[arg-type]
        elif kind is tuple:
            for record in item:  # type: ignore[union-attr]
                self._take(record, type(record))
        elif kind is ControlReply:
            self._on_reply(item)  # type: ignore[arg-type]
        elif kind is ServerShutdown:
            self._plan_handover("serverShutdown")
        else:
            stats.skipped += 1

    def _take(self, record: FeedRecord, kind: type) -> None:
        """One decoded record: checked, counted for its stream's pace, then handed on
        (a diff depth event through its book).  The feed's hottest path after decoding:
        written out flat, each attribute read once."""
        try:
            wrong = CHECKS[kind](record, self._wall_ms(), self._limits)  # sanity.problem
        except ArithmeticError as exc:
            wrong = not_a_number(exc)
        if wrong is not None:
            self._bad_record(wrong, record)
            return
        event_ms: int | None = None
        if kind in _TIMED:
            event_ms = self._frame_event_ms = record.event_time  # type: ignore[union-attr]
        key = (kind, record.symbol)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        if self._dedup is not None and kind is not DepthUpdate and self._repeated(record):
            return  # both connections of a handover delivered it
        if self._state is FeedState.STALLED:
            self._set_state(FeedState.CONNECTED, "data again")
        if event_ms is not None:
            self._last_event_ms = event_ms
            if self._open_gap is not None:
                self._close_gap(event_ms)
        if kind is DepthUpdate:
            if not self._books.on_update(record):  # type: ignore[arg-type]
                self._stats.skipped += 1  # its book is no longer wanted
            return
        self._stats.records += 1
        try:
            self._on_record(record)
        except Exception:
            self._callback_failed()

    def _repeated(self, record: FeedRecord) -> bool:
        """During a handover: was this record (or a later one of its stream) delivered?"""
        dedup = self._dedup
        assert dedup is not None
        key, position = _position(record)
        last = dedup.get(key)
        if last is not None and position <= last:
            return True
        dedup[key] = position
        return False

    def _look_for_stall(self, now: float) -> None:
        cadence = self._cadence
        if cadence is None:
            return
        cadence.tick(now, self._counts)
        silent = cadence.silent(now)
        self._silent = frozenset(f"{symbol} {kind.__name__}" for kind, symbol in silent)
        if self._state is not FeedState.CONNECTED or not silent or not cadence.stalled(now):
            return
        last = self._stats.last_message_monotonic
        quiet_s = now - (last if last is not None else self._quiet_since)
        reason = f"no data for {quiet_s:.1f} s on {len(silent)} stream(s)"
        self._stats.stalls += 1
        if self._open_gap is None:
            self._open_gap = (self._last_event_ms, "stalled")
        log.warning("feed stalled: %s", reason)
        self._set_state(FeedState.STALLED, reason)

    def _forget_paces(self) -> None:
        """Stop judging the pace of streams no longer subscribed."""
        wanted = {
            (_record_type(kind), symbol)
            for symbol in self._wanted_symbols()
            for kind in self._kinds_for(symbol)
        }
        for key in [k for k in self._counts if k not in wanted]:
            del self._counts[key]
        if self._cadence is not None:
            self._cadence.forget(wanted)

    def _bad_record(self, reason: str, record: object) -> None:
        """Count (and, within reason, log) a record too wrong to hand on."""
        stats = self._stats
        stats.bad_records += 1
        stats.last_bad_record = reason
        count = stats.bad_records
        if count <= _LOGGED_BAD_FRAMES or count % 1000 == 0:
            log.warning("dropped bad record #%d (%s): %.200r", count, reason, record)

    def _deliver(self, record: FeedRecord) -> None:
        self._stats.records += 1
        try:
            self._on_record(record)
        except Exception:
            self._callback_failed()

    def _add_gap(self, gap: Gap) -> None:
        self._gaps.append(gap)
        if self._on_gap is not None:
            try:
                self._on_gap(gap)
            except Exception:
                log.exception("on_gap callback failed")

    def _close_gap(self, first_after_ms: int) -> None:
        if self._open_gap is None:
            return
        before, reason = self._open_gap
        self._open_gap = None
        self._add_gap(Gap(before, first_after_ms, reason))

    def _callback_failed(self) -> None:
        """Count (and, within reason, log) an exception raised by ``on_record``."""
        self._stats.callback_errors += 1
        count = self._stats.callback_errors
        if count <= _LOGGED_BAD_FRAMES or count % 1000 == 0:
            log.exception("on_record callback failed (#%d)", count)

    def _bad_frame(self, data: bytes | str, exc: FrameError) -> None:
        self._stats.parse_errors += 1
        count = self._stats.parse_errors
        if count <= _LOGGED_BAD_FRAMES or count % 1000 == 0:
            log.warning("skipped bad frame #%d (%s): %.200r", count, exc, data)
