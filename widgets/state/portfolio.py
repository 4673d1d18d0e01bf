"""Portfolio panel state: the latest ``PORTFOLIO_UPDATE`` and a bounded equity history.

PROTOCOL v2 adds the wallet (``balances`` {ASSET: {free, locked}}, ``available``: the
free quote asset) and ``fees_paid``, with the identity the panel shows and checks:
``total_pnl == realized_pnl + unrealized_pnl - fees_paid`` (realized is gross of fees).
A version-1 engine reports no fees: the panel then says so instead of inventing them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from widgets.state.numbers import as_float

SPARKLINE_POINTS = 120
"""Two minutes of history at the server's 1 s cadence is plenty for a sparkline."""
SPARKLINE_STEP_MS = 1_000
"""One point per second however often the portfolio arrives (the engine sends one soon
after every fill as well as on its cadence): a burst of trades must not squeeze the
sparkline's two minutes into a few seconds."""
ADDS_UP_TOLERANCE = 0.005
"""Wire numbers are floats: half a cent of rounding is not a discrepancy."""


class PortfolioState:
    FIELDS = (
        "balance",
        "equity",
        "realized_pnl",
        "unrealized_pnl",
        "total_pnl",
        "initial_balance",
        "fees_paid",
        "available",
    )

    def __init__(self, points: int = SPARKLINE_POINTS, quote: str = "USDT") -> None:
        self.values: dict[str, float | None] = dict.fromkeys(self.FIELDS)
        self.positions_count = 0
        self.timestamp = 0
        self.quote = quote
        self.balances: dict[str, dict[str, float | None]] = {}
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
        balances: dict[str, dict[str, float | None]] = {}
        raw = portfolio.get("balances")
        if isinstance(raw, dict):
            for asset, amounts in sorted(raw.items()):
                if isinstance(amounts, dict):
                    balances[str(asset).upper()] = {
                        "free": as_float(amounts.get("free")),
                        "locked": as_float(amounts.get("locked")),
                    }
        count = int(as_float(portfolio.get("positions_count")) or 0)
        timestamp = int(message.get("timestamp") or 0)
        changed = (
            values != self.values or count != self.positions_count or balances != self.balances
        )
        self.values, self.positions_count, self.timestamp = values, count, timestamp
        self.balances = balances
        equity = values["equity"]
        if equity is not None:
            step = timestamp // SPARKLINE_STEP_MS
            if self._equity and self._equity[-1][0] == step:
                if self._equity[-1][1] != equity:  # the latest figure of that second
                    self._equity[-1] = (step, equity)
                    changed = True
            else:
                self._equity.append((step, equity))
                changed = True
        return changed

    def equity_history(self) -> list[float]:
        return [equity for _, equity in self._equity]

    def locked(self) -> float | None:
        """The quote asset held by open orders (a buy locks what it may spend)."""
        entry = self.balances.get(self.quote)
        return entry.get("locked") if entry else None

    def adds_up(self) -> bool | None:
        """Whether total == realized + unrealized - fees; None when a figure is missing
        (a version-1 engine reports no fees)."""
        v = self.values
        total, realized = v["total_pnl"], v["realized_pnl"]
        unrealized, fees = v["unrealized_pnl"], v["fees_paid"]
        if total is None or realized is None or unrealized is None or fees is None:
            return None
        return abs(total - (realized + unrealized - fees)) <= ADDS_UP_TOLERANCE

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.values,
            "positions_count": self.positions_count,
            "locked": self.locked(),
            "quote": self.quote,
            "adds_up": self.adds_up(),
        }
