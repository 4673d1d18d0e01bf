"""Positions panel state: the open positions of the latest ``POSITION_UPDATE`` (newest
first), with stale marks flagged (PROTOCOL v2 ``stale`` / ``price_ms``), and the
positions closed while the panel watched.

``POSITION_UPDATE`` lists open positions only: a position that leaves the list closed.
Its exit is the last fill on its symbol on the other side (from ``ORDER_UPDATE``s, real
fills only), so the closed row shows the exit price and the P&L it realised (gross of
fees); when no such fill was seen (the panel opened later), both stay unknown rather
than guessed from a mark.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from widgets.state.numbers import as_float

Row = dict[str, Any]

CLOSED_LIMIT = 100
"""Closed positions kept in the panel's history; all of them live in the journal
(``ws.positions``)."""
TABS = ("open", "closed")


def _last_fill(order: dict[str, Any]) -> tuple[float, int] | None:
    """(price, time ms) of an order's newest fill: its ``fills`` (v2) or, for a
    version-1 engine, ``fill_price`` at its ``updated_at``.  Group orders (OCO, BRACKET)
    fill only through their legs."""
    if order.get("type") in ("OCO", "BRACKET"):
        return None
    fills = order.get("fills")
    if isinstance(fills, list) and fills:
        last = fills[-1]
        if isinstance(last, dict):
            price = as_float(last.get("price"))
            if price is not None:
                return price, int(as_float(last.get("timestamp")) or 0)
    if order.get("status") in ("FILLED", "PARTIALLY_FILLED"):
        price = as_float(order.get("avg_price", order.get("fill_price")))
        if price is not None:
            return price, int(as_float(order.get("updated_at")) or 0)
    return None


class PositionsState:
    def __init__(self, closed_limit: int = CLOSED_LIMIT) -> None:
        self._rows: list[Row] = []
        self._closed: deque[Row] = deque(maxlen=closed_limit)
        # symbol -> side ("BUY"/"SELL") -> (price, time) of the newest fill seen
        self._fills: dict[str, dict[str, tuple[float, int]]] = {}
        self.timestamp = 0

    def apply(self, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "ORDER_UPDATE":
            self._remember_fills(message.get("order"))
            return False
        if kind != "POSITION_UPDATE":
            return False
        positions = message.get("positions")
        if not isinstance(positions, list):
            return False
        rows = [self._row(p) for p in positions if isinstance(p, dict)]
        rows = [r for r in rows if r["status"] == "open"]
        rows.sort(key=lambda r: r["opened_ms"], reverse=True)
        self.timestamp = int(message.get("timestamp") or 0)
        if rows == self._rows:
            return False
        still = {r["id"] for r in rows}
        for gone in self._rows:
            if gone["id"] not in still:
                self._closed.appendleft(self._closed_row(gone, self.timestamp))
        self._rows = rows
        return True

    def _remember_fills(self, order: Any) -> None:
        if not isinstance(order, dict):
            return
        for item in [order, *[leg for leg in order.get("legs") or [] if isinstance(leg, dict)]]:
            fill = _last_fill(item)
            symbol = str(item.get("symbol") or order.get("symbol") or "").upper()
            side = str(item.get("side") or "").upper()
            if fill is None or not symbol or side not in ("BUY", "SELL"):
                continue
            sides = self._fills.setdefault(symbol, {})
            if side not in sides or fill[1] >= sides[side][1]:
                sides[side] = fill

    def _closed_row(self, row: Row, closed_ms: int) -> Row:
        closing_side = "SELL" if row["side"] == "buy" else "BUY"
        fill = self._fills.get(row["symbol"], {}).get(closing_side)
        exit_price = fill[0] if fill is not None and fill[1] >= row["opened_ms"] else None
        pnl = None
        entry, quantity = row["entry_price"], row["quantity"]
        if exit_price is not None and entry is not None and quantity is not None:
            direction = 1.0 if row["side"] == "buy" else -1.0
            pnl = (row["realized_pnl"] or 0.0) + direction * (exit_price - entry) * quantity
        return {
            **row,
            "status": "closed",
            "exit_price": exit_price,
            "pnl": pnl,
            # the exit fill's time when known, else when the list stopped showing it
            "closed_ms": fill[1] if exit_price is not None and fill is not None else closed_ms,
        }

    @staticmethod
    def _row(position: dict[str, Any]) -> Row:
        entry = as_float(position.get("entry_price"))
        quantity = as_float(position.get("quantity"))
        pnl = as_float(position.get("current_pnl"))
        cost = entry * quantity if entry is not None and quantity is not None else None
        price_ms = as_float(position.get("price_ms"))
        return {
            "id": str(position.get("id", "")),
            "symbol": str(position.get("symbol", "")),
            "side": str(position.get("type", "")),
            "quantity": quantity,
            "entry_price": entry,
            "current_price": as_float(position.get("current_price")),
            "pnl": pnl,
            "pnl_pct": (100.0 * pnl / cost) if pnl is not None and cost else None,
            "realized_pnl": as_float(position.get("realized_pnl")),
            "opened": str(position.get("timestamp", "")),
            "opened_ms": int(as_float(position.get("opened_at")) or 0),
            "status": str(position.get("status", "open")),
            # the mark is old or from a journal restore: the P&L is not live
            "stale": bool(position.get("stale")),
            "price_ms": None if price_ms is None else int(price_ms),
        }

    def rows(self) -> list[Row]:
        return [dict(r) for r in self._rows]

    def closed_rows(self) -> list[Row]:
        """Positions closed while the panel watched, newest first."""
        return [dict(r) for r in self._closed]

    def tab_rows(self, tab: str, newest_first: bool = True) -> list[Row]:
        if tab == "open":
            rows = self.rows()
        elif tab == "closed":
            rows = self.closed_rows()
        else:
            raise ValueError(f"tab must be one of {TABS}, got {tab!r}")
        return rows if newest_first else rows[::-1]

    def counts(self) -> dict[str, int]:
        return {"open": len(self._rows), "closed": len(self._closed)}

    def by_symbol(self, symbol: str) -> list[Row]:
        return [dict(r) for r in self._rows if r["symbol"] == symbol]
