"""Every panel in one widget: ``widgets.dashboard(session)`` (``ws.dashboard()`` calls it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ipywidgets

from widgets.chart import ChartPanel
from widgets.orders import OrdersPanel
from widgets.panel import Panel
from widgets.portfolio import PortfolioPanel
from widgets.positions import PositionsPanel
from widgets.status import MetricsSource, StatusPanel
from widgets.tickers import TickersPanel
from widgets.ticket import TicketPanel
from workspace.session import TradingSession


class Dashboard(ipywidgets.VBox):  # type: ignore[misc]
    """Layout (``tw-dashboard``): status and portfolio on top; tickers and the ticket;
    the chart; positions and orders.  ``close()`` closes every panel."""

    def __init__(
        self,
        session: TradingSession,
        *,
        symbols: Iterable[str] = (),
        metrics: MetricsSource | None = None,
        chart: bool = True,
        interval: float | None = None,
    ) -> None:
        symbols = [s.upper() for s in symbols]
        timing: dict[str, Any] = {} if interval is None else {"interval": interval}
        self.status = StatusPanel(session, metrics=metrics)
        self.portfolio = PortfolioPanel(session, **timing)
        self.tickers = TickersPanel(session, symbols, **timing)
        self.ticket = TicketPanel(session, symbol=symbols[0] if symbols else "", **timing)
        self.chart = ChartPanel(session, symbols[0] if symbols else "", **timing) if chart else None
        self.positions = PositionsPanel(session, **timing)
        self.orders = OrdersPanel(session, **timing)
        boxes: list[ipywidgets.Widget] = [
            self._row((self.status, 1, "320px"), (self.portfolio, 1, "320px")),
            self._row((self.tickers, 3, "480px"), (self.ticket, 2, "320px")),
        ]
        if self.chart is not None:
            self.chart.layout = ipywidgets.Layout(width="100%")
            boxes.append(self.chart)
        # the orders table (type, status with a bracket's phase, prices with the live
        # trailing stop and the legs) needs more room than the positions table
        boxes.append(self._row((self.positions, 5, "440px"), (self.orders, 7, "560px")))
        super().__init__(boxes, layout=ipywidgets.Layout(width="100%", grid_gap="8px"))
        self.add_class("tw-dashboard")

    @staticmethod
    def _row(*cells: tuple[Panel, int, str]) -> ipywidgets.HBox:
        """Panels side by side sharing the width by weight; a row narrower than the
        panels' minimum widths (a narrow notebook) wraps them onto lines of their own
        instead of squeezing tables into horizontal scrolling."""
        for panel, weight, min_width in cells:
            panel.layout = ipywidgets.Layout(flex=f"{weight} 1 0", min_width=min_width)
        return ipywidgets.HBox(
            [panel for panel, _, _ in cells],
            layout=ipywidgets.Layout(
                width="100%", align_items="stretch", flex_flow="row wrap", grid_gap="8px"
            ),
        )

    @property
    def panels(self) -> list[Panel]:
        found = [
            self.status,
            self.portfolio,
            self.tickers,
            self.ticket,
            self.chart,
            self.positions,
            self.orders,
        ]
        return [p for p in found if p is not None]

    def close(self) -> None:
        for panel in self.panels:
            panel.close()
        super().close()


def dashboard(
    session: TradingSession,
    *,
    symbols: Iterable[str] = (),
    metrics: MetricsSource | None = None,
    chart: bool = True,
    interval: float | None = None,
) -> Dashboard:
    """Every panel on ``session``; ``symbols`` are subscribed and shown in the tickers,
    the first one in the chart and the ticket.  ``metrics``: a zero-argument callable
    returning a dict (e.g. ``lambda: ws.metrics``) for the status panel."""
    return Dashboard(session, symbols=symbols, metrics=metrics, chart=chart, interval=interval)
