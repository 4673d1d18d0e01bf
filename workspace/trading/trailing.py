"""Trailing stops: where the stop sits for a given peak, when the order arms, how it
follows the market.  Pure functions of an order snapshot and a price.

A SELL trails below the highest price since it armed (``peak_price``), a BUY above the
lowest (the "peak" is then the trough).  The offset is ``trail_percent`` (1.0 = 1 %),
``trailing_delta`` (BIPS, 100 = 1 %, Binance's unit) or ``trail_amount`` (price units).
With an ``activation_price`` the order stays dormant until the market reaches it
(Binance's optional ``stopPrice`` of a trailing order); a bracket's trailing stop leg
never starts worse than its ``stop_loss``.  The stop only ever tightens.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from workspace.trading.orders import Order
from workspace.trading.requests import Side

HUNDRED = Decimal(100)
BIPS = Decimal(10000)
_replace = msgspec.structs.replace


def stop_from_peak(order: Order, peak: Decimal) -> Decimal:
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
    current = order.current_stop_price
    if current is not None:
        stop = max(stop, current) if sell else min(stop, current)
    return stop


def trailing_bips(order: Order, at: Decimal | None) -> Decimal | None:
    """The trailing distance in BIPS (for the TRAILING_DELTA filter): a delta as it is,
    a percent x 100, an amount as the share it is of ``at``, the price it trails from
    (``None`` while there is no such price)."""
    if order.trailing_delta is not None:
        return order.trailing_delta
    if order.trail_percent is not None:
        return order.trail_percent * HUNDRED
    if order.trail_amount is not None and at is not None and at > 0:
        return order.trail_amount * BIPS / at
    return None


def arm(order: Order, price: Decimal | None, ts_ms: int) -> Order:
    """Activate a trailing stop when ``price`` reaches its activation price (or at once
    without one); the same object when it stays dormant."""
    if price is None or order.activated:
        return order
    act = order.activation_price
    sell = order.side is Side.SELL
    if act is not None and ((sell and price < act) or (not sell and price > act)):
        return order
    armed = _replace(order, activated=True, peak_price=price, updated_at=ts_ms)
    return _replace(armed, current_stop_price=stop_from_peak(armed, price))


def follow(order: Order, price: Decimal, ts_ms: int) -> Order:
    """The order after a price: armed, or with a new peak and stop; the same object
    when nothing moved."""
    if not order.activated:
        return arm(order, price, ts_ms)
    peak = order.peak_price
    assert peak is not None
    sell = order.side is Side.SELL
    if (sell and price > peak) or (not sell and price < peak):
        moved = _replace(order, peak_price=price, updated_at=ts_ms)
        return _replace(moved, current_stop_price=stop_from_peak(moved, price))
    return order


def reached(order: Order, price: Decimal) -> bool:
    """Whether ``price`` reaches the order's current stop (a dormant bracket leg still
    guards at its ``stop_loss``)."""
    stop = order.current_stop_price
    if stop is None:
        return False
    return price <= stop if order.side is Side.SELL else price >= stop
