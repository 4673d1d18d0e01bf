"""Chart panel state: candles per symbol and timeframe (the exchange's own klines from
``get_candles`` / ``CANDLES``, kept current between polls by the last prices), the
order and position lines to draw on them, fills as markers (real fills only), and the
feed's gaps as bands.

Candles are ``[open_time_ms, open, high, low, close, volume]`` rows, oldest first.
The exchange's klines are exact (OHLCV from trades); a last price only moves the
forming candle's close (and stretches its high or low) until the next poll brings the
exact bar.  Without ``get_candles`` (a version-1 engine), candles are built from the
last prices alone and the panel says so (``source == "ticks"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from widgets.state.numbers import as_float
from widgets.state.orders import OrdersState, Row
from widgets.state.positions import PositionsState

INTERVALS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
"""The timeframe buttons (Binance's interval names) and their length in ms."""
HISTORY_CANDLES = 1000
"""Per symbol and timeframe: what ``get_candles`` gives at most."""
GAPS_KEPT = 50

Candle = list[float]  # [open_time_ms, open, high, low, close, volume]


def candle_row(raw: Any) -> Candle | None:
    """One ``CANDLES`` row as floats, or None when it is not one."""
    if not isinstance(raw, list | tuple) or len(raw) < 6:
        return None
    values = [as_float(v) for v in raw[:6]]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values if v is not None]


@dataclass
class _Series:
    candles: list[Candle] = field(default_factory=list)
    source: str = ""  # "exchange" (CANDLES) | "ticks" (built from last prices) | ""
    # the last prices' range in the bar they fell in: (its open time, high, low)
    ticked: tuple[float, float, float] | None = None


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
    elif kind in ("LIMIT", "LIMIT_MAKER"):
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
        self._series: dict[tuple[str, str], _Series] = {}
        self._symbols: dict[str, None] = {}
        self.orders = OrdersState(recent_limit=200)
        self.positions = PositionsState()
        self._fills: dict[str, list[dict[str, Any]]] = {}
        self._fill_keys: set[tuple[str, str]] = set()
        self.gaps: list[dict[str, Any]] = []
        self.last_price: dict[str, tuple[int, float]] = {}

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def series(self, symbol: str, interval: str) -> _Series:
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
        return self._series.setdefault((symbol.upper(), interval), _Series())

    # -- candles -------------------------------------------------------------------
    def set_candles(self, symbol: str, interval: str, rows: Any, gaps: Any = None) -> list[Candle]:
        """A ``CANDLES`` reply: the history of ``symbol`` at ``interval`` (replaces what
        was there), then the last prices seen since move its forming candle.  ``gaps``:
        the reply's ``gaps`` (an extension: the feed's gaps over those candles), added
        to the ones STATUS brought."""
        for gap in gaps if isinstance(gaps, list) else []:
            self._on_gap(gap)
        candles = sorted(
            (c for c in (candle_row(r) for r in rows or []) if c is not None), key=lambda c: c[0]
        )
        unique: dict[float, Candle] = {c[0]: c for c in candles}  # a repeated time: last wins
        series = self.series(symbol, interval)
        series.candles = list(unique.values())[-HISTORY_CANDLES:]
        series.source = "exchange"
        self._symbols.setdefault(symbol.upper())
        last = self.last_price.get(symbol.upper())
        if last is not None and series.candles and last[0] >= series.candles[-1][0]:
            self._tick(series, interval, last[0], last[1])
        return self.candles(symbol, interval)

    def merge_candles(self, symbol: str, interval: str, rows: Any) -> list[Candle]:
        """A poll's newest klines (exact): each replaces the bar of its open time or
        follows the last one.  Returns the bars that changed, oldest first."""
        series = self.series(symbol, interval)
        changed: list[Candle] = []
        polled = sorted(
            (c for c in (candle_row(r) for r in rows or []) if c is not None), key=lambda c: c[0]
        )
        newest = polled[-1][0] if polled else None
        for candle in polled:
            bars = series.candles
            if bars and candle[0] < bars[-1][0]:
                # an older bar: replace it in place if it is there (rare; a backfill)
                for i in range(len(bars) - 1, -1, -1):
                    if bars[i][0] == candle[0]:
                        if bars[i] != candle:
                            bars[i] = candle
                            changed.append(list(candle))
                        break
                    if bars[i][0] < candle[0]:
                        break
                continue
            if bars and bars[-1][0] == candle[0]:
                if candle[0] == newest:  # still forming (a closed bar is the exchange's)
                    candle = self._with_last_price(symbol, interval, series, candle)
                if bars[-1] == candle:
                    continue
                bars[-1] = candle
            else:
                bars.append(candle)
                del bars[:-HISTORY_CANDLES]
            changed.append(list(candle))
        return changed

    def _with_last_price(
        self, symbol: str, interval: str, series: _Series, kline: Candle
    ) -> Candle:
        """The forming bar as a poll's kline of it brings it, kept where the last prices
        already went further.  The engine's kline can be older than the last price (the
        kline stream comes every 2 s, the ticker every second): taken as it is, it moved
        the bar back, its close and even its high, until the next price moved it on
        again, so the candle jumped to and fro every second.  Every last price is a
        trade of this minute, so the high and low take theirs too; the close is the last
        price's when one fell in this bar (the ticker row shows the same); the open and
        the volume are the kline's (exact)."""
        merged = list(kline)
        ticked = series.ticked
        if ticked is not None and ticked[0] == kline[0]:
            merged[2] = max(merged[2], ticked[1])
            merged[3] = min(merged[3], ticked[2])
        last = self.last_price.get(symbol.upper())
        if last is not None and kline[0] <= last[0] < kline[0] + INTERVALS[interval]:
            merged[4] = last[1]
        return merged

    def use_ticks(self, symbol: str, interval: str) -> None:
        """No exchange klines for this engine: build the candles from last prices."""
        self.series(symbol, interval).source = "ticks"

    def _tick(self, series: _Series, interval: str, ts: int, price: float) -> Candle | None:
        step = INTERVALS[interval]
        start = float(ts - ts % step)
        bars = series.candles
        if bars and start < bars[-1][0]:
            return None  # older than the forming bar: the exchange's bar is the truth
        ticked = series.ticked
        if ticked is not None and ticked[0] == start:
            series.ticked = (start, max(ticked[1], price), min(ticked[2], price))
        else:
            series.ticked = (start, price, price)
        if bars and bars[-1][0] == start:
            bar = bars[-1]
            bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
        else:
            bar = [start, price, price, price, price, 0.0]
            bars.append(bar)
            del bars[:-HISTORY_CANDLES]
        return list(bar)

    def candles(self, symbol: str, interval: str) -> list[Candle]:
        return [list(c) for c in self.series(symbol, interval).candles]

    def source(self, symbol: str, interval: str) -> str:
        return self.series(symbol, interval).source

    # -- messages --------------------------------------------------------------------
    def apply(self, message: dict[str, Any]) -> set[str]:
        """Returns the symbols whose chart changed."""
        kind = message.get("type")
        if kind == "MARKET_UPDATE":
            return self._on_market(message)
        if kind == "STATUS":
            return self._on_gap(message.get("last_gap"))
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
        symbol = symbol.upper()
        last = self.last_price.get(symbol)
        if last is not None and last[0] > timestamp:
            return set()  # out of order: the forming candle must not step back
        self.last_price[symbol] = (timestamp, price)
        self._symbols.setdefault(symbol)
        for (series_symbol, interval), series in self._series.items():
            # A series loaded, even empty (an engine with no history for it yet), or
            # built from ticks: the price moves (or starts) its forming candle.
            if series_symbol == symbol and (series.candles or series.source):
                self._tick(series, interval, timestamp, price)
        return {symbol}

    def _on_gap(self, raw: Any) -> set[str]:
        if not isinstance(raw, dict):
            return set()
        start = as_float(raw.get("start_ms"))
        if start is None:
            return set()
        end = as_float(raw.get("end_ms"))
        symbol = raw.get("symbol")
        gap: dict[str, Any] = {
            "start_ms": int(start),
            "end_ms": None if end is None else int(end),
            "reason": str(raw.get("reason") or ""),
            "symbol": symbol.upper() if isinstance(symbol, str) else None,
        }
        for i, known in enumerate(self.gaps):
            if known["start_ms"] == gap["start_ms"] and known["symbol"] == gap["symbol"]:
                if known == gap:
                    return set()
                self.gaps[i] = gap  # an open gap that closed
                return {gap["symbol"]} if gap["symbol"] is not None else set(self._symbols)
        self.gaps.append(gap)
        self.gaps.sort(key=lambda g: g["start_ms"])
        del self.gaps[:-GAPS_KEPT]
        if gap["symbol"] is not None:
            return {gap["symbol"]}  # only that symbol's order book lost data
        return set(self._symbols)  # the feed's gap is every symbol's

    def gaps_for(self, symbol: str) -> list[dict[str, Any]]:
        """The gaps to draw on ``symbol``'s chart: the whole feed's and its own."""
        symbol = symbol.upper()
        return [dict(g) for g in self.gaps if g["symbol"] in (None, symbol)]

    def _record_fills(self, symbol: str, order: dict[str, Any], timestamp: int) -> None:
        """Markers from real fills only: each entry of an order's (or a leg's) ``fills``,
        or, from a version-1 engine, a filled plain order's ``fill_price``.  A group
        order (OCO, BRACKET) never fills itself: its legs do; its own ``fill_price`` is
        its entry's, and drawing it again at the exit's time was a phantom marker."""
        items = [order, *[leg for leg in order.get("legs") or [] if isinstance(leg, dict)]]
        for item in items:
            if item.get("type") in ("OCO", "BRACKET"):
                continue
            oid = str(item.get("id"))
            side = str(item.get("side") or order.get("side") or "")
            fills = item.get("fills")
            if isinstance(fills, list) and fills:
                for index, fill in enumerate(fills):
                    if not isinstance(fill, dict):
                        continue
                    price = as_float(fill.get("price"))
                    if price is None:
                        continue
                    when = int(as_float(fill.get("timestamp")) or timestamp)
                    quantity = as_float(fill.get("quantity"))
                    self._add_fill(symbol, (oid, f"#{index}"), when, price, side, quantity)
                continue
            price = as_float(item.get("fill_price"))
            if price is None or item.get("status") not in ("FILLED", "PARTIALLY_FILLED"):
                continue
            when = int(as_float(item.get("updated_at")) or timestamp)
            filled = as_float(item.get("filled_quantity"))
            self._add_fill(symbol, (oid, f"q{filled}"), when, price, side, filled)

    def _add_fill(
        self,
        symbol: str,
        key: tuple[str, str],
        when: int,
        price: float,
        side: str,
        quantity: float | None,
    ) -> None:
        if key in self._fill_keys:
            return
        self._fill_keys.add(key)
        self._fills.setdefault(symbol, []).append(
            {"t": when, "price": price, "side": side, "id": key[0], "quantity": quantity}
        )

    def fills(self, symbol: str) -> list[dict[str, Any]]:
        return [dict(f) for f in self._fills.get(symbol.upper(), [])]

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
