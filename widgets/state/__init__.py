"""Pure-Python state of each panel: PROTOCOL.md messages in, plain rows out.

No widgets, no asyncio, no clock reads: every model is fed messages with ``apply`` and
answers ``True`` when what it shows changed, so tests check exact state from scripted
message sequences without a browser or an engine.
"""

from widgets.state.book import BookState
from widgets.state.chart import ChartState
from widgets.state.orders import OrdersState
from widgets.state.portfolio import PortfolioState
from widgets.state.positions import PositionsState
from widgets.state.status import StatusState
from widgets.state.tickers import TickersState
from widgets.state.ticket import ORDER_TYPES, TicketError, build_order

__all__ = [
    "ORDER_TYPES",
    "BookState",
    "ChartState",
    "OrdersState",
    "PortfolioState",
    "PositionsState",
    "StatusState",
    "TickersState",
    "TicketError",
    "build_order",
]
