"""The average-cost arithmetic of fills on a netted position (``positions.py`` holds
the records).

Exactness: reducing ``r`` out of ``q`` removes ``cost * r / q``, rounded to
``COST_QUANTUM``; that rounding only moves a sub-atomic amount between realized and
unrealized P&L, so their sum (and so the equity identity) stays exact.

Compiled with the account's logic (``workspace/native.py``): a 20-level walk runs
its reducing step once per level, and as plain Python it cost a sell a sixth of its
placement.  The functions take the position structs and never mutate the one given
(copies are made with ``msgspec.structs.replace``, not ``Position.copy``: a call into
plain Python per copy).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, getcontext

import msgspec

from workspace.trading.positions import (
    FillOutcome,
    FillsOutcome,
    Position,
    PositionStatus,
    PositionType,
)
from workspace.trading.requests import Side

ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-18")
PRICE_QUANTUM = Decimal("1e-12")
_replace = msgspec.structs.replace


def remark(position: Position, price: Decimal, ctx: Context) -> Decimal:
    """``Position.mark``, compiled: re-mark ``position`` at ``price`` in place; returns
    the change of its unrealized P&L."""
    value = ctx.multiply(position.quantity, price)
    if position.type is PositionType.BUY:
        new = ctx.subtract(value, position.cost)
    else:
        new = ctx.subtract(position.cost, value)
    delta = ctx.subtract(new, position.unrealized_pnl)
    position.current_price = price
    position.unrealized_pnl = new
    return delta


def unrealized(ptype: PositionType, quantity: Decimal, cost: Decimal, price: Decimal) -> Decimal:
    return quantity * price - cost if ptype is PositionType.BUY else cost - quantity * price


def entry_of(cost: Decimal, quantity: Decimal) -> Decimal:
    """Display entry price: exact when the division terminates within 12 decimals
    (107.5, not 107.500000000000), else rounded to 1e-12."""
    price = cost / quantity
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        price = price.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return price


def apply_fill(
    position: Position | None,
    *,
    symbol: str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    mark: Decimal,
    ts_ms: int,
    new_id: str,
) -> FillOutcome:
    """The pure average-cost rule.  ``position`` is not modified; copies are returned.

    ``new_id`` is used only when a position opens.  ``mark`` is the current market
    price used for the unrealized P&L of the resulting positions.
    """
    outcome = apply_fills(
        position,
        symbol=symbol,
        side=side,
        fills=((price, quantity),),
        mark=mark,
        ts_ms=ts_ms,
        new_id=new_id,
    )
    return FillOutcome(
        closed_or_updated=outcome.closed_or_updated,
        opened=outcome.opened,
        realized_pnl=outcome.per_fill[0][1],
    )


def apply_fills(
    position: Position | None,
    *,
    symbol: str,
    side: Side,
    fills: tuple[tuple[Decimal, Decimal], ...] | list[tuple[Decimal, Decimal]],
    mark: Decimal,
    ts_ms: int,
    new_id: str,
    totals: tuple[Decimal, Decimal] | None = None,
) -> FillsOutcome:
    """The average-cost rule over ``fills`` ((price, quantity), in order) on one side:
    exactly what applying them one by one gives, computed on one copy (a walk of
    twenty levels costs one position copy, not twenty).  A fill that reduces ``r`` of
    ``q`` removes ``cost * r / q`` (rounded to ``COST_QUANTUM``; all of it when ``r ==
    q``); past zero (margin-style) the rest opens a new position with ``new_id``.
    ``totals``: the fills' total quantity and value (price x quantity), when the caller
    has them: fills that only open or grow a position then add up at once."""
    fill_type = PositionType.BUY if side is Side.BUY else PositionType.SELL
    if totals is not None and fills:
        if position is None:
            quantity, cost = totals
            fresh = _open(symbol, fill_type, quantity, fills[0][0], mark, ts_ms, new_id)
            if len(fills) > 1:
                fresh.cost = cost
                fresh.entry_price = entry_of(cost, quantity)
                remark(fresh, mark, getcontext())
            return FillsOutcome(
                closed_or_updated=None, opened=fresh, per_fill=((new_id, ZERO),) * len(fills)
            )
        if position.status is PositionStatus.OPEN:
            if position.type is fill_type:
                return _grown(position, totals, len(fills), mark, ts_ms)
            if totals[0] < position.quantity:
                return _reduced(position, fills, mark, ts_ms)
    current = _replace(position) if position is not None else None
    opened: Position | None = None
    per_fill: list[tuple[str, Decimal]] = []
    grew = added = False  # entry prices change only when a position grows
    for price, quantity in fills:
        if opened is not None:  # past zero (or a fresh open): everything adds to it
            opened.quantity += quantity
            opened.cost += quantity * price
            per_fill.append((opened.id, ZERO))
            added = True
            continue
        if current is None or current.status is PositionStatus.CLOSED:
            opened = _open(symbol, fill_type, quantity, price, mark, ts_ms, new_id)
            per_fill.append((new_id, ZERO))
            continue
        if current.type is fill_type:
            current.quantity += quantity
            current.cost += quantity * price
            per_fill.append((current.id, ZERO))
            grew = True
            continue
        reduce = min(quantity, current.quantity)
        if reduce == current.quantity:
            cost_removed = current.cost
        else:
            cost_removed = (current.cost * reduce / current.quantity).quantize(
                COST_QUANTUM, rounding=ROUND_HALF_EVEN
            )
        if current.type is PositionType.BUY:
            realized = reduce * price - cost_removed
        else:
            realized = cost_removed - reduce * price
        current.quantity -= reduce
        current.cost -= cost_removed
        current.realized_pnl += realized
        per_fill.append((current.id, realized))
        if current.quantity == 0:
            current.status = PositionStatus.CLOSED
            current.closed_at = ts_ms
            current.cost = ZERO
            rest = quantity - reduce
            if rest > 0:
                opened = _open(symbol, fill_type, rest, price, mark, ts_ms, new_id)
    ctx = getcontext()
    if current is not None:
        current.updated_at = ts_ms
        if current.status is PositionStatus.CLOSED:
            current.current_price = mark
            current.unrealized_pnl = ZERO
        else:
            if grew:
                current.entry_price = entry_of(current.cost, current.quantity)
            remark(current, mark, ctx)
    if opened is not None and added:
        opened.entry_price = entry_of(opened.cost, opened.quantity)
        remark(opened, mark, ctx)
    return FillsOutcome(closed_or_updated=current, opened=opened, per_fill=tuple(per_fill))


def _grown(
    position: Position, totals: tuple[Decimal, Decimal], count: int, mark: Decimal, ts_ms: int
) -> FillsOutcome:
    """An open position that ``count`` fills on its own side grow by ``totals``
    (quantity, value): the same sums as adding them one by one."""
    grown = _replace(position)
    grown.quantity += totals[0]
    grown.cost += totals[1]
    grown.updated_at = ts_ms
    grown.entry_price = entry_of(grown.cost, grown.quantity)
    remark(grown, mark, getcontext())
    return FillsOutcome(closed_or_updated=grown, opened=None, per_fill=((grown.id, ZERO),) * count)


def _reduced(
    position: Position,
    fills: tuple[tuple[Decimal, Decimal], ...] | list[tuple[Decimal, Decimal]],
    mark: Decimal,
    ts_ms: int,
) -> FillsOutcome:
    """An open position that fills on the other side reduce without closing it: the
    general rule's reducing step, fill by fill, on local numbers."""
    reduced = _replace(position)
    quantity, cost, realized_pnl = reduced.quantity, reduced.cost, reduced.realized_pnl
    long = reduced.type is PositionType.BUY
    position_id = reduced.id
    per_fill: list[tuple[str, Decimal]] = []
    for price, amount in fills:
        removed = (cost * amount / quantity).quantize(COST_QUANTUM, ROUND_HALF_EVEN)
        realized = amount * price - removed if long else removed - amount * price
        quantity -= amount
        cost -= removed
        realized_pnl += realized
        per_fill.append((position_id, realized))
    reduced.quantity, reduced.cost, reduced.realized_pnl = quantity, cost, realized_pnl
    reduced.updated_at = ts_ms
    remark(reduced, mark, getcontext())
    return FillsOutcome(closed_or_updated=reduced, opened=None, per_fill=tuple(per_fill))


def _open(
    symbol: str,
    ptype: PositionType,
    quantity: Decimal,
    price: Decimal,
    mark: Decimal,
    ts_ms: int,
    new_id: str,
) -> Position:
    cost = quantity * price
    return Position(
        id=new_id,
        symbol=symbol,
        type=ptype,
        quantity=quantity,
        cost=cost,
        entry_price=price,
        status=PositionStatus.OPEN,
        opened_at=ts_ms,
        updated_at=ts_ms,
        current_price=mark,
        unrealized_pnl=unrealized(ptype, quantity, cost, mark),
    )
