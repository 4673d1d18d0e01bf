"""PROTOCOL.md shapes of orders, positions, the portfolio and a symbol's rules.

The only place where money becomes ``float``: JSON numbers at the edge, exact
``Decimal`` everywhere inside (a symbol's rules stay decimal strings: a tick of 0.01
must not arrive as 0.01000000000000000020816681711721685).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from workspace.market.exchange_info import SymbolInfo
from workspace.trading.orders import ORDER_NUMBERS, Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position
from workspace.trading.reasons import plain

_ORDER_PRICES = tuple(name for name in ORDER_NUMBERS if name not in ("quantity", "filled_quantity"))


def _f(value: Decimal) -> float:
    return float(value)


def iso_ms(ts_ms: int) -> str:
    """``2023-12-10T12:20:00.000Z`` from ms since the epoch."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def order_to_wire(order: Order) -> dict[str, Any]:
    """An order object: ``id``, ``symbol``, ``side``, ``type``, ``quantity``,
    ``filled_quantity``, ``status``, ``time_in_force``, the prices its type uses,
    ``reason`` and ``reason_code`` when rejected, canceled or expired by the account,
    ``fill_price`` / ``avg_price`` / ``fee`` / ``fills`` once it executed, ``legs``
    for OCO and BRACKET, ``current_stop_price`` / ``peak_price`` for trailing stops,
    ``reduce_only`` for exits, ``created_at`` / ``updated_at`` in ms."""
    wire: dict[str, Any] = {
        "id": order.id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "quantity": _f(order.quantity),
        "filled_quantity": _f(order.filled_quantity),
        "status": order.status.value,
        "time_in_force": order.time_in_force,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    for name in _ORDER_PRICES:
        value = getattr(order, name)
        if value is not None:
            wire[name] = _f(value)
    if order.reason is not None:
        wire["reason"] = order.reason
    if order.reason_code is not None:
        wire["reason_code"] = order.reason_code
    if order.executions:
        wire["fills"] = [
            {
                "price": _f(e.price),
                "quantity": _f(e.quantity),
                "fee": _f(e.fee),
                "fee_asset": e.fee_asset,
                "maker": e.maker,
                "timestamp": e.ts_ms,
            }
            for e in order.executions
        ]
    if order.role is not None:
        wire["role"] = order.role.value
    if order.parent_id is not None:
        wire["parent_id"] = order.parent_id
    if order.position_id is not None:
        wire["position_id"] = order.position_id
    if order.client_order_id is not None:
        wire["client_order_id"] = order.client_order_id
    if order.reduce_only:
        wire["reduce_only"] = True
    if order.expires_at is not None:
        wire["expires_at"] = order.expires_at
    if order.type.value == "TRAILING_STOP":
        wire["activated"] = order.activated
    if order.legs:
        wire["legs"] = [order_to_wire(leg) for leg in order.legs]
    return wire


def position_to_wire(position: Position) -> dict[str, Any]:
    """``{"id","symbol","type","quantity","entry_price","current_price","current_pnl",
    "timestamp","status"}`` plus ``realized_pnl``, ``opened_at``, ``updated_at``,
    ``closed_at`` (ms), ``price_ms`` (when its mark arrived; null when it came from the
    journal) and ``stale`` (the mark is older than the freshness limit, or restored).
    ``timestamp`` is when the position opened (ISO 8601, UTC)."""
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
        "price_ms": position.price_ms,
        "stale": position.stale,
    }
    if position.closed_at is not None:
        wire["closed_at"] = position.closed_at
    return wire


def portfolio_to_wire(portfolio: Portfolio) -> dict[str, Any]:
    """PROTOCOL v2: ``balance``, ``total_pnl``, ``positions_count``, ``realized_pnl``,
    ``equity``, ``unrealized_pnl``, ``initial_balance``, ``fees_paid``, ``available``
    (free quote currency), ``locked`` (quote currency held back) and ``balances``
    ``{ASSET: {"free", "locked"}}``."""
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
        "balances": {
            asset: {"free": _f(b.free), "locked": _f(b.locked)}
            for asset, b in portfolio.balances.items()
        },
    }


def _size(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def symbol_info_to_wire(info: SymbolInfo) -> dict[str, Any]:
    """A symbol's rules for an order ticket (BRIEF interface 1): ``base_asset``,
    ``quote_asset``, ``tick_size``, ``step_size``, ``min_qty``, ``max_qty``,
    ``min_notional`` (decimal strings, null when the rule is off),
    ``price_precision`` / ``quantity_precision`` (decimals of tick / step), ``status``;
    plus ``min_price``, ``max_price``, ``max_notional``, ``market_max_qty``."""
    return {
        "symbol": info.symbol,
        "base_asset": info.base_asset,
        "quote_asset": info.quote_asset,
        "tick_size": _size(info.tick_size),
        "step_size": _size(info.step_size),
        "min_qty": _size(info.min_qty),
        "max_qty": _size(info.max_qty),
        "min_notional": _size(info.min_notional),
        "price_precision": info.price_precision,
        "quantity_precision": info.quantity_precision,
        "status": info.status,
        "min_price": _size(info.min_price),
        "max_price": _size(info.max_price),
        "max_notional": _size(info.max_notional),
        "market_max_qty": _size(info.market_max_qty),
    }
