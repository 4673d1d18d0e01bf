"""The engine: feed -> account -> journal -> hub, on whatever asyncio loop is running.

Nothing here calls ``asyncio.run`` or starts a thread: ``start()`` schedules named
tasks on the current loop (the Jupyter kernel's in a notebook) and returns, so cells
stay usable.

Journal first: the engine is the account's sink (``Account.attach_journal``), so every
step of the account is appended to the journal before it counts; a step the journal
cannot take is taken back whole and the command gets ``JOURNAL_UNAVAILABLE``.  Order
events are then published as ``ORDER_UPDATE`` with their journal ``seq``.  While the
journal cannot write the engine is ``degraded``: state-changing commands are refused,
prices and reads go on, nothing fires (the account is suspended), STATUS says
``journal: "degraded"``, and a probe appends a mark every ``journal_probe_s`` until
one goes through.

Two ways to drive it:

- live: the feed calls ``on_record`` for each record; strategy callbacks run in tasks
  of their own (``StrategyCallbacks.dispatch``), so they never hold up the feed;
- replay: ``process_inline`` takes one record and awaits the callbacks it triggers
  before returning, in a fixed order: the same input gives the same journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from decimal import Decimal
from typing import Any, TypeVar

from workspace.engine import account_messages
from workspace.engine.books import BookChange, BookMessages, BookUnavailable, RecordedBooks
from workspace.engine.callbacks import TICK_ORIGIN, CallbackKind, StrategyCallbacks, drain_listener
from workspace.engine.candles import (
    LiveCandles,
    RecordedCandles,
    check_request,
    wire_candles,
)
from workspace.engine.clock import Clock, SystemClock
from workspace.engine.config import EngineConfig
from workspace.engine.feed_port import (
    FeedCallbacks,
    FeedFactory,
    FeedPort,
    FeedStatusLike,
    GapLike,
)
from workspace.engine.first_market import FirstMarket
from workspace.engine.gaps import GapLog
from workspace.engine.hub import Hub
from workspace.engine.log_throttle import LogThrottle
from workspace.engine.market_messages import MarketMessages
from workspace.engine.metrics import EngineMetrics, watch_loop_lag
from workspace.engine.soon import Soon
from workspace.engine.subscribe_batch import SubscribeBatcher
from workspace.engine.tasks import TaskSet
from workspace.engine.tick_replay import Page, check_replay, paced_replay
from workspace.engine.tick_store import TickStore
from workspace.engine.ticks import Tick
from workspace.errors import (
    EngineUnavailable,
    InvalidParams,
    InvalidSymbol,
    JournalUnavailable,
    NotFound,
)
from workspace.journal import Journal, JournalError
from workspace.market.book import OrderBook
from workspace.market.exchange_info import SymbolInfo
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
from workspace.market.subscriptions import normalize_symbol
from workspace.protocol.engine_api import EngineApi
from workspace.protocol.outbox import Outbox
from workspace.session import Listener, Message
from workspace.trading.account import Account
from workspace.trading.events import AccountEvent, FillEvent, OrderEvent, PositionEvent
from workspace.trading.execution import can_execute_now
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import Order
from workspace.trading.placement import market_reference
from workspace.trading.positions import PositionStatus
from workspace.trading.requests import OrderRequest, OrderType, Side
from workspace.trading.wire import symbol_info_to_wire

# Events after which the wallet, the locks or a position may differ (marks and
# valuations only re-price what the cadences already publish).
WALLET_EVENTS = (OrderEvent, FillEvent, PositionEvent)

log = logging.getLogger("workspace.engine")

Committed = list[tuple[int, AccountEvent]]
UNHEALTHY_FEED = frozenset({"stalled", "reconnecting", "down", "stopped"})
_OUTAGE_STATES = UNHEALTHY_FEED - {"stopped"}  # data stops flowing: a gap opens
FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
CLIENTS_STATUS_DELAY_S = 0.25
T = TypeVar("T")


class Engine:
    """Implements ``workspace.protocol.engine_api.EngineApi``."""

    def __init__(
        self,
        *,
        account: Account,
        journal: Journal,
        source: str,
        feed_factory: FeedFactory | None = None,
        tick_store: TickStore | None = None,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        inline: bool = False,
        known_symbols: Collection[str] | None = None,
        symbol_rules: Mapping[str, SymbolInfo] | None = None,
        recorded_candles: RecordedCandles | None = None,
        depth_symbols: Collection[str] | None = None,
        user: str | None = None,
    ) -> None:
        """``inline``: a replay (records come through ``process_inline``; books are
        rebuilt from the recorded depth, candles read from ``recorded_candles``);
        ``depth_symbols``: the symbols whose depth the recording holds (the only books
        a replay can have); ``user``: the account's user in multi-user mode (STATUS
        carries it)."""
        self.user = user
        self.account = account
        self.journal = journal
        self.source = source
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.config = config if config is not None else EngineConfig()
        self.ticks = tick_store if tick_store is not None else TickStore()
        self.inline = inline
        self.hub = Hub(self.config.max_pending)
        self.metrics = EngineMetrics(self.clock)
        self.callbacks = StrategyCallbacks(
            metrics=self.metrics,
            clock=self.clock,
            logger=logging.getLogger("workspace.engine.strategy"),
            budget_s=self.config.callback_budget_s,
            max_pending=self.config.max_pending,
            direct_sync=self.config.direct_sync_callbacks and not inline,
        )
        self._throttle = LogThrottle(log, self.clock)
        self._tasks = TaskSet(log)
        self._market = MarketMessages()
        self._feed: FeedPort | None = (
            feed_factory(FeedCallbacks(self.on_record, self.on_status, self.on_gap))
            if feed_factory is not None
            else None
        )
        self.gaps = GapLog(journal, self.clock)
        self._last_event_ms: int | None = None  # exchange time of the latest record
        self._last_price_ms: int | None = None  # ... of the latest ticker or trade
        self._book_out = BookMessages(
            self.publish_book,
            self.clock.monotonic if not inline else lambda: self.clock.time_ms() / 1000.0,
            timers=not inline,
            wall_ms=self.clock.time_ms,
        )
        self._recorded_books = RecordedBooks(self.on_gap) if inline else None
        self._depth_symbols = frozenset(depth_symbols or ())
        self._live_books: dict[str, OrderBook] = {}  # the feed's book last handed on
        self._own_books: set[str] = set()  # books subscribed for acquire_book alone
        self._recorded_candles = recorded_candles
        self.replayed = 0
        """Replay: records of the recording processed so far (candles are as of it)."""
        self._candles = (
            LiveCandles(
                self._feed,
                self.clock,
                lambda coro, name: self._tasks.spawn(coro, name, report_errors=False),
                idle_s=self.config.candle_idle_s,
            )
            if self._feed is not None
            else None
        )
        self._known = None if known_symbols is None else frozenset(known_symbols)
        self._feed_state = "down" if self._feed is not None else "connected"
        self._feed_reason = ""
        self._refs: Counter[str] = Counter()
        self._first_market = FirstMarket()
        self._symbol_lock = asyncio.Lock()
        self._batcher = (
            SubscribeBatcher(self._feed, self._symbol_lock, self._tasks)
            if self._feed is not None
            else None
        )
        self._backlog: deque[tuple[CallbackKind, object, str | None, float | None]] = deque()
        self._last_mark_ms: int | None = None
        self._running = False
        self._stopping = False
        self._listeners = 0
        self._server_clients = 0
        self._status_soon = Soon(CLIENTS_STATUS_DELAY_S, self._publish_status_soon)
        self._symbol_tasks: set[asyncio.Task[None]] = set()
        if symbol_rules is not None:
            account.set_rules(symbol_rules)
        self._listing: Callable[[], Awaitable[Mapping[str, SymbolInfo]]] | None = getattr(
            self._feed, "exchange_symbols", None
        )
        self._rules_loaded: asyncio.Event | None = None
        self._order_seqs: dict[str, int] = {}  # open order id -> seq of its latest event
        self._journal_state = "ok"  # "degraded" while the journal cannot write
        self._journal_reason = ""
        self._appended: list[int] = []  # the seqs of the step the sink just appended
        self._probe: asyncio.Task[None] | None = None
        self._state_soon = Soon(self.config.account_state_delay_s, self._publish_account_state)
        # old final orders leave memory after the step's replies are out, not inside it
        account.retain(self.config.final_orders_in_memory, owner_trims=True)
        self._trim_soon = Soon(0.0, account.trim)
        account.attach_journal(self._append_step)

    # -- lifecycle -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def task_names(self) -> list[str]:
        return self._tasks.names

    async def start(self, timeout_s: float | None = None) -> None:
        """Start publishing and connect the feed; returns once connected and the
        exchange's rules are loaded, or after ``timeout_s`` (default
        ``EngineConfig.start_timeout_s``; 0: at once) with a warning: the engine then
        runs and keeps connecting in the background (STATUS tells the feed's state; orders
        wait for the rules).  Raises if the feed fails fatally in that time.  A second
        call is a no-op."""
        if self._running:
            return
        self._running = True
        self._stopping = False
        cfg = self.config
        spawn = self._tasks.spawn
        if not self.inline:
            # Replay publishes on data time instead (see replay.py): no wall cadences.
            spawn(self._every(cfg.positions_interval_s, self.publish_positions), "engine.positions")
            spawn(self._every(cfg.portfolio_interval_s, self.publish_portfolio), "engine.portfolio")
            spawn(self._every(cfg.status_interval_s, self.publish_status), "engine.status")
            self.callbacks.start(self._tasks)
        spawn(self._flush_ticks_every(cfg.tick_flush_interval_s), "engine.tick-flush")
        spawn(watch_loop_lag(self.metrics, self.clock, cfg.loop_lag_interval_s), "engine.loop-lag")
        if not self.inline:
            spawn(self._expire_every(cfg.expire_interval_s), "engine.expire")
            if self._journal_state != "ok" and self._probe is None:  # failed before start
                self._probe = spawn(self._probe_journal(), "engine.journal-probe")
        if self._candles is not None:
            spawn(self._every(cfg.candle_idle_s / 4, self._sweep_candles), "engine.candle-sweep")
        if self._feed is not None:
            await self._start_feed(cfg.start_timeout_s if timeout_s is None else timeout_s)
        log.info("engine started (source %s)", self.source)

    async def _start_feed(self, timeout_s: float) -> None:
        waits: list[asyncio.Task[None]] = []
        if self._listing is not None and self.account.rules.listing is None:
            self.account.expect_rules()
            loaded = self._rules_loaded = asyncio.Event()
            self._tasks.spawn(self._load_rules(), "engine.exchange-info")

            async def rules_arrived() -> None:
                await loaded.wait()

            waits.append(self._tasks.spawn(rules_arrived(), "engine.rules-wait"))
        connect = self._tasks.spawn(self._connect(), "engine.connect", report_errors=False)
        connect.add_done_callback(self._connect_ended)
        waits.append(connect)
        try:
            done, pending = (
                await asyncio.wait(waits, timeout=timeout_s) if timeout_s > 0 else (set(), waits)
            )
        except BaseException:
            await self.stop()
            raise
        if connect in done and connect.exception() is not None:
            error = connect.exception()
            await self.stop()
            assert error is not None
            raise error
        if pending:
            if timeout_s <= 0:
                # the caller chose not to wait (serve binds first): nothing is wrong yet,
                # and a warning at every start read as one; the feed warns if it fails
                log.info("the feed connects in the background")
            else:
                what = "connected" if connect in pending else "given the exchange's rules"
                log.warning(
                    "the feed is not %s yet (waited %.1f s: %s); the engine runs and keeps "
                    "trying in the background: STATUS shows the feed's state, and orders are "
                    "refused (NO_MARKET_DATA) until the exchange's rules arrive",
                    what,
                    timeout_s,
                    self._feed_reason or self._feed_state,
                )
            for task in pending:
                if task is not connect and task.get_name() == "engine.rules-wait":
                    task.cancel()

    async def _connect(self) -> None:
        assert self._feed is not None
        await self._feed.start()
        await self._hold_account_symbols()

    def _connect_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._running:
            log.error("the feed could not start: %s", error)

    async def _load_rules(self) -> None:
        """The exchange's listing (``exchangeInfo``) for the account's filters: loaded
        at start, retried with a growing pause while the exchange is unreachable, and
        refreshed every ``rules_refresh_s``."""
        assert self._listing is not None
        delay = 1.0
        while True:
            try:
                listing = await self._listing()
            except Exception as error:
                self._throttle.log(
                    logging.WARNING,
                    "exchange-info",
                    "cannot load the exchange's rules (exchangeInfo): %s; retrying in %.0f s",
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            first = self.account.rules.listing is None
            self.account.set_rules(listing)
            if self._rules_loaded is not None:
                self._rules_loaded.set()
            if first:
                self.publish_status()  # clients learn that orders are taken now
            delay = 1.0
            await asyncio.sleep(self.config.rules_refresh_s)

    async def _expire_every(self, interval_s: float) -> None:
        """Market orders that wait for a fresh price end when their wait is over, even
        if no record of their symbol ever arrives."""
        while True:
            await asyncio.sleep(interval_s)
            if self.account.has_waiting:
                try:
                    events = self.account.expire(self.clock.time_ms())
                    if events:
                        self._commit(events, None)
                except JournalUnavailable:
                    pass  # taken back: they expire once the journal writes again
                except Exception as error:
                    self._throttle.log(
                        logging.ERROR, "expire", "expiring orders failed", exc_info=error
                    )

    async def stop(self) -> None:
        """Stop the feed and every task; closes every subscription.  Leaves the
        journal and tick store to their owner.  A second call is a no-op."""
        if not self._running:
            return
        self.announce_stop()  # (it also answers the orders waiting for a first price)
        self._running = False
        self._state_soon.cancel()
        self._trim_soon.cancel()
        self.account.trim()
        # Callbacks first: a strategy must not trade on a half-stopped engine.
        self.callbacks.stop()
        if self._feed is not None:
            try:
                await asyncio.wait_for(self._feed.stop(), self.config.stop_grace_s)
            except Exception as error:  # stopping must go on whatever the feed does
                log.error("feed did not stop cleanly: %s", error)
        await self._tasks.cancel_all(self.config.stop_grace_s)
        self._book_out.close()
        self.hub.close()
        self._flush_ticks()
        log.info("engine stopped")

    def announce_stop(self, reason: str = "engine stopped") -> None:
        """Publish the last ``STATUS``, ``feed: "stopped"``, so panels and clients say
        stopped instead of showing the last state they saw.  ``stop()`` calls it first;
        an owner that closes its sessions before the engine (the Workspace) calls it
        earlier, while they still deliver.  Once only; the feed's own status changes
        while it shuts down no longer count."""
        if self._stopping or not self._running:
            return
        self._stopping = True
        self._feed_state = "stopped"
        self._feed_reason = reason
        self._first_market.close()  # an order waiting for a first price is answered now
        self.publish_status()

    async def _every(self, interval_s: float, action: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                action()
            except Exception as error:  # a publisher glitch must not end the cadence
                self._throttle.log(
                    logging.ERROR, ("every", action), "periodic %s failed", action, exc_info=error
                )

    # -- market data in ------------------------------------------------------------
    def on_record(self, record: FeedRecord | tuple[FeedRecord, ...]) -> None:
        """The feed's callback (live).  Never raises: a bad record is counted and logged."""
        origin = self.clock.monotonic()
        try:
            if isinstance(record, tuple):
                for item in record:
                    self._ingest_and_dispatch(item, origin)
            else:
                self._ingest_and_dispatch(record, origin)
        except Exception as error:
            self._bad_record(record, error)

    def _ingest_and_dispatch(self, record: FeedRecord, origin: float) -> None:
        tick = self._ingest(record, origin)
        if tick is not None:
            self.callbacks.dispatch("tick", tick, tick.symbol, origin)

    async def process_inline(self, record: FeedRecord) -> None:
        """Replay: take one record and await every callback it triggers, in order
        (account events first, then ``on_tick``, then what the strategy caused)."""
        origin = self.clock.monotonic()
        try:
            tick = self._ingest(record, origin)
        except JournalUnavailable:
            raise  # a replay cannot go on without its journal
        except Exception as error:
            self._bad_record(record, error)
            return
        await self._run_backlog()
        if tick is not None:
            await self.callbacks.run_inline("tick", tick, tick.symbol, origin)
            await self._run_backlog()

    async def _run_backlog(self) -> None:
        while self._backlog:
            kind, payload, symbol, origin = self._backlog.popleft()
            await self.callbacks.run_inline(kind, payload, symbol, origin)

    def _ingest(self, record: FeedRecord, origin: float) -> Tick | None:
        self.metrics.messages.add()
        tick: Tick | None = None
        # The account times prices by when they arrived (the engine's clock; a replay's
        # data time): their age is then measured on one clock, whatever the skew
        # between this machine and the exchange.
        ts_ms = self.clock.time_ms()
        # the most frequent records first: tickers, trades, book tickers
        if isinstance(record, Ticker):
            message = self._market.on_ticker(record)
            self.hub.publish(message)
            bid, ask = self._market.bid_ask(record.symbol, record)
            tick = Tick.from_ticker(record, bid, ask, self.gaps.after_gap(record.symbol))
            self.ticks.add(tick, message)
            self._last_event_ms = self._last_price_ms = record.event_time
        elif isinstance(record, Trade):
            bid, ask = self._market.bid_ask(record.symbol)
            tick = Tick.from_trade(record, bid, ask, self.gaps.after_gap(record.symbol))
            self.ticks.add(tick)
            self._book_out.on_trade(record.symbol, record.price, record.trade_time)
            self._last_event_ms = self._last_price_ms = record.event_time
        elif isinstance(record, BookTicker):
            self._market.on_book(record)
        elif isinstance(record, MiniTicker):
            self._last_event_ms = self._last_price_ms = record.event_time
        else:
            self._ingest_other(record, ts_ms, origin)
            return None
        market: MarketRecord = record
        if self._live_books:
            self._check_live_book(market.symbol, ts_ms, origin)
        if tick is not None:
            self.metrics.ticks.add()
            if not self.inline:
                self.metrics.record_feed_latency(tick.timestamp)
        try:
            events = self.account.on_market(market, ts_ms)
        except JournalUnavailable:
            if self.inline:
                raise
            events = []  # taken back: what it fired stays as it was, fires on a later price
        if events:
            self._commit(events, origin)
        if self._first_market:
            self._first_market.wake(market.symbol)
        self._maybe_mark(ts_ms)
        return tick

    # -- order books and candles in ------------------------------------------------
    def _ingest_other(self, record: FeedRecord, ts_ms: int, origin: float) -> None:
        if isinstance(record, DepthUpdate | DepthSnapshot):
            self._on_depth(record, ts_ms, origin)
        elif isinstance(record, Kline):
            self._on_kline(record)
        elif not isinstance(record, PartialDepth):  # top of book: the engine keeps books
            raise TypeError(f"not a market record: {type(record).__name__}")

    def _on_depth(self, record: DepthSnapshot | DepthUpdate, ts_ms: int, origin: float) -> None:
        if isinstance(record, DepthUpdate):
            self._last_event_ms = record.event_time
        if self._recorded_books is not None:
            for change in self._recorded_books.on_record(record):
                self._book_changed(change, ts_ms, origin)
            return
        # Live: the feed applied the record to its own book just before handing it on.
        book = self._feed.book(record.symbol) if self._feed is not None else None
        if book is None:
            return  # the book is not kept any more (unsubscribed meanwhile)
        event_ms = record.event_time if isinstance(record, DepthUpdate) else None
        self._book_changed(BookChange(record.symbol, book, event_ms), ts_ms, origin)

    def _book_changed(self, change: BookChange, ts_ms: int, origin: float | None) -> None:
        symbol, book = change.symbol, change.book
        if self._recorded_books is None:
            if book is None:
                self._live_books.pop(symbol, None)
            else:
                self._live_books[symbol] = book
        self._book_out.changed(change)
        try:
            events = self.account.on_book(symbol, book, ts_ms)
        except JournalUnavailable:
            if self.inline:
                raise  # a replay cannot go on without its journal
            events = []  # taken back whole: it fills on a later change of the book
        if events:
            self._commit(events, origin)
        if self._first_market:
            self._first_market.wake(symbol)

    def _check_live_book(self, symbol: str, ts_ms: int, origin: float) -> None:
        """The feed discards a book on a sequence gap and says nothing until the new
        one is built: the account must not trade on the old one meanwhile."""
        held = self._live_books.get(symbol)
        if held is None or self._feed is None:
            return
        if self._feed.book(symbol) is not held:
            self._book_changed(BookChange(symbol, None, None), ts_ms, origin)

    def _on_kline(self, kline: Kline) -> None:
        if kline.event_time is not None:
            self._last_event_ms = kline.event_time
        if self._candles is not None:
            self._candles.on_kline(kline)

    def _bad_record(self, record: object, error: Exception) -> None:
        self.metrics.bad_records += 1
        self._throttle.log(
            logging.ERROR,
            ("bad-record", type(error)),
            "dropped a market record the engine could not take (%s): %r",
            error,
            record,
            exc_info=error,
        )

    def _maybe_mark(self, ts_ms: int) -> None:
        """Journal a mark (prices + equity) now and then, on data time, so the equity
        curve has samples between fills and a replay marks at the same instants."""
        if self._last_mark_ms is None:
            self._last_mark_ms = ts_ms
            return
        if ts_ms - self._last_mark_ms < self.config.mark_interval_s * 1000:
            return
        self._last_mark_ms = ts_ms
        if self.account.has_positions and self._journal_state == "ok":
            try:
                self.journal.append([self.account.mark(ts_ms)])
            except JournalError as error:
                self._journal_failed(error)
                if self.inline:
                    raise JournalUnavailable(self._unavailable()) from error

    # -- the journal ---------------------------------------------------------------
    def _append_step(self, events: list[AccountEvent]) -> None:
        """The account's sink: a step counts only once this returned (journal first).
        Raising ``JournalUnavailable`` makes the account take the step back."""
        if self._journal_state != "ok":
            raise JournalUnavailable(self._unavailable())
        try:
            self._appended = self.journal.append(events)
        except JournalError as error:
            self._journal_failed(error)
            raise JournalUnavailable(self._unavailable()) from error

    def _unavailable(self) -> str:
        return (
            f"the journal cannot write ({self._journal_reason}): nothing was changed; "
            "orders, cancels and closes are refused until it writes again"
        )

    def _journal_failed(self, error: Exception) -> None:
        """The journal could not take a write: degraded until a probe gets through."""
        self._journal_reason = str(error)
        if self._journal_state == "degraded":
            return
        self._journal_state = "degraded"
        self.account.suspended = True
        self.metrics.journal_failures += 1
        log.error(
            "the journal cannot write: %s; state-changing commands are refused and nothing "
            "fires until it writes again (retrying every %g s)",
            error,
            self.config.journal_probe_s,
        )
        if self._running and not self.inline and self._probe is None:
            self._probe = self._tasks.spawn(self._probe_journal(), "engine.journal-probe")
        self.publish_status()

    async def _probe_journal(self) -> None:
        """Append a mark every ``journal_probe_s`` until one goes through (a real append:
        a write that does not grow the file could pass while appends fail)."""
        try:
            while self._journal_state != "ok":
                await asyncio.sleep(self.config.journal_probe_s)
                try:
                    self.journal.append([self.account.mark(self.clock.time_ms())])
                except JournalError as error:
                    if str(error) != self._journal_reason:
                        self._journal_reason = str(error)
                        self.publish_status()
                    continue
                self._journal_state = "ok"
                self._journal_reason = ""
                self.account.suspended = False
                log.warning("the journal writes again: commands are taken, orders fire")
                self.publish_status()
        finally:
            self._probe = None

    @property
    def journal_state(self) -> str:
        """``"ok"``, or ``"degraded"`` while the journal cannot write (STATUS ``journal``)."""
        return self._journal_state

    @property
    def journal_reason(self) -> str:
        """Why the journal is degraded (the last error), ``""`` when it is ok."""
        return self._journal_reason

    def _refuse_if_degraded(self) -> None:
        if self._journal_state != "ok":
            raise JournalUnavailable(self._unavailable())

    # -- events out ----------------------------------------------------------------
    def _commit(
        self, events: list[AccountEvent], origin: float | None, *, by_strategy: bool = False
    ) -> Committed:
        """Journal, then publish order events and hand fills/orders to callbacks.

        ``origin``: when the tick behind these events reached the engine, for the
        tick -> order event latency (kept apart for orders a strategy placed, which
        also wait for the strategy's turn on the loop)."""
        latencies = self.metrics.strategy_order_ms if by_strategy else self.metrics.order_event_ms
        seqs, self._appended = self._appended, []  # appended by _append_step, before apply
        committed = list(zip(seqs, events, strict=True))
        freed: list[str] = []  # symbols an order or a position stopped needing
        for seq, event in committed:
            if isinstance(event, OrderEvent):
                order = event.order
                if is_final(order.status):
                    self._order_seqs.pop(order.id, None)
                else:
                    self._order_seqs[order.id] = seq
                if self.hub.subscribers:  # nobody listening (a replay): skip the wire dict
                    self.hub.publish(account_messages.order_update(order, seq, event.ts_ms))
                self.metrics.order_events += 1
                if origin is not None:
                    latencies.add((self.clock.monotonic() - origin) * 1000.0)
                self._callback("order", order, order.symbol, origin)
                if is_final(order.status):
                    freed.append(order.symbol)
            elif isinstance(event, FillEvent):
                for fill in event.fills:  # a walk of the book: one callback per fill
                    self._callback("fill", fill, fill.symbol, origin)
            elif (
                isinstance(event, PositionEvent) and event.position.status == PositionStatus.CLOSED
            ):
                freed.append(event.position.symbol)
        if freed:
            self._release_if_unneeded(freed)
        if any(isinstance(event, WALLET_EVENTS) for event in events):
            self._account_state_soon()
        self._trim_after_replies()
        return committed

    def _trim_after_replies(self) -> None:
        """Let what the step pushed past ``final_orders_in_memory`` leave memory once
        this loop turn's replies and publications are written (one trim for every step
        of the turn); outside a running loop (a replay, a synchronous caller) at once."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.account.trim()
            return
        self._trim_soon.ask()

    def _account_state_soon(self) -> None:
        """Positions and the portfolio once the events of this loop turn are out: a
        wallet that changed waits for no 2 s cadence (the panels showed a new position
        beside the old balance).  One pending publication covers every commit until it
        runs; inline replays publish on data time instead."""
        if not self.inline and self._running and self.hub.subscribers:
            self._state_soon.ask()

    def _publish_account_state(self) -> None:
        if self._running:
            self.publish_positions()
            self.publish_portfolio()

    def _callback(
        self, kind: CallbackKind, payload: object, symbol: str, origin: float | None
    ) -> None:
        if self.inline:
            self._backlog.append((kind, payload, symbol, origin))
        else:
            self.callbacks.dispatch(kind, payload, symbol, origin)

    def publish_positions(self) -> None:
        if self.hub.subscribers:
            self.hub.publish(self.positions_message())

    def publish_portfolio(self) -> None:
        if self.hub.subscribers:
            self.hub.publish(self.portfolio_message())

    def publish_status(self) -> None:
        if self.hub.subscribers:
            self.hub.publish(self.status_message())

    async def _flush_ticks_every(self, interval_s: float) -> None:
        """Flush the tick store in bounded steps, one per loop turn: a second of ticks
        at a high rate (or a trim) written at once held the loop for tens of ms."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                # A yield between bounded steps, not a poll.
                while self.ticks.flush_some():  # noqa: ASYNC110
                    await asyncio.sleep(0)
            except Exception as error:  # the tick store is a cache: log, keep trading
                self._throttle.log(
                    logging.ERROR, "tick-flush", "tick store flush failed: %s", error
                )

    def _flush_ticks(self) -> None:
        try:
            self.ticks.flush()
        except Exception as error:  # the tick store is a cache: log, keep trading
            self._throttle.log(logging.ERROR, "tick-flush", "tick store flush failed: %s", error)

    def on_status(self, status: FeedStatusLike) -> None:
        """The feed's status callback: publish ``STATUS`` at once."""
        if self._stopping:  # the last STATUS said stopped: nothing follows it
            return
        state = str(status.state)
        if state != self._feed_state:
            reason = getattr(status, "reason", "")
            quiet = state == "connected" or reason == "stopped" or not self._running
            logging.getLogger("workspace.feed").log(
                logging.INFO if quiet else logging.WARNING, "feed %s (%s)", state, reason
            )
        self._feed_state = state
        self._feed_reason = str(getattr(status, "reason", ""))
        if state in _OUTAGE_STATES and self._last_event_ms is not None and self._running:
            # Data was flowing and now is not: an open gap until the feed reports it
            # over (it knows the first event time after it).
            self.gaps.open(self._last_event_ms, self._feed_reason or state)
        self.publish_status()

    def on_gap(self, gap: GapLike) -> None:
        """The feed's callback for a finished gap (and the replay's depth gaps)."""
        try:
            row = self.gaps.complete(gap)
            if row.symbol is None and self._candles is not None:
                self._candles.refill(row.start_ms)
            if self._running and not self._stopping:
                self.publish_status()
        except Exception as error:  # never into the feed
            self._throttle.log(logging.ERROR, "gap", "recording a gap failed", exc_info=error)

    # -- EngineApi: the message stream -----------------------------------------------
    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> Outbox:
        subscription = self.hub.subscribe(symbols)
        if listener is not None:
            self._listeners += 1
            self._tasks.spawn(
                drain_listener(subscription, listener, self._throttle),
                name=f"engine.listener.{self._listeners}",
            )
        return subscription

    # -- EngineApi: market data --------------------------------------------------------
    def normalize(self, symbol: str) -> str:
        """Upper-case ``symbol``; raises ``InvalidSymbol`` if malformed (or, in replay,
        not in the recorded data)."""
        name = normalize_symbol(symbol)
        if self._known is not None and name not in self._known:
            has = ", ".join(sorted(self._known)) or "no symbol: is it a recording?"
            raise InvalidSymbol(f"{name} is not in the replayed data (it has {has})")
        return name

    async def acquire_symbol(self, symbol: str) -> str:
        return (await self.acquire_symbols([symbol]))[0]

    async def acquire_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Acquire several symbols; concurrent requests share one SUBSCRIBE (Binance
        allows 5 control messages per second).  An unlisted symbol raises
        ``InvalidSymbol`` and none of ``symbols`` is acquired (listed ones may already
        stream: harmless, and they stop on the next release of that symbol)."""
        names = [self.normalize(symbol) for symbol in symbols]
        # Counted before the SUBSCRIBE is awaited, so a release racing with it (the
        # last position of the symbol closing) sees the symbol as wanted.
        for name in names:
            self._refs[name] += 1
        self.gaps.watch(names)
        try:
            if self._batcher is not None:
                missing = [n for n in dict.fromkeys(names) if n not in self._batcher.streaming]
                if missing:
                    await self._batcher.subscribe(missing)
        except BaseException:
            for name in names:
                self._refs[name] -= 1
            self._release_if_unneeded(names)
            raise
        return names

    async def release_symbol(self, symbol: str) -> None:
        name = symbol.upper()
        async with self._symbol_lock:
            if self._refs[name] <= 0:
                return
            self._refs[name] -= 1
            if self._refs[name] > 0 or self._feed is None or self._needed_by_account(name):
                return
            del self._refs[name]
            if name in self._feed.subscribed:
                await self._feed.unsubscribe(name)
                self._forget_books([name])

    def _needed_by_account(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self.account.open_orders) or any(
            p.symbol == symbol for p in self.account.positions
        )

    def _release_if_unneeded(self, symbols: Iterable[str]) -> None:
        """Stop streaming symbols nobody holds once no open order or position needs
        them (an order filled or cancelled, a position closed)."""
        feed = self._feed
        if feed is None or not self._running:
            return
        names = [s for s in dict.fromkeys(symbols) if self._refs[s] <= 0 and s in feed.subscribed]
        if names:
            self._symbol_task(self._unsubscribe_unneeded(names), f"engine.release.{names[0]}")

    async def _unsubscribe_unneeded(self, names: list[str]) -> None:
        feed = self._feed
        assert feed is not None
        async with self._symbol_lock:
            # Checked again under the lock: someone may have acquired it meanwhile.
            gone = [
                n
                for n in names
                if self._refs[n] <= 0 and not self._needed_by_account(n) and n in feed.subscribed
            ]
            for name in gone:
                self._refs.pop(name, None)
            if gone:
                try:
                    await feed.unsubscribe(*gone)
                except Exception as error:
                    log.error("could not unsubscribe %s: %s", gone, error)
                self._forget_books(gone)

    def _symbol_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = self._tasks.spawn(coro, name=name)
        self._symbol_tasks.add(task)
        task.add_done_callback(self._symbol_tasks.discard)

    async def symbols_settled(self) -> None:
        """Return once the feed (un)subscriptions the engine started on its own (for
        open orders and positions, or because they closed) are done."""
        while self._symbol_tasks:
            await asyncio.wait(set(self._symbol_tasks))

    async def _hold_account_symbols(self) -> None:
        """Open orders and positions (e.g. after a restart) need prices to trigger and
        to be marked, whether or not anyone watches them.  Symbol by symbol: one the
        exchange no longer lists, or that fails to subscribe, is logged with what it
        leaves unwatched and never keeps the others from streaming."""
        if self._feed is None:
            return
        wanted = sorted(self.account.symbols_in_use())
        if not wanted:
            return
        listing: Mapping[str, SymbolInfo] | None = None
        if self._listing is not None:
            try:
                listing = await self._listing()
            except Exception as error:
                log.warning("restore: cannot check symbols against the listing: %s", error)
        if listing is not None:
            for symbol in [s for s in wanted if s not in listing]:
                log.error(
                    "restore: %s is not listed by the exchange: %s will not be marked or triggered",
                    symbol,
                    self._held_by_account(symbol),
                )
            wanted = [s for s in wanted if s in listing]
        missing = [s for s in wanted if s not in self._feed.subscribed]
        if not missing:
            return
        self.gaps.watch(missing)
        try:
            async with self._symbol_lock:
                await self._feed.subscribe(*missing)
            return
        except Exception as error:
            if len(missing) == 1:
                log.error(
                    "restore: could not subscribe %s (%s): %s will not be marked or triggered",
                    missing[0],
                    error,
                    self._held_by_account(missing[0]),
                )
                return
        for symbol in missing:  # one bad symbol must not keep the others from streaming
            try:
                async with self._symbol_lock:
                    await self._feed.subscribe(symbol)
            except Exception as error:
                log.error(
                    "restore: could not subscribe %s (%s): %s will not be marked or triggered",
                    symbol,
                    error,
                    self._held_by_account(symbol),
                )

    def _held_by_account(self, symbol: str) -> str:
        orders = sum(1 for o in self.account.open_orders if o.symbol == symbol)
        position = self.account.position_on(symbol) is not None
        parts = [f"{orders} open order{'s' if orders != 1 else ''}"] if orders else []
        if position:
            parts.append("its open position")
        return " and ".join(parts) or "nothing the account holds"

    async def _feed_subscribe(self, symbols: Iterable[str]) -> None:
        if self._feed is None:
            return
        missing = [s for s in symbols if s not in self._feed.subscribed]
        if not missing:
            return
        self.gaps.watch(missing)
        try:
            async with self._symbol_lock:
                await self._feed.subscribe(*missing)
        except Exception as error:
            log.error("could not subscribe %s for open orders/positions: %s", missing, error)
            return
        # The order that wanted it may have ended while the SUBSCRIBE was on its way.
        self._release_if_unneeded(missing)

    def market_update(self, symbol: str) -> Message | None:
        return self._market.latest(symbol)

    # -- EngineApi: order books ------------------------------------------------------
    async def acquire_book(self, symbol: str) -> str:
        """Keep ``symbol``'s order book and publish its ``BOOK_UPDATE``s (reference
        counted).  The symbol streams; its book comes with it when the feed keeps a
        book for every symbol (``depth@100ms`` in its streams, the Workspace's
        default), else it is subscribed for this alone.  Raises ``InvalidSymbol``, and
        ``InvalidParams`` where no book can come (a replay without that symbol's
        depth): a client must hear it rather than wait for books that never come."""
        name = self.normalize(symbol)
        if not self.books_enabled:
            raise InvalidParams("this engine keeps no order books: best bid and ask only")
        if self._recorded_books is not None and name not in self._depth_symbols:
            raise InvalidParams(
                f"the recording holds no order book of {name}: best bid and ask only"
            )
        name = await self.acquire_symbol(name)
        feed = self._feed
        try:
            if feed is not None and name not in feed.books and name not in self._own_books:
                self._own_books.add(name)
                try:
                    await feed.subscribe_book(name)
                except BaseException:
                    self._own_books.discard(name)
                    raise
        except BaseException:
            await self.release_symbol(name)
            raise
        self._book_out.acquire(name)
        return name

    @property
    def books_enabled(self) -> bool:
        """Whether this engine has order books at all: live, every symbol it streams
        can have one; a replay only those whose depth the recording holds."""
        if self._recorded_books is not None:
            return bool(self._depth_symbols)
        return self._feed is not None

    async def release_book(self, symbol: str) -> None:
        name = symbol.upper()
        if name not in self._book_out.held:
            return
        if self._book_out.release(name) and name in self._own_books and self._feed is not None:
            self._own_books.discard(name)
            try:
                await self._feed.unsubscribe_book(name)
            except Exception as error:
                log.error("could not unsubscribe the book of %s: %s", name, error)
            self._forget_books([name])
        await self.release_symbol(name)

    def book_update(self, symbol: str) -> Message | None:
        """The current ``BOOK_UPDATE`` of ``symbol`` (20 levels), if it has a book."""
        return self._book_out.latest(symbol.upper())

    def publish_book(self, message: Message) -> None:
        self.hub.publish(message)

    def order_book(self, symbol: str) -> OrderBook:
        """The local order book of ``symbol`` (live: the feed's, updated in place; replay:
        rebuilt from the recording).  Raises ``BookUnavailable`` while it is being
        synchronised or when none is kept."""
        name = self.normalize(symbol)
        if self._recorded_books is not None:
            book = self._recorded_books.book(name)
            if book is None:
                held = name in self._recorded_books.symbols
                raise BookUnavailable(
                    f"no order book for {name} at this point of the replay"
                    + ("" if held else ": the recording has no depth data for it")
                )
            return book
        feed = self._feed
        book = feed.book(name) if feed is not None else None
        if book is None:
            if feed is not None and name in feed.books:
                raise BookUnavailable(
                    f"the order book of {name} is being synchronised (snapshot + diff stream)"
                    "; `await ws.wait_for_book(symbol)` waits for it"
                )
            raise BookUnavailable(
                f"no order book is kept for {name}: `await ws.subscribe({name!r})` first"
            )
        return book

    async def wait_for_book(self, symbol: str, timeout_s: float = 10.0) -> OrderBook:
        """The order book of ``symbol`` once synchronised; ``TimeoutError`` after
        ``timeout_s``.  Raises ``BookUnavailable`` when no book is kept for it."""
        name = self.normalize(symbol)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                return self.order_book(name)
            except BookUnavailable:
                feed = self._feed
                if self._recorded_books is not None or feed is None or name not in feed.books:
                    raise
            if loop.time() >= deadline:
                raise TimeoutError(f"the order book of {name} was not synchronised in time")
            waiter = getattr(feed, "wait_for_book", None)
            if waiter is None:
                await asyncio.sleep(0.05)  # a feed that cannot wake us: look again soon
                continue
            with contextlib.suppress(TimeoutError):
                await waiter(name, max(0.0, deadline - loop.time()))

    def _forget_books(self, names: Iterable[str]) -> None:
        """These symbols' books are no longer kept by the feed: the account and the
        book messages let go of them."""
        feed = self._feed
        for name in names:
            if name in self._live_books and (feed is None or feed.book(name) is None):
                self._book_changed(BookChange(name, None, None), self.clock.time_ms(), None)
            self._book_out.forget(name)

    # -- EngineApi: candles ------------------------------------------------------------
    async def candles(self, symbol: str, interval: str = "1m", limit: int = 500) -> list[Kline]:
        """The newest ``limit`` candles of ``symbol`` (oldest first, the last one possibly
        still forming), exact (``Kline`` records).  Live: the exchange's klines, backfilled
        from REST on first use and kept current by the kline stream; replay: the
        recording's, as of the record being replayed.  Raises ``InvalidParams`` (interval,
        limit), ``InvalidSymbol``, or the feed's ``RestError``."""
        interval, limit = check_request(interval, limit)
        name = self.normalize(symbol)
        if self._recorded_candles is not None:
            return self._recorded_candles.candles(
                name, interval, limit, self.replayed, self.clock.time_ms()
            )
        if self._candles is None:
            return []
        return await self._candles.candles(name, interval, limit)

    async def candles_message(self, symbol: str, interval: str, limit: int) -> Message:
        """``CANDLES`` ``{symbol, interval, candles}`` (PROTOCOL v2), plus two extensions:
        ``gaps`` (the feed's gaps over the candles' time, as in STATUS ``last_gap``:
        the chart draws them) and ``source`` (``"exchange"``: klines; ``"trades"``:
        aggregated from a recording's trades)."""
        klines = await self.candles(symbol, interval, limit)
        name = self.normalize(symbol)
        rows = wire_candles(klines)
        now = self.clock.time_ms()
        source = "exchange"
        if self._recorded_candles is not None:
            recorded = self._recorded_candles.source(name, interval)
            source = "trades" if recorded == "trades" else "exchange"
        return {
            "type": "CANDLES",
            "symbol": name,
            "interval": interval,
            "candles": rows,
            "gaps": self.gaps.touching(name, int(rows[0][0]) if rows else now),
            "source": source,
            "timestamp": now,
        }

    def end_of_replay(self) -> None:
        """The recording ended: a book still waiting for a snapshot after a gap in its
        recorded depth is a gap that never closed."""
        if self._recorded_books is not None:
            for gap in self._recorded_books.close():
                self.on_gap(gap)

    @property
    def live_candles(self) -> LiveCandles | None:
        """The live candle series (``None`` in replay): which are kept, backfills."""
        return self._candles

    def _sweep_candles(self) -> None:
        if self._candles is not None:
            self._candles.sweep()

    # -- health ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """What ``/health`` needs: ``healthy`` is False (answer 503) while the journal
        cannot write (orders are refused) or no market data flows (the feed stalled,
        reconnecting, down, or the engine stopped), with the reasons in ``problems``."""
        problems: list[str] = []
        if self._journal_state != "ok":
            problems.append(f"journal {self._journal_state}: {self._journal_reason}")
        feed = self._feed_state
        if not self._running or feed == "stopped":
            problems.append("engine stopped")
        elif feed in UNHEALTHY_FEED:
            problems.append(
                f"feed {feed}" + (f": {self._feed_reason}" if self._feed_reason else "")
            )
        return {
            "healthy": not problems,
            "problems": problems,
            "journal": self._journal_state,
            "journal_reason": self._journal_reason,
            "feed": feed,
            "feed_reason": self._feed_reason,
            "last_price_ms": self._last_price_ms,
            "last_gap": self.gaps.last_message(),
        }

    # -- EngineApi: snapshots ------------------------------------------------------
    @property
    def server_clients(self) -> int:
        """Connections to the realtime server(s); set by the server."""
        return self._server_clients

    @server_clients.setter
    def server_clients(self, count: int) -> None:
        changed = count != self._server_clients
        self._server_clients = count
        if changed and self._running:
            # Panels learn the count from STATUS: tell them soon, not at the next 5 s
            # cadence, but once per CLIENTS_STATUS_DELAY_S however many clients came or
            # went: a STATUS goes to every client, so one per connection of a burst of
            # N connections was N * N writes (minutes for 3,000 clients).
            self._status_soon.ask()

    def _publish_status_soon(self) -> None:
        if self._running:
            self.publish_status()

    def status_message(self) -> Message:
        status: Message = {
            "type": "STATUS",
            "feed": self._feed_state,
            "source": self.source,
            "journal_id": self.journal_id,
            "timestamp": self.clock.time_ms(),
            "reason": self._feed_reason,
            "exchange_info": self._rules_state(),
            "last_gap": self.gaps.last_message(),
            "last_price_ms": self._last_price_ms,
            "journal": self._journal_state,
            "journal_reason": self._journal_reason,
            # how orders fill: against local order books, or at the top of the book
            # (docs/trading.md, "How orders fill")
            "fill_model": self.account.fill_model(now_ms=self.clock.time_ms()),
            "fill_models": self.account.fill_models(self.clock.time_ms()),
            "clients": self.server_clients,
            "metrics": self.metrics.snapshot(),
        }
        if self.user is not None:
            status["user"] = self.user
        return status

    def _rules_state(self) -> str:
        rules = self.account.rules
        if rules.listing is not None:
            return "loaded"
        return "pending" if rules.pending else "none"

    def symbol_info(self, symbol: str) -> Message | None:
        """The trading rules of ``symbol`` for an order ticket (BRIEF interface 1), or
        ``None`` while the exchange's listing is unknown (or the symbol is not in it)."""
        info = self.account.symbol_info(symbol)
        return None if info is None else symbol_info_to_wire(info)

    @property
    def feed_state(self) -> str:
        return self._feed_state

    @property
    def feed(self) -> FeedPort | None:
        return self._feed

    def portfolio_message(self) -> Message:
        return account_messages.portfolio_message(self.account, self.clock.time_ms())

    def positions_message(self) -> Message:
        return account_messages.positions_message(self.account, self.clock.time_ms())

    def orders_message(self, status: str | None = None) -> Message:
        """Open orders (``status=None``), ``"ALL"``, or those of one status.  Final
        orders that left the account's memory (``final_orders_in_memory``) are read
        from the journal."""
        orders: Iterable[Order]
        wanted = None if status is None else status.upper()
        if wanted is None:
            orders = self.account.open_orders
        elif wanted == "ALL":
            orders = (
                self.account.orders.values()
                if self.account.complete_in_memory
                else self.journal.latest_orders()
            )
        elif self.account.complete_in_memory or wanted not in FINAL_STATUSES:
            orders = [o for o in self.account.orders.values() if str(o.status) == wanted]
        else:
            orders = self.journal.latest_orders({OrderStatus(wanted)})
        message = account_messages.orders_message(orders, self.seq, self.clock.time_ms())
        message["journal_id"] = self.journal_id
        return message

    def order(self, order_id: str) -> Order:
        """An order (or a leg) as it stands, by id; one that left the account's memory
        is read from the journal.  Raises ``NotFound``."""
        try:
            return self.account.order(order_id)
        except NotFound:
            if self.account.complete_in_memory:
                raise
            found = self.journal.latest_order(order_id)
            if found is None:
                raise
            return found

    @property
    def seq(self) -> int:
        return self.journal.last_seq

    @property
    def journal_id(self) -> str:
        return self.journal.journal_id

    def order_events_since(self, seq: int) -> list[Message]:
        return [
            account_messages.order_update(event.order, row, event.ts_ms)
            for row, event in self.journal.order_events_since(seq)
        ]

    def order_update_pages(
        self, since: int, page_size: int = 500, until: int | None = None
    ) -> Iterator[list[Message]]:
        """The ``ORDER_UPDATE``s with ``since`` < seq (<= ``until``, e.g. the seq a
        snapshot was taken at), in pages of at most ``page_size``: each page is one
        bounded read of the journal and nothing stays open between pages, so a server
        can send a long history in chunks and yield to its loop between them."""
        for page in self.journal.order_event_pages(since, page_size, until):
            yield [
                account_messages.order_update(event.order, row, event.ts_ms) for row, event in page
            ]

    # -- EngineApi: commands ---------------------------------------------------------
    def place(self, request: OrderRequest) -> tuple[Order, Message]:
        """Place an order: the order's state after placing it (FILLED at once for a
        marketable order, REJECTED with ``reason`` for bad input) and the
        ``ORDER_UPDATE`` of its NEW/REJECTED event.  Raises ``JournalUnavailable``
        (nothing placed) while the journal cannot write; a repeated
        ``client_order_id`` of an open order is still answered (it changes nothing)."""
        if self._journal_state != "ok":
            cid = request.client_order_id
            if not isinstance(cid, str) or self.account.order_by_client_id(cid) is None:
                self._refuse_if_degraded()
        order, events = self.account.place(request, self.clock.time_ms())
        committed = self._commit(events, TICK_ORIGIN.get(), by_strategy=True)
        if not is_final(order.status):
            self._keep_streaming(order.symbol)
        return order, self._reply(order.id, committed, first=True)

    def place_order(self, request: OrderRequest) -> Message:
        return self.place(request)[1]

    @contextlib.asynccontextmanager
    async def market_for(
        self, request: OrderRequest, *, within_s: float | None = None
    ) -> AsyncIterator[None]:
        """Around placing ``request`` (the protocol's ``place_order``): an order on a
        symbol that has no market yet (nobody watched it) first waits for the symbol's
        first price or book, at most ``market_wait_ms``, the engine following the symbol
        until the order is placed.  Then it is judged as Binance judges it, against the
        market: PERCENT_PRICE, a market order's MIN_NOTIONAL, a stop's or an OCO's side
        of the market.  A MARKET order by its quote quantity, sized against the market
        at once, waits for a fresh one.  Without the wait such an order was accepted
        unjudged (a limit far outside the band rested), or, sized by its quote, refused
        NO_MARKET_DATA on every retry.  An unlisted symbol, or a feed that cannot
        subscribe, waits for nothing: the placement judges the order as before.
        ``within_s``: a shorter bound than ``market_wait_ms`` (a scale-out engine must
        answer before its command's deadline)."""
        wanted = self._first_market_wanted(request)
        if wanted is None:
            yield
            return
        name, ready = wanted
        try:
            name = await self.acquire_symbol(name)
        except Exception as error:  # unlisted, or the feed is down: judged by placement
            log.debug("no first market for %s: %s", name, error)
            yield
            return
        try:
            wait_s = self.account.config.market_wait_ms / 1000
            if within_s is not None:
                wait_s = max(0.0, min(wait_s, within_s))
            await self._first_market.wait(name, ready, wait_s)
            if self._stopping or not self._running:
                raise EngineUnavailable(
                    f"the engine stopped while the order waited for the first {name} "
                    "price: nothing was placed"
                )
            yield
        finally:
            # an order that rests or filled keeps the symbol streaming (order, position).
            # Let go in the background, like the engine's other releases: awaited here,
            # the unsubscribe let the connection write the order's live event before the
            # reply that takes its place, and the sender got the event twice
            if self._running:
                self._symbol_task(self.release_symbol(name), f"engine.release.{name}")

    async def first_prices(
        self, names: Collection[str], timeout_s: float, *, quotes: bool = False
    ) -> list[str]:
        """Wait until each of ``names`` (streamed symbols) has a fresh price or book,
        and with ``quotes`` its first ``MARKET_UPDATE`` too (what ``ws.quote`` gives: the
        feed streams tickers), at most ``timeout_s`` in all (not at all while none is on
        its way); returns those still without them."""
        if not self._prices_on_their_way():
            timeout_s = 0.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        silent: list[str] = []
        for name in names:

            def ready(name: str = name) -> bool:
                if quotes and self._market.latest(name) is None:
                    return False
                return self._has_fresh_market(name)

            if not await self._first_market.wait(name, ready, max(0.0, deadline - loop.time())):
                silent.append(name)
        return silent

    def _prices_on_their_way(self) -> bool:
        """False while the feed reconnects after an outage: a wait for a first price
        would only run out.  (At start the feed is ``down`` until it first connects,
        and its first prices follow.)"""
        return self._feed_state != "reconnecting"

    def _has_fresh_market(self, name: str) -> bool:
        now = self.clock.time_ms()
        return any(can_execute_now(self.account, name, side, now) for side in Side)

    def _first_market_wanted(self, request: OrderRequest) -> tuple[str, Callable[[], bool]] | None:
        """The symbol ``request`` must wait for, and when it may stop waiting; None
        when it has what it needs now."""
        if self._feed is None or not self._running or self.inline:
            return None
        if not self._prices_on_their_way():
            return None  # placed now, judged at the symbol's first price
        try:
            name = self.normalize(request.symbol)
        except InvalidSymbol:
            return None
        account, clock, side = self.account, self.clock, request.side
        sized_now = request.type is OrderType.MARKET and request.quote_quantity is not None

        def ready() -> bool:
            now = clock.time_ms()
            if sized_now:  # its quantity comes from a fresh price or book
                return can_execute_now(account, name, side, now)
            return market_reference(account, name, now) is not None

        return None if ready() else (name, ready)

    def cancel(self, order_id: str) -> tuple[Order, Message]:
        """Cancel an order.  Raises ``NotFound``, ``InvalidParams`` when it is final
        (also one that left memory), ``JournalUnavailable`` while the journal cannot
        write."""
        self._refuse_if_degraded()
        try:
            order, events = self.account.cancel(order_id, self.clock.time_ms())
        except NotFound:
            old = None if self.account.complete_in_memory else self.journal.latest_order(order_id)
            if old is None:
                raise
            raise InvalidParams(f"order {order_id} is already {old.status}") from None
        committed = self._commit(events, TICK_ORIGIN.get(), by_strategy=True)
        return order, self._reply(order.id, committed, first=False)

    def cancel_order(self, order_id: str) -> Message:
        return self.cancel(order_id)[1]

    def close(self, position_id: str, quantity: Decimal | None = None) -> tuple[Order, Message]:
        self._refuse_if_degraded()
        order, events = self.account.close_position(position_id, quantity, self.clock.time_ms())
        committed = self._commit(events, TICK_ORIGIN.get(), by_strategy=True)
        return order, self._reply(order.id, committed, first=True)

    def close_position(self, position_id: str, quantity: Decimal | None = None) -> Message:
        return self.close(position_id, quantity)[1]

    def _reply(self, order_id: str, committed: Committed, *, first: bool) -> Message:
        matches = [
            (seq, event)
            for seq, event in committed
            if isinstance(event, OrderEvent) and event.order.id == order_id
        ]
        if matches:
            seq, event = matches[0] if first else matches[-1]
            return account_messages.order_update(event.order, seq, event.ts_ms)
        # nothing journaled (an idempotent repeat): the order as it stands, under the seq
        # of its latest event, which every subscriber has already seen
        order = self.account.order(order_id)
        latest = self._order_seqs.get(order_id)
        if latest is None:  # an order from before a restart
            latest = self.journal.last_order_seq(order_id)
        return account_messages.order_update(
            order, latest if latest is not None else self.seq, order.updated_at
        )

    def _keep_streaming(self, symbol: str) -> None:
        """A live order needs its symbol's prices even if nobody subscribed to it."""
        if self._feed is None or symbol in self._feed.subscribed or not self._running:
            return
        self._symbol_task(self._feed_subscribe([symbol]), f"engine.hold.{symbol}")

    def replay_ticks(
        self, symbol: str, start_ms: int, end_ms: int, speed: float
    ) -> AsyncIterator[Message]:
        name, pace = check_replay(symbol, start_ms, end_ms, speed)
        self._flush_ticks()

        async def next_page(after: int) -> Page:
            return self.ticks.market_updates(name, start_ms, end_ms, after_id=after)

        return paced_replay(next_page, pace)

    def recorded_ticks(
        self, symbol: str, start_ms: int, end_ms: int, after_id: int = 0, limit: int = 500
    ) -> list[tuple[int, Message]]:
        """One page of the recorded ``MARKET_UPDATE``s ``replay_ticks`` streams (row id,
        message), after row ``after_id``: a gateway's replay asks the market engine for
        them page by page and paces them itself."""
        if after_id == 0:
            self._flush_ticks()
        return self.ticks.market_updates(
            normalize_symbol(symbol), start_ms, end_ms, after_id=after_id, limit=limit
        )

    # -- notebook helpers ----------------------------------------------------------
    def run_soon(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` as an engine-owned task (cancelled on stop); its outcome is the
        caller's to report."""
        return self._tasks.spawn(coro, name=name, report_errors=False)

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols someone holds (notebook, server clients)."""
        return frozenset(s for s, n in self._refs.items() if n > 0)


def as_engine_api(engine: Engine) -> EngineApi:
    """The engine *is* an ``EngineApi`` (mypy checks this function)."""
    return engine
