"""Executions: what fires on a price, at which price an order fills, and the fill itself.

The fill model (docs/trading.md, "How orders fill", beside Binance's and Nautilus's):

- Triggers fire on trade prices; on a symbol without a trade stream (no trade within
  the freshness limit), on the ticker's last price.
- A MARKET order takes the best ask (buy) or bid (sell) of a fresh book, else the fresh
  last price; ``slippage_bps`` moves it against the taker.  Without a fresh price it
  waits (NEW) for one, up to ``market_wait_ms``, then expires (``NO_MARKET_DATA``).
- A resting LIMIT fills at its own price, as a maker, when a price reaches it; one that
  is marketable when placed fills at once at the market, as a taker.
- A triggered stop (or take-profit, or trailing stop) fills at the book's side when the
  book is at least as new as the price that triggered it, otherwise at that triggering
  price; a stop-limit becomes a LIMIT at its price.
- Every fill is checked against the wallet at that moment (the order's own reservation
  counts as free); one that cannot be paid expires (``INSUFFICIENT_BALANCE``).  An exit
  (``reduce_only``) never executes more than is still held; with nothing held it
  expires (``HOLDING_CLOSED``).

Fills are built as a list of executions per order (``Order.executions``, ``avg_price``,
``filled_quantity``, PARTIALLY_FILLED) so that a walked order book can later give
several fills, partial fills and maker/taker per fill; today each order fills whole
in one execution.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from workspace.trading import exits
from workspace.trading.events import AccountEvent, FillEvent, PositionEvent
from workspace.trading.groups import activate_exits, cancel_siblings, finish
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import Execution, Fill, LegRole, Liquidity, Order
from workspace.trading.positions import PositionType, apply_fill
from workspace.trading.reasons import ReasonCode, Refusal, plain
from workspace.trading.requests import OrderType, Side
from workspace.trading.trailing import follow, reached

if TYPE_CHECKING:
    from workspace.trading.account import Account

ZERO = Decimal(0)
ONE = Decimal(1)
TWO = Decimal(2)
BIPS = Decimal(10000)
S = OrderStatus
LIVE = (S.NEW, S.TRIGGERED, S.PARTIALLY_FILLED)
_replace = msgspec.structs.replace


# -- prices ---------------------------------------------------------------------------------
def slipped(acct: Account, price: Decimal, side: Side) -> Decimal:
    bps = acct.config.slippage_bps
    if not bps:
        return price
    factor = ONE + bps / BIPS if side is Side.BUY else ONE - bps / BIPS
    return price * factor


def market_price(acct: Account, symbol: str, side: Side, now_ms: int) -> Decimal | None:
    """Where a taker on ``side`` would fill now, from fresh prices only."""
    quote = acct.quote_for(symbol)
    if quote is None:
        return None
    max_age = acct.max_age_ms
    price = quote.fresh_side(side, now_ms, max_age)
    if price is None:
        price = quote.fresh_last(now_ms, max_age)
    if price is None:
        return None
    return slipped(acct, price, side)


def triggered_price(acct: Account, symbol: str, side: Side, price: Decimal, ts_ms: int) -> Decimal:
    """Where an order triggered by ``price`` (at ``ts_ms``) fills: the book's side when
    the book is at least as new as the trigger, else the triggering price."""
    quote = acct.quote_for(symbol)
    book = quote.side_as_new_as(side, ts_ms) if quote is not None else None
    return slipped(acct, book if book is not None else price, side)


# -- what a price does ----------------------------------------------------------------------
def after_price(
    acct: Account, symbol: str, price: Decimal | None, ts_ms: int, *, trigger: bool
) -> list[AccountEvent]:
    """Everything a fresh price of ``symbol`` sets off, in this order: the first
    valuation of a holding the account started with, the expiry of market orders that
    waited too long, the market orders of ``symbol`` that waited for it, triggers."""
    events: list[AccountEvent] = []
    if price is not None and acct.is_unvalued(symbol):
        events += acct.value_holding(symbol, price, ts_ms)
    if acct.store.has_waiting:
        expire_waiting(acct, ts_ms, events)
        if acct.store.waiting(symbol):
            fill_waiting(acct, symbol, ts_ms, events)
    if trigger and price is not None:
        on_price(acct, symbol, price, ts_ms, events)
    return events


def expire_waiting(acct: Account, now_ms: int, events: list[AccountEvent]) -> None:
    for expires, order_id in acct.store.deadlines():
        if expires >= now_ms:
            break
        order = acct.store.top(order_id)
        wait = acct.config.market_wait_ms / 1000
        done = finish(
            order,
            S.EXPIRED,
            now_ms,
            f"no fresh {order.symbol} price arrived within {wait:g} s",
            ReasonCode.NO_MARKET_DATA.value,
        )
        acct.emit_order(done, now_ms, events)


def fill_waiting(acct: Account, symbol: str, ts_ms: int, events: list[AccountEvent]) -> None:
    for order_id in acct.store.waiting(symbol):
        order = acct.store.top(order_id)
        if is_final(order.status):
            continue
        price = market_price(acct, symbol, order.side, ts_ms)
        if price is None:
            continue
        entry = order.leg_by_role(LegRole.ENTRY) if order.legs else None
        execute(acct, order, entry, price, Liquidity.TAKER, ts_ms, events)


def on_price(
    acct: Account, symbol: str, price: Decimal, ts_ms: int, events: list[AccountEvent]
) -> None:
    """Trailing stops follow the price, then every level it reaches fires, in placement
    order."""
    for _, order_id in acct.store.trailing(symbol):
        top, leg = acct.store.locate(order_id)
        target = leg if leg is not None else top
        if target.status not in LIVE or target.triggered:
            continue
        updated = follow(target, price, ts_ms)
        if updated is not target:
            acct.emit_order(top.with_leg(updated) if leg is not None else updated, ts_ms, events)
            top, leg = acct.store.locate(order_id)
            target = leg if leg is not None else top
        if reached(target, price):
            trigger(acct, top, leg, price, ts_ms, events)
    for _, order_id in acct.store.fire(symbol, price):
        top, leg = acct.store.locate(order_id)
        target = leg if leg is not None else top
        if target.status not in LIVE:
            continue  # a sibling canceled it earlier in this step
        if target.type is OrderType.LIMIT or target.triggered:
            assert target.price is not None
            execute(acct, top, leg, target.price, Liquidity.MAKER, ts_ms, events)
        else:
            trigger(acct, top, leg, price, ts_ms, events)


def trigger(
    acct: Account,
    top: Order,
    leg: Order | None,
    price: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A stop, take-profit or trailing stop was reached at ``price``: TRIGGERED (its
    OCO sibling canceled in the same event), then a fill, or a resting limit for a
    stop-limit."""
    target = leg if leg is not None else top
    triggered = _replace(target, status=S.TRIGGERED, triggered=True, updated_at=ts_ms)
    if leg is not None:
        group = cancel_siblings(top.with_leg(triggered), triggered.id, ts_ms)
    else:
        group = triggered
    acct.emit_order(group, ts_ms, events)
    group = acct.store.top(group.id)
    current = group.leg(triggered.id) if leg is not None else None
    fill_at = triggered_price(acct, target.symbol, target.side, price, ts_ms)
    if target.type is OrderType.TRAILING_STOP or target.price is None:
        execute(acct, group, current, fill_at, Liquidity.TAKER, ts_ms, events)
    else:
        fill_if_marketable(acct, group, current, fill_at, ts_ms, events)


def after_placed(acct: Account, order: Order, ts_ms: int, events: list[AccountEvent]) -> None:
    """What happens at once after an order is accepted: market fills, marketable
    limits, bracket entries.  A market order without a fresh price waits."""
    kind = order.type
    if order.expires_at is not None:
        return
    if kind is OrderType.MARKET:
        price = market_price(acct, order.symbol, order.side, ts_ms)
        assert price is not None
        execute(acct, order, None, price, Liquidity.TAKER, ts_ms, events)
    elif kind is OrderType.LIMIT:
        market = market_price(acct, order.symbol, order.side, ts_ms)
        fill_if_marketable(acct, order, None, market, ts_ms, events)
    elif kind is OrderType.BRACKET:
        entry = order.leg_by_role(LegRole.ENTRY)
        assert entry is not None
        market = market_price(acct, order.symbol, order.side, ts_ms)
        if entry.type is OrderType.MARKET:
            assert market is not None
            execute(acct, order, entry, market, Liquidity.TAKER, ts_ms, events)
        else:
            fill_if_marketable(acct, order, entry, market, ts_ms, events)


def fill_if_marketable(
    acct: Account,
    top: Order,
    leg: Order | None,
    market: Decimal | None,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A limit that already crosses ``market`` fills at once, as a taker, at the
    market price (never worse than its limit)."""
    target = leg if leg is not None else top
    assert target.price is not None
    if market is None:
        return
    buy = target.side is Side.BUY
    if (buy and market <= target.price) or (not buy and market >= target.price):
        execute(acct, top, leg, market, Liquidity.TAKER, ts_ms, events)


# -- the fill -------------------------------------------------------------------------------
def held_against(acct: Account, order: Order) -> Decimal:
    """How much of the position an exit on ``order``'s side can still reduce."""
    position = acct.position_on(order.symbol)
    if position is None:
        return ZERO
    if (position.type is PositionType.BUY) != (order.side is Side.SELL):
        return ZERO
    return position.quantity


def fill_refusal(
    acct: Account,
    order: Order,
    quantity: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    own: Order | None,
) -> Refusal | None:
    """Can the wallet take a fill of ``quantity`` of ``order`` at ``price`` now?  The
    reservation of ``own`` (the order's group) counts as free."""
    quote = acct.quote_asset
    base = acct.base_of(order.symbol)
    wallet = acct.wallet
    reserved_asset = own.reserved_asset if own is not None and not is_final(own.status) else None
    reserved = own.reserved if reserved_asset is not None and own is not None else ZERO

    def free(asset: str) -> Decimal:
        return wallet.free(asset) + (reserved if asset == reserved_asset else ZERO)

    fee = quantity * price * fee_rate
    buy = order.side is Side.BUY
    if not acct.config.allow_short:
        if buy:
            cost = quantity * price + fee
            if cost > free(quote):
                return Refusal(
                    ReasonCode.INSUFFICIENT_BALANCE,
                    f"Insufficient balance: buying {plain(quantity)} {base} at {plain(price)} "
                    f"{quote} costs {plain(cost)} {quote} (fee included) and "
                    f"{plain(free(quote))} {quote} is free",
                )
            return None
        if quantity > free(base):
            held = wallet.total(base)
            code = ReasonCode.WOULD_SHORT if quantity > held else ReasonCode.INSUFFICIENT_BALANCE
            return Refusal(
                code,
                f"Selling {plain(quantity)} {base} needs that much {base} free; the account "
                f"holds {plain(held)} {base}, {plain(free(base))} {base} of it free",
            )
        return None
    # margin-style: a short holds twice its proceeds back (see Account._collateral)
    position = acct.position_on(order.symbol)
    closing = ZERO
    if position is not None and (position.type is PositionType.BUY) != buy:
        closing = min(quantity, position.quantity)
    opening = quantity - closing
    if opening <= 0:
        return None  # reducing only: the position's own value pays for it
    notional = quantity * price
    change = (-notional if buy else notional) - fee
    if buy and position is not None and closing:
        change += TWO * position.cost * closing / position.quantity  # collateral released
    if not buy:
        change -= TWO * opening * price  # collateral of the new short
    if free(quote) + change < 0:
        return Refusal(
            ReasonCode.INSUFFICIENT_BALANCE,
            f"Insufficient balance: this fill needs {plain(-change)} {quote} (fees and "
            f"margin included) and {plain(free(quote))} {quote} is free",
        )
    return None


def execute(
    acct: Account,
    top: Order,
    leg: Order | None,
    price: Decimal,
    liquidity: Liquidity,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """Fill what remains of ``leg`` (or ``top`` itself) at ``price``."""
    target = leg if leg is not None else top
    symbol = target.symbol
    quantity = target.remaining
    clipped = False
    if acct.is_unvalued(symbol):  # an asset held from the start, traded before any last price
        events += acct.value_holding(symbol, price, ts_ms)
    if target.reduce_only:
        held = held_against(acct, target)
        if held <= 0:
            done = finish(
                acct.store.top(top.id),
                S.EXPIRED,
                ts_ms,
                f"the {symbol} holding it would reduce is already closed",
                ReasonCode.HOLDING_CLOSED.value,
            )
            acct.emit_order(done, ts_ms, events)
            return
        if held < quantity:
            quantity, clipped = held, True
    config = acct.config
    rate = config.maker_fee if liquidity is Liquidity.MAKER else config.taker_fee
    refusal = fill_refusal(acct, target, quantity, price, rate, acct.store.top(top.id))
    if refusal is not None:
        done = finish(
            acct.store.top(top.id),
            S.EXPIRED,
            ts_ms,
            f"{refusal.reason} (when it was to fill)",
            refusal.code.value,
        )
        acct.emit_order(done, ts_ms, events)
        return
    fee = quantity * price * rate
    position = acct.position_on(symbol)
    quote = acct.quote_for(symbol)
    mark = quote.last if quote is not None and quote.last is not None else price
    outcome = apply_fill(
        position,
        symbol=symbol,
        side=target.side,
        quantity=quantity,
        price=price,
        mark=mark,
        ts_ms=ts_ms,
        new_id=acct.ids.next_position(),
    )
    touched = outcome.closed_or_updated or outcome.opened
    assert touched is not None
    fill = Fill(
        id=acct.ids.new_fill(),
        order_id=target.id,
        parent_id=target.parent_id,
        symbol=symbol,
        side=target.side,
        quantity=quantity,
        price=price,
        fee=fee,
        fee_asset=acct.quote_asset,
        liquidity=liquidity,
        ts_ms=ts_ms,
        position_id=touched.id,
        realized_pnl=outcome.realized_pnl,
    )
    acct.emit(FillEvent(ts_ms=ts_ms, fill=fill), events)
    for changed in (outcome.closed_or_updated, outcome.opened):
        if changed is not None:
            acct.emit(PositionEvent(ts_ms=ts_ms, position=changed), events)
    filled = _with_execution(target, quantity, price, fee, acct.quote_asset, liquidity, ts_ms)
    if clipped:
        filled = _replace(
            filled,
            quantity=filled.filled_quantity,
            status=S.FILLED,
            reserved=ZERO,
            reason=f"reduced to the {plain(filled.filled_quantity)} still held",
            reason_code=ReasonCode.HOLDING_REDUCED.value,
        )
    if leg is None:
        acct.emit_order(filled, ts_ms, events)
    else:
        _leg_filled(acct, top.id, filled, touched.id, price, ts_ms, events)
    if position is not None and (position.type is PositionType.BUY) != (target.side is Side.BUY):
        # the holding shrank (or closed, or turned): the other exits fit what is left; a
        # bracket's new exits too (its entry first closed the other way)
        entry = filled.role is LegRole.ENTRY
        exits.fit(acct, symbol, filled.id if entry else top.id, ts_ms, events)


def _with_execution(
    order: Order,
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
    fee_asset: str,
    liquidity: Liquidity,
    ts_ms: int,
) -> Order:
    execution = Execution(
        price=price,
        quantity=quantity,
        fee=fee,
        fee_asset=fee_asset,
        maker=liquidity is Liquidity.MAKER,
        ts_ms=ts_ms,
    )
    executions = (*order.executions, execution)
    filled = order.filled_quantity + quantity
    average = sum((e.price * e.quantity for e in executions), ZERO) / filled
    done = filled >= order.quantity
    return _replace(
        order,
        status=S.FILLED if done else S.PARTIALLY_FILLED,
        filled_quantity=filled,
        fill_price=average,
        avg_price=average,
        fee=(order.fee or ZERO) + fee,
        executions=executions,
        reserved=ZERO if done else order.reserved,
        expires_at=None,
        updated_at=ts_ms,
    )


def _leg_filled(
    acct: Account,
    group_id: str,
    filled: Order,
    position_id: str,
    price: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    group = acct.store.top(group_id).with_leg(filled)
    if filled.role is LegRole.ENTRY:
        # the bracket's exits go live on the holding the entry made; on a spot account
        # they hold back the asset they will sell
        group = activate_exits(group, price, ts_ms, position_id)
        spot = not acct.config.allow_short
        group = _replace(
            group,
            reserved=filled.filled_quantity if spot else ZERO,
            reserved_asset=acct.base_of(group.symbol) if spot else None,
            filled_quantity=filled.filled_quantity,
            fill_price=price,
            avg_price=price,
            fee=filled.fee,
            expires_at=None,
            position_id=position_id,
            updated_at=ts_ms,
        )
        acct.emit_order(group, ts_ms, events)
        tp = acct.store.top(group_id).leg_by_role(LegRole.TAKE_PROFIT)
        if tp is not None and tp.status is S.NEW:
            # an exit the market already crosses executes at once
            market = market_price(acct, group.symbol, tp.side, ts_ms)
            fill_if_marketable(acct, acct.store.top(group_id), tp, market, ts_ms, events)
        return
    group = cancel_siblings(group, filled.id, ts_ms)
    total_fee = sum((x.fee or ZERO for x in group.legs), ZERO)
    oco = group.type is OrderType.OCO
    group = _replace(
        group,
        status=S.FILLED,
        reserved=ZERO,
        filled_quantity=filled.filled_quantity if oco else group.filled_quantity,
        fill_price=filled.avg_price if oco else group.fill_price,
        avg_price=filled.avg_price if oco else group.avg_price,
        fee=total_fee,
        reason=None,
        reason_code=None,
        updated_at=ts_ms,
    )
    acct.emit_order(group, ts_ms, events)
