"""Ticker (+ latest best bid/ask) -> PROTOCOL.md ``MARKET_UPDATE`` dict.

Sample output::

    {"type": "MARKET_UPDATE", "symbol": "BTCUSDT", "price": 43250.5, "priceChange": 125.3,
     "priceChangePercent": 0.29, "high": 43500.0, "low": 42800.0, "volume": 12345.67,
     "timestamp": 1702210800000, "bid": 43250.4, "ask": 43250.6, "quoteVolume": 5.3e8,
     "received_ms": 1702210800012.625}

``timestamp`` is the exchange's event time, not ours.  ``received_ms`` is ours: the
engine's wall clock (ms since the epoch, sub-millisecond float) when the ticker
reached it, so that anyone downstream (the fan-out benchmark, a client on the same
machine) can measure delivery latency from the engine to the screen.  The best
bid/ask comes from the latest ``bookTicker`` when one was seen (it is fresher than the
ticker's own ``b``/``a``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from workspace.market.records import BookTicker, Ticker
from workspace.session import Message


class MarketMessages:
    """Keeps the latest book and ``MARKET_UPDATE`` per symbol."""

    def __init__(self, wall_ms: Callable[[], float] | None = None) -> None:
        self._wall_ms = wall_ms or _wall_ms
        self._book: dict[str, tuple[Decimal, Decimal]] = {}
        self._latest: dict[str, Message] = {}

    def on_book(self, book: BookTicker) -> None:
        self._book[book.symbol] = (book.bid_price, book.ask_price)

    def on_ticker(self, ticker: Ticker) -> Message:
        message: Message = {
            "type": "MARKET_UPDATE",
            "symbol": ticker.symbol,
            "price": float(ticker.last_price),
            # The wire strings, not the Decimal views: the same float, without building
            # four Decimals per ticker only to convert them (records.py).
            "priceChange": float(ticker.price_change_text),
            "priceChangePercent": float(ticker.price_change_percent_text),
            "high": float(ticker.high_price_text),
            "low": float(ticker.low_price_text),
            "volume": float(ticker.volume),
            "timestamp": ticker.event_time,
            "quoteVolume": float(ticker.quote_volume_text),
            "received_ms": self._wall_ms(),
        }
        bid, ask = self.bid_ask(ticker.symbol, ticker)
        if bid is not None:
            message["bid"] = float(bid)
        if ask is not None:
            message["ask"] = float(ask)
        self._latest[ticker.symbol] = message
        return message

    def bid_ask(
        self, symbol: str, ticker: Ticker | None = None
    ) -> tuple[Decimal | None, Decimal | None]:
        book = self._book.get(symbol)
        if book is not None:
            return book
        if ticker is not None:
            return ticker.bid_price, ticker.ask_price
        return None, None

    def latest(self, symbol: str) -> Message | None:
        return self._latest.get(symbol.upper())

    def forget(self, symbol: str) -> None:
        self._book.pop(symbol, None)
        self._latest.pop(symbol, None)


def _wall_ms() -> float:
    return time.time() * 1000.0
