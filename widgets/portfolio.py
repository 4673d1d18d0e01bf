"""Portfolio panel (``tw-portfolio``): equity, what is available and what is locked,
realized and unrealized P&L, the fees paid and the total they add up to (shown as the
sum it is), positions count, the wallet's assets, and an equity sparkline."""

from __future__ import annotations

from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel
from widgets.state.portfolio import PortfolioState
from workspace.session import Message, TradingSession


class PortfolioPanel(Panel):
    css_class = "tw-portfolio"
    _esm = panel_esm("portfolio")
    _css = panel_css("portfolio")

    values = traitlets.Dict().tag(sync=True)
    equity = traitlets.List(traitlets.Float()).tag(sync=True)
    balances = traitlets.Dict().tag(sync=True)
    """{ASSET: {"free", "locked"}} (PROTOCOL v2); empty from a version-1 engine."""

    def __init__(self, session: TradingSession, **kwargs: Any) -> None:
        self.state = PortfolioState()
        super().__init__(session, **kwargs)

    def start(self) -> None:
        self.spawn(self.refresh(), "get_portfolio")

    async def refresh(self) -> None:
        self.feed(await self.command({"action": "get_portfolio"}))

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.values = self.state.snapshot()
        self.equity = self.state.equity_history()
        self.balances = {asset: dict(v) for asset, v in self.state.balances.items()}
