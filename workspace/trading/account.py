"""The paper account: a pure, synchronous, deterministic state machine.

In: market records and commands, each with its time (``ts_ms``).  Out: events.  The
account never reads a clock, never does I/O and draws ids from counters, so the same
inputs always give the same events.  State changes only in ``apply(event)``: every
command computes events and applies them one by one (so later decisions in the same
step see earlier ones), and a rebuild from the journal applies the very same events.

Money is ``Decimal`` in a private context wide enough (60 digits) that sums and
products never round; the only rounding is the documented cost split in
``positions.apply_fill``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from types import MappingProxyType
from typing import TypeVar

import msgspec

from workspace.errors import InvalidParams, NotFound
from workspace.market.records import BookTicker, MiniTicker, Ticker, Trade
from workspace.trading.config import AccountConfig
from workspace.trading.events import AccountEvent, FillEvent, MarkEvent, OrderEvent, PositionEvent
from workspace.trading.market_state import Quote
from workspace.trading.marks import MarkBook
from workspace.trading.order_state import OrderStatus, check_transition, is_final
from workspace.trading.orders import Fill, LegRole, Liquidity, Order, opposite
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position, PositionStatus, PositionType, apply_fill
from workspace.trading.requests import OrderRequest, OrderType, Side
from workspace.trading.trigger_index import Direction, TriggerIndex
from workspace.trading.validation import check_request, check_symbol

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
BIPS = Decimal(10000)
_ID_RE = re.compile(r"^[a-z]+-(\d+)$")

S = OrderStatus
_LIVE = (S.NEW, S.TRIGGERED, S.PARTIALLY_FILLED)
_replace = msgspec.structs.replace

MarketRecord = Ticker | MiniTicker | BookTicker | Trade


def _finite(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) and value.is_finite() else None


_E = TypeVar("_E", Side, OrderType)


def _enum(kind: type[_E], value: object, fallback: _E) -> _E:
    try:
        return kind(str(value).upper())
    except ValueError:
        return fallback


def _counter(ident: str) -> int:
    match = _ID_RE.match(ident)
    return int(match.group(1)) if match else 0


class Account:
    def __init__(
        self, config: AccountConfig | None = None, symbols: Iterable[str] | None = None
    ) -> None:
        self.config = config if config is not None else AccountConfig()
        self._symbols: frozenset[str] | None = (
            frozenset(s.upper() for s in symbols) if symbols is not None else None
        )
        self._ctx = Context(
            prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
        )
        self._orders: dict[str, Order] = {}  # top-level orders, final ones included
        self._open: dict[str, Order] = {}  # top-level orders that are not final
        self._parent_of: dict[str, str] = {}  # leg id -> group id
        # open, by symbol; their live mark (current_price, unrealized_pnl) is in _marks
        self._positions: dict[str, Position] = {}
        self._marks = MarkBook(self._ctx)
        self._position_by_id: dict[str, Position] = {}  # open and closed
        self._closed: list[Position] = []
        self._fills: list[Fill] = []
        self._quotes: dict[str, Quote] = {}
        self._index = TriggerIndex()
        self._realized = ZERO
        self._unrealized = ZERO
        self._fees = ZERO
        self._locked = ZERO
        self._reserved = ZERO
        self._next_order = 1
        self._next_position = 1
        self._next_fill = 1
        self._next_seq_no = 1

    # -- views -------------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str] | None:
        return self._symbols

    @property
    def orders(self) -> Mapping[str, Order]:
        """Every top-level order by id (legs are inside their group)."""
        return MappingProxyType(self._orders)

    @property
    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    @property
    def positions(self) -> list[Position]:
        """Open positions (copies: the account's own objects cannot be touched)."""
        return [self._marked(p) for p in self._positions.values()]

    def _marked(self, position: Position) -> Position:
        """A copy of an open position with its live mark from the mark book."""
        symbol = position.symbol
        return _replace(
            position,
            current_price=self._marks.price(symbol),
            unrealized_pnl=self._marks.pnl(symbol),
        )

    @property
    def closed_positions(self) -> list[Position]:
        return [p.copy() for p in self._closed]

    def symbols_in_use(self) -> set[str]:
        """Symbols with an open order or an open position (they need prices), without
        copying any position."""
        return {o.symbol for o in self._open.values()} | set(self._positions)

    @property
    def has_positions(self) -> bool:
        return bool(self._positions)

    @property
    def fills(self) -> list[Fill]:
        return list(self._fills)

    def order(self, order_id: str) -> Order:
        """An order or a leg by id.  Raises ``NotFound``."""
        top = self._orders.get(order_id)
        if top is not None:
            return top
        parent = self._parent_of.get(order_id)
        if parent is None:
            raise NotFound(f"no order {order_id!r}")
        return self._orders[parent].leg(order_id)

    def position(self, position_id: str) -> Position:
        found = self._position_by_id.get(position_id)
        if found is None:
            raise NotFound(f"no position {position_id!r}")
        if self._positions.get(found.symbol) is found:
            return self._marked(found)
        return found.copy()

    def quote(self, symbol: str) -> Quote:
        return _replace(self._quotes.get(symbol.upper(), Quote()))

    def portfolio(self) -> Portfolio:
        """O(1): every total is kept up to date as events and prices arrive."""
        with localcontext(self._ctx):
            initial = self.config.initial_balance
            balance = initial + self._realized - self._fees
            equity = balance + self._unrealized
            return Portfolio(
                initial_balance=initial,
                balance=balance,
                equity=equity,
                realized_pnl=self._realized,
                unrealized_pnl=self._unrealized,
                total_pnl=equity - initial,
                fees_paid=self._fees,
                positions_count=len(self._positions),
                locked=self._locked,
                reserved=self._reserved,
                available=balance - self._locked - self._reserved,
            )

    def revalue(self) -> Decimal:
        """Recompute the unrealized P&L of every open position from the latest prices
        (a full mark-to-market, vectorised in ``MarkBook.revalue``); returns the
        total.  The incremental total kept by ``on_market`` must always equal it."""
        self._unrealized = self._marks.revalue()
        return self._unrealized

    # -- market data -------------------------------------------------------------------
    def on_market(self, record: MarketRecord, ts_ms: int) -> list[AccountEvent]:
        """Take one market record.  Trades move marks and fire triggers; tickers move
        marks (and the book when they carry bid/ask); book tickers move the book.

        The hot path: a price that reaches no order costs a few dict lookups and, for
        a symbol with a position, one exact re-mark (see ``MarkBook.mark``)."""
        symbol = record.symbol
        quote = self._quotes.get(symbol)
        if quote is None:
            quote = self._quotes[symbol] = Quote()
        if type(record) is Trade:
            price = record.price
            self._set_last(symbol, quote, price)
            if not self._index.may_fire(symbol, price):
                return []
            with localcontext(self._ctx):
                return self._on_trade(symbol, price, ts_ms)
        if type(record) is BookTicker:
            quote.bid = record.bid_price
            quote.ask = record.ask_price
            return []
        if isinstance(record, Ticker) and record.bid_price and record.ask_price:
            quote.bid = record.bid_price
            quote.ask = record.ask_price
        assert isinstance(record, Ticker | MiniTicker)
        self._set_last(symbol, quote, record.last_price)
        return []

    def mark(self, ts_ms: int) -> MarkEvent:
        """A ``MarkEvent`` with the known prices and the equity now.  Applying it
        changes nothing on this account; hand it to the journal to sample the equity
        curve and to let a rebuild start from these prices."""
        p = self.portfolio()
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
        """Set the last price of symbols (after a rebuild from the journal, where ticks
        are not stored) and re-mark their positions."""
        with localcontext(self._ctx):
            for symbol, price in prices.items():
                self._set_last(symbol, self._quotes.setdefault(symbol, Quote()), price)

    def _set_last(self, symbol: str, quote: Quote, price: Decimal) -> None:
        quote.last = price
        if symbol in self._positions:  # most prices are of symbols without a position
            self._unrealized = self._ctx.add(self._unrealized, self._marks.mark(symbol, price))

    # -- commands ----------------------------------------------------------------------
    def place(self, request: OrderRequest, ts_ms: int) -> tuple[Order, list[AccountEvent]]:
        """Place an order.  Bad input gives a REJECTED order (with ``reason``), never an
        exception.  The first event is always the order's NEW (or PENDING_NEW) or
        REJECTED event; fills that happen at once follow in the same list."""
        with localcontext(self._ctx):
            events: list[AccountEvent] = []
            order = self._place(request, ts_ms, events, position_id=None)
            return self._orders[order.id], events

    def cancel(self, order_id: str, ts_ms: int) -> tuple[Order, list[AccountEvent]]:
        """Cancel an order (a leg id cancels its whole group).  Raises ``NotFound``, or
        ``InvalidParams`` when the order is already final."""
        with localcontext(self._ctx):
            top_id = order_id if order_id in self._orders else self._parent_of.get(order_id)
            if top_id is None:
                raise NotFound(f"no order {order_id!r}")
            order = self._orders[top_id]
            if is_final(order.status):
                raise InvalidParams(f"order {order_id} is already {order.status}")
            events: list[AccountEvent] = []
            self._finish_group(order, S.CANCELED, ts_ms, events, reason="canceled by user")
            return self._orders[top_id], events

    def close_position(
        self, position_id: str, quantity: Decimal | None, ts_ms: int
    ) -> tuple[Order, list[AccountEvent]]:
        """Close all (``quantity=None``) or part of an open position with a market
        order.  Raises ``NotFound`` for an unknown or closed position and
        ``InvalidParams`` for a bad quantity."""
        with localcontext(self._ctx):
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
                raise InvalidParams(
                    f"quantity must be > 0 and <= {position.quantity}, got {quantity!r}"
                )
            side = Side.SELL if position.type is PositionType.BUY else Side.BUY
            request = OrderRequest(
                symbol=position.symbol, side=side, type=OrderType.MARKET, quantity=quantity
            )
            events: list[AccountEvent] = []
            order = self._place(request, ts_ms, events, position_id=position_id)
            return self._orders[order.id], events

    # -- the one transition ------------------------------------------------------------
    def apply(self, event: AccountEvent) -> None:
        """Apply one event.  Live steps and journal rebuilds both come through here."""
        with localcontext(self._ctx):
            if isinstance(event, OrderEvent):
                self._apply_order(event.order)
            elif isinstance(event, FillEvent):
                self._apply_fill(event.fill)
            elif isinstance(event, PositionEvent):
                self._apply_position(event.position)
            else:
                self._apply_mark(event)

    def _apply_order(self, order: Order) -> None:
        old = self._orders.get(order.id)
        check_transition(order.id, old.status if old is not None else None, order.status)
        old_legs = {leg.id: leg for leg in old.legs} if old is not None else {}
        for leg in order.legs:
            prior = old_legs.get(leg.id)
            if prior is None or prior.status != leg.status:
                check_transition(leg.id, prior.status if prior is not None else None, leg.status)
            if prior is None:  # ids and counters only move for a new leg
                self._parent_of[leg.id] = order.id
                self._next_order = max(self._next_order, _counter(leg.id) + 1)
        if old is not None:
            if not is_final(old.status):
                self._reserved -= old.reserved
            self._unindex(old)
        else:  # a known order's id and seq_no were counted when it was new
            self._next_order = max(self._next_order, _counter(order.id) + 1)
            self._next_seq_no = max(self._next_seq_no, order.seq_no + 1)
        self._orders[order.id] = order
        if is_final(order.status):
            self._open.pop(order.id, None)
        else:
            self._open[order.id] = order
            self._reserved += order.reserved
            self._index_order(order)

    def _apply_fill(self, fill: Fill) -> None:
        self._fees += fill.fee
        self._fills.append(fill)
        self._next_fill = max(self._next_fill, _counter(fill.id) + 1)

    def _apply_position(self, position: Position) -> None:
        mine = position.copy()
        old = self._position_by_id.get(position.id)
        if old is not None:
            self._realized -= old.realized_pnl
            if old.status is PositionStatus.OPEN:
                self._locked -= old.cost
                # its live mark is the book's, not the (unmarked) object's
                self._unrealized -= self._marks.pnl(old.symbol)
        self._realized += mine.realized_pnl
        self._position_by_id[mine.id] = mine
        if old is None:
            self._next_position = max(self._next_position, _counter(mine.id) + 1)
        if mine.status is PositionStatus.OPEN:
            self._locked += mine.cost
            self._unrealized += mine.unrealized_pnl
            self._positions[mine.symbol] = mine
            self._marks.put(mine, self._quotes.setdefault(mine.symbol, Quote()))
        else:
            current = self._positions.get(mine.symbol)
            if current is not None and current.id == mine.id:
                del self._positions[mine.symbol]
                self._marks.remove(mine.symbol)
            self._closed.append(mine)

    def _apply_mark(self, event: MarkEvent) -> None:
        for symbol, price in event.prices.items():
            self._set_last(symbol, self._quotes.setdefault(symbol, Quote()), price)
        for symbol, bid in event.bids.items():
            self._quotes.setdefault(symbol, Quote()).bid = bid
        for symbol, ask in event.asks.items():
            self._quotes.setdefault(symbol, Quote()).ask = ask

    # -- the trigger index is derived from order state ---------------------------------
    def _index_order(self, order: Order) -> None:
        if order.legs:
            for leg in order.legs:
                self._index_one(leg)
        else:
            self._index_one(order)

    def _unindex(self, order: Order) -> None:
        self._index.discard(order.id)
        for leg in order.legs:
            self._index.discard(leg.id)

    def _index_one(self, order: Order) -> None:
        if order.status not in _LIVE:
            return
        kind = order.type
        buy = order.side is Side.BUY
        if kind is OrderType.TRAILING_STOP:
            if not order.triggered:
                self._index.add_trailing(order.symbol, order.seq_no, order.id)
            return
        if kind is OrderType.LIMIT or (order.triggered and order.price is not None):
            assert order.price is not None
            direction = Direction.FALLING if buy else Direction.RISING
            self._index.add(order.symbol, direction, order.price, order.seq_no, order.id)
        elif kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and not order.triggered:
            assert order.stop_price is not None
            rising = buy if kind is OrderType.STOP_LOSS else not buy
            direction = Direction.RISING if rising else Direction.FALLING
            self._index.add(order.symbol, direction, order.stop_price, order.seq_no, order.id)

    # -- placing -----------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        if prefix == "order":
            n = self._next_order
            self._next_order += 1
        elif prefix == "pos":
            n = self._next_position
            self._next_position += 1
        else:
            n = self._next_fill
            self._next_fill += 1
        return f"{prefix}-{n}"

    def _emit(self, event: AccountEvent, events: list[AccountEvent]) -> None:
        self.apply(event)
        events.append(event)

    def _emit_order(self, order: Order, ts_ms: int, events: list[AccountEvent]) -> None:
        self._emit(OrderEvent(ts_ms=ts_ms, order=order), events)

    def _place(
        self,
        request: OrderRequest,
        ts_ms: int,
        events: list[AccountEvent],
        position_id: str | None,
    ) -> Order:
        symbol = request.symbol.upper() if isinstance(request.symbol, str) else request.symbol
        seq_no = self._next_seq_no
        self._next_seq_no += 1
        # A rejected order is journaled and published too: it must never carry a NaN,
        # an infinity or a non-enum, so its fields are cleaned before it is built.
        base = Order(
            id=self._new_id("order"),
            symbol=str(symbol),
            side=_enum(Side, request.side, Side.BUY),
            type=_enum(OrderType, request.type, OrderType.MARKET),
            quantity=_finite(request.quantity) or ZERO,
            status=S.NEW,
            created_at=ts_ms,
            updated_at=ts_ms,
            seq_no=seq_no,
            price=_finite(request.price),
            stop_price=_finite(request.stop_price),
            take_profit=_finite(request.take_profit),
            stop_loss=_finite(request.stop_loss),
            trail_percent=_finite(request.trail_percent),
            trail_amount=_finite(request.trail_amount),
            trailing_delta=_finite(request.trailing_delta),
            activation_price=_finite(request.activation_price),
            position_id=position_id,
            client_order_id=request.client_order_id
            if isinstance(request.client_order_id, str)
            else None,
        )
        reason = check_symbol(symbol, self._symbols, self.config.quote_currency)
        reason = reason or check_request(request) or self._check_market(base)
        next_order = self._next_order
        if reason is None:
            order, reason = self._build(base, ts_ms)
        if reason is not None:
            # give back the ids of legs that were built and then refused: the journal
            # never sees them, and a rebuild must continue with the same next id
            self._next_order = next_order
            rejected = _replace(base, status=S.REJECTED, reason=reason)
            self._emit_order(rejected, ts_ms, events)
            return rejected
        self._emit_order(order, ts_ms, events)
        self._after_placed(order, ts_ms, events)
        return order

    def _market_price(self, symbol: str, side: Side) -> Decimal | None:
        """Where a market order would fill now: the book's ask (buy) or bid (sell), else
        the last price; moved against the taker by the slippage."""
        quote = self._quotes.get(symbol)
        if quote is None:
            return None
        price = quote.ask if side is Side.BUY else quote.bid
        if price is None:
            price = quote.last
        if price is None:
            return None
        bps = self.config.slippage_bps
        if bps:
            factor = ONE + bps / BIPS if side is Side.BUY else ONE - bps / BIPS
            price = price * factor
        return price

    def _reference(self, symbol: str) -> Decimal | None:
        quote = self._quotes.get(symbol)
        return quote.reference() if quote is not None else None

    def _check_market(self, order: Order) -> str | None:
        """Checks against the current market: prices on the right side."""
        ref = self._reference(order.symbol)
        kind = order.type
        buy = order.side is Side.BUY
        side = order.side.value
        market_entry = kind is OrderType.MARKET or (
            kind is OrderType.BRACKET and order.price is None
        )
        if market_entry and self._market_price(order.symbol, order.side) is None:
            return f"no market price known for {order.symbol} yet"
        if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and ref is not None:
            assert order.stop_price is not None
            above = (kind is OrderType.STOP_LOSS) == buy
            if above and order.stop_price <= ref:
                return (
                    f"stop_price {order.stop_price} must be above the market ({ref}) "
                    f"for a {side} {kind}"
                )
            if not above and order.stop_price >= ref:
                return (
                    f"stop_price {order.stop_price} must be below the market ({ref}) "
                    f"for a {side} {kind}"
                )
        if kind is OrderType.OCO:
            tp, stop = order.take_profit, order.stop_price
            assert tp is not None
            assert stop is not None
            if not buy and not tp > stop:
                return f"OCO SELL needs take_profit ({tp}) above stop_price ({stop})"
            if buy and not tp < stop:
                return f"OCO BUY needs take_profit ({tp}) below stop_price ({stop})"
            if ref is not None and not (min(tp, stop) < ref < max(tp, stop)):
                return (
                    f"OCO {side} needs the market ({ref}) between take_profit ({tp}) "
                    f"and stop_price ({stop})"
                )
        if kind is OrderType.BRACKET:
            tp, sl = order.take_profit, order.stop_loss
            assert tp is not None
            assert sl is not None
            entry = order.price if order.price is not None else ref
            if not buy and not tp < sl:
                return f"BRACKET SELL needs take_profit ({tp}) below stop_loss ({sl})"
            if buy and not tp > sl:
                return f"BRACKET BUY needs take_profit ({tp}) above stop_loss ({sl})"
            if entry is not None and not (min(tp, sl) < entry < max(tp, sl)):
                return (
                    f"BRACKET {side} needs the entry ({entry}) between stop_loss ({sl}) "
                    f"and take_profit ({tp})"
                )
        return None

    def _build(self, base: Order, ts_ms: int) -> tuple[Order, str | None]:
        """The live order (legs included) and its reservation, or a rejection reason."""
        kind = base.type
        order = base
        if kind is OrderType.TRAILING_STOP:
            order = self._arm_trailing(base, self._reference(base.symbol), ts_ms)
        elif kind is OrderType.OCO:
            order = _replace(base, legs=self._oco_legs(base, ts_ms))
        elif kind is OrderType.BRACKET:
            order = _replace(base, legs=self._bracket_legs(base, ts_ms))
        ref = self._reservation_price(order)
        if kind is OrderType.MARKET or ref is None:
            return order, self._check_funds(order, self._market_price(order.symbol, order.side))
        fee = max(self.config.maker_fee, self.config.taker_fee)
        reserved = self._opening(order.symbol, order.side, order.quantity) * ref * (ONE + fee)
        reason = self._check_short(order)
        if reason is None and reserved > self._available():
            reason = (
                f"insufficient balance: needs {reserved} {self.config.quote_currency} "
                f"(fees included), available {self._available()}"
            )
        return _replace(order, reserved=reserved), reason

    def _reservation_price(self, order: Order) -> Decimal | None:
        kind = order.type
        if kind is OrderType.LIMIT:
            return order.price
        if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
            return order.price if order.price is not None else order.stop_price
        if kind is OrderType.OCO:
            assert order.take_profit is not None
            assert order.stop_price is not None
            return max(order.take_profit, order.stop_price)
        if kind is OrderType.BRACKET:
            return order.price if order.price is not None else None
        if kind is OrderType.TRAILING_STOP:
            return (
                order.current_stop_price or order.activation_price or self._reference(order.symbol)
            )
        return None

    def _available(self) -> Decimal:
        return (
            self.config.initial_balance
            + self._realized
            - self._fees
            - self._locked
            - self._reserved
        )

    def _opening(self, symbol: str, side: Side, quantity: Decimal) -> Decimal:
        """How much of ``quantity`` would open or grow exposure (the rest reduces)."""
        position = self._positions.get(symbol)
        if position is None or (position.type is PositionType.BUY) == (side is Side.BUY):
            return quantity
        return max(ZERO, quantity - position.quantity)

    def _check_short(self, order: Order) -> str | None:
        if self.config.allow_short or order.side is Side.BUY:
            return None
        if self._opening(order.symbol, order.side, order.quantity - order.filled_quantity) > 0:
            return "short selling is disabled: this SELL is larger than the long position"
        return None

    def _check_funds(self, order: Order, price: Decimal | None) -> str | None:
        """A fill of ``order`` at ``price`` now: enough free cash for what it opens?"""
        reason = self._check_short(order)
        if reason is not None or price is None:
            return reason
        return self._check_fill_funds(order, order.quantity, price, self.config.taker_fee)

    def _check_fill_funds(
        self, order: Order, quantity: Decimal, price: Decimal, fee_rate: Decimal
    ) -> str | None:
        opening = self._opening(order.symbol, order.side, quantity)
        if opening <= 0:
            return None  # reducing only: the released margin pays the fee
        available = self._available() + (order.reserved if not is_final(order.status) else ZERO)
        position = self._positions.get(order.symbol)
        if position is not None and opening < quantity:
            # the fill first closes the opposite position: its margin and P&L come back
            closing = position.quantity
            available += position.cost + (
                closing * price - position.cost
                if position.type is PositionType.BUY
                else position.cost - closing * price
            )
            available -= closing * price * fee_rate
        required = opening * price * (ONE + fee_rate)
        if required > available:
            return (
                f"insufficient balance: needs {required} {self.config.quote_currency} "
                f"(fees included), available {available}"
            )
        return None

    def _leg(
        self,
        parent: Order,
        role: LegRole,
        side: Side,
        kind: OrderType,
        status: OrderStatus,
        **kw: object,
    ) -> Order:
        leg = Order(
            id=self._new_id("order"),
            symbol=parent.symbol,
            side=side,
            type=kind,
            quantity=parent.quantity,
            status=status,
            created_at=parent.created_at,
            updated_at=parent.updated_at,
            seq_no=parent.seq_no,
            role=role,
            parent_id=parent.id,
        )
        return _replace(leg, **kw) if kw else leg

    def _oco_legs(self, parent: Order, ts_ms: int) -> tuple[Order, ...]:
        tp = self._leg(
            parent,
            LegRole.TAKE_PROFIT,
            parent.side,
            OrderType.LIMIT,
            S.NEW,
            price=parent.take_profit,
        )
        stop = self._leg(
            parent,
            LegRole.STOP_LOSS,
            parent.side,
            OrderType.STOP_LOSS,
            S.NEW,
            stop_price=parent.stop_price,
        )
        return (tp, stop)

    def _bracket_legs(self, parent: Order, ts_ms: int) -> tuple[Order, ...]:
        exit_side = opposite(parent.side)
        entry_kind = OrderType.MARKET if parent.price is None else OrderType.LIMIT
        entry = self._leg(parent, LegRole.ENTRY, parent.side, entry_kind, S.NEW, price=parent.price)
        tp = self._leg(
            parent,
            LegRole.TAKE_PROFIT,
            exit_side,
            OrderType.LIMIT,
            S.PENDING_NEW,
            price=parent.take_profit,
        )
        if parent.trail_percent or parent.trail_amount or parent.trailing_delta:
            stop = self._leg(
                parent,
                LegRole.STOP_LOSS,
                exit_side,
                OrderType.TRAILING_STOP,
                S.PENDING_NEW,
                stop_loss=parent.stop_loss,
                trail_percent=parent.trail_percent,
                trail_amount=parent.trail_amount,
                trailing_delta=parent.trailing_delta,
                activation_price=parent.activation_price,
                current_stop_price=parent.stop_loss,
            )
        else:
            stop = self._leg(
                parent,
                LegRole.STOP_LOSS,
                exit_side,
                OrderType.STOP_LOSS,
                S.PENDING_NEW,
                stop_price=parent.stop_loss,
            )
        return (entry, tp, stop)

    def _after_placed(self, order: Order, ts_ms: int, events: list[AccountEvent]) -> None:
        """What happens at once after an order is accepted: market fills, marketable
        limits, bracket entries."""
        kind = order.type
        if kind is OrderType.MARKET:
            price = self._market_price(order.symbol, order.side)
            assert price is not None
            self._execute(order, None, price, Liquidity.TAKER, ts_ms, events)
        elif kind is OrderType.LIMIT:
            self._fill_if_marketable(order, None, ts_ms, events)
        elif kind is OrderType.BRACKET:
            entry = order.leg_by_role(LegRole.ENTRY)
            assert entry is not None
            if entry.type is OrderType.MARKET:
                price = self._market_price(order.symbol, order.side)
                assert price is not None
                self._execute(order, entry, price, Liquidity.TAKER, ts_ms, events)
            else:
                self._fill_if_marketable(order, entry, ts_ms, events)

    def _fill_if_marketable(
        self, top: Order, leg: Order | None, ts_ms: int, events: list[AccountEvent]
    ) -> None:
        """A limit that already crosses the market fills at once, as a taker, at the
        market price (never worse than its limit)."""
        target = leg if leg is not None else top
        assert target.price is not None
        market = self._market_price(target.symbol, target.side)
        if market is None:
            return
        buy = target.side is Side.BUY
        if (buy and market <= target.price) or (not buy and market >= target.price):
            self._execute(top, leg, market, Liquidity.TAKER, ts_ms, events)

    # -- trailing stops ----------------------------------------------------------------
    def _stop_from_peak(self, order: Order, peak: Decimal) -> Decimal:
        sell = order.side is Side.SELL
        if order.trail_percent is not None:
            offset = peak * order.trail_percent / HUNDRED
        elif order.trailing_delta is not None:
            offset = peak * order.trailing_delta / BIPS
        else:
            assert order.trail_amount is not None
            offset = order.trail_amount
        stop = peak - offset if sell else peak + offset
        floor = order.stop_loss  # a bracket's stop leg never starts worse than stop_loss
        if floor is not None:
            stop = max(stop, floor) if sell else min(stop, floor)
        if order.current_stop_price is not None:
            # a trailing stop only ever tightens
            stop = (
                max(stop, order.current_stop_price) if sell else min(stop, order.current_stop_price)
            )
        return stop

    def _arm_trailing(self, order: Order, price: Decimal | None, ts_ms: int) -> Order:
        """Activate a trailing stop when ``price`` reaches its activation price (or at
        once without one); returns the order unchanged when it stays dormant."""
        if price is None or order.activated:
            return order
        act = order.activation_price
        sell = order.side is Side.SELL
        if act is not None and ((sell and price < act) or (not sell and price > act)):
            return order
        armed = _replace(order, activated=True, peak_price=price, updated_at=ts_ms)
        return _replace(armed, current_stop_price=self._stop_from_peak(armed, price))

    def _on_trailing(
        self, top: Order, leg: Order | None, price: Decimal, ts_ms: int, events: list[AccountEvent]
    ) -> None:
        target = leg if leg is not None else top
        sell = target.side is Side.SELL
        updated = target
        if not target.activated:
            updated = self._arm_trailing(target, price, ts_ms)
        else:
            peak = target.peak_price
            assert peak is not None
            if (sell and price > peak) or (not sell and price < peak):
                moved = _replace(target, peak_price=price, updated_at=ts_ms)
                updated = _replace(moved, current_stop_price=self._stop_from_peak(moved, price))
        if updated is not target:
            top = top.with_leg(updated) if leg is not None else updated
            self._emit_order(top, ts_ms, events)
            target = updated
            if leg is not None:
                leg = updated
            top = self._orders[top.id]
        stop = target.current_stop_price
        if stop is None:  # a dormant bracket leg still guards at its stop_loss
            return
        if (sell and price <= stop) or (not sell and price >= stop):
            self._trigger(top, leg, price, ts_ms, events)

    # -- ticks -------------------------------------------------------------------------
    def _on_trade(self, symbol: str, price: Decimal, ts_ms: int) -> list[AccountEvent]:
        events: list[AccountEvent] = []
        for _, order_id in self._index.trailing(symbol):
            top, leg = self._locate(order_id)
            target = leg if leg is not None else top
            if target.status in _LIVE and not target.triggered:
                self._on_trailing(top, leg, price, ts_ms, events)
        for _, order_id in self._index.fire(symbol, price):
            top, leg = self._locate(order_id)
            target = leg if leg is not None else top
            if target.status not in _LIVE:
                continue  # a sibling canceled it earlier in this step
            if target.type is OrderType.LIMIT or target.triggered:
                assert target.price is not None
                self._execute(top, leg, target.price, Liquidity.MAKER, ts_ms, events)
            else:
                self._trigger(top, leg, price, ts_ms, events)
        return events

    def _locate(self, order_id: str) -> tuple[Order, Order | None]:
        top = self._orders.get(order_id)
        if top is not None:
            return top, None
        parent = self._orders[self._parent_of[order_id]]
        return parent, parent.leg(order_id)

    def _trigger(
        self, top: Order, leg: Order | None, price: Decimal, ts_ms: int, events: list[AccountEvent]
    ) -> None:
        """A stop, take-profit or trailing stop was reached by a trade at ``price``:
        TRIGGERED (its OCO sibling canceled in the same event), then a market fill, or
        a resting limit for a stop-limit."""
        target = leg if leg is not None else top
        triggered = _replace(target, status=S.TRIGGERED, triggered=True, updated_at=ts_ms)
        if leg is not None:
            group = self._cancel_siblings(top.with_leg(triggered), triggered.id, ts_ms)
        else:
            group = triggered
        self._emit_order(group, ts_ms, events)
        group = self._orders[group.id]
        current = group.leg(triggered.id) if leg is not None else group
        if target.type is OrderType.TRAILING_STOP or target.price is None:
            market = self._market_price(target.symbol, target.side)
            fill_price = market if market is not None else price
            self._execute(
                group,
                current if leg is not None else None,
                fill_price,
                Liquidity.TAKER,
                ts_ms,
                events,
            )
        else:
            self._fill_if_marketable(group, current if leg is not None else None, ts_ms, events)

    def _cancel_siblings(self, group: Order, keep_id: str, ts_ms: int) -> Order:
        """``group`` with every other live exit leg canceled (OCO: one leg wins)."""
        for leg in group.legs:
            if leg.id != keep_id and leg.role is not LegRole.ENTRY and not is_final(leg.status):
                group = group.with_leg(
                    _replace(leg, status=S.CANCELED, updated_at=ts_ms, reason="other leg executed")
                )
        return group

    # -- fills -------------------------------------------------------------------------
    def _execute(
        self,
        top: Order,
        leg: Order | None,
        price: Decimal,
        liquidity: Liquidity,
        ts_ms: int,
        events: list[AccountEvent],
    ) -> None:
        """Fill ``leg`` (or ``top`` itself) completely at ``price``."""
        target = leg if leg is not None else top
        quantity = target.quantity - target.filled_quantity
        fee_rate = self.config.maker_fee if liquidity is Liquidity.MAKER else self.config.taker_fee
        reason = self._check_short(target)
        # funds are judged against the group's reservation
        funds_order = _replace(target, reserved=top.reserved, status=top.status)
        reason = reason or self._check_fill_funds(funds_order, quantity, price, fee_rate)
        if reason is not None:
            latest = self._orders[top.id]
            self._finish_group(latest, S.EXPIRED, ts_ms, events, reason=f"{reason} (at fill)")
            return
        fee = quantity * price * fee_rate
        position = self._positions.get(target.symbol)
        quote = self._quotes.get(target.symbol)
        mark = quote.last if quote is not None and quote.last is not None else price
        fill_id = self._new_id("fill")
        new_pos_id = f"pos-{self._next_position}"
        outcome = apply_fill(
            position,
            symbol=target.symbol,
            side=target.side,
            quantity=quantity,
            price=price,
            mark=mark,
            ts_ms=ts_ms,
            new_id=new_pos_id,
        )
        if outcome.opened is not None:
            self._next_position += 1
        touched = outcome.closed_or_updated or outcome.opened
        assert touched is not None
        fill = Fill(
            id=fill_id,
            order_id=target.id,
            parent_id=target.parent_id,
            symbol=target.symbol,
            side=target.side,
            quantity=quantity,
            price=price,
            fee=fee,
            liquidity=liquidity,
            ts_ms=ts_ms,
            position_id=touched.id,
            realized_pnl=outcome.realized_pnl,
        )
        self._emit(FillEvent(ts_ms=ts_ms, fill=fill), events)
        if outcome.closed_or_updated is not None:
            self._emit(PositionEvent(ts_ms=ts_ms, position=outcome.closed_or_updated), events)
        if outcome.opened is not None:
            self._emit(PositionEvent(ts_ms=ts_ms, position=outcome.opened), events)
        filled = _replace(
            target,
            status=S.FILLED,
            filled_quantity=target.quantity,
            fill_price=price,
            fee=fee,
            reserved=ZERO,
            updated_at=ts_ms,
        )
        if leg is None:
            self._emit_order(filled, ts_ms, events)
            return
        group = self._orders[top.id].with_leg(filled)
        if filled.role is LegRole.ENTRY:
            group = self._activate_exits(group, price, ts_ms)
            group = _replace(
                group,
                reserved=ZERO,
                filled_quantity=filled.quantity,
                fill_price=price,
                fee=fee,
                updated_at=ts_ms,
            )
        else:
            group = self._cancel_siblings(group, filled.id, ts_ms)
            total_fee = sum((x.fee or ZERO for x in group.legs), ZERO)
            group = _replace(
                group,
                status=S.FILLED,
                reserved=ZERO,
                filled_quantity=group.quantity,
                fill_price=price if group.type is OrderType.OCO else group.fill_price,
                fee=total_fee,
                updated_at=ts_ms,
            )
        self._emit_order(group, ts_ms, events)
        if filled.role is LegRole.ENTRY:
            self._after_entry(self._orders[group.id], price, ts_ms, events)

    def _activate_exits(self, group: Order, entry_price: Decimal, ts_ms: int) -> Order:
        """A bracket's entry filled: its exit legs become a live OCO."""
        for leg in group.legs:
            if leg.status is not S.PENDING_NEW:
                continue
            live = _replace(leg, status=S.NEW, updated_at=ts_ms)
            if live.type is OrderType.TRAILING_STOP:
                live = self._arm_trailing(live, entry_price, ts_ms)
            group = group.with_leg(live)
        return group

    def _after_entry(
        self, group: Order, entry_price: Decimal, ts_ms: int, events: list[AccountEvent]
    ) -> None:
        """Exit legs that the market already crosses at activation execute at once
        (the take-profit as a marketable limit)."""
        tp = group.leg_by_role(LegRole.TAKE_PROFIT)
        if tp is not None and tp.status is S.NEW:
            self._fill_if_marketable(group, tp, ts_ms, events)

    def _finish_group(
        self, order: Order, status: OrderStatus, ts_ms: int, events: list[AccountEvent], reason: str
    ) -> None:
        """Cancel or expire an order with every leg that is still live."""
        group = order
        for leg in order.legs:
            if not is_final(leg.status):
                group = group.with_leg(
                    _replace(leg, status=status, updated_at=ts_ms, reason=reason, reserved=ZERO)
                )
        done = _replace(group, status=status, updated_at=ts_ms, reason=reason)
        self._emit_order(done, ts_ms, events)
