"""Portfolio panel state: the latest ``PORTFOLIO_UPDATE`` and a bounded equity history."""

from __future__ import annotations

from collections import deque
from typing import Any

from widgets.state.numbers import as_float

SPARKLINE_POINTS = 120
"""Two minutes of history at the server's 1 s cadence is plenty for a sparkline."""


class PortfolioState:
    FIELDS = (
        "balance",
        "equity",
        "realized_pnl",
        "unrealized_pnl",
        "total_pnl",
        "initial_balance",
    )

    def __init__(self, points: int = SPARKLINE_POINTS) -> None:
        self.values: dict[str, float | None] = dict.fromkeys(self.FIELDS)
        self.positions_count = 0
        self.timestamp = 0
        self._equity: deque[tuple[int, float]] = deque(maxlen=points)

    def apply(self, message: dict[str, Any]) -> bool:
        if message.get("type") != "PORTFOLIO_UPDATE":
            return False
        portfolio = message.get("portfolio")
        if not isinstance(portfolio, dict):
            return False
        values = {name: as_float(portfolio.get(name)) for name in self.FIELDS}
        if values["equity"] is None and values["balance"] is not None:
            # core-only servers send no equity: balance + unrealized is the same number
            values["equity"] = values["balance"] + (values["unrealized_pnl"] or 0.0)
        count = int(as_float(portfolio.get("positions_count")) or 0)
        timestamp = int(message.get("timestamp") or 0)
        changed = values != self.values or count != self.positions_count
        self.values, self.positions_count, self.timestamp = values, count, timestamp
        equity = values["equity"]
        if equity is not None and (not self._equity or self._equity[-1] != (timestamp, equity)):
            self._equity.append((timestamp, equity))
            changed = True
        return changed

    def equity_history(self) -> list[float]:
        return [equity for _, equity in self._equity]

    def snapshot(self) -> dict[str, Any]:
        return {**self.values, "positions_count": self.positions_count}
