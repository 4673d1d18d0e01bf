"""Exits belong to their holding.

An exit is an order (or an OCO / bracket leg) marked ``reduce_only``: a bracket's
take-profit and stop, an OCO or stop-loss / take-profit selling what the account holds,
any resting sell on a spot account.  Three rules keep exits honest:

- an exit never executes more than is still held (``execution.execute`` clips it, and
  with nothing held it expires ``HOLDING_CLOSED``);
- when the holding shrinks under an exit (a fill elsewhere, a partial close), the exit
  shrinks to what is left (``HOLDING_REDUCED``, it stays open);
- when the holding is closed by anything else, its exits end (CANCELED,
  ``HOLDING_CLOSED``): closing a position never leaves a stop behind that would later
  sell what the account no longer has (or, margin-style, open a short).

On a spot account exits lock the asset they sell, so the holding cannot shrink under
them except through ``close_position``, which first frees what it sells
(``free_for_close``: the newest exits give way first).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from workspace.trading.events import AccountEvent
from workspace.trading.groups import finish
from workspace.trading.order_state import OrderStatus, is_final
from workspace.trading.orders import Order
from workspace.trading.positions import Position, PositionType
from workspace.trading.reasons import ReasonCode, plain
from workspace.trading.requests import Side

if TYPE_CHECKING:
    from workspace.trading.account import Account

ZERO = Decimal(0)
S = OrderStatus
_replace = msgspec.structs.replace


def exit_parts(order: Order) -> list[Order]:
    """The live exit orders inside ``order``: itself, or its live reduce-only legs
    (a bracket's exits waiting for their entry are not live yet)."""
    if order.legs:
        return [
            leg
            for leg in order.legs
            if leg.reduce_only and leg.status is not S.PENDING_NEW and not is_final(leg.status)
        ]
    return [order] if order.reduce_only and not is_final(order.status) else []


def _held(position: Position | None, side: Side) -> Decimal:
    if position is None or (position.type is PositionType.BUY) != (side is Side.SELL):
        return ZERO
    return position.quantity


def fit(acct: Account, symbol: str, cause_id: str, ts_ms: int, events: list[AccountEvent]) -> None:
    """After a fill of ``cause_id`` changed the holding of ``symbol``: every other exit
    of that holding shrinks to it, or ends with it."""
    position = acct.position_on(symbol)
    for order_id in acct.store.exits_on(symbol):
        if order_id == cause_id:
            continue
        order = acct.store.top(order_id)
        parts = exit_parts(order)
        if not parts:
            continue
        held = _held(position, parts[0].side)
        remaining = max(part.remaining for part in parts)
        if held <= 0:
            reason = f"the {symbol} holding was closed (by {cause_id})"
            done = finish(order, S.CANCELED, ts_ms, reason, ReasonCode.HOLDING_CLOSED.value)
            acct.emit_order(done, ts_ms, events)
        elif remaining > held:
            reason = f"the {symbol} holding shrank to {plain(held)} (by {cause_id})"
            acct.emit_order(_shrunk(acct, order, held, ts_ms, reason), ts_ms, events)


def free_for_close(
    acct: Account, position: Position, close: Order, ts_ms: int, events: list[AccountEvent]
) -> None:
    """A spot close of ``close.quantity`` needs that much of the asset free: the exits
    that hold it back give it up, newest first (shrunk, or ended when all of theirs is
    needed)."""
    symbol = position.symbol
    base = acct.base_of(symbol)
    need = close.quantity - acct.wallet.free(base)
    for order_id in reversed(acct.store.exits_on(symbol)):
        if need <= 0:
            return
        order = acct.store.top(order_id)
        holds = base_held(order, base)
        if not holds:
            continue
        take = min(holds, need)
        need -= take
        left = holds - take
        if left <= 0:
            reason = f"the {symbol} position is being closed by {close.id}"
            done = finish(order, S.CANCELED, ts_ms, reason, ReasonCode.HOLDING_CLOSED.value)
            acct.emit_order(done, ts_ms, events)
        else:
            reason = f"{plain(take)} of the {symbol} holding is being sold by {close.id}"
            acct.emit_order(_shrunk(acct, order, left, ts_ms, reason), ts_ms, events)


def _shrunk(acct: Account, order: Order, remaining: Decimal, ts_ms: int, reason: str) -> Order:
    """``order`` with each live exit left with ``remaining`` to execute (ended instead
    when that is below the symbol's minimum quantity)."""
    info = acct.symbol_info(order.symbol)
    if info is not None and info.min_qty is not None and remaining < info.min_qty:
        return finish(
            order,
            S.CANCELED,
            ts_ms,
            f"{reason}: what is left is below the minimum quantity "
            f"{plain(info.min_qty)} {info.base_asset}",
            ReasonCode.HOLDING_CLOSED.value,
        )
    code = ReasonCode.HOLDING_REDUCED.value

    def shrink(part: Order) -> Order:
        return _replace(
            part,
            quantity=part.filled_quantity + remaining,
            updated_at=ts_ms,
            reason=reason,
            reason_code=code,
        )

    if order.legs:
        group = order
        for leg in exit_parts(order):
            group = group.with_leg(shrink(leg))
        shrunk = _replace(group, updated_at=ts_ms, reason=reason, reason_code=code)
        if not any(leg.role is not None and leg.role.value == "entry" for leg in order.legs):
            shrunk = _replace(shrunk, quantity=order.filled_quantity + remaining)
    else:
        shrunk = shrink(order)
    base = acct.base_of(order.symbol)
    if order.reserved_asset == base:
        shrunk = _replace(shrunk, reserved=remaining)
    elif order.exit_reserved:
        shrunk = _replace(shrunk, exit_reserved=remaining)  # its entry still works
    return shrunk


def base_held(order: Order, base: str) -> Decimal:
    """The base asset ``order`` holds back for its exits: its reservation when that is
    in the base asset, or what a bracket's exits hold while its entry still works."""
    if order.reserved_asset == base:
        return order.reserved
    return order.exit_reserved
