"""Netted positions and the average-cost arithmetic of a fill.

Exactness: a position keeps its exact ``cost`` (sum of quantity x price of the fills
that built it) instead of an average price.  Reducing ``r`` out of ``q`` removes
``cost * r / q``, rounded to ``COST_QUANTUM``; that rounding only moves a sub-atomic
amount between realized and unrealized P&L, so their sum (and so the equity identity)
stays exact.  ``entry_price`` is ``cost / quantity`` rounded, for display.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, getcontext
from enum import StrEnum

import msgspec

from workspace.trading.requests import Side

ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-18")
PRICE_QUANTUM = Decimal("1e-12")


class PositionType(StrEnum):
    BUY = "buy"  # long
    SELL = "sell"  # short


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Position(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A net position in one symbol.

    Inside the account, an open position's live mark (``current_price``,
    ``unrealized_pnl``) is kept in its ``MarkBook`` (``marks.py``), not on this
    object: the account's own objects carry the mark of their last event, and the
    copies it hands out are completed from the book.  Everything else changes only
    through a ``PositionEvent`` carrying a copy.  ``mark`` re-marks a copy (a fill).
    """

    id: str
    symbol: str
    type: PositionType
    quantity: Decimal
    cost: Decimal
    entry_price: Decimal
    status: PositionStatus
    opened_at: int
    updated_at: int
    current_price: Decimal
    unrealized_pnl: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    closed_at: int | None = None
    price_ms: int | None = None
    stale: bool = False

    @property
    def sign(self) -> int:
        return 1 if self.type is PositionType.BUY else -1

    def mark(self, price: Decimal, ctx: Context) -> Decimal:
        """Re-mark at ``price``; returns the change of unrealized P&L.

        Arithmetic goes through ``ctx`` explicitly (not the thread's context): this
        runs on every price of a symbol with a position, and entering a
        ``localcontext`` would cost more than the arithmetic itself."""
        value = ctx.multiply(self.quantity, price)
        if self.type is PositionType.BUY:
            new = ctx.subtract(value, self.cost)
        else:
            new = ctx.subtract(self.cost, value)
        delta = ctx.subtract(new, self.unrealized_pnl)
        self.current_price = price
        self.unrealized_pnl = new
        return delta

    def copy(self) -> Position:
        return msgspec.structs.replace(self)


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


class FillOutcome(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one fill does to the symbol's position: up to two new position states."""

    closed_or_updated: Position | None  # the existing position after the fill
    opened: Position | None  # a new position (fresh open, or the remainder past zero)
    realized_pnl: Decimal


class FillsOutcome(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What several fills on one side (a walk of the book) do to the symbol's
    position: its final states, and for each fill the position it went to and the P&L
    it realized."""

    closed_or_updated: Position | None
    opened: Position | None
    per_fill: tuple[tuple[str, Decimal], ...]  # (position id, realized P&L) per fill


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
) -> FillsOutcome:
    """The average-cost rule over ``fills`` ((price, quantity), in order) on one side:
    exactly what applying them one by one gives, computed on one copy (a walk of
    twenty levels costs one position copy, not twenty).  A fill that reduces ``r`` of
    ``q`` removes ``cost * r / q`` (rounded to ``COST_QUANTUM``; all of it when ``r ==
    q``); past zero (margin-style) the rest opens a new position with ``new_id``."""
    fill_type = PositionType.BUY if side is Side.BUY else PositionType.SELL
    current = position.copy() if position is not None else None
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
            current.mark(mark, ctx)
    if opened is not None and added:
        opened.entry_price = entry_of(opened.cost, opened.quantity)
        opened.mark(mark, ctx)
    return FillsOutcome(closed_or_updated=current, opened=opened, per_fill=tuple(per_fill))


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
