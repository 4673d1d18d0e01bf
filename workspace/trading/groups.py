"""OCO and BRACKET groups: their legs, and the group-wide changes (a leg executed, the
group ends, a bracket's entry filled).  Pure functions from snapshots to snapshots.

- OCO: a take-profit LIMIT leg and a STOP_LOSS leg on the same side; the first to
  execute (or trigger) cancels the other in the same event.
- BRACKET: an entry (MARKET, or LIMIT at ``price``) and two exits on the other side, a
  take-profit LIMIT and a stop (STOP_LOSS, or TRAILING_STOP when a trailing field is
  given).  The exits wait (PENDING_NEW) until the entry fills, then live as an OCO
  that belongs to the holding the entry made (``reduce_only``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import LegRole, Order, opposite
from workspace.trading.reasons import ReasonCode
from workspace.trading.requests import OrderType
from workspace.trading.trailing import arm

S = OrderStatus
_replace = msgspec.structs.replace
NewId = Callable[[], str]


def make_leg(
    parent: Order,
    new_id: NewId,
    role: LegRole,
    kind: OrderType,
    status: OrderStatus,
    *,
    exit_leg: bool,
    **fields: object,
) -> Order:
    side = opposite(parent.side) if exit_leg else parent.side
    leg = Order(
        id=new_id(),
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
        reduce_only=parent.reduce_only or exit_leg,
        position_id=parent.position_id,
        # a bracket's time in force is its entry's: its exits rest until they execute
        time_in_force="GTC" if exit_leg else parent.time_in_force,
    )
    return _replace(leg, **fields) if fields else leg


def oco_legs(parent: Order, new_id: NewId) -> tuple[Order, ...]:
    tp = make_leg(
        parent,
        new_id,
        LegRole.TAKE_PROFIT,
        OrderType.LIMIT,
        S.NEW,
        exit_leg=False,
        price=parent.take_profit,
    )
    stop = make_leg(
        parent,
        new_id,
        LegRole.STOP_LOSS,
        OrderType.STOP_LOSS,
        S.NEW,
        exit_leg=False,
        stop_price=parent.stop_price,
    )
    return (tp, stop)


def bracket_legs(parent: Order, new_id: NewId) -> tuple[Order, ...]:
    entry_kind = OrderType.MARKET if parent.price is None else OrderType.LIMIT
    entry = make_leg(
        parent,
        new_id,
        LegRole.ENTRY,
        entry_kind,
        S.NEW,
        exit_leg=False,
        price=parent.price,
        expires_at=parent.expires_at,
    )
    tp = make_leg(
        parent,
        new_id,
        LegRole.TAKE_PROFIT,
        OrderType.LIMIT,
        S.PENDING_NEW,
        exit_leg=True,
        price=parent.take_profit,
    )
    if parent.trail_percent or parent.trail_amount or parent.trailing_delta:
        stop = make_leg(
            parent,
            new_id,
            LegRole.STOP_LOSS,
            OrderType.TRAILING_STOP,
            S.PENDING_NEW,
            exit_leg=True,
            stop_loss=parent.stop_loss,
            trail_percent=parent.trail_percent,
            trail_amount=parent.trail_amount,
            trailing_delta=parent.trailing_delta,
            activation_price=parent.activation_price,
            current_stop_price=parent.stop_loss,
        )
    else:
        stop = make_leg(
            parent,
            new_id,
            LegRole.STOP_LOSS,
            OrderType.STOP_LOSS,
            S.PENDING_NEW,
            exit_leg=True,
            stop_price=parent.stop_loss,
        )
    return (entry, tp, stop)


def cancel_siblings(group: Order, keep_id: str, ts_ms: int) -> Order:
    """``group`` with every other live exit leg canceled (one leg wins)."""
    for leg in group.legs:
        if leg.id != keep_id and leg.role is not LegRole.ENTRY and not is_final(leg.status):
            group = group.with_leg(
                _replace(
                    leg,
                    status=S.CANCELED,
                    updated_at=ts_ms,
                    reason="the other leg executed",
                    reason_code=ReasonCode.SIBLING_EXECUTED.value,
                )
            )
    return group


def finish(order: Order, status: OrderStatus, ts_ms: int, reason: str, code: str) -> Order:
    """``order`` canceled or expired, with every leg that is still live; its
    reservation released."""
    group = order
    for leg in order.legs:
        if not is_final(leg.status):
            group = group.with_leg(
                _replace(leg, status=status, updated_at=ts_ms, reason=reason, reason_code=code)
            )
    return _replace(
        group,
        status=status,
        updated_at=ts_ms,
        reason=reason,
        reason_code=code,
        reserved=Decimal(0),
        exit_reserved=Decimal(0),
    )


def activate_exits(
    group: Order,
    entry_price: Decimal,
    ts_ms: int,
    position_id: str | None,
    quantity: Decimal | None = None,
) -> Order:
    """A bracket's entry executed: its exit legs become a live OCO of the new holding,
    for ``quantity`` (what the entry bought so far; all of it by default)."""
    for leg in group.legs:
        if leg.status is not S.PENDING_NEW:
            continue
        live = _replace(leg, status=S.NEW, updated_at=ts_ms, position_id=position_id)
        if quantity is not None:
            live = _replace(live, quantity=quantity)
        if live.type is OrderType.TRAILING_STOP:
            live = arm(live, entry_price, ts_ms)
        group = group.with_leg(live)
    return group


def grow_exits(group: Order, bought: Decimal, ts_ms: int) -> Order:
    """A bracket's entry executed again: its live exits grow by ``bought`` (what this
    execution added to the holding)."""
    for leg in group.legs:
        if leg.role is LegRole.ENTRY or is_final(leg.status) or leg.status is S.PENDING_NEW:
            continue
        group = group.with_leg(_replace(leg, quantity=leg.quantity + bought, updated_at=ts_ms))
    return group
