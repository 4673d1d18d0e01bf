"""The workspace's panels for JupyterLab (anywidget + ipywidgets).

Each panel takes a ``TradingSession`` (``ws.session``, or a ``RealtimeClient``) and
uses only ``listen`` and ``request``::

    from widgets import dashboard, TickersPanel
    dashboard(ws.session, symbols=["BTCUSDT"])      # every panel (ws.dashboard() does this)
    TickersPanel(ws.session, ["BTCUSDT", "ETHUSDT"])  # one panel alone

See docs/widgets.md for the CSS classes, theming and throttling.
"""

from widgets.book import BookPanel
from widgets.chart import ChartPanel
from widgets.dashboard import Dashboard, dashboard
from widgets.figure import ThemedFigure
from widgets.orders import OrdersPanel
from widgets.panel import Panel
from widgets.portfolio import PortfolioPanel
from widgets.positions import PositionsPanel
from widgets.status import StatusPanel
from widgets.tickers import TickersPanel
from widgets.ticket import TicketPanel

__all__ = [
    "BookPanel",
    "ChartPanel",
    "Dashboard",
    "OrdersPanel",
    "Panel",
    "PortfolioPanel",
    "PositionsPanel",
    "StatusPanel",
    "ThemedFigure",
    "TickersPanel",
    "TicketPanel",
    "dashboard",
]
