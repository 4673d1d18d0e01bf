"""Every panel in one widget: ``widgets.dashboard(session)`` (``ws.dashboard()`` calls it).

The panels work together: the chart's symbol is the order book's and the ticket's
(pick another symbol in the chart and the book and the ticket follow), and a price
clicked in the book goes into the ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import ipywidgets

from widgets.book import BookPanel
from widgets.chart import ChartPanel
from widgets.orders import OrdersPanel
from widgets.panel import Panel, checked_session, panel_symbols
from widgets.portfolio import PortfolioPanel
from widgets.positions import PositionsPanel
from widgets.status import MetricsSource, StatusPanel
from widgets.tickers import TickersPanel
from widgets.ticket import TicketPanel
from workspace.session import TradingSession

_P = TypeVar("_P", bound=Panel)


class Dashboard(ipywidgets.VBox):  # type: ignore[misc]
    """Layout (``tw-dashboard``): the status strip; tickers and the portfolio; the chart,
    the order book and the ticket; positions and orders.  Rows wrap in a narrow
    notebook (each panel has a minimum width).  ``close()`` closes every panel."""

    def __init__(
        self,
        session: TradingSession,
        *,
        symbols: Iterable[str] = (),
        metrics: MetricsSource | None = None,
        chart: bool = True,
        book: bool = True,
        interval: float | None = None,
        timeframe: str = "1m",
        depth: int = 10,
    ) -> None:
        self._unlinks: list[Callable[[], None]] = []
        self._built: list[Panel] = []
        names = _checked(session, symbols)
        for name, flag in (("chart", chart), ("book", book)):
            if not isinstance(flag, bool):
                # ("no" is truthy: a string here showed the panel it meant to leave out)
                raise ValueError(f"{name} must be True or False, got {flag!r:.40}")
        first = names[0] if names else ""
        timing: dict[str, Any] = {} if interval is None else {"interval": interval}
        try:
            self.status = self._keep(StatusPanel(session, metrics=metrics))
            self.portfolio = self._keep(PortfolioPanel(session, **timing))
            self.tickers = self._keep(TickersPanel(session, names, **timing))
            self.ticket = self._keep(TicketPanel(session, symbol=first, **timing))
            self.chart = (
                self._keep(ChartPanel(session, first, timeframe=timeframe, **timing))
                if chart
                else None
            )
            self.book = (
                self._keep(BookPanel(session, first, depth=depth, **timing)) if book else None
            )
            self.positions = self._keep(PositionsPanel(session, **timing))
            self.orders = self._keep(OrdersPanel(session, **timing))
        except BaseException:
            # each panel checks its own arguments before it listens to the session; the
            # ones built before a refusal listen already, and must not go on
            for panel in self._built:
                panel.close()
            self._built.clear()
            raise
        self._link()
        self.status.layout = ipywidgets.Layout(width="100%")
        boxes: list[ipywidgets.Widget] = [
            self.status,
            # the tickers' seven columns need 560 px: narrower, the row wraps
            self._row((self.tickers, 3, "560px"), (self.portfolio, 2, "330px")),
        ]
        trading: list[tuple[Panel, int, str]] = []
        if self.chart is not None:
            trading.append((self.chart, 6, "560px"))
        if self.book is not None:
            trading.append((self.book, 2, "250px"))
        trading.append((self.ticket, 3, "320px"))
        boxes.append(self._row(*trading))
        # the orders table (type, status with a bracket's phase, prices with the live
        # trailing stop and the legs) needs more room than the positions table
        boxes.append(self._row((self.positions, 5, "440px"), (self.orders, 7, "560px")))
        super().__init__(boxes, layout=ipywidgets.Layout(width="100%", grid_gap="8px"))
        self.add_class("tw-dashboard")

    def _keep(self, panel: _P) -> _P:
        self._built.append(panel)
        return panel

    def _link(self) -> None:
        """The chart leads the symbol; the book feeds prices to the ticket."""
        if self.book is not None:
            book = self.book
            self._unlinks.append(
                book.on_pick(lambda price, symbol: self.ticket.set_price(price, symbol))
            )
        if self.chart is not None:
            chart = self.chart

            def follow(change: dict[str, Any]) -> None:
                symbol = str(change["new"]).upper()
                if not symbol:
                    return
                if self.book is not None and self.book.symbol != symbol:
                    self.book.symbol = symbol
                if self.ticket.form.get("symbol") != symbol:
                    self.ticket.select_symbol(symbol)

            chart.observe(follow, names=["symbol"])
            self._unlinks.append(lambda: chart.unobserve(follow, names=["symbol"]))

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
            self.book,
            self.positions,
            self.orders,
        ]
        return [p for p in found if p is not None]

    def close(self) -> None:
        # (also reached from ipywidgets' __del__ of a dashboard whose __init__ refused
        # its arguments: then only what was built is closed)
        for unlink in getattr(self, "_unlinks", ()):
            unlink()
        self._unlinks = []
        for panel in getattr(self, "_built", ()):
            panel.close()
        self._built = []
        super().close()


def _checked(session: object, symbols: Iterable[str] | str) -> list[str]:
    """The session checked and the symbols normalized (one may be given as a string),
    before any panel exists; the panels check the rest of their arguments."""
    checked_session(session, "dashboard")
    return panel_symbols(symbols)


def dashboard(
    session: TradingSession,
    *,
    symbols: Iterable[str] = (),
    metrics: MetricsSource | None = None,
    chart: bool = True,
    book: bool = True,
    interval: float | None = None,
    timeframe: str = "1m",
    depth: int = 10,
) -> Dashboard:
    """Every panel on ``session``; ``symbols`` are subscribed and shown in the tickers,
    the first one in the chart, the order book and the ticket.  ``metrics``: a
    zero-argument callable returning a dict (e.g. ``lambda: ws.metrics``) for the status
    panel.  ``timeframe``: the chart's first timeframe; ``depth``: the book's levels a
    side (5, 10 or 20)."""
    return Dashboard(
        session,
        symbols=symbols,
        metrics=metrics,
        chart=chart,
        book=book,
        interval=interval,
        timeframe=timeframe,
        depth=depth,
    )
