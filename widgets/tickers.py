"""Tickers panel (``tw-tickers``): a row per subscribed symbol, price flashing on change."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, panel_symbols
from widgets.state.tickers import TickersState
from widgets.state.wording import humanize
from workspace.market.errors import MalformedSymbolError
from workspace.session import Message, TradingSession


class TickersPanel(Panel):
    css_class = "tw-tickers"
    _esm = panel_esm("tickers")
    _css = panel_css("tickers")

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    add_error = traitlets.Unicode("").tag(sync=True)
    """Why the last symbol could not be added, shown under the input until the next
    add or until the user types again."""

    def __init__(self, session: TradingSession, symbols: Iterable[str] = (), **kwargs: Any) -> None:
        self.state = TickersState()
        self._initial = panel_symbols(symbols)
        super().__init__(session, **kwargs)

    def start(self) -> None:
        for symbol in self._initial:
            self.state.add(symbol)
            self.spawn(self.add(symbol), f"add {symbol}")
        if self._initial:
            self.changed()

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.rows = self.state.rows()

    async def add(self, symbol: str) -> Message:
        """Subscribe the session to ``symbol`` and show its row."""
        symbol = _typed(symbol).strip().upper()
        if not symbol:
            self.add_error = "Enter a symbol, e.g. BTCUSDT"
            return {"type": "ERROR", "code": "INVALID_PARAMS", "message": "empty symbol"}
        self.add_error = ""
        try:
            reply = await self.session.request({"action": "subscribe_ticker", "symbol": symbol})
        except Exception as exc:
            self.show_error(exc, f"add {symbol}")
            return {"type": "ERROR", "code": type(exc).__name__, "message": str(exc)}
        if reply.get("type") == "ERROR":
            self.state.remove(symbol)
            self.add_error = f"{symbol}: {humanize(str(reply.get('message') or reply.get('code')))}"
        else:
            self.state.add(str(reply.get("symbol") or symbol), reply.get("symbol_info"))
            self.notice = f"subscribed {symbol}"
        self.changed()
        return reply

    async def remove(self, symbol: str) -> Message:
        """Unsubscribe the session from ``symbol`` and drop its row."""
        symbol = _typed(symbol).strip().upper()
        self.state.remove(symbol)
        self.changed()
        reply = await self.command({"action": "unsubscribe_ticker", "symbol": symbol})
        if reply.get("type") != "ERROR":
            self.notice = f"unsubscribed {symbol}"
        return reply

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        symbol = str(content.get("symbol") or "")
        if action == "add":
            return self.add(symbol)
        if action == "remove":
            return self.remove(symbol)
        if action == "clear_add_error":
            self.add_error = ""
            return None
        return super().on_action(action, content)


def _typed(symbol: object) -> str:
    """A symbol typed in the panel or given by code: a string (an empty or malformed one
    is the engine's to refuse, in the panel's words), else ``MalformedSymbolError``."""
    if not isinstance(symbol, str):
        raise MalformedSymbolError(f"symbol must be a string, got {type(symbol).__name__}")
    return symbol
