"""The paper account: orders, positions, P&L.  Pure and synchronous (docs/trading.md)."""

from workspace import native as _native

# the logic modules compiled with mypyc, when built from these very sources (before any
# submodule is imported: the package's path decides which form each import finds)
__path__ = _native.package_path(__name__, list(__path__))

from workspace.trading.account import Account
from workspace.trading.balance import Balance
from workspace.trading.config import AccountConfig
from workspace.trading.events import (
    AccountEvent,
    FillEvent,
    MarkEvent,
    OrderEvent,
    PositionEvent,
    ValuationEvent,
)
from workspace.trading.order_state import IllegalTransition, OrderStatus
from workspace.trading.orders import Execution, Fill, LegRole, Liquidity, Order
from workspace.trading.portfolio import Portfolio
from workspace.trading.positions import Position, PositionStatus, PositionType
from workspace.trading.reasons import ReasonCode
from workspace.trading.requests import OrderRequest, OrderType, Side, TimeInForce
from workspace.trading.rules import round_price, round_qty
from workspace.trading.wire import (
    order_to_wire,
    portfolio_to_wire,
    position_to_wire,
    symbol_info_to_wire,
)

__all__ = [
    "Account",
    "AccountConfig",
    "AccountEvent",
    "Balance",
    "Execution",
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
    "ReasonCode",
    "Side",
    "TimeInForce",
    "ValuationEvent",
    "order_to_wire",
    "portfolio_to_wire",
    "position_to_wire",
    "round_price",
    "round_qty",
    "symbol_info_to_wire",
]
