"""Chart panel (``tw-chart``): live plotly price chart of one symbol at a time (line or
1 m candles), with entry / stop / take-profit / trailing-stop lines that move live and
fills as markers.

plotly.js comes from the plotly package's bundled ``plotly.min.js`` (the machine may be
offline: no CDN) and is prepended to ``chart.js``; the browser then updates the figure
incrementally: ``Plotly.extendTraces`` for new points and fills, ``Plotly.relayout``
of the shapes when a line moves.  The kernel sends only what is new since its last
flush as a custom message; the full history goes once per view, on request
(``{"action": "snapshot"}``), and when the symbol or the mode changes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import cache
from pathlib import Path
from typing import Any

import plotly
import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, wall_ms
from widgets.state.chart import ChartState, Point
from workspace.session import Message, TradingSession

MODES = ("line", "candles")
CHART_INTERVAL_S = 0.25
"""Each plotly update re-lays out the figure (tens of ms in a software-rendered page):
4 per second keeps a live chart smooth without hogging the browser."""


@cache
def chart_esm() -> str:
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(
        encoding="utf-8"
    )
    # plotly.min.js is UMD: given a CommonJS-looking `module` it returns Plotly through
    # it instead of only setting a global, so the ESM gets its own reference
    return (
        "const module = { exports: {} };\n"
        f"{plotly_js}\n"
        "const Plotly = module.exports;\n"
        f"{panel_esm('chart')}"
    )


def _xy(points: list[Point]) -> dict[str, list[float]]:
    return {"t": [p[0] for p in points], "y": [p[1] for p in points]}


class ChartPanel(Panel):
    css_class = "tw-chart"
    _esm = chart_esm()
    _css = panel_css("chart")

    symbol = traitlets.Unicode("").tag(sync=True)
    symbols = traitlets.List(traitlets.Unicode()).tag(sync=True)
    mode = traitlets.Enum(MODES, default_value="line").tag(sync=True)
    lines = traitlets.List(traitlets.Dict()).tag(sync=True)
    height = traitlets.Int(360).tag(sync=True)

    def __init__(
        self,
        session: TradingSession,
        symbol: str = "",
        *,
        mode: str = "line",
        interval: float = CHART_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        self.state = ChartState()
        self._sent_points = 0
        self._sent_candles = 0
        self._sent_fills = 0
        self._dirty: set[str] = set()
        self.messages_sent = 0
        super().__init__(session, interval=interval, **kwargs)
        with self.hold_sync():
            self.symbol = symbol.upper()
            self.mode = mode
        self.observe(self._on_view_change, names=["symbol", "mode"])

    def start(self) -> None:
        self.spawn(self._snapshots(), "snapshots")

    async def _snapshots(self) -> None:
        # fills and lines need the orders and positions that exist already
        for action in ("get_orders", "get_positions"):
            self.feed(await self.command({"action": action}))

    def apply(self, message: Message) -> bool:
        changed = self.state.apply(message)
        if not changed:
            return False
        if not self.symbol and message.get("type") == "MARKET_UPDATE":
            # first symbol seen becomes the displayed one
            self.symbol = str(message.get("symbol") or "").upper()
        self._dirty |= changed
        return self.symbol in changed or set(self.state.symbols) != set(self.symbols)

    def push(self) -> None:
        self.symbols = self.state.symbols
        if not self.symbol:
            return
        self.lines = self.state.lines(self.symbol)
        points, next_index, reset = self.state.points_since(self.symbol, self._sent_points)
        if reset:
            self._send_reset()
            return
        candles_all = self.state.series(self.symbol).candle_count
        candles = self.state.candles(self.symbol)
        # re-send the last candle already drawn: it may still be forming
        first_candle = max(0, self._sent_candles - 1)
        candle_tail = candles[len(candles) - (candles_all - first_candle) :] if candles else []
        fills = self.state.fills(self.symbol)[self._sent_fills :]
        if not points and not fills and (self.mode == "line" or not candle_tail):
            return
        self._send_custom(
            {
                "kind": "extend",
                "symbol": self.symbol,
                "points": _xy(points),
                "candles": candle_tail if self.mode == "candles" else [],
                "replace_last": self._sent_candles > 0,
                "fills": fills,
                "sent_ms": wall_ms(),
            }
        )
        self._sent_points = next_index
        self._sent_candles = candles_all
        self._sent_fills += len(fills)

    def _send_custom(self, content: dict[str, Any]) -> None:
        self.messages_sent += 1
        self.send(content)

    def _send_reset(self) -> None:
        symbol = self.symbol
        points, next_index, _ = self.state.points_since(symbol, 0)
        fills = self.state.fills(symbol) if symbol else []
        self._send_custom(
            {
                "kind": "reset",
                "symbol": symbol,
                "mode": self.mode,
                "points": _xy(points),
                "candles": self.state.candles(symbol) if symbol else [],
                "fills": fills,
            }
        )
        self.lines = self.state.lines(symbol) if symbol else []
        self._sent_points = next_index
        self._sent_candles = self.state.series(symbol).candle_count if symbol else 0
        self._sent_fills = len(fills)

    def _on_view_change(self, _change: Any) -> None:
        self.symbol = self.symbol.upper()
        self._send_reset()

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "snapshot":
            self._send_reset()
            return None
        return super().on_action(action, content)
