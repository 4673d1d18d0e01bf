"""The paper account: orders, positions, P&L.  Pure and synchronous (docs/trading.md)."""

from workspace.trading.account import Account
from workspace.trading.config import AccountConfig
from workspace.trading.events import AccountEvent, FillEvent, MarkEvent, OrderEvent, PositionEvent
from workspace.trading.order_state import IllegalTransition, OrderStatus
from workspace.trading.orders import Fill, LegRole, Liquidity, Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position, PositionStatus, PositionType
from workspace.trading.requests import OrderRequest, OrderType, Side
from workspace.trading.wire import order_to_wire, portfolio_to_wire, position_to_wire

__all__ = [
    "Account",
    "AccountConfig",
    "AccountEvent",
    "Fill",
    "FillEvent",
    "IllegalTransition",
    "LegRole",
    "Liquidity",
    "MarkEvent",
    "Order",
    "OrderEvent",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Portfolio",
    "Position",
    "PositionEvent",
    "PositionStatus",
    "PositionType",
    "Side",
    "order_to_wire",
    "portfolio_to_wire",
    "position_to_wire",
]
