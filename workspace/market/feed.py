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
import enum
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from workspace.market.config import FeedConfig, add_feed_arguments
from workspace.market.connection import DirectConnection, StaleConnection
from workspace.market.decode import (
    RECORD_TYPES,
    ControlReply,
    FrameError,
    ServerShutdown,
    decode_frame,
)
from workspace.market.errors import (
    FeedError,
    FeedFatalError,
    SubscriptionError,
    TooManyStreamsError,
    UnknownSymbolError,
)
from workspace.market.exchange_info import ExchangeInfoCache, SymbolInfo
from workspace.market.records import BookTicker, MarketRecord
from workspace.market.subscriptions import (
    MAX_STREAMS_PER_CONNECTION,
    ControlRateLimiter,
    Method,
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
    "SubscriptionError",
    "SymbolInfo",
    "TooManyStreamsError",
    "UnknownSymbolError",
    "add_feed_arguments",
]

log = logging.getLogger(__name__)

_LOGGED_BAD_FRAMES: Final = 10
"""Log the first bad frames (and consumer errors) in full; after that only every 1000th:
a garbage flood, or a consumer failing on every record, must not become a log flood."""


class FeedState(enum.StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One state change: ``on_status(FeedStatus("reconnecting", "stalled", 1700000000000))``."""

    state: FeedState
    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """One outage: the last exchange event time seen before it, the first one after.

    Either is ``None`` when unknown (no event before the first outage; the feed stopped
    before data came back).
    """

    last_event_ms_before: int | None
    first_event_ms_after: int | None
    reason: str


@dataclass(slots=True)
class FeedStats:
    """Live counters (the same object is updated in place)."""

    messages: int = 0
    """Frames received, of any kind."""
    records: int = 0
    """Records handed to ``on_record``."""
    parse_errors: int = 0
    """Frames that could not be decoded (logged, skipped)."""
    callback_errors: int = 0
    """Exceptions raised by ``on_record`` (logged, the feed carries on)."""
    skipped: int = 0
    """Frames recognised but not normalised (depth, kline ...)."""
    reconnects: int = 0
    last_message_monotonic: float | None = None


class _ConnectionLost(FeedError):
    """A control request's connection ended before its reply came."""


RecordCallback = Callable[[MarketRecord], object]
StatusCallback = Callable[[FeedStatus], object]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StaleConnection):
        return exc.reason
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code} at handshake"
    if isinstance(exc, ConnectionClosed):
        return f"connection closed ({exc})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ignore(_: MarketRecord) -> None:
    return None


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
        on_record: RecordCallback = _ignore,
        on_status: StatusCallback | None = None,
        *,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
        exchange_info: ExchangeInfoCache | None = None,
    ) -> None:
        self.config = config if config is not None else FeedConfig.from_env()
        self._on_record = on_record
        self._on_status = on_status
        self._policy = policy if policy is not None else ReconnectPolicy(rng=random.Random())
        self._clock = clock
        self._wall_ms = wall_ms
        self._exchange_info = exchange_info
        self._limiter = ControlRateLimiter(self.config.control_messages_per_s)

        self._symbols: dict[str, None] = {}  # wanted symbols, in subscription order
        self._live_streams: set[str] = set()  # subscribed on the current connection
        self._ws: DirectConnection | None = None
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
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif task is not None and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not warn
        if self._open_gap is not None:
            before, reason = self._open_gap
            self._gaps.append(Gap(before, None, reason))
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
        total = (len(self._symbols) + len(new)) * len(self.config.streams)
        if total > MAX_STREAMS_PER_CONNECTION:
            raise TooManyStreamsError(
                f"{total} streams would exceed Binance's {MAX_STREAMS_PER_CONNECTION} "
                "per connection; nothing subscribed"
            )
        for symbol in new:
            self._symbols[symbol] = None
        streams = [n for s in new for n in stream_names(s, self.config.streams)]
        try:
            await self._send_control("SUBSCRIBE", streams)
        except SubscriptionError:
            for symbol in new:
                self._symbols.pop(symbol, None)
            raise

    async def unsubscribe(self, *symbols: str) -> None:
        """Stop the streams of each symbol; symbols not subscribed are ignored."""
        gone = [
            s for s in dict.fromkeys(normalize_symbol(s) for s in symbols) if s in self._symbols
        ]
        if not gone:
            return
        for symbol in gone:
            del self._symbols[symbol]
        streams = [n for s in gone for n in stream_names(s, self.config.streams)]
        await self._send_control("UNSUBSCRIBE", streams)

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

    async def _request(self, ws: ClientConnection, method: Method, streams: list[str]) -> None:
        """Send batched control messages at Binance's pace and wait for every reply."""
        loop = asyncio.get_running_loop()
        futures: list[tuple[int, asyncio.Future[ControlReply]]] = []
        messages = list(
            control_messages(method, streams, self._next_id, self.config.max_params_per_request)
        )
        self._next_id += len(messages)
        try:
            for request_id, payload in messages:
                delay = self._limiter.delay(loop.time())
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing, required by the server's limit
                future: asyncio.Future[ControlReply] = loop.create_future()
                self._pending[request_id] = future
                futures.append((request_id, future))
                try:
                    await ws.send(payload.decode())
                except ConnectionClosed as exc:
                    raise _ConnectionLost(str(exc)) from exc
                self._limiter.record(loop.time())
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
                connection = await connect(
                    self.config.combined_stream_url,
                    open_timeout=self.config.open_timeout_s,
                    # Binance pings us every 20 s and the library pongs on its own; our
                    # own pings would spend the 5 msg/s budget.  The watchdog covers a
                    # dead connection instead.
                    ping_interval=None,
                    close_timeout=1.0,
                    compression=None,
                    max_size=self.config.max_frame_bytes,
                    create_connection=DirectConnection,
                )
                ws = cast(DirectConnection, connection)  # create_connection above
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
                await self._forget_connection(ws)
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

    async def _forget_connection(self, ws: DirectConnection) -> None:
        # No lock needed: these are plain assignments on the loop's one thread.  Failing
        # the pending replies first releases a control request holding the lock.
        self._ws = None
        self._live_streams = set()
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

    async def _serve(self, ws: DirectConnection) -> None:
        """Run one connection until it ends; always ends by raising."""
        self._limiter.reset()
        self._live_streams = set()
        self._ws = ws
        reader = asyncio.create_task(self._until_ended(ws), name="binance-feed-connection")
        ws.attach(self._on_message)
        streams = [n for s in self._symbols for n in stream_names(s, self.config.streams)]
        subscribe = asyncio.create_task(
            self._send_control("SUBSCRIBE", streams), name="binance-feed-resubscribe"
        )
        try:
            done, _ = await asyncio.wait({reader, subscribe}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()
                raise ConnectionError("reader ended")
            reason = f"{len(streams)} streams"
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
            self._set_state(FeedState.CONNECTED, reason)
            await self._watch(reader, connected_at)
        finally:
            for task in (subscribe, reader):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _watch(self, reader: asyncio.Task[None], connected_at: float) -> None:
        config = self.config
        while True:
            done, _ = await asyncio.wait({reader}, timeout=config.watchdog_interval_s)
            if done:
                reader.result()
                raise ConnectionError("reader ended")
            now = self._clock()
            if now - connected_at >= config.max_connection_age_s:
                raise StaleConnection("max-age")
            if self._live_streams:
                last = self._stats.last_message_monotonic
                quiet_since = self._quiet_since if last is None else max(last, self._quiet_since)
                if now - quiet_since >= config.silence_timeout_s:
                    raise StaleConnection("stalled")

    async def _until_ended(self, ws: DirectConnection) -> None:
        """Return never; raise why the connection ended (closed, or the handler's error)."""
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            await asyncio.wait({closed, ws.failure}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if ws.failure.done():
            ws.failure.result()  # StaleConnection("serverShutdown"), or a bug: raise it
        raise ws.protocol.close_exc

    def _on_message(self, data: bytes) -> None:
        """The hot path, called from the socket's ``data_received``: frame in, records out."""
        stats = self._stats
        stats.messages += 1
        stats.last_message_monotonic = self._clock()
        try:
            item = decode_frame(data)
        except FrameError as exc:
            self._bad_frame(data, exc)
            return
        kind = type(item)
        if kind in RECORD_TYPES:
            if kind is not BookTicker:  # the only record without an event time
                event_ms: int = item.event_time  # type: ignore[union-attr, assignment]
                self._last_event_ms = event_ms
                if self._open_gap is not None:
                    self._close_gap(event_ms)
            stats.records += 1
            try:
                self._on_record(item)  # type: ignore[arg-type]
            except Exception:
                self._callback_failed()
        elif kind is tuple:
            for record in item:  # type: ignore[union-attr]
                stats.records += 1
                try:
                    self._on_record(record)
                except Exception:
                    self._callback_failed()
        elif kind is ControlReply:
            self._on_reply(item)  # type: ignore[arg-type]
        elif kind is ServerShutdown:
            raise StaleConnection("serverShutdown")
        else:
            stats.skipped += 1

    def _close_gap(self, first_after_ms: int) -> None:
        if self._open_gap is None:
            return
        before, reason = self._open_gap
        self._gaps.append(Gap(before, first_after_ms, reason))
        self._open_gap = None

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
