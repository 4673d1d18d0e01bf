"""Order book panel (``tw-book``): the ladder of one symbol (asks above, bids below:
price, size, cumulative size drawn as a depth bar), the spread and the last price,
updated in place (no row is rebuilt, nothing flickers).  Clicking a price hands it to
``on_pick`` callbacks: the dashboard puts it into the order ticket.

It subscribes with ``subscribe_book`` (PROTOCOL v2: ``BOOK_UPDATE`` with the top
``depth`` levels, at most 10 a second); an engine without books answers with an error
and the ladder shows the best bid and ask of the ticker instead, saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, panel_symbol
from widgets.state.book import BookState
from widgets.state.numbers import as_float
from widgets.state.wording import format_price, split_symbol
from workspace.session import Message, TradingSession

DEPTHS = (5, 10, 20)
PickCallback = Callable[[float, str], None]


class BookPanel(Panel):
    css_class = "tw-book"
    _esm = panel_esm("book")
    _css = panel_css("book")

    symbol = traitlets.Unicode("").tag(sync=True)
    depth = traitlets.Enum(DEPTHS, default_value=10).tag(sync=True)
    """Levels a side, fixed when the panel is built (a new depth is a new panel)."""
    book = traitlets.Dict().tag(sync=True)
    assets = traitlets.List(traitlets.Unicode(), ["", ""]).tag(sync=True)
    """[base, quote]: the units of the size and price columns."""
    note = traitlets.Unicode("").tag(sync=True)
    qty_digits = traitlets.Int(-1).tag(sync=True)
    """Decimals of the symbol's lot step (``symbol_info.quantity_precision``): sizes
    line up in their column; -1 while unknown (as many as the size has)."""

    def __init__(
        self, session: TradingSession, symbol: str = "", *, depth: int = 10, **kwargs: Any
    ) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {DEPTHS}, got {depth}")
        symbol = panel_symbol(symbol)
        self.state = BookState(symbol, depth)
        self._picks: list[PickCallback] = []
        self._subscribed = ""
        super().__init__(session, **kwargs)
        with self.hold_sync():
            self.depth = depth
            self.symbol = symbol
            self.assets = list(split_symbol(self.symbol))
        self.observe(self._on_symbol, names=["symbol"])

    def start(self) -> None:
        if self.state.symbol:
            self.spawn(self._subscribe(self.state.symbol), "subscribe_book")

    async def _subscribe(self, symbol: str) -> None:
        previous, self._subscribed = self._subscribed, symbol
        if previous and previous != symbol:
            await self.session.request({"action": "unsubscribe_book", "symbol": previous})
        # the ticker brings the last price (and the best bid/ask when there is no book)
        ticker = await self.session.request({"action": "subscribe_ticker", "symbol": symbol})
        info = ticker.get("symbol_info")
        if isinstance(info, dict):
            self.assets = list(split_symbol(symbol, info))
            digits = info.get("quantity_precision")
            self.qty_digits = digits if isinstance(digits, int) and 0 <= digits <= 8 else -1
        reply = await self.session.request(
            {"action": "subscribe_book", "symbol": symbol, "depth": self.depth}
        )
        if reply.get("type") == "ERROR":
            if reply.get("code") in ("UNKNOWN_ACTION", "INVALID_PARAMS"):
                self.note = "This engine serves no order book: best bid and ask only."
            else:
                self.error = f"subscribe_book: {reply.get('code')}: {reply.get('message')}"
        else:
            self.note = ""
        self.changed()

    def _on_symbol(self, change: Any) -> None:
        symbol = str(change["new"]).upper()
        if symbol != change["new"]:
            self.symbol = symbol
            return
        self.state.reset(symbol)
        self.assets = list(split_symbol(symbol))
        self.qty_digits = -1
        self.changed()
        if symbol:
            self.spawn(self._subscribe(symbol), "subscribe_book")

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.book = self.state.snapshot()

    def on_pick(self, callback: PickCallback) -> Callable[[], None]:
        """Call ``callback(price, symbol)`` when a price is clicked; returns the function
        that stops it."""
        if not callable(callback):
            raise TypeError(f"on_pick takes a function of (price, symbol), got {callback!r:.40}")
        self._picks.append(callback)
        return lambda: self._picks.remove(callback) if callback in self._picks else None

    def pick(self, price: float) -> None:
        for callback in tuple(self._picks):
            callback(price, self.state.symbol)
        self.notice = f"price {format_price(price)} to the ticket" if self._picks else ""

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "pick":
            price = as_float(content.get("price"))
            if price is None or price <= 0:
                raise ValueError(f"pick: not a price: {content.get('price')!r}")
            self.pick(price)
            return None
        return super().on_action(action, content)

    def close(self) -> None:
        picks = getattr(self, "_picks", None)  # a panel that failed to build has none
        if picks is not None:
            picks.clear()
        super().close()
