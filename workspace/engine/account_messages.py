"""Account state -> PROTOCOL.md messages (``ORDER_UPDATE``, ``POSITION_UPDATE``,
``PORTFOLIO_UPDATE``, ``ORDERS``), using the account's own wire helpers for the objects."""

from __future__ import annotations

from collections.abc import Iterable

from workspace.session import Message
from workspace.trading import order_to_wire, portfolio_to_wire, position_to_wire
from workspace.trading.account import Account
from workspace.trading.orders import Order


def order_update(order: Order, seq: int, ts_ms: int) -> Message:
    return {
        "type": "ORDER_UPDATE",
        "orderType": str(order.type),
        "seq": seq,
        "order": order_to_wire(order),
        "timestamp": ts_ms,
    }


def positions_message(account: Account, ts_ms: int) -> Message:
    """Open positions, their marks judged fresh or ``stale`` at ``ts_ms``."""
    return {
        "type": "POSITION_UPDATE",
        "positions": [position_to_wire(position) for position in account.positions_at(ts_ms)],
        "timestamp": ts_ms,
    }


def portfolio_message(account: Account, ts_ms: int) -> Message:
    return {
        "type": "PORTFOLIO_UPDATE",
        "portfolio": portfolio_to_wire(account.portfolio()),
        "timestamp": ts_ms,
    }


def orders_message(orders: Iterable[Order], seq: int, ts_ms: int) -> Message:
    return {
        "type": "ORDERS",
        "orders": [order_to_wire(order) for order in orders],
        "seq": seq,
        "timestamp": ts_ms,
    }
