"""The fill itself: the slices an order gets (a walk of the book, or one top-of-book
price) become fills, position changes and the order's new state.

``execute`` checks the wallet first (the order's own reservation counts as free), then
emits, in this order: one ``fill`` event per slice (its price, quantity and fee), the
position(s) they changed (once each, final state), the order (and its group).  What
the slices did not fill stays open (a resting limit, a market order waiting for
liquidity), or expires (IOC); an all-or-none execution (FOK) fills everything or
nothing.  Reservations shrink with what is left: in proportion for the quote a buy
holds back, exactly for the base asset a sell holds back.

Exits (``reduce_only``) never execute more than is still held: the slices are cut to
the holding (the order shrinks to what it can still do: ``HOLDING_REDUCED``); with
nothing held the order expires (``HOLDING_CLOSED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from itertools import repeat
from operator import mul
from typing import TYPE_CHECKING

import msgspec

from workspace.trading import exits
from workspace.trading.average_cost import apply_fills
from workspace.trading.depth import DOWN, Depth, Slice
from workspace.trading.events import AccountEvent, PositionEvent
from workspace.trading.groups import activate_exits, cancel_siblings, finish, grow_exits
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import Execution, Fill, LegRole, Liquidity, Order
from workspace.trading.positions import PositionType
from workspace.trading.reasons import ReasonCode, Refusal, plain
from workspace.trading.requests import OrderType, Side

if TYPE_CHECKING:
    from workspace.trading.account import Account

ZERO = Decimal(0)
TWO = Decimal(2)
S = OrderStatus
_replace = msgspec.structs.replace


class Rest(Enum):
    """What happens to the part of an order the slices did not fill."""

    STAYS = "stays"  # GTC: a limit rests, a market order waits for liquidity
    EXPIRES = "expires"  # IOC: it expires at once


def shrunk(reserved: Decimal, before: Decimal, after: Decimal) -> Decimal:
    """A reservation for ``before`` still to execute, now that ``after`` is left."""
    if not reserved or after <= 0:
        return ZERO
    if after >= before:
        return reserved
    # rounded down: a reservation may never hold back more than the exact share (what
    # is free must never go below zero)
    return DOWN.divide(DOWN.multiply(reserved, after), before)


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
    notional: Decimal,
    fee_rate: Decimal,
    own: Order | None,
) -> Refusal | None:
    """Can the wallet take fills of ``quantity`` of ``order`` worth ``notional`` now?
    The reservation of ``own`` (the order's group) counts as free."""
    quote = acct.quote_asset
    base = acct.base_of(order.symbol)
    wallet = acct.wallet
    live = own is not None and not is_final(own.status)
    reserved_asset = own.reserved_asset if own is not None and live else None
    reserved = own.reserved if reserved_asset is not None and own is not None else ZERO
    # a bracket's exits hold the base apart while its entry works
    exit_reserved = own.exit_reserved if own is not None and live else ZERO

    def free(asset: str) -> Decimal:
        own_share = reserved if asset == reserved_asset else ZERO
        if asset == base:
            own_share += exit_reserved
        return wallet.free(asset) + own_share

    price = notional / quantity
    fee = notional * fee_rate
    buy = order.side is Side.BUY
    if not acct.config.allow_short:
        if buy:
            cost = notional + fee
            if cost > free(quote):
                return Refusal(
                    ReasonCode.INSUFFICIENT_BALANCE,
                    f"Insufficient balance: buying {plain(quantity)} {base} at "
                    f"{_price_words(price)} {quote} costs {plain(cost)} {quote} (fee "
                    f"included) and {plain(free(quote))} {quote} is free",
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


def _price_words(price: Decimal) -> str:
    """A fill price, or the average of several (rounded for people)."""
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        return f"an average {plain(price.quantize(Decimal('1e-8')))}"
    return plain(price)


def _affordable(
    acct: Account, target: Order, slices: Sequence[Slice], rate: Decimal, own: Order
) -> list[Slice]:
    """The longest run of ``slices`` the wallet can pay for."""
    paid: list[Slice] = []
    quantity = notional = ZERO
    for price, amount in slices:
        quantity += amount
        notional += price * amount
        if fill_refusal(acct, target, quantity, notional, rate, own) is not None:
            break
        paid.append((price, amount))
    return paid


def execute(
    acct: Account,
    top: Order,
    leg: Order | None,
    slices: Sequence[Slice],
    liquidity: Liquidity,
    ts_ms: int,
    events: list[AccountEvent],
    *,
    rest: Rest = Rest.STAYS,
    all_or_none: bool = False,
    taken_from: Depth | None = None,
    rest_words: str = "",
    queue_ahead: Decimal | None = None,
    sums: tuple[Decimal, Decimal] | None = None,
) -> Decimal:
    """Fill ``leg`` (or ``top`` itself) with ``slices`` ((price, quantity), best
    first); returns the quantity filled.  ``rest``: what happens to what is left;
    ``all_or_none``: FOK (the caller checked the book; this checks the wallet);
    ``taken_from``: the book the slices came from (the liquidity is then taken);
    ``queue_ahead``: a resting limit's new place in its queue; ``sums``: the
    slices' total quantity and value when the caller has them (a walk adds them up)."""
    target = leg if leg is not None else top
    symbol = target.symbol
    if acct.is_unvalued(symbol) and slices:
        # an asset held from the start, traded before any last price
        events += acct.value_holding(symbol, slices[0][0], ts_ms)
    want = target.remaining
    clipped = False
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
            return ZERO
        if held < want:
            want, clipped = held, True
    chosen, quantity, notional = _cut(slices, want, sums)
    config = acct.config
    rate = config.maker_fee if liquidity is Liquidity.MAKER else config.taker_fee
    own = acct.store.top(top.id)
    refusal: Refusal | None = None
    if chosen:
        refusal = fill_refusal(acct, target, quantity, notional, rate, own)
        if refusal is not None:
            chosen = [] if all_or_none else _affordable(acct, target, chosen, rate, own)
            chosen, quantity, notional = _cut(chosen, want)
    if not chosen:
        if refusal is not None:
            _expire(
                acct,
                top,
                leg,
                refusal.code.value,
                f"{refusal.reason} (when it was to fill)",
                ts_ms,
                events,
            )
        elif rest is Rest.EXPIRES:
            _expire(acct, top, leg, ReasonCode.TIME_IN_FORCE.value, rest_words, ts_ms, events)
        return ZERO
    position = acct.position_on(symbol)
    quote = acct.quote_for(symbol)
    mark = quote.last if quote is not None and quote.last is not None else chosen[-1][0]
    side = target.side
    outcome = apply_fills(
        position,
        symbol=symbol,
        side=side,
        fills=chosen,
        mark=mark,
        ts_ms=ts_ms,
        new_id=acct.ids.next_position(),
        totals=(quantity, notional),
    )
    fee_asset = acct.quote_asset
    # every fill of the execution shares all but its numbers and ids: copies of one
    # template cost half of building each from its thirteen fields
    fill_like = Fill(
        id="",
        order_id=target.id,
        parent_id=target.parent_id,
        symbol=symbol,
        side=side,
        quantity=ZERO,
        price=ZERO,
        fee=ZERO,
        fee_asset=fee_asset,
        liquidity=liquidity,
        ts_ms=ts_ms,
        position_id="",
    )
    execution_like = Execution(
        price=ZERO,
        quantity=ZERO,
        fee=ZERO,
        fee_asset=fee_asset,
        maker=liquidity is Liquidity.MAKER,
        ts_ms=ts_ms,
    )
    ids = acct.ids
    number = ids.fill
    executions: list[Execution] = []
    made: list[Fill] = []
    prices = [price for price, _ in chosen]
    amounts = [amount for _, amount in chosen]
    # each fill's fee is amount x price x rate, multiplied in that order and summed in
    # fill order as one loop would, in C passes (the bytecode around two
    # multiplications per fill cost more than the arithmetic)
    fee_each = list(map(mul, map(mul, amounts, prices), repeat(rate, len(amounts))))
    fees = sum(fee_each, ZERO)
    for price, amount, fee, (position_id, realized) in zip(
        prices, amounts, fee_each, outcome.per_fill, strict=True
    ):
        made.append(
            _replace(
                fill_like,
                id=f"fill-{number}",
                quantity=amount,
                price=price,
                fee=fee,
                position_id=position_id,
                realized_pnl=realized,
            )
        )
        executions.append(_replace(execution_like, price=price, quantity=amount, fee=fee))
        number += 1
    ids.issued_fills(len(made), made[-1].id)
    spent = notional + fees
    filled_now = quantity
    # one event for the execution, however many levels it took
    acct.emit_fills(made, ts_ms, events, (quantity, notional, fees))
    for changed in (outcome.closed_or_updated, outcome.opened):
        if changed is not None:
            acct.emit(PositionEvent(ts_ms=ts_ms, position=changed), events)
    if taken_from is not None:
        taken_from.take(target.side, chosen)
    filled = _with_executions(target, executions, filled_now, notional, fees, ts_ms)
    if queue_ahead is not None:
        filled = _replace(filled, queue_ahead=queue_ahead)
    if clipped:
        filled = _replace(
            filled,
            quantity=target.filled_quantity + want,
            reason=f"reduced to the {plain(want)} still held",
            reason_code=ReasonCode.HOLDING_REDUCED.value,
        )
        if filled.remaining <= 0:
            filled = _replace(filled, status=S.FILLED)
    if filled.status is not S.FILLED:
        if refusal is not None:
            filled = _ended(
                filled, refusal.code.value, f"{refusal.reason} (when it was to fill)", ts_ms
            )
        elif rest is Rest.EXPIRES:
            filled = _ended(filled, ReasonCode.TIME_IN_FORCE.value, rest_words, ts_ms)
    touched = outcome.closed_or_updated or outcome.opened
    assert touched is not None
    if leg is None:
        if is_final(filled.status):
            filled = _replace(filled, reserved=ZERO)
        else:
            held = _held_for_rest(acct, target, filled, target.reserved, spent)
            filled = _replace(filled, reserved=held)
        acct.emit_order(filled, ts_ms, events)
    else:
        _leg_filled(acct, top.id, target, filled, touched.id, spent, ts_ms, events)
    if position is not None and (position.type is PositionType.BUY) != (target.side is Side.BUY):
        # the holding shrank (or closed, or turned): the other exits fit what is left; a
        # bracket's new exits too (its entry first closed the other way)
        entry = filled.role is LegRole.ENTRY
        exits.fit(acct, symbol, filled.id if entry else top.id, ts_ms, events)
    return filled_now


def _held_for_rest(
    acct: Account, before: Order, after: Order, reserved: Decimal, spent: Decimal
) -> Decimal:
    """What an order (or group) still holds back once ``before`` became ``after`` by
    fills that cost ``spent`` (fees included).

    The base asset a sell holds back is exactly what it still sells.  The quote a
    limit buy holds back is its share for what is left (its price is its cap); a
    market-style buy (a market order, a triggered stop) keeps what its fills did not
    spend: what it reserved was valued at the book it walked, the rest of it at the
    last level it reached, so the rest keeps that value."""
    if not reserved:
        return ZERO
    if before.side is Side.SELL and not acct.config.allow_short:
        return shrunk(reserved, before.remaining, after.remaining)
    market_style = before.type is OrderType.MARKET or (
        before.triggered and (before.price is None or before.is_trailing)
    )
    if market_style:
        return max(reserved - spent, ZERO)
    return shrunk(reserved, before.remaining, after.remaining)


def totals(slices: Sequence[Slice]) -> tuple[Decimal, Decimal]:
    """The total quantity and value (price x quantity) of ``slices``."""
    if not slices:
        return ZERO, ZERO
    prices, quantities = zip(*slices, strict=True)
    return sum(quantities, ZERO), sum(map(mul, prices, quantities), ZERO)


def _cut(
    slices: Sequence[Slice], want: Decimal, sums: tuple[Decimal, Decimal] | None = None
) -> tuple[list[Slice], Decimal, Decimal]:
    """``slices`` up to ``want`` in total (the last one cut short), with their total
    quantity and value (price x quantity); ``sums``: those of ``slices``, if known."""
    quantity, notional = totals(slices) if sums is None else sums
    if quantity <= want:  # a walk of the book never goes past what it was asked for
        return list(slices), quantity, notional
    out: list[Slice] = []
    quantity = notional = ZERO
    for price, amount in slices:
        left = want - quantity
        if left <= 0:
            break
        if amount > left:
            amount = left
        out.append((price, amount))
        quantity += amount
        notional += price * amount
    return out, quantity, notional


def _ended(order: Order, code: str, reason: str, ts_ms: int) -> Order:
    """A partly filled order whose rest expired (IOC, or the wallet at fill)."""
    return _replace(order, status=S.EXPIRED, reason=reason, reason_code=code, updated_at=ts_ms)


def _expire(
    acct: Account,
    top: Order,
    leg: Order | None,
    code: str,
    reason: str,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """Nothing executed and the order (or its group, for a leg) ends EXPIRED; a
    bracket whose entry had already executed in part keeps its exits."""
    group = acct.store.top(top.id)
    if leg is not None and leg.role is LegRole.ENTRY and leg.filled_quantity > 0:
        ended = _ended(group.leg(leg.id), code, reason, ts_ms)
        _leg_filled(acct, top.id, leg, ended, group.position_id or "", ZERO, ts_ms, events)
        return
    acct.emit_order(finish(group, S.EXPIRED, ts_ms, reason, code), ts_ms, events)


def _with_executions(
    order: Order,
    new: list[Execution],
    quantity: Decimal,
    notional: Decimal,
    fees: Decimal,
    ts_ms: int,
) -> Order:
    """``order`` after ``new`` executions of ``quantity`` worth ``notional``, paying
    ``fees``."""
    executions = merged(order.executions, new)
    filled = order.filled_quantity + quantity
    if order.executions:
        notional = sum((e.price * e.quantity for e in executions), ZERO)
    average = notional / filled
    fee = (order.fee or ZERO) + fees
    return _replace(
        order,
        status=S.FILLED if filled >= order.quantity else S.PARTIALLY_FILLED,
        filled_quantity=filled,
        fill_price=average,
        avg_price=average,
        fee=fee,
        executions=executions,
        expires_at=None,
        updated_at=ts_ms,
    )


def merged(executions: tuple[Execution, ...], new: list[Execution]) -> tuple[Execution, ...]:
    """An order's executions with ``new`` added, one entry per price (and maker /
    taker, fee asset): a limit filled by five hundred trades at its price shows one
    line of five hundred trades' quantity and fees (timed by the latest), not five
    hundred lines that every later event of the order would carry again.  Each single
    fill stays a ``fill`` event of its own (the journal, ``fills_frame``)."""
    if not executions:
        return tuple(new)  # one walk never meets the same price twice
    out = list(executions)
    where = {(e.price, e.maker, e.fee_asset): i for i, e in enumerate(out)}
    for e in new:
        key = (e.price, e.maker, e.fee_asset)
        i = where.get(key)
        if i is None:
            where[key] = len(out)
            out.append(e)
        else:
            was = out[i]
            out[i] = Execution(
                price=e.price,
                quantity=was.quantity + e.quantity,
                fee=was.fee + e.fee,
                fee_asset=e.fee_asset,
                maker=e.maker,
                ts_ms=e.ts_ms,
            )
    return tuple(out)


def _leg_filled(
    acct: Account,
    group_id: str,
    before: Order,
    filled: Order,
    position_id: str,
    spent: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A leg executed (``filled`` is its new state, ``before`` the old one): the group
    around it changes with it."""
    group = acct.store.top(group_id).with_leg(filled)
    base = acct.base_of(group.symbol)
    spot = not acct.config.allow_short
    if filled.role is LegRole.ENTRY:
        _entry_filled(acct, group_id, group, before, filled, position_id, spent, ts_ms, events)
        return
    # an exit (or an OCO leg) executed: the other exit is canceled (Binance: the first
    # execution of one OCO order cancels the other), and so is the rest of an entry
    # that is still working (its holding now has its exit)
    group = cancel_siblings(group, filled.id, ts_ms)
    entry = group.leg_by_role(LegRole.ENTRY)
    if entry is not None and not is_final(entry.status):
        group = group.with_leg(
            _replace(
                entry,
                status=S.CANCELED,
                updated_at=ts_ms,
                reason="the bracket's exit executed",
                reason_code=ReasonCode.SIBLING_EXECUTED.value,
            )
        )
    final = is_final(filled.status)
    if final:
        reserved, asset = ZERO, group.reserved_asset
    elif group.exit_reserved or group.reserved_asset == base:
        reserved, asset = (filled.remaining, base) if spot else (ZERO, None)
    else:
        reserved = _held_for_rest(acct, before, filled, group.reserved, spent)
        asset = group.reserved_asset
    total_fee = sum((x.fee or ZERO for x in group.legs), ZERO)
    oco = group.type is OrderType.OCO
    if filled.status is S.FILLED:
        status, reason, code = S.FILLED, None, None
    elif final:
        status, reason, code = filled.status, filled.reason, filled.reason_code
    else:
        status, reason, code = S.PARTIALLY_FILLED, group.reason, group.reason_code
    group = _replace(
        group,
        status=status,
        reserved=reserved,
        reserved_asset=asset,
        exit_reserved=ZERO,
        filled_quantity=filled.filled_quantity if oco else group.filled_quantity,
        fill_price=filled.avg_price if oco else group.fill_price,
        avg_price=filled.avg_price if oco else group.avg_price,
        fee=total_fee,
        reason=reason,
        reason_code=code,
        updated_at=ts_ms,
    )
    acct.emit_order(group, ts_ms, events)


def _exits_hold(group: Order) -> Decimal:
    """The base asset a bracket's live exits hold back: what the larger one can still
    sell (the two exits sell the same holding, only one executes)."""
    return max(
        (
            leg.remaining
            for leg in group.legs
            if leg.role is not LegRole.ENTRY
            and leg.status is not S.PENDING_NEW
            and not is_final(leg.status)
        ),
        default=ZERO,
    )


def _entry_filled(
    acct: Account,
    group_id: str,
    group: Order,
    before: Order,
    filled: Order,
    position_id: str,
    spent: Decimal,
    ts_ms: int,
    events: list[AccountEvent],
) -> None:
    """A bracket's entry executed (in full or in part): its exits go live for what the
    entry has bought so far (on a spot account they hold that asset back) and grow
    with each further fill of the entry."""
    from workspace.trading.execution import fill_if_marketable, market_price

    spot = not acct.config.allow_short
    base = acct.base_of(group.symbol)
    activating = any(leg.status is S.PENDING_NEW for leg in group.legs)
    average = filled.avg_price
    assert average is not None or not filled.filled_quantity
    if activating and filled.filled_quantity > 0:
        assert average is not None
        group = activate_exits(group, average, ts_ms, position_id, filled.filled_quantity)
    elif not activating and filled.filled_quantity > before.filled_quantity:
        group = grow_exits(group, filled.filled_quantity - before.filled_quantity, ts_ms)
    if is_final(filled.status):
        if filled.filled_quantity <= 0:  # nothing bought: the bracket ends with its entry
            done = finish(
                group, filled.status, ts_ms, filled.reason or "", filled.reason_code or ""
            )
            acct.emit_order(done, ts_ms, events)
            return
        reserved = _exits_hold(group) if spot else ZERO
        asset: str | None = base if spot else None
        exit_reserved = ZERO
    else:
        reserved = _held_for_rest(acct, before, filled, group.reserved, spent)
        asset = group.reserved_asset
        exit_reserved = _exits_hold(group) if spot else ZERO
    group = _replace(
        group,
        reserved=reserved,
        reserved_asset=asset,
        exit_reserved=exit_reserved,
        filled_quantity=filled.filled_quantity,
        fill_price=average,
        avg_price=average,
        fee=sum((x.fee or ZERO for x in group.legs), ZERO),
        expires_at=None,
        position_id=position_id or group.position_id,
        updated_at=ts_ms,
    )
    acct.emit_order(group, ts_ms, events)
    if activating:
        tp = acct.store.top(group_id).leg_by_role(LegRole.TAKE_PROFIT)
        if tp is not None and tp.status is S.NEW:
            # an exit the market already crosses executes at once
            market = market_price(acct, group.symbol, tp.side, ts_ms)
            fill_if_marketable(acct, acct.store.top(group_id), tp, market, ts_ms, events)
