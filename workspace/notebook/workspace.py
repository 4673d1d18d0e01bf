"""``Workspace``: the notebook API on top of the engine.

::

    from workspace import Workspace
    ws = Workspace(feed="sim", balances={"USDT": 10_000, "BTC": "0.5"})
    await ws.start()                    # returns once connected (or after a bound, warned)
    ws.subscribe("BTCUSDT", "ETHUSDT")  # or: await ws.subscribe(...)
    ws.buy("BTCUSDT", 0.1)
    await ws.stop()

Everything runs on the loop that is already running (the kernel's); nothing here calls
``asyncio.run`` or starts a thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from workspace import native
from workspace.engine import replay
from workspace.engine.books import BOOK_LEVELS
from workspace.engine.callbacks import Callback, CallbackError, CallbackKind, StrategyFunction
from workspace.engine.candles import DEFAULT_LIMIT, RecordedCandles
from workspace.engine.clock import Clock, DataClock
from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.engine.feed_port import FeedCallbacks, FeedFactory, FeedPort
from workspace.engine.shared_feed import SharedFeed
from workspace.engine.tick_store import TickStore
from workspace.errors import InvalidParams
from workspace.journal import (
    Journal,
    equity_curve,
    fills_frame,
    gaps_frame,
    orders_frame,
    positions_frame,
)
from workspace.market.book import OrderBook
from workspace.market.errors import UnknownSymbolError
from workspace.market.exchange_info import SymbolInfo
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    FeedRecord,
    Kline,
    MiniTicker,
    Ticker,
    Trade,
)
from workspace.market.subscriptions import normalize_symbol
from workspace.notebook.cells import CellRuns
from workspace.notebook.market_frames import book_frame, candles_frame
from workspace.notebook.order_methods import Number, OrderMethods, exact
from workspace.notebook.pending import PendingCall
from workspace.notebook.redefined import redefines
from workspace.session import Command, Listener, Message
from workspace.trading.account import Account
from workspace.trading.balance import Balance
from workspace.trading.config import AccountConfig
from workspace.trading.orders import Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.reasons import ReasonCode, Refusal
from workspace.trading.requests import OrderRequest
from workspace.trading.rules import inferred_info, round_price, round_qty
from workspace.users.store import UsersFile, normalize_name

if TYPE_CHECKING:
    import pandas as pd

    from workspace.protocol.session import ProtocolSession
    from workspace.server import RealtimeServer
    from workspace.sim import ExchangeSimulator

log = logging.getLogger("workspace.engine")

STOP_ANNOUNCE_TIMEOUT_S = 2.0
"""How long ``stop()`` waits for the panels to receive the stopped STATUS."""

FeedKind = Literal["sim", "binance", "replay", "bus"]
F = TypeVar("F", bound=StrategyFunction)


def parse_feed(spec: str) -> tuple[FeedKind, Path | None]:
    """``"sim"`` / ``"binance"`` / ``"replay:PATH"`` -> (kind, path)."""
    if not isinstance(spec, str):
        raise InvalidParams(f"feed must be 'sim', 'binance' or 'replay:PATH', got {spec!r:.60}")
    if spec == "sim":
        return "sim", None
    if spec == "binance":
        return "binance", None
    if spec == "bus":
        return "bus", None  # the scale-out's engines of the other shards (BusFeed)
    if spec.startswith("replay:") and len(spec) > len("replay:"):
        return "replay", Path(spec[len("replay:") :]).expanduser()
    raise InvalidParams(f"feed must be 'sim', 'binance' or 'replay:PATH', got {spec!r}")


def user_journal_path(db: str | Path, user: str) -> Path:
    """Where ``user``'s account of the multi-user journal ``db`` lives: beside it,
    ``team.sqlite`` -> ``team.alice.sqlite`` (one SQLite file per account: each has its
    own ``seq``, ``journal_id`` and lock; docs/scale-out.md, "Journals")."""
    path = Path(db).expanduser()
    return path.with_name(f"{path.stem}.{normalize_name(user)}{path.suffix}")


class NewAccountWarning(UserWarning):
    """``Workspace(db=TEAM, user=NAME)`` found no account of NAME in that team journal
    and starts a new one."""


class EarlierWorkspaceWarning(UserWarning):
    """A notebook cell run again started a workspace while the one its earlier run
    started still runs (its strategies, orders and panels go on)."""


_STARTED = CellRuns()


def _say_if_new_account(team: Path, user: str, db: Path) -> None:
    """A user's account that does not exist yet is made empty: say so, with the
    accounts the team journal has, so a misspelt name (or team file) is not taken for
    an account whose trades vanished."""
    if db.exists():
        return
    others = sorted(
        middle
        for path in team.parent.glob(f"{team.stem}.*{team.suffix}")
        if (middle := path.name[len(team.stem) + 1 : len(path.name) - len(team.suffix)])
        and "." not in middle  # (team.alice.ticks.sqlite is alice's tick store)
        and middle != user
    )
    there = f"; the accounts there: {', '.join(others)}" if others else "; it has none yet"
    warnings.warn(
        f"{team} has no account of user {user!r}: starting a new one in {db.name}{there}",
        NewAccountWarning,
        stacklevel=3,
    )


async def live_feed_factory(
    kind: FeedKind,
    engine_config: EngineConfig,
    feed_config: Any = None,
    sim_config: Any = None,
) -> tuple[FeedFactory, ExchangeSimulator | None]:
    """The factory of a live feed (``sim``: on a simulator started here, returned so its
    owner stops it; ``binance``), with a local book for every streamed symbol when the
    engine keeps books."""
    from workspace.market.config import FeedConfig
    from workspace.market.feed import BinanceFeed
    from workspace.market.subscriptions import DIFF_DEPTH_STREAMS

    simulator: ExchangeSimulator | None = None
    if kind == "sim":
        from workspace.sim import ExchangeSimulator, SimConfig

        simulator = ExchangeSimulator(sim_config or SimConfig())
        await simulator.start(host="127.0.0.1", port=0)
        base = feed_config or FeedConfig()
        config = base.with_(stream_url=simulator.stream_url, rest_url=simulator.rest_url)
    elif kind == "binance":
        config = feed_config or FeedConfig.from_env()
    elif kind == "bus":
        raise InvalidParams(
            "feed 'bus' is the market of another engine of the scale-out: "
            "python -m workspace engine --feed bus (docs/scale-out.md)"
        )
    else:
        raise InvalidParams(f"{kind}: not a live feed")
    # the engine bounds how long start() waits; the feed itself keeps connecting
    config = config.with_(start_timeout_s=None)
    if engine_config.keep_books and not any(kind in DIFF_DEPTH_STREAMS for kind in config.streams):
        # a local book for every streamed symbol: fills walk it, the book panel shows it
        config = config.with_(streams=(*config.streams, config.book_stream))

    def build(callbacks: FeedCallbacks) -> FeedPort:
        feed: FeedPort = BinanceFeed(
            config,
            on_record=callbacks.on_record,
            on_status=callbacks.on_status,
            on_gap=callbacks.on_gap,
        )
        return feed

    return build, simulator


def _reference(value: object, name: str, example: str) -> str:
    """An order or position id as the account takes it (a string); ``example``: where
    such an id is found (``order.id``)."""
    if not isinstance(value, str):
        raise InvalidParams(f"{name} must be a string (an id such as {example}), got {value!r:.60}")
    return value


def _path(value: object, name: str) -> Path:
    """A file argument (``db``, ``users``): a non-empty path ("" opened the folder)."""
    if not isinstance(value, str | Path) or not str(value).strip():
        raise InvalidParams(f"{name} must be a file path, got {value!r:.60}")
    return Path(value).expanduser()


def _check_parts(
    account: object,
    engine: object,
    sim: object,
    feed_config: object,
    clock: object,
    shared_feed: object,
) -> None:
    """The parts a workspace is given are of their kind (each failed later, deep in the
    start, as an AttributeError naming none of them)."""
    from workspace.market.config import FeedConfig

    parts: list[tuple[str, object, type]] = [
        ("account", account, AccountConfig),
        ("engine", engine, EngineConfig),
        ("feed_config", feed_config, FeedConfig),
        ("shared_feed", shared_feed, SharedFeed),
    ]
    if sim is not None:  # (the simulator is imported only for a workspace that has one)
        from workspace.sim import SimConfig

        parts.append(("sim", sim, SimConfig))
    for name, value, kind in parts:
        if value is not None and not isinstance(value, kind):
            raise InvalidParams(
                f"{name} takes {kind.__name__}(...) or None, got {type(value).__name__}"
            )
    if clock is not None and not all(
        callable(getattr(clock, method, None)) for method in ("time_ms", "monotonic")
    ):
        raise InvalidParams(
            f"clock must have time_ms() and monotonic() (workspace.engine.clock), got "
            f"{type(clock).__name__}"
        )


def _number(value: Number, name: str) -> Decimal:
    number = exact(value, name)
    if number is None or not number.is_finite():
        raise InvalidParams(f"{name} must be a number, got {value!r}")
    return number


def _amount(value: Number, name: str) -> Decimal:
    """A price or quantity to round: rounding -1 to '-1.00' would hide the mistake."""
    number = _number(value, name)
    if number < 0:
        raise InvalidParams(f"{name} must be >= 0, got {value!r:.40}")
    return number


def _flag(value: object, name: str) -> None:
    """Refuse a flag that is not a bool ("no" is truthy: it would have turned it on)."""
    if not isinstance(value, bool):
        raise InvalidParams(f"{name} must be True or False, got {value!r:.40}")


def account_config(
    initial_balance: Number | None,
    balances: Mapping[str, Number] | None,
    allow_short: bool | None,
    account: AccountConfig | None,
) -> AccountConfig | None:
    """The ``AccountConfig`` the notebook arguments describe (``None``: the default,
    or the one a journal stored).  ``balances={"USDT": 10_000, "BTC": "0.5"}``;
    ``initial_balance`` is the shorthand for the USDT alone."""
    if allow_short is not None:
        _flag(allow_short, "allow_short")
    if balances is not None and not isinstance(balances, Mapping):
        raise InvalidParams(
            f"balances must be a dict like {{'USDT': 10_000, 'BTC': '0.5'}}, got {balances!r:.40}"
        )
    shortcuts = initial_balance is not None or balances is not None or allow_short is not None
    if account is not None:
        if shortcuts:
            raise InvalidParams(
                "give initial_balance / balances / allow_short or account=AccountConfig(...), "
                "not both"
            )
        return account
    if not shortcuts:
        return None
    quote = AccountConfig().quote_currency
    assets: dict[str, Decimal] = {}
    for asset, amount in (balances or {}).items():
        if not isinstance(asset, str) or not asset.strip():
            raise InvalidParams(f"balances: an asset is a name like 'BTC', got {asset!r}")
        value = exact(amount, f"balances[{asset!r}]")
        if value is None or not value.is_finite() or value < 0:
            raise InvalidParams(f"balances: {asset!r}: {amount!r} is not an amount >= 0")
        if asset.upper() in assets:  # {"usdt": 5, "USDT": 6}: the last one won, silently
            raise InvalidParams(f"balances: {asset.upper()} is given twice: give each asset once")
        assets[asset.upper()] = value
    if initial_balance is not None:
        value = exact(initial_balance, "initial_balance")
        if value is None or not (value.is_finite() and value > 0):
            raise InvalidParams(f"initial_balance must be a number > 0, got {initial_balance!r}")
        if quote in assets and assets[quote] != value:
            raise InvalidParams(f"initial_balance and balances[{quote!r}] disagree")
        assets[quote] = value
    options: dict[str, object] = {}
    if balances is not None or initial_balance is not None:
        options["initial_balance"] = assets.pop(quote, Decimal(0))
        options["balances"] = assets
    if allow_short is not None:
        options["allow_short"] = bool(allow_short)
    try:
        return AccountConfig(**options)  # type: ignore[arg-type]
    except ValueError as error:
        raise InvalidParams(str(error)) from None


def replay_rules(records: Iterable[FeedRecord], quote: str) -> dict[str, SymbolInfo]:
    """Exchange rules for the symbols of a recording (which carries none): inferred from
    the prices and quantities it holds (``trading.rules.inferred_info``): its trades,
    tickers and book tickers, its klines' prices, and the top of its book snapshots."""
    prices: dict[str, list[Decimal]] = {}
    quantities: dict[str, list[Decimal]] = {}
    for record in records:
        p = prices.setdefault(record.symbol, [])
        q = quantities.setdefault(record.symbol, [])
        if isinstance(record, Trade):
            p.append(record.price)
            q.append(record.quantity)
        elif isinstance(record, BookTicker):
            p += (record.bid_price, record.ask_price)
            q += (record.bid_qty, record.ask_qty)
        elif isinstance(record, Ticker | MiniTicker):
            p.append(record.last_price)
            if isinstance(record, Ticker):
                p += [x for x in (record.bid_price, record.ask_price) if x]
                q += [x for x in (record.last_quantity, record.bid_qty, record.ask_qty) if x]
        elif isinstance(record, Kline):
            p += (record.open_price, record.high_price, record.low_price, record.close_price)
        elif isinstance(record, DepthSnapshot):
            for price, qty in (*record.bids[:BOOK_LEVELS], *record.asks[:BOOK_LEVELS]):
                p.append(price)
                q.append(qty)
    return {
        symbol: inferred_info(symbol, quote, prices[symbol], quantities[symbol])
        for symbol in prices
        if symbol and prices[symbol]
    }


class Workspace(OrderMethods):
    """A paper-trading workspace on the running event loop."""

    def __init__(
        self,
        feed: str = "sim",
        *,
        db: str | Path | None = None,
        initial_balance: Number | None = None,
        balances: Mapping[str, Number] | None = None,
        allow_short: bool | None = None,
        account: AccountConfig | None = None,
        engine: EngineConfig | None = None,
        sim: Any = None,  # workspace.sim.SimConfig; Any keeps the simulator import lazy
        feed_config: Any = None,  # workspace.market.config.FeedConfig
        clock: Clock | None = None,
        user: str | None = None,
        users: str | Path | None = None,
        shared_feed: SharedFeed | None = None,
    ) -> None:
        """``user``: trade that user's account of a multi-user journal (``db`` names
        the team's journal; each user's account lives in ``user_journal_path(db,
        user)``: docs/scale-out.md, "Journals"); with ``users`` (a users file), a new
        account starts with the balances the file gives that user.  ``shared_feed``: the
        market feed of a multi-user host (``workspace.notebook.team``), instead of one of
        this workspace's own."""
        self.feed_kind, self._replay_path = parse_feed(feed)
        _check_parts(account, engine, sim, feed_config, clock, shared_feed)
        self.user = None if user is None else normalize_name(user)
        self._db = None if db is None else _path(db, "db")
        self._team_db: Path | None = None
        if self._db is not None and self.user is not None:
            self._team_db = self._db
            self._db = user_journal_path(self._db, self.user)
        self._account_config = account_config(initial_balance, balances, allow_short, account)
        if users is not None:
            if self.user is None:
                raise InvalidParams("users= (a users file) goes with user=NAME")
            if self._account_config is not None:
                raise InvalidParams("the users file gives the balances: no balances= with users=")
            users_file = UsersFile(_path(users, "users"))
            self._account_config = users_file.read().get(self.user).account_config()
        if shared_feed is not None and self.feed_kind == "replay":
            raise InvalidParams("a replay has a feed of its own: no shared_feed")
        self._shared_feed = shared_feed
        # a user no users file vouches for (a team host opens the accounts of its file)
        self._unlisted_user = users is None and shared_feed is None
        self._engine_config = engine if engine is not None else EngineConfig()
        self._sim_config = sim
        self._feed_config = feed_config
        self._clock = clock
        self._registrations: list[tuple[CallbackKind, StrategyFunction, tuple[str, ...]]] = []
        self._callbacks: dict[StrategyFunction, list[Callback]] = {}
        self._dashboards = CellRuns()  # the dashboards each notebook cell made
        self._engine: Engine | None = None
        self._journal: Journal | None = None
        self._tick_store: TickStore | None = None
        self._simulator: ExchangeSimulator | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._session: ProtocolSession | None = None
        self._servers: list[RealtimeServer] = []
        self._symbols: set[str] = set()
        self._recorded: replay.RecordedData | None = None
        self._replay_clock: DataClock | None = None
        self._replayed = False
        self._lock: asyncio.Lock | None = None
        self._thread: int | None = None  # the thread of the loop the engine runs on
        self._stopped: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------
    async def start(self, connect_timeout: float | None = None) -> Workspace:
        """Open the journal (restoring positions and open orders), start the feed and
        the engine on the running loop; returns once connected and the exchange's rules
        are loaded, or after ``connect_timeout`` seconds (default ``EngineConfig.start_timeout_s``,
        10 s; 0 = at once) with a warning: the engine then keeps connecting in the
        background (``ws.status`` / STATUS say how it goes).  A second call is a
        no-op."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._engine is not None and self._engine.running:
                return self
            try:
                self._thread = threading.get_ident()
                await self._start(connect_timeout)
            except BaseException:
                await self._teardown()
                raise
        for earlier in _STARTED.made(self):
            if not earlier.running:
                continue
            warnings.warn(
                f"an earlier run of this cell started {earlier!r}, which still runs: its "
                "strategies keep trading on its account and its panels keep updating; "
                "`await ws.stop()` it first (before running the cell again) if that is "
                "not what you want",
                EarlierWorkspaceWarning,
                stacklevel=2,
            )
        return self

    async def _start(self, connect_timeout: float | None) -> None:
        db = self._db
        if db is None:
            # No path: a private directory, removed on stop (nothing left behind).
            self._tempdir = tempfile.TemporaryDirectory(prefix="workspace-")
            db = Path(self._tempdir.name) / "journal.sqlite"
        elif self._team_db is not None and self.user is not None and self._unlisted_user:
            _say_if_new_account(self._team_db, self.user, db)
        self._journal = journal = Journal.open(db, config=self._account_config)
        account: Account = journal.rebuild(retain=self._engine_config.final_orders_in_memory)
        self._tick_store = TickStore(
            db.with_name(db.stem + ".ticks" + db.suffix),
            per_symbol=self._engine_config.ticks_per_symbol,
        )
        feed_factory: FeedFactory | None = None
        known: frozenset[str] | None = None
        rules: dict[str, SymbolInfo] | None = None
        recorded_candles: RecordedCandles | None = None
        depth: set[str] | None = None
        clock = self._clock
        inline = self.feed_kind == "replay"
        if self.feed_kind == "replay":
            assert self._replay_path is not None
            self._recorded = replay.load(self._replay_path)
            known = self._recorded.symbols
            rules = replay_rules(self._recorded.records, journal.config.quote_currency)
            first = next(
                (t for r in self._recorded.records if (t := replay.event_ms(r)) is not None), 0
            )
            self._replay_clock = DataClock(first)
            clock = self._replay_clock
            recorded_candles = RecordedCandles(self._recorded.records)
            depth = {r.symbol for r in self._recorded.records if isinstance(r, DepthSnapshot)}
        elif self._shared_feed is not None:
            feed_factory = self._shared_feed.share
        else:
            feed_factory = await self._feed_factory()
        self._engine = Engine(
            account=account,
            journal=journal,
            source=self.feed_kind,
            feed_factory=feed_factory,
            tick_store=self._tick_store,
            clock=clock,
            config=self._engine_config,
            inline=inline,
            known_symbols=known,
            symbol_rules=rules,
            recorded_candles=recorded_candles,
            depth_symbols=depth,
            user=self.user,
        )
        self._stopped = asyncio.Event()
        for kind, function, symbols in self._registrations:
            self._register(kind, function, symbols)
        await self._engine.start(connect_timeout)

    async def _feed_factory(self) -> FeedFactory:
        factory, self._simulator = await live_feed_factory(
            self.feed_kind, self._engine_config, self._feed_config, self._sim_config
        )
        return factory

    async def stop(self) -> None:
        """Stop servers, session, engine, feed and simulator; close the journal and the
        tick store.  No task, socket or file is left behind.  Safe to call twice."""
        if self._lock is None:
            return
        async with self._lock:
            await self._teardown()

    async def _announce_stop(self) -> None:
        """The engine's last STATUS (``feed: "stopped"``) while the session and the
        servers still deliver: the dashboard then says stopped, not connected.  Waits
        (bounded) until the session's listeners (the panels) have had it."""
        engine = self._engine
        if engine is None or not engine.running:
            return
        session = self._session
        delivered = asyncio.Event()

        def seen(message: Message) -> None:
            if message.get("type") == "STATUS" and message.get("feed") == "stopped":
                delivered.set()

        # listeners are called in order: once this last one has it, the panels have it
        unlisten = session.listen(seen) if session is not None and not session.closed else None
        engine.announce_stop("workspace stopped")
        if unlisten is None:
            return
        try:
            await asyncio.wait_for(delivered.wait(), STOP_ANNOUNCE_TIMEOUT_S)
        except TimeoutError:
            log.warning("the stopped STATUS did not reach the panels in time")
        finally:
            unlisten()

    async def _teardown(self) -> None:
        try:
            await self._announce_stop()
        except Exception as error:  # stopping must go on
            log.error("announcing the stop failed: %s", error)
        steps: list[tuple[str, Callable[[], Any]]] = [
            *[(f"server {i}", server.stop) for i, server in enumerate(self._servers)],
        ]
        if self._session is not None:
            steps.append(("session", self._session.close))
        if self._engine is not None:
            steps.append(("engine", self._engine.stop))
        if self._simulator is not None:
            steps.append(("simulator", self._simulator.stop))
        for what, step in steps:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as error:  # keep going: everything must be released
                log.error("stopping the %s failed: %s", what, error)
        self._servers.clear()
        self._session = None
        self._simulator = None
        self._symbols.clear()
        self._callbacks.clear()
        for closable in (self._tick_store, self._journal):
            if closable is not None:
                try:
                    closable.close()
                except Exception as error:
                    log.error("closing %s failed: %s", closable, error)
        self._tick_store = None
        self._journal = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        if self._stopped is not None:
            self._stopped.set()

    async def __aenter__(self) -> Workspace:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self) -> replay.ReplayResult | None:
        """Replay: process the whole recording (strategy callbacks awaited in order)
        and return what happened.  Live: wait until ``stop()``."""
        engine = self._require()
        if self.feed_kind != "replay":
            assert self._stopped is not None
            await self._stopped.wait()
            return None
        if self._replayed:
            raise RuntimeError("this replay already ran; create a new Workspace to run it again")
        self._replayed = True
        assert self._recorded is not None
        assert self._replay_clock is not None
        # many steps per SQLite transaction (a replay can simply be run again), not one
        # per step: with trailing stops every moving tick is a step
        with engine.journal.batch():
            return await replay.run(
                engine,
                self._recorded.records,
                self._replay_clock,
                skipped_lines=self._recorded.skipped_lines,
            )

    # -- engine parts ----------------------------------------------------------------
    def _require(self) -> Engine:
        if self._engine is None or not self._engine.running:
            raise RuntimeError("the workspace is not running: `await ws.start()` first")
        if self._thread is not None and threading.get_ident() != self._thread:
            # the account is the engine loop's alone: a call from another thread raced
            # the feed's updates of it (and its journal) without a word
            raise RuntimeError(
                f"the workspace was called from thread {threading.current_thread().name!r}; "
                "it runs on its event loop's thread and takes calls only there: from "
                "another thread, hand the call to the loop, e.g. "
                "`loop.call_soon_threadsafe(lambda: ws.buy(...))`"
            )
        return self._engine

    @property
    def engine(self) -> Engine:
        """The engine (implements ``workspace.protocol.engine_api.EngineApi``)."""
        return self._require()

    @property
    def simulator(self) -> ExchangeSimulator | None:
        """The embedded simulator (``feed="sim"``), e.g. for its fault hooks."""
        return self._simulator

    @property
    def running(self) -> bool:
        return self._engine is not None and self._engine.running

    @property
    def session(self) -> ProtocolSession:
        """A protocol session on this engine, for panels (a ``TradingSession``)."""
        if self._session is None:
            from workspace.protocol.session import ProtocolSession

            self._session = ProtocolSession(self._require())
        return self._session

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(message)`` with every message of the session; returns the
        function that stops it."""
        if not callable(listener):
            raise TypeError(
                f"listen takes a function of one message, got {type(listener).__name__}"
            )
        return self.session.listen(listener)

    def stream(self) -> AsyncIterator[Message]:
        return self.session.stream()

    async def request(self, command: Command) -> Message:
        return await self.session.request(command)

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        token: str | None = None,
        origins: Iterable[str] | str | None = None,
    ) -> RealtimeServer:
        """Serve ``/api/ws/realtime`` from this engine, on this loop; stopped by
        ``stop()``.  ``port=0`` picks a free port (see ``server.port``)."""
        from workspace.server import RealtimeServer

        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidParams(f"port must be 0 (any free port) to 65535, got {port!r:.40}")
        origin_list = origins if isinstance(origins, str) or origins is None else list(origins)
        server = RealtimeServer(self._require(), host, port, token=token, origins=origin_list)
        await server.start()
        self._servers.append(server)
        return server

    def dashboard(self, **options: Any) -> Any:
        """Every panel on this workspace (``widgets.dashboard``), with its metrics.
        ``UnknownSymbolError`` for a symbol the listing lacks (the panels would each
        show the error instead of its market)."""
        import widgets
        from widgets.panel import panel_symbols

        options.setdefault("metrics", lambda: self.metrics)
        if "symbols" in options:
            listed = self._listed if self.running else normalize_symbol
            options["symbols"] = [listed(s) for s in panel_symbols(options["symbols"])]
        else:
            options["symbols"] = sorted(self._symbols)
        board = widgets.dashboard(self.session, **options)
        for old in self._dashboards.made(board):  # the cell run again: its old ones go
            old.close()
        return board

    # -- market data -----------------------------------------------------------------
    def subscribe(self, *symbols: str) -> PendingCall[list[str]]:
        """Stream ``symbols``.  Works with or without ``await``; a malformed symbol
        raises at once, an unlisted one when awaited (or is logged if not).  Awaited,
        it returns once each new symbol has its first fresh price or book, and its
        first :meth:`quote` when the feed streams tickers (at most ``market_wait_ms``,
        5 s; a warning names those still without; a replay's prices come when it runs,
        so it does not wait there), so an order placed next is judged against the
        market, a ``quote_quantity`` one can be sized, and ``quote`` answers; it
        answers the symbols asked for, each once."""
        engine = self._require()
        names = list(dict.fromkeys(engine.normalize(symbol) for symbol in symbols))
        if not names:
            raise InvalidParams("subscribe needs at least one symbol")
        task = engine.run_soon(self._acquire(names), name=f"workspace.subscribe.{names[0]}")
        return PendingCall(task, f"subscribe({', '.join(names)})", log)

    async def _acquire(self, names: list[str]) -> list[str]:
        engine = self._require()
        new = [name for name in names if name not in self._symbols]
        if new:
            await engine.acquire_symbols(new)
            self._symbols.update(new)
            if engine.inline:  # a replay: its prices come when it runs (ws.run)
                return names
            wait_s = engine.account.config.market_wait_ms / 1000
            quotes = self._quotes_streamed()
            silent = await engine.first_prices(new, wait_s, quotes=quotes)
            if silent and engine.running:
                why = (
                    f"within {wait_s:g} s of subscribing"
                    if engine.feed_state == "connected"
                    else f"the feed is {engine.feed_state}"
                )
                unpriced = await engine.first_prices(silent, 0.0) if quotes else silent
                if unpriced:
                    log.warning(
                        "no price of %s yet (%s): an order placed now waits for one (a "
                        "market order) or is judged against the market at the first one",
                        ", ".join(unpriced),
                        why,
                    )
                unquoted = [name for name in silent if name not in unpriced]
                if unquoted:
                    log.warning(
                        "no quote of %s yet (%s): it has prices, but ws.quote() answers "
                        "None until its first ticker",
                        ", ".join(unquoted),
                        why,
                    )
        return names

    def _quotes_streamed(self) -> bool:
        """Whether the feed streams tickers, the source of :meth:`quote`: a subscribe
        then also waits for each new symbol's first quote (a ticker comes once a second,
        its trades and book tickers sooner)."""
        from workspace.market.config import FeedConfig

        config = self._feed_config if isinstance(self._feed_config, FeedConfig) else FeedConfig()
        return any(kind == "ticker" or kind.startswith("ticker_") for kind in config.streams)

    def unsubscribe(self, *symbols: str) -> PendingCall[list[str]]:
        """Stop streaming ``symbols`` (those not subscribed are ignored; an open order
        or position keeps its symbol's prices coming).  Awaited, it answers the
        symbols it unsubscribed."""
        engine = self._require()
        names = list(dict.fromkeys(normalize_symbol(symbol) for symbol in symbols))
        task = engine.run_soon(self._release(names), name="workspace.unsubscribe")
        return PendingCall(task, f"unsubscribe({', '.join(names)})", log)

    async def _release(self, names: list[str]) -> list[str]:
        engine = self._require()
        released: list[str] = []
        for name in names:
            if name in self._symbols:
                self._symbols.discard(name)
                await engine.release_symbol(name)
                released.append(name)
        return released

    @property
    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    def ticks(self, symbol: str, limit: int | None = None) -> pd.DataFrame:
        """Recent ticks of ``symbol`` (tickers and trades), oldest first; ``limit``: the
        newest that many (all kept ones when ``None``).  ``UnknownSymbolError`` for a
        symbol the listing lacks."""
        self._require()
        assert self._tick_store is not None
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidParams(f"limit must be a whole number >= 1 or None, got {limit!r:.40}")
        return self._tick_store.frame(self._listed(symbol), limit)

    def quote(self, symbol: str) -> Message | None:
        """The latest ``MARKET_UPDATE`` of ``symbol`` (``None`` before its first);
        ``UnknownSymbolError`` for a symbol the listing lacks."""
        return self._require().market_update(self._listed(symbol))

    async def candles(
        self, symbol: str, interval: str = "1m", limit: int = DEFAULT_LIMIT, *, exact: bool = False
    ) -> pd.DataFrame:
        """The exchange's candles of ``symbol``: ``await ws.candles("BTCUSDT", "1h", 200)``.

        A DataFrame indexed by open time (UTC), oldest first, the last row possibly still
        forming (``closed`` False): ``open``, ``high``, ``low``, ``close``, ``volume``
        (base asset), ``quote_volume``, ``trades``, ``closed``.  Numbers are floats, or
        exact ``Decimal`` objects with ``exact=True``.  ``interval``: Binance's names
        (``1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M``); ``limit`` 1-1000.
        Live, the first call for a (symbol, interval) backfills from the exchange's REST
        history and the kline stream keeps it current; a replay gives the recording's
        candles as of the record being replayed."""
        _flag(exact, "exact")
        klines = await self._require().candles(symbol, interval, limit)
        return candles_frame(klines, exact=exact)

    def book(self, symbol: str, depth: int = BOOK_LEVELS, *, exact: bool = False) -> pd.DataFrame:
        """The local order book of ``symbol``, its best ``depth`` levels a side: one row
        per level (0 = best), columns ``bid_price``, ``bid_qty``, ``bid_total``,
        ``ask_price``, ``ask_qty``, ``ask_total`` (totals are cumulative sizes; a side
        with fewer levels has NaN below them).  ``frame.attrs`` holds ``symbol``,
        ``last_update_id`` and ``timestamp`` (exchange ms of the last event applied).
        Floats, or ``Decimal`` objects with ``exact=True``.  Raises ``BookUnavailable``
        while the book is being synchronised or when none is kept
        (``await ws.wait_for_book(symbol)`` waits for it)."""
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise InvalidParams(f"depth must be an integer >= 1, got {depth!r}")
        _flag(exact, "exact")
        return book_frame(self._require().order_book(self._listed(symbol)), depth, exact=exact)

    async def wait_for_book(self, symbol: str, timeout_s: float = 10.0) -> OrderBook:
        """The order book of ``symbol`` once it is synchronised (``TimeoutError`` after
        ``timeout_s`` seconds).  The ``OrderBook`` itself, updated in place."""
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not 0 < timeout_s < math.inf
        ):
            raise InvalidParams(f"timeout_s must be a number of seconds > 0, got {timeout_s!r:.40}")
        return await self._require().wait_for_book(self._listed(symbol), timeout_s)

    @property
    def gaps(self) -> pd.DataFrame:
        """The market data feed's gaps (from the journal: every session's), oldest first,
        with the one still open (``end`` NaT) last: ``start``, ``end``, ``duration_s``,
        ``reason``, ``symbol`` (``None``: the whole feed; a symbol: its order book)."""
        journal = self._journal_or_fail()
        rows = journal.gaps()
        engine = self._require()
        if engine.gaps.open_gap is not None:
            rows.append(engine.gaps.open_gap)
        return gaps_frame(rows)

    # -- orders (buy, sell, limit, ... come from OrderMethods) ------------------------
    def place(self, request: OrderRequest) -> Order:
        """Place any order; returns it at once (REJECTED with ``reason`` if invalid)."""
        if not isinstance(request, OrderRequest):
            raise InvalidParams(
                f"place takes an OrderRequest (workspace.trading), got "
                f"{type(request).__name__}: ws.buy, ws.limit ... build one for you"
            )
        return self._require().place(request)[0]

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order.  Raises ``NotFound`` / ``InvalidParams`` (final)."""
        return self._require().cancel(_reference(order_id, "order_id", "order.id"))[0]

    def close_position(self, position_id: str, quantity: Number | None = None) -> Order:
        """Close all or part of a position with a market order; returns that order.  On a
        spot account the exits holding the asset back give way first (docs/trading.md)."""
        engine = self._require()
        position = _reference(position_id, "position_id", "position.id")
        return engine.close(position, exact(quantity, "quantity"))[0]

    def order(self, order_id: str) -> Order:
        """An order (or a leg) as it stands now, by id (an old final one from the
        journal).  Raises ``NotFound``."""
        return self._require().order(_reference(order_id, "order_id", "order.id"))

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """The exchange's rules for ``symbol`` (tick, lot step, minimums ...); ``None``
        while no listing is loaded.  Raises ``UnknownSymbolError`` for a symbol the
        loaded listing does not have."""
        # a typo must not read as "not loaded yet": None was the answer to both
        name = self._listed(symbol)
        return self._require().account.symbol_info(name)

    def _listed(self, symbol: str) -> str:
        """``symbol`` normalised; ``UnknownSymbolError`` when the loaded listing does not
        have it (while none is loaded, any well-formed symbol passes).  A view of an
        unlisted symbol would otherwise answer empty, and a typo would look like a quiet
        market."""
        engine = self._require()
        name = engine.normalize(symbol)  # (in a replay: one of the recorded symbols)
        found = engine.account.rules.lookup(name)
        if isinstance(found, Refusal) and found.code is ReasonCode.UNKNOWN_SYMBOL:
            raise UnknownSymbolError(found.reason)
        return name

    def round_qty(self, symbol: str, quantity: Number) -> Decimal:
        """``quantity`` (>= 0) rounded down to ``symbol``'s lot step (Decimal in, Decimal
        out); unchanged while no listing is loaded.  Raises ``UnknownSymbolError`` for a
        symbol the loaded listing does not have."""
        return round_qty(self.symbol_info(symbol), _amount(quantity, "quantity"))

    def round_price(self, symbol: str, price: Number) -> Decimal:
        """``price`` (>= 0) rounded to ``symbol``'s nearest tick (Decimal in, Decimal
        out); as ``round_qty`` for an unknown symbol."""
        return round_price(self.symbol_info(symbol), _amount(price, "price"))

    @property
    def balances(self) -> Mapping[str, Balance]:
        """``{asset: Balance(free, locked)}`` of the spot wallet."""
        return self._require().account.balances()

    # -- strategy callbacks ------------------------------------------------------------
    # each decorates directly (``@ws.on_tick``: the function back) or takes symbols
    # (``@ws.on_tick("BTCUSDT")``: a decorator that hands the function back)
    @overload
    def on_tick(self, function: F, /) -> F: ...
    @overload
    def on_tick(self, *symbols: str) -> Callable[[F], F]: ...
    def on_tick(self, *symbols: Any) -> Any:
        """``@ws.on_tick("BTCUSDT")`` or ``@ws.on_tick`` (every symbol): ``fn(tick)``
        for each ticker/trade, sync or async."""
        return self._decorator("tick", symbols)

    @overload
    def on_fill(self, function: F, /) -> F: ...
    @overload
    def on_fill(self, *symbols: str) -> Callable[[F], F]: ...
    def on_fill(self, *symbols: Any) -> Any:
        """``fn(fill)`` for each fill (a ``Fill``), sync or async."""
        return self._decorator("fill", symbols)

    @overload
    def on_order(self, function: F, /) -> F: ...
    @overload
    def on_order(self, *symbols: str) -> Callable[[F], F]: ...
    def on_order(self, *symbols: Any) -> Any:
        """``fn(order)`` for each order state change (an ``Order``), sync or async."""
        return self._decorator("order", symbols)

    def _decorator(self, kind: CallbackKind, args: tuple[str | StrategyFunction, ...]) -> Any:
        if len(args) == 1 and callable(args[0]):
            return self._add(kind, args[0], ())
        if not all(isinstance(a, str) for a in args):
            raise InvalidParams("on_tick/on_fill/on_order take symbols, or decorate directly")
        # once running, a symbol the listing lacks is refused now: its callback would
        # never be called
        listed = self._listed if self.running else normalize_symbol
        names = tuple(listed(a) for a in args if isinstance(a, str))  # (all are)

        def decorate(function: F) -> F:
            self._add(kind, function, names)
            return function

        return decorate

    def _add(self, kind: CallbackKind, function: F, symbols: tuple[str, ...]) -> F:
        if not callable(function):
            raise TypeError(f"{function!r} is not callable")
        for earlier in {r[1]: None for r in self._registrations if redefines(function, r[1])}:
            # a cell run again: its new function takes the old one's place
            log.info("%s replaces its earlier definition", function.__qualname__)
            self.remove_callback(earlier)
        self._registrations.append((kind, function, symbols))
        if self.running:
            self._register(kind, function, symbols)
        return function

    def _register(
        self, kind: CallbackKind, function: StrategyFunction, symbols: tuple[str, ...]
    ) -> None:
        assert self._engine is not None
        handle = self._engine.callbacks.register(kind, function, symbols or None)
        self._callbacks.setdefault(function, []).append(handle)

    def remove_callback(self, function: StrategyFunction) -> None:
        """Stop calling ``function`` (every registration of it)."""
        self._registrations = [r for r in self._registrations if r[1] is not function]
        for handle in self._callbacks.pop(function, []):
            if self._engine is not None:
                self._engine.callbacks.unregister(handle)

    @property
    def errors(self) -> list[CallbackError]:
        """Recent strategy callback errors, with tracebacks (newest last)."""
        return [] if self._engine is None else list(self._engine.callbacks.errors)

    # -- views -----------------------------------------------------------------------
    def _journal_or_fail(self) -> Journal:
        self._require()
        assert self._journal is not None
        return self._journal

    @property
    def positions(self) -> pd.DataFrame:
        """Every position (open and closed); open ones carry their live mark, with
        ``price_ms`` and ``stale`` (a mark older than the freshness limit, or from the
        journal after a restart)."""
        journal = self._journal_or_fail()
        engine = self._require()
        return positions_frame(journal, engine.account.positions_at(engine.clock.time_ms()))

    @property
    def orders(self) -> pd.DataFrame:
        return orders_frame(self._journal_or_fail())

    @property
    def fills(self) -> pd.DataFrame:
        return fills_frame(self._journal_or_fail())

    @property
    def equity(self) -> pd.DataFrame:
        return equity_curve(self._journal_or_fail())

    @property
    def portfolio(self) -> Portfolio:
        return self._require().account.portfolio()

    @property
    def account(self) -> Account:
        return self._require().account

    @property
    def open_orders(self) -> list[Order]:
        return self._require().account.open_orders

    @property
    def metrics(self) -> dict[str, Any]:
        """Latencies (ms), rates (/s) and counters; see docs/engine.md.  A stopped
        workspace has none: ``{"feed": "stopped", "source": ...}``."""
        if not self.running:
            return {"feed": "stopped", "source": self.feed_kind}
        engine = self._require()
        snapshot: dict[str, Any] = dict(engine.metrics.snapshot())
        snapshot["subscribers"] = engine.hub.subscribers
        snapshot["conflated"] = engine.hub.conflated
        snapshot["server_clients"] = engine.server_clients
        snapshot["feed"] = engine.feed_state
        snapshot["source"] = engine.source
        return snapshot

    @property
    def status(self) -> dict[str, Any]:
        if self._engine is None:
            return {"running": False, "feed": "stopped", "source": self.feed_kind}
        engine = self._engine
        status = engine.status_message()
        return {
            "user": self.user,
            "running": engine.running,
            "feed": engine.feed_state if engine.running else "stopped",
            "source": engine.source,
            "symbols": sorted(self._symbols),
            "server_clients": engine.server_clients,
            "servers": [server.port for server in self._servers],
            "tasks": engine.task_names,
            "seq": engine.seq if engine.running else None,
            "exchange_info": status.get("exchange_info"),
            "reason": status.get("reason"),
            "last_price_ms": status.get("last_price_ms"),
            "last_gap": status.get("last_gap"),
            "healthy": engine.health()["healthy"],
            "journal": engine.journal_state,
            # "book": orders fill against local order books; "top_of_book": without
            # depth data, whole at the best price (docs/trading.md)
            "fill_model": engine.account.fill_model(now_ms=engine.clock.time_ms()),
            "fill_models": engine.account.fill_models(engine.clock.time_ms()),
            # the account's logic compiled with mypyc, or plain Python, and why
            # (workspace/native.py)
            "account_core": native.state().describe(),
        }

    def __repr__(self) -> str:
        if not self.running:
            return f"<Workspace feed={self.feed_kind} stopped>"
        portfolio = self.portfolio
        return (
            f"<Workspace feed={self.feed_kind} {self.status['feed']} "
            f"symbols={len(self._symbols)} open_orders={len(self.open_orders)} "
            f"equity={portfolio.equity:.2f}>"
        )
