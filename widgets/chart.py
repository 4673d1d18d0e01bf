"""Chart panel (``tw-chart``): candles of one symbol with a volume pane, timeframe
buttons (1m 5m 15m 1h 4h 1d), a crosshair with price and time, order and position
lines (entry, take profit, stop, trailing stop, limit) that move live, fills as
markers (real fills only) and bands where the feed was down.

Drawn by TradingView's Lightweight Charts (``static/vendor``, Apache 2.0; canvas,
built for exactly this: a 1,000-candle chart updates one bar in well under a
millisecond).  History comes from the engine on open and on every timeframe switch
(``get_candles``, up to 1,000 klines); the forming bar follows the last prices at once
and is replaced by the exchange's exact bar (OHLCV from trades) from a poll of the
newest klines every second.  The kernel sends the browser only what changed, as custom
messages: ``reset`` (the whole history, once per view, symbol or timeframe) and
``bars`` (the bars to update or append), so nothing is redrawn whole per tick.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from functools import cache
from typing import Any

import traitlets

from widgets.assets import STATIC, panel_css, panel_esm
from widgets.panel import Panel, panel_symbol, wall_ms
from widgets.state.chart import INTERVALS, ChartState
from widgets.state.numbers import as_float
from workspace.session import Message, TradingSession

MODES = ("candles", "line")
CHART_INTERVAL_S = 0.25
"""At most 4 bar updates a second reach the browser: a live chart, not a firehose."""
CANDLE_POLL_S = 1.0
"""The forming bar's exact OHLCV: the newest klines are asked for this often."""
HISTORY_LIMIT = 1000
VENDOR = STATIC / "vendor" / "lightweight-charts.standalone.production.js"


@cache
def chart_esm() -> str:
    # the standalone build sets window.LightweightCharts; the module keeps a reference
    return (
        f"{VENDOR.read_text(encoding='utf-8')}\n"
        "const LWC = globalThis.LightweightCharts;\n"
        f"{panel_esm('chart')}"
    )


class ChartPanel(Panel):
    css_class = "tw-chart"
    _esm = chart_esm()
    _css = panel_css("chart")

    symbol = traitlets.Unicode("").tag(sync=True)
    symbols = traitlets.List(traitlets.Unicode()).tag(sync=True)
    timeframe = traitlets.Enum(tuple(INTERVALS), default_value="1m").tag(sync=True)
    """The candles' interval (Binance's names: 1m 5m 15m 1h 4h 1d)."""
    timeframes = traitlets.List(traitlets.Unicode(), list(INTERVALS)).tag(sync=True)
    mode = traitlets.Enum(MODES, default_value="candles").tag(sync=True)
    lines = traitlets.List(traitlets.Dict()).tag(sync=True)
    gaps = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The feed's gaps over the displayed symbol (``CANDLES.gaps`` on load, then
    ``STATUS.last_gap``): drawn as bands."""
    source = traitlets.Unicode("").tag(sync=True)
    """Where the candles come from: "exchange" (klines), "ticks" (built from last
    prices: an engine without ``get_candles``), "" while loading."""
    precision = traitlets.Dict().tag(sync=True)
    """``{"price_precision", "tick_size"}`` of the symbol (its ``symbol_info``)."""
    height = traitlets.Int(380).tag(sync=True)

    def __init__(
        self,
        session: TradingSession,
        symbol: str = "",
        *,
        mode: str = "candles",
        timeframe: str = "1m",
        interval: float = CHART_INTERVAL_S,
        poll: float | None = CANDLE_POLL_S,
        **kwargs: Any,
    ) -> None:
        """``interval``: seconds between flushes to the browser (like every panel);
        ``timeframe``: the candles' interval; ``poll``: seconds between polls of the
        forming bar (None: never, tests drive ``CANDLES`` themselves)."""
        if timeframe not in INTERVALS:  # (before the panel starts listening to the session)
            raise ValueError(f"timeframe must be one of {', '.join(INTERVALS)}, got {timeframe!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r:.40}")
        if poll is not None and (
            isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll < math.inf
        ):
            raise ValueError(f"poll must be seconds > 0 or None, got {poll!r:.40}")
        symbol = panel_symbol(symbol)
        self.state = ChartState()
        self._pending: dict[float, list[float]] = {}  # bars to send, by open time
        self._sent_fills = 0
        self._load_serial = 0
        self._poll_s = poll
        self._poller: asyncio.Task[Any] | None = None
        self.messages_sent = 0
        super().__init__(session, interval=interval, **kwargs)
        with self.hold_sync():
            self.mode = mode
            self.timeframe = timeframe
            self.symbol = symbol
        self.observe(self._on_view_change, names=["symbol", "timeframe", "mode"])
        if self.symbol:
            self.spawn(self.load(), "load")

    def start(self) -> None:
        self.spawn(self._snapshots(), "snapshots")

    async def _snapshots(self) -> None:
        # fills and lines need the orders and positions that exist already
        for action in ("get_orders", "get_positions"):
            self.feed(await self.command({"action": action}))

    # -- history -----------------------------------------------------------------------
    async def load(self) -> None:
        """The displayed symbol's history at the displayed timeframe (``get_candles``),
        then a reset of the browser's chart; an engine without candles falls back to
        candles built from the last prices."""
        symbol, interval = self.symbol, self.timeframe
        if not symbol:
            return
        self._load_serial += 1
        serial = self._load_serial
        self.source = ""
        await self._learn_precision(symbol)
        reply = await self._candles(symbol, interval, HISTORY_LIMIT)
        if serial != self._load_serial:
            return  # the user switched again meanwhile: that load wins
        if reply is None:
            self.state.use_ticks(symbol, interval)
        else:
            self.state.set_candles(symbol, interval, reply.get("candles"), reply.get("gaps"))
        self.source = self.state.source(symbol, interval)
        self._send_reset()
        self._ensure_poller()

    async def _candles(self, symbol: str, interval: str, limit: int) -> Message | None:
        command = {"action": "get_candles", "symbol": symbol, "interval": interval}
        try:
            reply = await asyncio.wait_for(self.session.request({**command, "limit": limit}), 30)
        except Exception as exc:
            self.show_error(exc, "get_candles failed")
            return None
        if reply.get("type") == "CANDLES":
            return reply
        if reply.get("code") not in ("UNKNOWN_ACTION", "INVALID_PARAMS"):
            self.error = f"get_candles: {reply.get('code')}: {reply.get('message')}"
        return None  # a version-1 engine: no candles over the protocol

    async def _learn_precision(self, symbol: str) -> None:
        """The symbol's tick (``SUBSCRIBED.symbol_info``) for the price axis; the
        subscription also brings its last prices."""
        try:
            reply = await asyncio.wait_for(
                self.session.request({"action": "subscribe_ticker", "symbol": symbol}), 30
            )
        except Exception as exc:
            self.show_error(exc, f"subscribe {symbol}")
            return
        info = reply.get("symbol_info")
        if isinstance(info, dict):
            self.precision = {
                "price_precision": info.get("price_precision"),
                "tick_size": as_float(info.get("tick_size")),
            }

    def _ensure_poller(self) -> None:
        if self._poll_s is None or (self._poller is not None and not self._poller.done()):
            return
        self._poller = self.spawn(self._poll_forever(), "poll")

    async def _poll_forever(self) -> None:
        # the exact forming bar has no push message in the protocol: ask for it
        assert self._poll_s is not None
        while True:
            await asyncio.sleep(self._poll_s)
            symbol, interval = self.symbol, self.timeframe
            if self.state.source(symbol, interval) != "exchange":
                continue
            reply = await self._candles(symbol, interval, 2)
            if reply is None or (symbol, interval) != (self.symbol, self.timeframe):
                continue
            changed = self.state.merge_candles(symbol, interval, reply.get("candles"))
            if changed:
                self._queue(changed)
                self.changed()

    # -- live updates --------------------------------------------------------------------
    def apply(self, message: Message) -> bool:
        if message.get("type") == "STATUS" and message.get("feed") == "stopped":
            if self._poller is not None:
                self._poller.cancel()  # a stopped workspace has no new bars
            self._poll_s = None
        changed = self.state.apply(message)
        if not changed:
            return False
        kind = message.get("type")
        if not self.symbol and kind == "MARKET_UPDATE":
            # first symbol seen becomes the displayed one
            self.symbol = str(message.get("symbol") or "").upper()
        if kind == "MARKET_UPDATE" and self.symbol in changed:
            candles = self.state.series(self.symbol, self.timeframe).candles
            if candles:
                self._queue([candles[-1]])
        return self.symbol in changed or set(self.state.symbols) != set(self.symbols)

    def _queue(self, bars: list[list[float]]) -> None:
        for bar in bars:
            self._pending[bar[0]] = list(bar)

    def push(self) -> None:
        self.symbols = self.state.symbols
        if not self.symbol:
            return
        self.lines = self.state.lines(self.symbol)
        self.gaps = self.state.gaps_for(self.symbol)
        if self._pending and self.source:
            bars = [self._pending[t] for t in sorted(self._pending)]
            self._send_custom({"kind": "bars", "bars": bars, "sent_ms": wall_ms()})
        self._pending.clear()
        fills = self.state.fills(self.symbol)
        if len(fills) != self._sent_fills:
            self._send_custom({"kind": "fills", "fills": fills})
            self._sent_fills = len(fills)

    def _send_custom(self, content: dict[str, Any]) -> None:
        self.messages_sent += 1
        self.send(content)

    def _send_reset(self) -> None:
        symbol = self.symbol
        fills = self.state.fills(symbol) if symbol else []
        self._pending.clear()
        self._send_custom(
            {
                "kind": "reset",
                "symbol": symbol,
                "interval": self.timeframe,
                "mode": self.mode,
                "source": self.state.source(symbol, self.timeframe) if symbol else "",
                "candles": self.state.candles(symbol, self.timeframe) if symbol else [],
                "fills": fills,
                "sent_ms": wall_ms(),
            }
        )
        self.lines = self.state.lines(symbol) if symbol else []
        self.gaps = self.state.gaps_for(self.symbol)
        self._sent_fills = len(fills)

    def _on_view_change(self, change: Any) -> None:
        if change["name"] == "symbol" and self.symbol != self.symbol.upper():
            self.symbol = self.symbol.upper()  # observed again with the upper-case name
            return
        if change["name"] == "mode":
            self._send_reset()
            return
        self.spawn(self.load(), "load")

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "snapshot":
            self._send_reset()
            return None
        return super().on_action(action, content)
