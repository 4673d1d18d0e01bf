"""Order book panel state: the top levels of one symbol's book (``BOOK_UPDATE``, PROTOCOL
v2) with cumulative sizes for the depth bars, the spread, and the last price.

An engine without books (version 1) still sends the best bid and ask with each
``MARKET_UPDATE``: the ladder then shows that one level a side and says so
(``source == "ticker"``) instead of pretending to depth it does not have.

The last price is the last trade a ``BOOK_UPDATE`` carries (``last_price``) once one
did: it is as fresh as the book it is drawn inside.  Until then (or from an engine
that does not send it) it is the ``MARKET_UPDATE``'s, the 24 h ticker's last price,
which Binance sends once a second.
"""

from __future__ import annotations

from typing import Any

from widgets.state.numbers import as_float

Level = dict[str, float]  # {"price", "qty", "cum"}


def _levels(raw: Any, depth: int) -> list[Level]:
    levels: list[Level] = []
    cumulative = 0.0
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, list | tuple) or len(item) < 2:
            continue
        price, qty = as_float(item[0]), as_float(item[1])
        if price is None or qty is None or qty <= 0:
            continue
        cumulative += qty
        levels.append({"price": price, "qty": qty, "cum": cumulative})
        if len(levels) == depth:
            break
    return levels


class BookState:
    def __init__(self, symbol: str = "", depth: int = 10) -> None:
        self.depth = depth
        self.reset(symbol)

    def reset(self, symbol: str) -> None:
        """Show another symbol: nothing of the old book stays."""
        self.symbol = symbol.upper()
        self.bids: list[Level] = []
        self.asks: list[Level] = []
        self.last: float | None = None
        self.last_from_book = False  # a BOOK_UPDATE brought the last trade
        self.direction = 0
        self.update_id: int | None = None
        self.timestamp = 0
        self.source = ""  # "book" (BOOK_UPDATE) | "ticker" (best bid/ask only) | ""

    def apply(self, message: dict[str, Any]) -> bool:
        if str(message.get("symbol") or "").upper() != self.symbol:
            return False
        kind = message.get("type")
        if kind == "BOOK_UPDATE":
            update_id = message.get("lastUpdateId")
            known = self.update_id
            if isinstance(update_id, int) and known is not None and update_id < known:
                return False  # an older book than the one shown
            bids = _levels(message.get("bids"), self.depth)
            asks = _levels(message.get("asks"), self.depth)
            self.bids, self.asks, self.source = bids, asks, "book"
            self.update_id = update_id if isinstance(update_id, int) else self.update_id
            self.timestamp = int(message.get("timestamp") or 0)
            last = as_float(message.get("last_price"))
            if last is not None and last > 0:
                self._set_last(last)
                self.last_from_book = True
            return True
        if kind == "MARKET_UPDATE":
            price = as_float(message.get("price"))
            changed = False
            if price is not None and not self.last_from_book:
                changed = self._set_last(price)
            if self.source != "book":
                bid, ask = as_float(message.get("bid")), as_float(message.get("ask"))
                if bid is not None and ask is not None:
                    self.bids = [{"price": bid, "qty": 0.0, "cum": 0.0}]
                    self.asks = [{"price": ask, "qty": 0.0, "cum": 0.0}]
                    self.source = "ticker"
                    changed = True
            return changed
        return False

    def _set_last(self, price: float) -> bool:
        if price == self.last:
            return False
        if self.last is not None:
            self.direction = 1 if price > self.last else -1
        self.last = price
        return True

    @property
    def spread(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0]["price"] - self.bids[0]["price"]

    def snapshot(self) -> dict[str, Any]:
        deepest = max([level["cum"] for level in (self.bids[-1:] + self.asks[-1:])] or [0.0])
        spread = self.spread
        mid = (self.asks[0]["price"] + self.bids[0]["price"]) / 2 if spread is not None else None
        return {
            "symbol": self.symbol,
            "bids": [dict(level) for level in self.bids],
            "asks": [dict(level) for level in self.asks],
            "max_cum": deepest,
            "spread": spread,
            "spread_pct": (100.0 * spread / mid) if spread is not None and mid else None,
            "last": self.last,
            "direction": self.direction,
            "source": self.source,
            "timestamp": self.timestamp,
        }
