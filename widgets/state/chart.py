"""Chart panel state: price history per symbol (points and 1 m candles), the order and
position lines to draw on it, and fills as markers.

Every appended point gets an ever-increasing index, so the panel sends the browser only
what is new since the last flush (``points_since``) instead of the whole history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from widgets.state.numbers import as_float
from widgets.state.orders import OrdersState, Row
from widgets.state.positions import PositionsState

HISTORY_POINTS = 3000
"""Per symbol; at 1 tick/s that is 50 minutes of line chart."""
HISTORY_CANDLES = 500
CANDLE_MS = 60_000

Point = tuple[int, float]
Candle = list[float]  # [open_time_ms, open, high, low, close]


@dataclass
class _Series:
    points: deque[Point] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    count: int = 0  # points ever appended; index of the next one
    candles: deque[Candle] = field(default_factory=lambda: deque(maxlen=HISTORY_CANDLES))
    candle_count: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    kind: str  # entry | stop | take_profit | trailing_stop | limit
    price: float
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "price": self.price, "label": self.label}


_OPEN = ("NEW", "TRIGGERED", "PARTIALLY_FILLED", "")


def _order_lines(order: Row, parent: str = "") -> list[Line]:
    """The lines an open order draws.  OCO and bracket orders draw their open legs when
    the engine reports legs (their LIMIT leg is the take-profit), else their fields."""
    kind, oid = order["type"], order["id"]
    lines: list[Line] = []

    def add(line_kind: str, price: float | None, what: str) -> None:
        if price is not None:
            lines.append(Line(line_kind, price, f"{what} {oid}"))

    if kind in ("OCO", "BRACKET") and order["legs"]:
        for leg in order["legs"]:
            if leg["status"] in _OPEN:
                lines.extend(_order_lines(leg, parent=kind))
    elif kind == "LIMIT" and parent:
        add("take_profit", order["price"], "take profit")
    elif kind == "LIMIT":
        add("limit", order["price"], "limit")
    elif kind == "STOP_LOSS":
        add("stop", order["stop_price"], "stop")
    elif kind == "TAKE_PROFIT":
        add("take_profit", order["stop_price"], "take profit")
    elif kind == "OCO":
        add("take_profit", order["take_profit"], "take profit")
        add("stop", order["stop_price"], "stop")
    elif kind == "TRAILING_STOP":
        add("trailing_stop", order["current_stop_price"], "trailing stop")
    elif kind == "BRACKET":
        add("take_profit", order["take_profit"], "take profit")
        if order["current_stop_price"] is not None:
            add("trailing_stop", order["current_stop_price"], "trailing stop")
        else:
            add("stop", order["stop_loss"], "stop")
    return lines


class ChartState:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self.orders = OrdersState(recent_limit=200)
        self.positions = PositionsState()
        self._fill_keys: set[tuple[str, float | None]] = set()

    @property
    def symbols(self) -> list[str]:
        return list(self._series)

    def series(self, symbol: str) -> _Series:
        return self._series.setdefault(symbol.upper(), _Series())

    def apply(self, message: dict[str, Any]) -> set[str]:
        """Returns the symbols whose chart changed."""
        kind = message.get("type")
        if kind == "MARKET_UPDATE":
            return self._on_market(message)
        if kind == "POSITION_UPDATE":
            before = {r["symbol"]: r for r in self.positions.rows()}
            if not self.positions.apply(message):
                return set()
            after = {r["symbol"]: r for r in self.positions.rows()}
            return {s for s in before.keys() | after.keys() if before.get(s) != after.get(s)}
        if kind in ("ORDER_UPDATE", "ORDERS"):
            orders = [message.get("order")] if kind == "ORDER_UPDATE" else message.get("orders")
            if not self.orders.apply(message) or not isinstance(orders, list):
                return set()
            changed: set[str] = set()
            for order in orders:
                if isinstance(order, dict) and isinstance(order.get("symbol"), str):
                    symbol = order["symbol"].upper()
                    changed.add(symbol)
                    self._record_fills(symbol, order, int(message.get("timestamp") or 0))
            return changed
        return set()

    def _on_market(self, message: dict[str, Any]) -> set[str]:
        symbol = message.get("symbol")
        price = as_float(message.get("price"))
        timestamp = message.get("timestamp")
        if not isinstance(symbol, str) or price is None or not isinstance(timestamp, int):
            return set()
        series = self.series(symbol)
        if series.points and series.points[-1][0] >= timestamp:
            return set()  # conflated/duplicate or out of order: the chart's x must grow
        series.points.append((timestamp, price))
        series.count += 1
        start = timestamp - timestamp % CANDLE_MS
        if series.candles and series.candles[-1][0] == start:
            candle = series.candles[-1]
            candle[2], candle[3], candle[4] = max(candle[2], price), min(candle[3], price), price
        else:
            series.candles.append([start, price, price, price, price])
            series.candle_count += 1
        return {symbol.upper()}

    def _record_fills(self, symbol: str, order: dict[str, Any], timestamp: int) -> None:
        for item in [order, *[leg for leg in order.get("legs") or [] if isinstance(leg, dict)]]:
            price = as_float(item.get("fill_price"))
            status = item.get("status")
            if price is None or status not in ("FILLED", "PARTIALLY_FILLED"):
                continue
            key = (str(item.get("id")), as_float(item.get("filled_quantity")))
            if key in self._fill_keys:
                continue
            self._fill_keys.add(key)
            series = self.series(symbol)
            series.fills.append(
                {
                    "t": int(item.get("timestamp") or timestamp),
                    "price": price,
                    "side": str(item.get("side") or order.get("side") or ""),
                    "id": str(item.get("id")),
                }
            )

    def points_since(self, symbol: str, index: int) -> tuple[list[Point], int, bool]:
        """Points with index >= ``index``; returns (points, next index, reset).

        ``reset`` is True when ``index`` fell out of the kept history: the caller must
        send the whole history instead of appending.
        """
        series = self.series(symbol)
        first = series.count - len(series.points)
        if index < first:
            return list(series.points), series.count, True
        return list(series.points)[index - first :], series.count, False

    def candles(self, symbol: str) -> list[Candle]:
        return [list(c) for c in self.series(symbol).candles]

    def fills(self, symbol: str) -> list[dict[str, Any]]:
        return list(self.series(symbol).fills)

    def lines(self, symbol: str) -> list[dict[str, Any]]:
        symbol = symbol.upper()
        found: list[Line] = [
            Line("entry", r["entry_price"], f"entry {r['side']} {r['quantity']:g}")
            for r in self.positions.by_symbol(symbol)
            if r["entry_price"] is not None and r["quantity"] is not None
        ]
        for order in self.orders.open_rows():
            if order["symbol"] == symbol:
                found.extend(_order_lines(order))
        unique = list(dict.fromkeys(found))
        return [line.as_dict() for line in unique]
