"""Tickers panel state: one row per symbol from ``MARKET_UPDATE``."""

from __future__ import annotations

from typing import Any

from widgets.state.numbers import as_float
from widgets.state.wording import split_symbol

Row = dict[str, Any]


class TickersState:
    """Rows keyed by symbol, in the order the symbols were added."""

    def __init__(self) -> None:
        self._rows: dict[str, Row] = {}
        # symbols removed by the user: late updates already in flight must not revive them
        self._removed: set[str] = set()

    @property
    def symbols(self) -> list[str]:
        return list(self._rows)

    def add(self, symbol: str, info: Any = None) -> bool:
        """A row for ``symbol``; ``info`` (``SUBSCRIBED.symbol_info``) names its assets
        (the volume's unit) and its price precision."""
        symbol = symbol.upper()
        self._removed.discard(symbol)
        row = self._rows.get(symbol)
        if row is None:
            row = self._rows[symbol] = self._new_row(symbol)
            changed = True
        else:
            changed = False
        if isinstance(info, dict) and info:
            base, quote = split_symbol(symbol, info)
            precision = info.get("price_precision")
            update = {
                "base_asset": base,
                "quote_asset": quote,
                "price_precision": precision if isinstance(precision, int) else None,
            }
            changed = changed or any(row.get(k) != v for k, v in update.items())
            row.update(update)
        return changed

    @staticmethod
    def _new_row(symbol: str) -> Row:
        base, quote = split_symbol(symbol)
        return {
            "symbol": symbol,
            "price": None,
            "direction": 0,
            "timestamp": 0,
            "base_asset": base,
            "quote_asset": quote,
            "price_precision": None,
        }

    def remove(self, symbol: str) -> bool:
        symbol = symbol.upper()
        self._removed.add(symbol)
        return self._rows.pop(symbol, None) is not None

    def apply(self, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "SUBSCRIBED" and isinstance(message.get("symbol"), str):
            return self.add(message["symbol"], message.get("symbol_info"))
        if kind == "UNSUBSCRIBED" and isinstance(message.get("symbol"), str):
            return self.remove(message["symbol"])
        if kind != "MARKET_UPDATE" or not isinstance(message.get("symbol"), str):
            return False
        symbol = message["symbol"].upper()
        if symbol in self._removed:
            return False
        row = self._rows.get(symbol)
        if row is None:
            row = self._rows[symbol] = self._new_row(symbol)
        price = as_float(message.get("price"))
        previous = row.get("price")
        # direction of the last *change*: the browser flashes green/red on it
        if price is not None and previous is not None and price != previous:
            row["direction"] = 1 if price > previous else -1
        else:
            row.setdefault("direction", 0)
        row.update(
            price=price if price is not None else previous,
            change=as_float(message.get("priceChange")),
            change_pct=as_float(message.get("priceChangePercent")),
            high=as_float(message.get("high")),
            low=as_float(message.get("low")),
            volume=as_float(message.get("volume")),
            quote_volume=as_float(message.get("quoteVolume")),
            bid=as_float(message.get("bid")),
            ask=as_float(message.get("ask")),
            timestamp=int(message.get("timestamp") or 0),
        )
        return True

    def rows(self) -> list[Row]:
        return [dict(row) for row in self._rows.values()]

    def row(self, symbol: str) -> Row | None:
        row = self._rows.get(symbol.upper())
        return dict(row) if row is not None else None
