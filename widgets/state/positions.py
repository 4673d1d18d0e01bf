"""Positions panel state: the open positions of the latest ``POSITION_UPDATE``."""

from __future__ import annotations

from typing import Any

from widgets.state.numbers import as_float

Row = dict[str, Any]


class PositionsState:
    def __init__(self) -> None:
        self._rows: list[Row] = []
        self.timestamp = 0

    def apply(self, message: dict[str, Any]) -> bool:
        if message.get("type") != "POSITION_UPDATE":
            return False
        positions = message.get("positions")
        if not isinstance(positions, list):
            return False
        rows = [self._row(p) for p in positions if isinstance(p, dict)]
        rows = [r for r in rows if r["status"] == "open"]
        self.timestamp = int(message.get("timestamp") or 0)
        if rows == self._rows:
            return False
        self._rows = rows
        return True

    @staticmethod
    def _row(position: dict[str, Any]) -> Row:
        entry = as_float(position.get("entry_price"))
        quantity = as_float(position.get("quantity"))
        pnl = as_float(position.get("current_pnl"))
        cost = entry * quantity if entry is not None and quantity is not None else None
        return {
            "id": str(position.get("id", "")),
            "symbol": str(position.get("symbol", "")),
            "side": str(position.get("type", "")),
            "quantity": quantity,
            "entry_price": entry,
            "current_price": as_float(position.get("current_price")),
            "pnl": pnl,
            "pnl_pct": (100.0 * pnl / cost) if pnl is not None and cost else None,
            "opened": str(position.get("timestamp", "")),
            "status": str(position.get("status", "open")),
        }

    def rows(self) -> list[Row]:
        return [dict(r) for r in self._rows]

    def by_symbol(self, symbol: str) -> list[Row]:
        return [dict(r) for r in self._rows if r["symbol"] == symbol]
