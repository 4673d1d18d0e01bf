"""The paper account: a pure, synchronous, deterministic state machine.

In: market records and commands, each with its time (``ts_ms``).  Out: events.  The
account never reads a clock, never does I/O and draws ids from counters, so the same
inputs always give the same events.  State changes only in ``apply(event)``: every
command computes events and applies them one by one (so later decisions in the same
step see earlier ones), and a rebuild from the journal applies the very same events.

This module holds the state and the one transition; the decisions live beside it, one
concept each: ``placement`` (an order from a request: checks, filters, holdings,
reservations), ``execution`` (fills, triggers, market orders waiting for a price),
``exits`` (orders that belong to a holding), ``groups`` (OCO / bracket legs),
``trailing``, ``rules`` (exchange filters), ``wallet``.

Money is ``Decimal`` in a private context wide enough (60 digits) that sums and
products never round; the only rounding is the documented cost split in
``average_cost.apply_fill``.

**Journal first.**  With a sink attached (``attach_journal``: the engine's journal
append), every step -- a command, or a price that fires something -- is computed and
applied with an undo log, handed to the sink, and kept only once the sink returned:
if the sink raises (the journal cannot write), the step is taken back and the account
is exactly as it was, then the error goes to the caller.  No step exists that the
journal does not hold, so a rebuild always gives the state the clients were told
about.  ``suspended`` (the engine sets it while its journal cannot write) keeps prices
moving but fires nothing: orders that would have fired stay as they are and fire on a
later price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
)
from operator import mul
from types import MappingProxyType
from typing import TypeVar, cast

import msgspec

from workspace.errors import InvalidParams, NotFound
from workspace.market.book import OrderBook
from workspace.market.exchange_info import SymbolInfo
from workspace.market.records import BookTicker, MiniTicker, Ticker, Trade
from workspace.trading import execution, exits, placement, validation
from workspace.trading.average_cost import apply_fill
from workspace.trading.balance import Balance
from workspace.trading.config import AccountConfig
from workspace.trading.depth import Depth, DepthState
from workspace.trading.events import (
    AccountEvent,
    FillEvent,
    MarkEvent,
    OrderEvent,
    PositionEvent,
    ValuationEvent,
)
from workspace.trading.groups import finish
from workspace.trading.ids import IdCounters
from workspace.trading.market_state import Quote
from workspace.trading.marks import MarkBook
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.order_store import OrderStore
from workspace.trading.orders import Fill, Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position, PositionStatus, PositionType
from workspace.trading.reasons import ReasonCode
from workspace.trading.requests import OrderRequest, OrderType, Side
from workspace.trading.rules import SymbolRules, split_symbol
from workspace.trading.wallet import Wallet

ZERO = Decimal(0)
TWO = Decimal(2)
EXACT_DIGITS = 60  # the account's arithmetic: wide enough that sums and products never round

S = OrderStatus
_replace = msgspec.structs.replace

MarketRecord = Ticker | MiniTicker | BookTicker | Trade
EventSink = Callable[[list[AccountEvent]], object]
"""Where a step's events go before the step counts (the engine: the journal append);
raising refuses the step."""
T = TypeVar("T")
E = TypeVar("E")
_MISSING = object()


class _Step:
    """What a step that may be taken back changed in the account's own fields (the
    store, the wallet and the marks keep logs of their own)."""

    __slots__ = (
        "by_id",
        "closed",
        "depths",
        "fees",
        "fill_count",
        "fills",
        "ids",
        "initial",
        "position_order",
        "positions",
        "realized",
        "unvalued",
    )

    def __init__(self, account: Account) -> None:
        ids = account.ids
        self.ids = (ids.order, ids.fill, ids.position, ids.seq_no)
        self.realized = account._realized
        self.fees = account._fees
        self.initial = account._initial_value
        self.fills = len(account._fills)
        self.fill_count = account._fill_count
        self.closed = len(account._closed)
        self.unvalued = dict(account._unvalued) if account._unvalued else None
        # (dict, key, value before or _MISSING), newest last
        self.positions: list[tuple[dict[str, Position], str, object]] = []
        self.by_id: list[tuple[str, object]] = []
        self.position_order: list[str] | None = None  # open positions' order, if it moved
        # the books' record of what orders took from them, as each was before the step
        self.depths: dict[int, tuple[Depth, DepthState]] = {}


class Account:
    def __init__(
        self,
        config: AccountConfig | None = None,
        symbols: Collection[str] | None = None,
        *,
        rules: Mapping[str, SymbolInfo] | None = None,
    ) -> None:
        """``symbols``: the only symbols the account may trade (no filters); ``rules``:
        the exchange's listing with its filters (``exchangeInfo``).  Neither: any
        well-formed symbol quoted in the account's currency, unchecked."""
        self.config = config if config is not None else AccountConfig()
        self.quote_asset = self.config.quote_currency
        self.ctx = Context(
            prec=EXACT_DIGITS,
            rounding=ROUND_HALF_EVEN,
            traps=[InvalidOperation, DivisionByZero, Overflow],
        )
        self.rules = SymbolRules(self.quote_asset, listing=rules, allowed=symbols)
        self.wallet = Wallet(self.ctx, self.config.initial_assets())
        self.max_age_ms = self.config.max_price_age_ms
        self.now_ms = 0  # the latest time the account was told about
        self.store = OrderStore()  # every order, and the indexes derived from them
        self.ids = IdCounters()
        # open, by symbol; their live mark (current_price, unrealized_pnl) is in _marks
        self._positions: dict[str, Position] = {}
        self._marks = MarkBook(self.ctx)
        self._position_by_id: dict[str, Position] = {}  # open and closed
        # oldest out first, as many as each step pushed past the bound: deques (a list
        # trimmed in batches freed 1,250 fills inside one order's step)
        self._closed: deque[Position] = deque()
        self._fills: deque[Fill] = deque()
        self._quotes: dict[str, Quote] = {}
        self._depths: dict[str, Depth] = {}  # the engine's books, for the book fill model
        self._bases: dict[str, str] = {}  # symbol -> base asset (split once)
        self._realized = ZERO
        self._fees = ZERO
        self._initial_value = self.config.initial_balance
        # assets the account started with that have no price yet: symbol -> asset
        self._unvalued: dict[str, str] = {
            asset + self.quote_asset: asset
            for asset, amount in self.config.balances.items()
            if amount
        }
        self._fill_count = 0
        self._sink: EventSink | None = None
        self._step: _Step | None = None  # the step being computed, when it may be taken back
        self.suspended = False
        # symbols with orders accepted before any price of theirs: judged against the
        # market at their first one (placement.judge_at_first_price)
        self.unjudged: set[str] = set()
        self._keep: int | None = None  # final orders (fills, closed positions) kept in memory
        self._trim_in_step = True  # False: the owner calls trim() once a step's events are out

    # -- journal first and bounded memory -------------------------------------------------
    def attach_journal(self, sink: EventSink | None) -> None:
        """Hand every step's events to ``sink`` before the step counts (see the module
        docstring); ``None`` detaches (a pure account: steps count at once)."""
        self._sink = sink

    def retain(self, final_orders: int | None, *, owner_trims: bool = False) -> None:
        """Keep at most ``final_orders`` final orders in memory (oldest final leave
        first), and as many fills and closed positions; ``None`` keeps everything.  The
        journal keeps them all: views of old orders read it.

        Each step lets go of what it pushed past the bound before it returns, unless
        ``owner_trims``: then the owner calls :meth:`trim` once it is done with the
        step's events (the engine does after its replies are written), so freeing the
        oldest order and its fills is not part of the step's latency (7 us of a 20-level
        market order's 62 at the engine's bound)."""
        if final_orders is not None and final_orders < 1:
            raise ValueError("final_orders must be >= 1 (or None)")
        self._keep = final_orders
        self._trim_in_step = not owner_trims
        self.trim()

    def trim(self) -> None:
        """Let what is beyond ``retain``'s bound leave memory (between steps only)."""
        keep = self._keep
        if keep is None or self._step is not None:
            return
        self.store.trim(keep)
        fills = self._fills
        for _ in range(len(fills) - keep):
            fills.popleft()
        closed = self._closed
        for _ in range(len(closed) - keep):
            gone = closed.popleft()
            if self._position_by_id.get(gone.id) is gone:
                del self._position_by_id[gone.id]

    @property
    def complete_in_memory(self) -> bool:
        """Every order the account ever had is still in ``orders`` (none left memory)."""
        return self.store.evicted == 0

    @property
    def fill_count(self) -> int:
        """Every fill the account has applied (``fills`` may hold only the latest)."""
        return self._fill_count

    def _durably(self, compute: Callable[[list[AccountEvent]], T]) -> tuple[T, list[AccountEvent]]:
        """Run one step: its events are applied as they are made (later decisions see
        earlier ones), then handed to the sink; if anything raises, the step is taken
        back whole.  A step inside a step joins it."""
        events: list[AccountEvent] = []
        sink = self._sink
        if sink is None or self._step is not None:
            with localcontext(self.ctx):
                result = compute(events)
            if self._step is None and self._trim_in_step:
                self.trim()
            return result, events
        self._step = _Step(self)
        self.store.begin()
        self.wallet.begin()
        self._marks.begin()
        try:
            with localcontext(self.ctx):
                result = compute(events)
            if events:
                sink(events)
        except BaseException:
            self._rollback()
            raise
        self._step = None
        self.store.commit()
        self.wallet.commit()
        self._marks.commit()
        if self._trim_in_step:
            self.trim()
        return result, events

    def _depth_changing(self, depth: Depth) -> None:
        """A book's record of what orders took from it is about to change: inside a
        step that may be taken back, keep it as it was (once per book and step)."""
        step = self._step
        if step is not None and id(depth) not in step.depths:
            step.depths[id(depth)] = (depth, depth.state())

    def _rollback(self) -> None:
        step = self._step
        assert step is not None
        self._step = None
        for depth, state in step.depths.values():
            depth.restore(state)
        self.store.rollback()
        self.wallet.rollback()
        with localcontext(self.ctx):
            self._marks.rollback()
        ids = self.ids
        ids.order, ids.fill, ids.position, ids.seq_no = step.ids
        self._realized = step.realized
        self._fees = step.fees
        self._initial_value = step.initial
        _truncate(self._fills, step.fills)
        self._fill_count = step.fill_count
        _truncate(self._closed, step.closed)
        if step.unvalued is not None:
            self._unvalued = step.unvalued
        for table, key, before in reversed(step.positions):
            if before is _MISSING:
                table.pop(key, None)
            else:
                table[key] = cast(Position, before)
        for position_id, before in reversed(step.by_id):
            if before is _MISSING:
                self._position_by_id.pop(position_id, None)
            else:
                self._position_by_id[position_id] = cast(Position, before)
        if step.position_order is not None:
            self._positions = {s: self._positions[s] for s in step.position_order}

    # -- views -------------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str] | None:
        """The symbols the account may trade, when it is limited to a set."""
        listing = self.rules.listing
        return None if listing is None else frozenset(listing)

    def set_rules(self, listing: Mapping[str, SymbolInfo] | None) -> None:
        """The exchange's listing arrived (or changed): check orders against it from now
        on.  Market data, like prices: not journaled, not account state."""
        self.rules.set_listing(listing)

    def expect_rules(self) -> None:
        """A listing is on its way: refuse orders (NO_MARKET_DATA) until it arrives."""
        if self.rules.listing is None:
            self.rules.pending = True

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        return self.rules.info(symbol.upper())

    @property
    def orders(self) -> Mapping[str, Order]:
        """Every top-level order by id (legs are inside their group)."""
        return self.store.orders

    @property
    def open_orders(self) -> list[Order]:
        return self.store.open_orders

    def open_orders_on(self, symbol: str) -> list[Order]:
        """The open top-level orders of ``symbol``, in placement order."""
        return self.store.open_on(symbol)

    @property
    def positions(self) -> list[Position]:
        """Open positions (copies: the account's own objects cannot be touched), marked,
        with ``stale`` judged at the latest time the account saw."""
        return self.positions_at(self.now_ms)

    def positions_at(self, now_ms: int) -> list[Position]:
        """Open positions with ``stale`` judged at ``now_ms`` (the caller's clock: a
        feed that went quiet makes marks stale without any record arriving)."""
        return [self._marked(p, now_ms) for p in self._positions.values()]

    def _marked(self, position: Position, now_ms: int) -> Position:
        symbol = position.symbol
        quote = self._quotes.get(symbol)
        price_ms = quote.last_ms if quote is not None else None
        return _replace(
            position,
            current_price=self._marks.price(symbol),
            unrealized_pnl=self._marks.pnl(symbol),
            price_ms=price_ms,
            stale=price_ms is None or now_ms - price_ms > self.max_age_ms,
        )

    @property
    def closed_positions(self) -> list[Position]:
        return [p.copy() for p in self._closed]

    def symbols_in_use(self) -> set[str]:
        """Symbols with an open order or an open position (they need prices), without
        copying any position."""
        return self.store.symbols() | set(self._positions)

    @property
    def has_positions(self) -> bool:
        return bool(self._positions)

    @property
    def fills(self) -> list[Fill]:
        return list(self._fills)

    def order(self, order_id: object) -> Order:
        """An order or a leg by id.  Raises ``NotFound``."""
        return self.store.order(_id_of(order_id, "order"))

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        """The open order placed with ``client_order_id``, if any."""
        return self.store.by_client_id(client_order_id)

    def position(self, position_id: object) -> Position:
        found = self._position_by_id.get(_id_of(position_id, "position"))
        if found is None:
            raise NotFound(f"no position {position_id!r}")
        if self._positions.get(found.symbol) is found:
            return self._marked(found, self.now_ms)
        return found.copy()

    def quote(self, symbol: str) -> Quote:
        self._book_tops()
        return _replace(self._quotes.get(symbol.upper(), Quote()))

    def _book_tops(self) -> None:
        """The best bid / ask of each local book newer than the symbol's book ticker
        become its quote's (marks, views).  Read when asked, not on every change of
        the book: a book changes ten times a second and its top is rarely read."""
        for symbol, depth in self._depths.items():
            quote = self._quotes.get(symbol)
            if quote is None:
                quote = self._quotes[symbol] = Quote()
            if quote.book_ms is not None and quote.book_ms > depth.book_ms:
                continue
            bid, ask = depth.book.best_bid(), depth.book.best_ask()
            if bid is not None and ask is not None:
                quote.bid, quote.ask = bid[0], ask[0]
                quote.book_ms = depth.book_ms

    def balances(self) -> Mapping[str, Balance]:
        """``{asset: Balance(free, locked)}`` for every asset held (and the quote)."""
        with localcontext(self.ctx):
            return self.wallet.balances(self.quote_asset)

    def portfolio(self) -> Portfolio:
        """O(1) in positions: every total is kept up to date as events and prices arrive."""
        with localcontext(self.ctx):
            quote = self.quote_asset
            wallet = self.wallet
            cash = wallet.total(quote)
            unrealized = self._marks.unrealized
            equity = cash + self._marks.net_cost + unrealized
            initial = self._initial_value
            return Portfolio(
                initial_balance=initial,
                balance=cash,
                equity=equity,
                realized_pnl=self._realized,
                unrealized_pnl=unrealized,
                total_pnl=equity - initial,
                fees_paid=self._fees,
                positions_count=len(self._positions),
                locked=wallet.locked(quote),
                available=wallet.free(quote),
                balances=wallet.balances(quote),
            )

    def revalue(self) -> Decimal:
        """Recompute the unrealized P&L of every open position from the latest prices
        (a full mark-to-market, vectorised in ``MarkBook.revalue``); returns the
        total.  The incremental total kept by ``on_market`` must always equal it."""
        return self._marks.revalue()

    def fill_model(self, symbol: str | None = None, now_ms: int | None = None) -> str:
        """``"book"`` when orders of ``symbol`` fill against its local order book now
        (a book is attached and fresh), else ``"top_of_book"`` (docs/trading.md).
        Without a symbol: ``"book"`` when at least one book is fresh and every symbol
        with open orders has a fresh book."""
        now = self.now_ms if now_ms is None else now_ms
        if symbol is not None:
            return "book" if self.depth_for(symbol.upper(), now) is not None else "top_of_book"
        fresh = {s for s in self._depths if self.depth_for(s, now) is not None}
        if not fresh or not self.store.symbols() <= fresh:
            return "top_of_book"
        return "book"

    def fill_models(self, now_ms: int | None = None) -> dict[str, str]:
        """The fill model of every symbol with a book or an open order."""
        now = self.now_ms if now_ms is None else now_ms
        symbols = sorted(set(self._depths) | self.store.symbols())
        return {s: self.fill_model(s, now) for s in symbols}

    # -- what the decision modules read ------------------------------------------------
    def quote_for(self, symbol: str) -> Quote | None:
        """The account's own quote object (read it, do not change it)."""
        return self._quotes.get(symbol)

    def book(self, symbol: str) -> OrderBook | None:
        """The local order book of ``symbol`` the engine handed in, if any (fresh or
        not)."""
        depth = self._depths.get(symbol)
        return depth.book if depth is not None else None

    def depth_for(self, symbol: str, now_ms: int) -> Depth | None:
        """The book of ``symbol`` if it is fresh at ``now_ms`` (its last change within
        the freshness limit): the book fill model applies."""
        depth = self._depths.get(symbol)
        if depth is None or not depth.fresh(now_ms, self.max_age_ms):
            return None
        return depth

    def position_on(self, symbol: str) -> Position | None:
        """The open position of ``symbol`` (the account's own object: read only)."""
        return self._positions.get(symbol)

    def base_of(self, symbol: str) -> str:
        base = self._bases.get(symbol)
        if base is None:
            base = self._bases[symbol] = split_symbol(symbol, self.quote_asset)
        return base

    @property
    def has_waiting(self) -> bool:
        """Market orders wait for a fresh price (``expire`` has work to do)."""
        return self.store.has_waiting

    def is_unvalued(self, symbol: str) -> bool:
        return symbol in self._unvalued

    def emit(self, event: AccountEvent, events: list[AccountEvent]) -> None:
        self.apply(event)
        events.append(event)

    def emit_order(self, order: Order, ts_ms: int, events: list[AccountEvent]) -> None:
        self.emit(OrderEvent(ts_ms=ts_ms, order=order), events)

    def emit_fills(
        self,
        fills: list[Fill],
        ts_ms: int,
        events: list[AccountEvent],
        sums: tuple[Decimal, Decimal, Decimal] | None = None,
    ) -> None:
        """``emit`` one ``FillEvent`` carrying the fills of one execution of one order
        (a walk of the book: one per level), without the dispatch (inside a step: the
        account's exact arithmetic is on).  ``sums``: their total quantity, value and
        fee, when the execution has them (what applying the event adds up again)."""
        first = fills[0]
        if len(fills) == 1:
            event = FillEvent(ts_ms=ts_ms, fill=first)
            self._apply_fill(first)
        else:
            event = FillEvent(ts_ms=ts_ms, fill=first, more=tuple(fills[1:]))
            self._apply_fills(event, sums)
        events.append(event)

    # -- market data -------------------------------------------------------------------
    def on_market(self, record: MarketRecord, ts_ms: int) -> list[AccountEvent]:
        """Take one market record at ``ts_ms`` (when it arrived).

        Trades move the last price, marks and triggers.  Tickers move the last price
        and the book (when they carry bid/ask), and trigger only while no trade of the
        symbol arrived within the freshness limit (a feed without a trade stream).
        Book tickers move the book.  A fresh price also fills the market orders of its
        symbol that wait for one.

        The hot path: a price that reaches no order costs a few dict lookups and, for
        a symbol with a position, one exact re-mark (see ``MarkBook.mark``)."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        symbol = record.symbol
        quote = self._quotes.get(symbol)
        if quote is None:
            quote = self._quotes[symbol] = Quote()
        kind = type(record)
        quantity: Decimal | None = None
        event_ms: int | None = None
        if kind is Trade:
            trade = cast(Trade, record)
            price = trade.price
            quote.trade_ms = ts_ms
            trigger = True
            quantity = trade.quantity
            event_ms = trade.trade_time
            depth = self._depths.get(symbol)
            if depth is not None and not depth.newer_than(event_ms):
                # the book does not show this trade yet: what it took is gone
                depth.trade_printed(price, quantity, not trade.buyer_is_maker, event_ms)
        elif kind is BookTicker:
            book = cast(BookTicker, record)
            quote.bid = book.bid_price
            quote.ask = book.ask_price
            quote.book_ms = ts_ms
            judged = self._judged(symbol, ts_ms) if self.unjudged else []
            if self.store.has_waiting and not self.suspended:
                return (
                    judged
                    + self._durably(
                        lambda events: events.extend(
                            execution.after_price(self, symbol, None, ts_ms, trigger=False)
                        )
                    )[1]
                )
            return judged
        else:
            ticker = cast(Ticker | MiniTicker, record)
            if kind is Ticker:
                full = cast(Ticker, record)
                if full.bid_price and full.ask_price:
                    quote.bid = full.bid_price
                    quote.ask = full.ask_price
                    quote.book_ms = ts_ms
                quantity = full.last_quantity
                event_ms = full.event_time
            price = ticker.last_price
            traded = quote.trade_ms
            trigger = traded is None or ts_ms - traded > self.max_age_ms
        quote.last = price
        quote.last_ms = ts_ms
        if symbol in self._positions:  # most prices are of symbols without a position
            self._marks.mark(symbol, price)
        store = self.store
        if self.suspended:
            return []
        judged = self._judged(symbol, ts_ms) if self.unjudged else []
        if self._unvalued or store.has_waiting or (trigger and store.may_fire(symbol, price)):
            return (
                judged
                + self._durably(
                    lambda events: events.extend(
                        execution.after_price(
                            self,
                            symbol,
                            price,
                            ts_ms,
                            trigger=trigger,
                            quantity=quantity,
                            trade_ms=event_ms,
                        )
                    )
                )[1]
            )
        return judged

    def _judged(self, symbol: str, ts_ms: int) -> list[AccountEvent]:
        """The orders accepted before ``symbol``'s first price, judged now that it has
        one (the symbol then leaves ``unjudged``)."""
        if symbol not in self.unjudged or self.suspended:
            return []

        def judge(events: list[AccountEvent]) -> bool:
            judged = placement.judge_at_first_price(self, symbol, ts_ms, events)
            if judged:
                # journaled, not applied (a mark changes nothing live): a rebuild learns
                # from its price that the symbol's orders were judged (``_apply_mark``)
                events.append(self.mark(ts_ms))
            return judged

        judged, events = self._durably(judge)
        if judged:
            self.unjudged.discard(symbol)
        return events

    def on_book(self, symbol: str, book: OrderBook | None, ts_ms: int) -> list[AccountEvent]:
        """The engine's local order book of ``symbol`` changed (a diff applied, or a
        book built from a snapshot), at ``ts_ms`` on the engine's clock; ``None``: the
        book was lost (a sequence gap; it is being rebuilt).

        The account keeps the reference and reads the book only inside its own calls
        (here, and when an order executes): from now on, while the book keeps changing
        within the freshness limit, orders of ``symbol`` fill against it (the book fill
        model); without it they fill at the top of the book.  A different object is a
        rebuilt book: what the account's orders took from the old one is forgotten.
        Orders that wait for liquidity take what the book now offers; market orders
        that waited for a fresh price execute."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        if book is None:
            self._depths.pop(symbol, None)
            return []
        depth = self._depths.get(symbol)
        if depth is None or depth.book is not book:
            depth = self._depths[symbol] = Depth(book, ts_ms, self._depth_changing)
        else:
            depth.changed(ts_ms)
        store = self.store
        judged = self._judged(symbol, ts_ms) if self.unjudged else []
        if self.suspended or not (store.has_waiting or store.wants_liquidity(symbol)):
            return judged

        def fill(events: list[AccountEvent]) -> None:
            if store.has_waiting:
                execution.expire_waiting(self, ts_ms, events)
                if store.waiting(symbol):
                    execution.fill_waiting(self, symbol, ts_ms, events)
            if store.wants_liquidity(symbol):
                execution.fill_from_book(self, symbol, ts_ms, events)

        return judged + self._durably(fill)[1]

    def expire(self, now_ms: int) -> list[AccountEvent]:
        """Expire the market orders whose wait for a fresh price is over (the engine
        calls this on its clock; a replay's records do it on data time)."""
        if now_ms > self.now_ms:
            self.now_ms = now_ms
        if not self.store.has_waiting or self.suspended:
            return []
        return self._durably(lambda events: execution.expire_waiting(self, now_ms, events))[1]

    def mark(self, ts_ms: int) -> MarkEvent:
        """A ``MarkEvent`` with the known prices and the equity now.  Applying it
        changes nothing on this account; hand it to the journal to sample the equity
        curve and to let a rebuild start from these prices."""
        p = self.portfolio()
        self._book_tops()
        quotes = sorted(self._quotes.items())
        return MarkEvent(
            ts_ms=ts_ms,
            prices={s: q.last for s, q in quotes if q.last is not None},
            bids={s: q.bid for s, q in quotes if q.bid is not None},
            asks={s: q.ask for s, q in quotes if q.ask is not None},
            equity=p.equity,
            unrealized_pnl=p.unrealized_pnl,
        )

    def restore_prices(self, prices: Mapping[str, Decimal]) -> None:
        """Set the last price of symbols from the journal (ticks are not stored) and
        re-mark their positions.  Such prices are never fresh: nothing fills against
        them, and the positions they mark say ``stale`` until a live price arrives."""
        with localcontext(self.ctx):
            for symbol, price in prices.items():
                self._set_restored(symbol, price)

    def _set_restored(self, symbol: str, price: Decimal) -> None:
        quote = self._quotes.setdefault(symbol, Quote())
        quote.last = price
        quote.last_ms = None
        if symbol in self._positions:
            self._marks.mark(symbol, price)

    # -- commands ----------------------------------------------------------------------
    def place(self, request: OrderRequest, ts_ms: int) -> tuple[Order, list[AccountEvent]]:
        """Place an order.  Bad input gives a REJECTED order (``reason``,
        ``reason_code``), never an exception.  The first event is the order's NEW or
        REJECTED event; fills that happen at once follow in the same list.  A repeat of
        the ``client_order_id`` of an open order returns that order, with no event."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        cid = validation.raw(request, "client_order_id")
        repeated = self.store.by_client_id(cid) if isinstance(cid, str) else None
        if repeated is not None:
            return repeated, []
        return self._durably(
            lambda events: self.store.top(self._place(request, ts_ms, events, closing=None).id)
        )

    def _place(
        self,
        request: OrderRequest,
        ts_ms: int,
        events: list[AccountEvent],
        closing: Position | None,
    ) -> Order:
        next_order = self.ids.order
        seq_no = self.ids.new_seq_no()
        order, refusal = placement.prepare(self, request, ts_ms, seq_no=seq_no, closing=closing)
        if refusal is not None:
            # give back the ids of legs that were built and then refused: the journal
            # never sees them, and a rebuild must continue with the same next id
            self.ids.order = next_order
            self.ids.saw_order(order.id)
            rejected = _replace(
                order, status=S.REJECTED, reason=refusal.reason, reason_code=refusal.code.value
            )
            self.emit_order(rejected, ts_ms, events)
            return rejected
        if closing is not None and not self.config.allow_short:
            exits.free_for_close(self, closing, order, ts_ms, events)
        self.emit_order(order, ts_ms, events)
        execution.after_placed(self, self.store.top(order.id), ts_ms, events)
        return order

    def cancel(self, order_id: object, ts_ms: int) -> tuple[Order, list[AccountEvent]]:
        """Cancel an order (a leg id cancels its whole group).  Raises ``NotFound``, or
        ``InvalidParams`` when the order is already final."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        order_id = _id_of(order_id, "order")
        with localcontext(self.ctx):
            top_id = self.store.top_id(order_id)
            if top_id is None:
                raise NotFound(f"no order {order_id!r}")
            order = self.store.top(top_id)
            if is_final(order.status):
                raise InvalidParams(f"order {order_id} is already {order.status}")
            done = finish(
                order, S.CANCELED, ts_ms, "canceled by user", ReasonCode.CANCELED_BY_USER.value
            )

        def cancel(events: list[AccountEvent]) -> Order:
            self.emit_order(done, ts_ms, events)
            return self.store.top(done.id)

        return self._durably(cancel)

    def close_position(
        self, position_id: object, quantity: object, ts_ms: int
    ) -> tuple[Order, list[AccountEvent]]:
        """Close all (``quantity=None``) or part of an open position with a market
        order.  On a spot account the exits that hold the asset back (OCO, stop-loss,
        take-profit ... of this holding) shrink or end first (``HOLDING_REDUCED`` /
        ``HOLDING_CLOSED``) to free what the close sells.  A full close sells the exact
        holding even below the lot or notional minimum.  Raises ``NotFound`` for an
        unknown or closed position and ``InvalidParams`` for a bad quantity."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        position_id = _id_of(position_id, "open position")
        with localcontext(self.ctx):
            position = self._position_by_id.get(position_id)
            if position is None or position.status is not PositionStatus.OPEN:
                raise NotFound(f"no open position {position_id!r}")
            if quantity is None:
                quantity = position.quantity
            elif (
                not isinstance(quantity, Decimal)
                or not quantity.is_finite()
                or quantity <= 0
                or quantity > position.quantity
            ):
                given = str(quantity) if isinstance(quantity, Decimal) else repr(quantity)
                raise InvalidParams(
                    f"quantity must be > 0 and <= {position.quantity}, got {given:.40}"
                )
            side = Side.SELL if position.type is PositionType.BUY else Side.BUY
            request = OrderRequest(
                symbol=position.symbol, side=side, type=OrderType.MARKET, quantity=quantity
            )
        return self._durably(
            lambda events: self.store.top(self._place(request, ts_ms, events, closing=position).id)
        )

    # -- the one transition ------------------------------------------------------------
    def apply(self, event: AccountEvent) -> None:
        """Apply one event.  Live steps and journal rebuilds both come through here."""
        if getcontext().prec >= EXACT_DIGITS:
            # already inside the account's exact arithmetic (a live step): entering it
            # again for each event of a 20-level walk costs more than applying the event
            self._apply(event)
            return
        with localcontext(self.ctx):
            self._apply(event)

    def _apply(self, event: AccountEvent) -> None:
        if isinstance(event, OrderEvent):
            self._apply_order(event.order)
        elif isinstance(event, FillEvent):
            if event.more:
                self._apply_fills(event)
            else:
                self._apply_fill(event.fill)
        elif isinstance(event, PositionEvent):
            self._apply_position(event.position)
        elif isinstance(event, ValuationEvent):
            self._apply_valuation(event)
        else:
            self._apply_mark(event)

    def _apply_order(self, order: Order) -> None:
        old, new_legs = self.store.put(order)
        for leg in new_legs:  # ids and counters only move for a new leg
            self.ids.saw_order(leg.id)
        if old is None:  # a known order's id and seq_no were counted when it was new
            self.ids.saw_order(order.id)
            self.ids.saw_seq_no(order.seq_no)
            if order.unjudged and not is_final(order.status):
                self.unjudged.add(order.symbol)  # judged at the symbol's first price
        elif not is_final(old.status):
            self._hold(old, -1)
        if not is_final(order.status):
            self._hold(order, 1)

    def _hold(self, order: Order, sign: int) -> None:
        """Lock (``sign`` 1) or release (-1) what an open order holds back."""
        if order.reserved and order.reserved_asset is not None:
            self.wallet.lock(order.reserved_asset, order.reserved if sign > 0 else -order.reserved)
        if order.exit_reserved:
            # a bracket's live exits while its entry still works (the base asset)
            amount = order.exit_reserved
            self.wallet.lock(self.base_of(order.symbol), amount if sign > 0 else -amount)

    def _apply_fill(self, fill: Fill) -> None:
        quote = self.quote_asset
        fee_asset = fill.fee_asset or quote
        fee = fill.fee
        wallet = self.wallet
        notional = fill.quantity * fill.price
        buy = fill.side is Side.BUY
        wallet.move(self.base_of(fill.symbol), fill.quantity if buy else -fill.quantity)
        cash = -notional if buy else notional
        if fee_asset == quote:
            self._fees += fee
            wallet.move(quote, cash - fee)  # exact: one move instead of two
        else:
            # fees are counted in the quote currency: one paid in another asset at the fill
            self._fees += fee * fill.price
            wallet.move(quote, cash)
            wallet.move(fee_asset, -fee)
        self._fills.append(fill)
        self._fill_count += 1
        self.ids.saw_fill(fill.id)

    def _apply_fills(
        self, event: FillEvent, sums: tuple[Decimal, Decimal, Decimal] | None = None
    ) -> None:
        """The fills of one execution of one order (one symbol, side and fee asset):
        the wallet moves once per asset by their exact sums (the same amounts as fill
        by fill: the account's arithmetic never rounds).  Fills that do not share them
        (no execution makes such an event) apply one by one.  ``sums``: (quantity,
        value, fee) as the execution that made them added them up (a live step)."""
        fills = event.fills
        first = fills[0]
        symbol, side, fee_asset = first.symbol, first.side, first.fee_asset
        if sums is None:
            for fill in event.more:
                if fill.symbol != symbol or fill.side is not side or fill.fee_asset != fee_asset:
                    for each in fills:
                        self._apply_fill(each)
                    return
            quantities = [f.quantity for f in fills]
            quantity = sum(quantities, ZERO)
            notional = sum(map(mul, [f.price for f in fills], quantities), ZERO)
            fee = sum([f.fee for f in fills], ZERO)
        else:
            quantity, notional, fee = sums
        quote = self.quote_asset
        wallet = self.wallet
        buy = side is Side.BUY
        wallet.move(self.base_of(symbol), quantity if buy else -quantity)
        cash = -notional if buy else notional
        if fee_asset is None or fee_asset == quote:
            self._fees += fee
            wallet.move(quote, cash - fee)
        else:
            self._fees += sum(map(mul, [f.fee for f in fills], [f.price for f in fills]), ZERO)
            wallet.move(quote, cash)
            wallet.move(fee_asset, -fee)
        self._fills += fills
        self._fill_count += len(fills)
        self.ids.saw_fill(fills[-1].id)  # an execution's fill ids grow: the last is the top

    def _apply_position(self, position: Position) -> None:
        mine = _replace(position)  # (Position.copy is a call into plain Python)
        old = self._position_by_id.get(position.id)
        step = self._step
        if step is not None:
            step.by_id.append((position.id, _MISSING if old is None else old))
            current = self._positions.get(mine.symbol, _MISSING)
            step.positions.append((self._positions, mine.symbol, current))
            opens_or_closes = current is _MISSING or mine.status is not PositionStatus.OPEN
            if opens_or_closes and step.position_order is None:
                # the open positions' order before the step's first insertion or removal
                step.position_order = list(self._positions)
        if old is not None:
            self._realized -= old.realized_pnl
            if old.status is PositionStatus.OPEN:
                self._collateral(old, -1)
        self._realized += mine.realized_pnl
        self._position_by_id[mine.id] = mine
        if old is None:
            self.ids.saw_position(mine.id)
        if mine.status is PositionStatus.OPEN:
            self._collateral(mine, 1)
            self._positions[mine.symbol] = mine
            self._marks.put(mine, self._quotes.setdefault(mine.symbol, Quote()))
        else:
            current = self._positions.get(mine.symbol)
            if current is not None and current.id == mine.id:
                del self._positions[mine.symbol]
                self._marks.remove(mine.symbol)
            self._closed.append(mine)

    def _collateral(self, position: Position, sign: int) -> None:
        """A short (margin-style mode) holds back its proceeds and as much again as
        margin: twice its cost basis, in the quote currency."""
        if position.type is PositionType.SELL:
            amount = TWO * position.cost
            self.wallet.lock(self.quote_asset, amount if sign > 0 else -amount)

    def _apply_valuation(self, event: ValuationEvent) -> None:
        self._initial_value += event.quantity * event.price
        self._unvalued.pop(event.symbol, None)

    def _apply_mark(self, event: MarkEvent) -> None:
        """(A rebuild: the live engine only journals marks.)"""
        for symbol, price in event.prices.items():
            self._set_restored(symbol, price)
        for symbol, bid in event.bids.items():
            self._quotes.setdefault(symbol, Quote()).bid = bid
        for symbol, ask in event.asks.items():
            self._quotes.setdefault(symbol, Quote()).ask = ask
        if self.unjudged:
            # a symbol with a price (or a book) had its orders judged by then: ``_judged``
            # journals a mark as it judges them
            self.unjudged.difference_update(event.prices, event.bids, event.asks)

    def unvalued(self) -> Mapping[str, str]:
        """Symbol -> asset of the initial holdings still waiting for their first price."""
        return MappingProxyType(self._unvalued)

    def value_holding(self, symbol: str, price: Decimal, ts_ms: int) -> list[AccountEvent]:
        """The first price of an asset the account started with: it becomes a position
        at that cost (one ``ValuationEvent`` and the position's event)."""
        asset = self._unvalued.get(symbol)
        if asset is None:
            return []

        def value(events: list[AccountEvent]) -> None:
            quantity = self.wallet.total(asset)
            self.emit(
                ValuationEvent(
                    ts_ms=ts_ms, symbol=symbol, asset=asset, quantity=quantity, price=price
                ),
                events,
            )
            if quantity > 0:
                outcome = apply_fill(
                    self._positions.get(symbol),
                    symbol=symbol,
                    side=Side.BUY,
                    quantity=quantity,
                    price=price,
                    mark=price,
                    ts_ms=ts_ms,
                    new_id=self.ids.next_position(),
                )
                for changed in (outcome.closed_or_updated, outcome.opened):
                    if changed is not None:
                        self.emit(PositionEvent(ts_ms=ts_ms, position=changed), events)

        return self._durably(value)[1]


def _truncate(items: deque[E], length: int) -> None:
    """Drop the newest of ``items`` until ``length`` remain (a step taken back)."""
    for _ in range(len(items) - length):
        items.pop()


def _id_of(value: object, what: str) -> str:
    """An order or position id as given: an id that is not a string is no id of this
    account (``NotFound``).  Typed ``object`` where it comes in, so the compiled core
    does not raise TypeError where the plain one said ``NotFound``."""
    if isinstance(value, str):
        return value
    raise NotFound(f"no {what} {value!r}")
