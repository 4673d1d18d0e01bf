"""PROTOCOL.md shapes of orders, positions and the portfolio.

The only place where money becomes ``float``: JSON numbers at the edge, exact
``Decimal`` everywhere inside.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from workspace.trading.orders import Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position

_ORDER_PRICES = (
    "price",
    "stop_price",
    "take_profit",
    "stop_loss",
    "trail_percent",
    "trail_amount",
    "trailing_delta",
    "activation_price",
    "current_stop_price",
    "peak_price",
    "fill_price",
    "fee",
)


def _f(value: Decimal) -> float:
    return float(value)


def iso_ms(ts_ms: int) -> str:
    """``2023-12-10T12:20:00.000Z`` from ms since the epoch."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def order_to_wire(order: Order) -> dict[str, Any]:
    """An order object: ``id``, ``symbol``, ``side``, ``type``, ``quantity``,
    ``filled_quantity``, ``status``, the prices its type uses, ``reason`` when rejected
    (or canceled/expired by the account), ``fill_price``/``fee`` when filled, ``legs``
    for OCO and BRACKET, ``current_stop_price``/``peak_price`` for trailing stops,
    ``created_at``/``updated_at`` in ms."""
    wire: dict[str, Any] = {
        "id": order.id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "quantity": _f(order.quantity),
        "filled_quantity": _f(order.filled_quantity),
        "status": order.status.value,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    for name in _ORDER_PRICES:
        value = getattr(order, name)
        if value is not None:
            wire[name] = _f(value)
    if order.reason is not None:
        wire["reason"] = order.reason
    if order.role is not None:
        wire["role"] = order.role.value
    if order.parent_id is not None:
        wire["parent_id"] = order.parent_id
    if order.position_id is not None:
        wire["position_id"] = order.position_id
    if order.client_order_id is not None:
        wire["client_order_id"] = order.client_order_id
    if order.type.value == "TRAILING_STOP":
        wire["activated"] = order.activated
    if order.legs:
        wire["legs"] = [order_to_wire(leg) for leg in order.legs]
    return wire


def position_to_wire(position: Position) -> dict[str, Any]:
    """``{"id","symbol","type","quantity","entry_price","current_price","current_pnl",
    "timestamp","status"}`` plus ``realized_pnl``, ``opened_at``, ``updated_at``,
    ``closed_at`` (ms).  ``timestamp`` is when the position opened (ISO 8601, UTC)."""
    wire: dict[str, Any] = {
        "id": position.id,
        "symbol": position.symbol,
        "type": position.type.value,
        "quantity": _f(position.quantity),
        "entry_price": _f(position.entry_price),
        "current_price": _f(position.current_price),
        "current_pnl": _f(position.unrealized_pnl),
        "timestamp": iso_ms(position.opened_at),
        "status": position.status.value,
        "realized_pnl": _f(position.realized_pnl),
        "opened_at": position.opened_at,
        "updated_at": position.updated_at,
    }
    if position.closed_at is not None:
        wire["closed_at"] = position.closed_at
    return wire


def portfolio_to_wire(portfolio: Portfolio) -> dict[str, Any]:
    return {
        "balance": _f(portfolio.balance),
        "total_pnl": _f(portfolio.total_pnl),
        "positions_count": portfolio.positions_count,
        "realized_pnl": _f(portfolio.realized_pnl),
        "equity": _f(portfolio.equity),
        "unrealized_pnl": _f(portfolio.unrealized_pnl),
        "initial_balance": _f(portfolio.initial_balance),
        "fees_paid": _f(portfolio.fees_paid),
        "available": _f(portfolio.available),
        "locked": _f(portfolio.locked),
        "reserved": _f(portfolio.reserved),
    }
