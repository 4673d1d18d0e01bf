"""Executions: what fires on a price, what a taker gets, what a resting limit gets.

Two fill models (docs/trading.md, "How orders fill"), chosen per symbol at the moment
of each execution:

- **book** (the symbol's local order book is attached and fresh, see ``Account.on_book``):
  a MARKET order, a triggered stop / take-profit / trailing stop, and a limit that
  crosses the book walk its levels, best first, each level a fill at its own price
  (taker), up to the limit price for a limit; the liquidity taken is not available
  again until the book updates that level (``depth.Depth``).  What the book cannot
  fill waits for later book updates (GTC), expires (IOC), or nothing executes (FOK).
  A limit that rests fills as a maker, at its price, when trades print: through its
  price up to the traded quantity; at its price only past the quantity queued ahead
  of it (``maker_fill``).
- **top of book** (no depth data: a ticker-only feed, an old recording, a stale book):
  the first version's model.  A MARKET order takes the best ask (buy) or bid (sell) of
  a fresh book ticker, else the fresh last price, whole; ``slippage_bps`` moves it
  against the taker.  A resting LIMIT fills whole, at its price, when a price reaches
  it; a marketable one fills at once at the market price.  A triggered stop fills at
  the book's side when the book ticker is at least as new as the trigger, otherwise at
  the triggering price.

Common to both: triggers fire on trade prices (on a symbol without a trade stream, on
the ticker's last price); without a fresh price a MARKET order waits (NEW) up to
``market_wait_ms``, then expires (``NO_MARKET_DATA``); every fill is checked against
the wallet (``fills.execute``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from workspace.trading.depth import Depth
from workspace.trading.events import AccountEvent
from workspace.trading.fills import Rest, execute, held_against
from workspace.trading.groups import cancel_siblings, finish
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import LegRole, Liquidity, Order
from workspace.trading.reasons import ReasonCode, plain
from workspace.trading.requests import RESTING_LIMITS, OrderType, Side, TimeInForce
from workspace.trading.trailing import follow, reached

if TYPE_CHECKING:
    from workspace.trading.account import Account

ZERO = Decimal(0)
ONE = Decimal(1)
BIPS = Decimal(10000)
S = OrderStatus
LIVE = (S.NEW, S.TRIGGERED, S.PARTIALLY_FILLED)
_replace = msgspec.structs.replace


# -- prices (top of book) ---------------------------------------------------------------------
def slipped(acct: Account, price: Decimal, side: Side) -> Decimal:
    bps = acct.config.slippage_bps
    if not bps:
        return price
    factor = ONE + bps / BIPS if side is Side.BUY else ONE - bps / BIPS
    return price * factor


def market_price(acct: Account, symbol: str, side: Side, now_ms: int) -> Decimal | None:
    """Where a taker on ``side`` would fill now at the top of the book, from fresh
    prices only."""
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
    """Where an order triggered by ``price`` (at ``ts_ms``) fills at the top of the
    book: the book's side when the book is at least as new as the trigger, else the
    triggering price."""
    quote = acct.quote_for(symbol)
    book = quote.side_as_new_as(side, ts_ms) if quote is not None else None
    return slipped(acct, book if book is not None else price, side)


def can_execute_now(acct: Account, symbol: str, side: Side, now_ms: int) -> bool:
    """A market order placed now executes at once (a fresh book or a fresh price)."""
    return (
        acct.depth_for(symbol, now_ms) is not None
        or market_price(acct, symbol, side, now_ms) is not None
    )


# -- taking liquidity -----------------------------------------------------------------------
def take(
    acct: Account,
    top: Order,
    leg: Order | None,
    ts_ms: int,
    events: list[AccountEvent],
    *,
    limit: Decimal | None,
    fallback: Decimal | None,
) -> None:
    """``leg`` (or ``top``) takes liquidity now, as a taker: a market order
    (``limit=None``) or a limit that may cross.  With a fresh book it walks the book;
    without one it fills whole at ``fallback`` (the top-of-book price), if that price
    reaches its limit.  Its time in force says what happens to the rest."""
    target = leg if leg is not None else top
    tif = target.time_in_force
    side = target.side
    depth = acct.depth_for(target.symbol, ts_ms)
    if depth is not None:
        want = target.remaining
        slices, got, value = depth.walk_totals(side, want, limit)
        if slices and acct.is_unvalued(target.symbol):
            # an asset held from the start, traded before any last price
            events += acct.value_holding(target.symbol, slices[0][0], ts_ms)
        if target.reduce_only:
            held = max(held_against(acct, target), ZERO)
            if held < want:
                want = held
                slices, got, value = depth.walk_totals(side, want, limit)
        if tif == TimeInForce.FOK and got < want:
            _no_fill(acct, top, leg, _fok_words(acct, target, got, want, limit), ts_ms, events)
            return
        ioc = tif == TimeInForce.IOC
        if not slices and not ioc and not target.reduce_only:
            return  # a limit rests; a market order waits for liquidity
        execute(
            acct,
            top,
            leg,
            slices,
            Liquidity.TAKER,
            ts_ms,
            events,
            rest=Rest.EXPIRES if ioc else Rest.STAYS,
            all_or_none=tif == TimeInForce.FOK,
            taken_from=depth,
            rest_words=_ioc_words(acct, target, got, limit) if ioc else "",
            sums=(got, value),
        )
        return
    price = fallback
    buy = side is Side.BUY
    reaches = price is not None and (limit is None or (price <= limit if buy else price >= limit))
    if not reaches:
        if tif != TimeInForce.GTC:
            words = (
                f"{tif}: no fresh {target.symbol} price to execute against at once"
                if price is None
                else f"{tif}: the market ({plain(price)}) does not reach the limit "
                f"({plain(limit or ZERO)}) at once"
            )
            _no_fill(acct, top, leg, words, ts_ms, events)
        return
    assert price is not None
    execute(acct, top, leg, [(price, target.remaining)], Liquidity.TAKER, ts_ms, events)


def _no_fill(
    acct: Account,
    top: Order,
    leg: Order | None,
    reason: str,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """IOC / FOK with nothing to execute at once: EXPIRED, nothing filled."""
    execute(
        acct, top, leg, [], Liquidity.TAKER, ts_ms, events, rest=Rest.EXPIRES, rest_words=reason
    )


def _ioc_words(acct: Account, order: Order, got: Decimal, limit: Decimal | None) -> str:
    base = acct.base_of(order.symbol)
    where = f" up to {plain(limit)}" if limit is not None else ""
    return f"IOC: the book held {plain(got)} {base}{where} for this order at once; the rest expired"


def _fok_words(
    acct: Account, order: Order, got: Decimal, want: Decimal, limit: Decimal | None
) -> str:
    base = acct.base_of(order.symbol)
    where = f" up to {plain(limit)}" if limit is not None else ""
    return (
        f"FOK: the book held only {plain(got)} of the {plain(want)} {base}{where}; nothing executed"
    )


def maker_fill(
    acct: Account,
    top: Order,
    leg: Order | None,
    depth: Depth,
    trade_price: Decimal,
    trade_quantity: Decimal,
    left: Decimal,
    trade_ms: int | None,
    ts_ms: int,
    events: list[AccountEvent],
) -> Decimal:
    """A trade at ``trade_price`` reached a resting limit (the book fill model): how
    much of it the limit gets, as a maker at its own price; returns the quantity used
    (``left``: what of the trade the account's earlier orders did not already get).

    Through the price (a buy limit above the trade) the limit was better than what
    traded, so it fills up to the traded quantity.  At the price it stands in a queue:
    the quantity ahead of it (measured when it began to rest, never more than the book
    now shows at its price) trades first; only what trades beyond that fills it, and
    the queue ahead shrinks by what traded."""
    target = leg if leg is not None else top
    limit = target.price
    assert limit is not None
    buy = target.side is Side.BUY
    queue = target.queue_ahead
    if trade_price < limit if buy else trade_price > limit:
        can, ahead_after = left, ZERO
    else:
        shown = depth.level(target.side, limit)
        if trade_ms is not None and depth.newer_than(trade_ms):
            shown += trade_quantity  # the book already shows this trade's effect
        ahead = shown if queue is None else min(queue, shown)
        can = max(left - ahead, ZERO)
        ahead_after = max(ahead - left, ZERO)
    quantity = min(can, target.remaining)
    if quantity > 0:
        execute(
            acct,
            top,
            leg,
            [(limit, quantity)],
            Liquidity.MAKER,
            ts_ms,
            events,
            queue_ahead=ahead_after,
        )
        return quantity
    if ahead_after != queue:
        updated = _replace(target, queue_ahead=ahead_after, updated_at=ts_ms)
        acct.emit_order(top.with_leg(updated) if leg is not None else updated, ts_ms, events)
    else:
        acct.store.reindex(target.id)  # still resting where it was
    return ZERO


# -- what a price does ----------------------------------------------------------------------
def after_price(
    acct: Account,
    symbol: str,
    price: Decimal | None,
    ts_ms: int,
    *,
    trigger: bool,
    quantity: Decimal | None = None,
    trade_ms: int | None = None,
) -> list[AccountEvent]:
    """Everything a fresh price of ``symbol`` sets off, in this order: the first
    valuation of a holding the account started with, the expiry of market orders that
    waited too long, the market orders of ``symbol`` that waited for it, triggers.
    ``quantity`` / ``trade_ms``: what traded and when (exchange time), for the book
    model's resting limits."""
    events: list[AccountEvent] = []
    if price is not None and acct.is_unvalued(symbol):
        events += acct.value_holding(symbol, price, ts_ms)
    if acct.store.has_waiting:
        expire_waiting(acct, ts_ms, events)
        if acct.store.waiting(symbol):
            fill_waiting(acct, symbol, ts_ms, events)
    if trigger and price is not None:
        on_price(acct, symbol, price, ts_ms, events, quantity, trade_ms)
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
    """Market orders that waited for a fresh price of ``symbol`` execute now."""
    for order_id in acct.store.waiting(symbol):
        order = acct.store.top(order_id)
        if is_final(order.status):
            continue
        price = market_price(acct, symbol, order.side, ts_ms)
        if price is None and acct.depth_for(symbol, ts_ms) is None:
            continue
        entry = order.leg_by_role(LegRole.ENTRY) if order.legs else None
        take(acct, order, entry, ts_ms, events, limit=None, fallback=price)


def fill_from_book(acct: Account, symbol: str, ts_ms: int, events: list[AccountEvent]) -> None:
    """The book of ``symbol`` changed: orders that took all it had and wait for more
    (GTC market orders, triggered stops) take what it now offers, in placement order."""
    for order_id in acct.store.wanting_liquidity(symbol):
        top, leg = acct.store.locate(order_id)
        target = leg if leg is not None else top
        if target.status not in LIVE:
            continue
        take(acct, top, leg, ts_ms, events, limit=None, fallback=None)


def on_price(
    acct: Account,
    symbol: str,
    price: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
    quantity: Decimal | None = None,
    trade_ms: int | None = None,
) -> None:
    """Trailing stops follow the price, then every level it reaches fires, in placement
    order (with a fresh book and a traded quantity, resting limits share the trade in
    price priority, after the stops)."""
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
    fired = acct.store.fire(symbol, price)
    if not fired:
        return
    depth = acct.depth_for(symbol, ts_ms) if quantity is not None else None
    if depth is not None and len(fired) > 1:
        fired = sorted(fired, key=lambda entry: _priority(acct, entry))
    left = quantity if quantity is not None else ZERO
    for _, order_id in fired:
        top, leg = acct.store.locate(order_id)
        target = leg if leg is not None else top
        if target.status not in LIVE:
            continue  # a sibling canceled it earlier in this step
        if target.type in RESTING_LIMITS or target.triggered:
            assert target.price is not None
            if depth is not None and quantity is not None:
                left -= maker_fill(
                    acct, top, leg, depth, price, quantity, left, trade_ms, ts_ms, events
                )
            else:
                execute(
                    acct,
                    top,
                    leg,
                    [(target.price, target.remaining)],
                    Liquidity.MAKER,
                    ts_ms,
                    events,
                )
        else:
            trigger(acct, top, leg, price, ts_ms, events)


def _priority(acct: Account, entry: tuple[int, str]) -> tuple[int, Decimal, int]:
    """Stops first (placement order), then limits best price first (a buy at 101
    before a buy at 100), then placement order."""
    seq_no, order_id = entry
    top, leg = acct.store.locate(order_id)
    target = leg if leg is not None else top
    if target.type in RESTING_LIMITS or target.triggered:
        assert target.price is not None
        return (1, -target.price if target.side is Side.BUY else target.price, seq_no)
    return (0, ZERO, seq_no)


def trigger(
    acct: Account,
    top: Order,
    leg: Order | None,
    price: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A stop, take-profit or trailing stop was reached at ``price``: TRIGGERED (its
    OCO sibling canceled in the same event), then it takes liquidity as a market
    order, or, for a stop-limit, as a limit at its price that rests for the rest."""
    target = leg if leg is not None else top
    triggered = _replace(target, status=S.TRIGGERED, triggered=True, updated_at=ts_ms)
    depth = acct.depth_for(target.symbol, ts_ms)
    if depth is not None and target.price is not None and not target.is_trailing:
        triggered = _replace(triggered, queue_ahead=depth.level(target.side, target.price))
    if leg is not None:
        group = cancel_siblings(top.with_leg(triggered), triggered.id, ts_ms)
    else:
        group = triggered
    acct.emit_order(group, ts_ms, events)
    group = acct.store.top(group.id)
    current = group.leg(triggered.id) if leg is not None else None
    fill_at = triggered_price(acct, target.symbol, target.side, price, ts_ms)
    limit = None if target.type is OrderType.TRAILING_STOP else target.price
    take(acct, group, current, ts_ms, events, limit=limit, fallback=fill_at)


def after_placed(acct: Account, order: Order, ts_ms: int, events: list[AccountEvent]) -> None:
    """What happens at once after an order is accepted: market orders execute,
    marketable limits take what crosses, bracket entries likewise.  A market order
    without a fresh price waits; a LIMIT_MAKER rests (placement refused it if it would
    take)."""
    kind = order.type
    if order.expires_at is not None:
        return
    # the top-of-book price is only the fallback of a symbol without a fresh book
    fresh_book = acct.depth_for(order.symbol, ts_ms) is not None
    market = None if fresh_book else market_price(acct, order.symbol, order.side, ts_ms)
    if kind is OrderType.MARKET:
        take(acct, order, None, ts_ms, events, limit=None, fallback=market)
    elif kind is OrderType.LIMIT:
        take(acct, order, None, ts_ms, events, limit=order.price, fallback=market)
    elif kind is OrderType.BRACKET:
        entry = order.leg_by_role(LegRole.ENTRY)
        assert entry is not None
        take(acct, order, entry, ts_ms, events, limit=entry.price, fallback=market)


def fill_if_marketable(
    acct: Account,
    top: Order,
    leg: Order | None,
    market: Decimal | None,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A limit that already crosses the market takes what crosses, as a taker (at the
    market price at the top of the book, never worse than its limit)."""
    target = leg if leg is not None else top
    assert target.price is not None
    take(acct, top, leg, ts_ms, events, limit=target.price, fallback=market)
