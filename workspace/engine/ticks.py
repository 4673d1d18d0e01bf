"""What a strategy's ``on_tick`` callback receives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from workspace.market.records import Ticker, Trade


@dataclass(frozen=True, slots=True)
class Tick:
    """One price observation: a 24 h ticker update or a trade, with the best bid/ask
    known at that moment.  ``timestamp`` is the exchange's event time (ms)."""

    symbol: str
    price: Decimal
    timestamp: int
    source: str  # "ticker" or "trade"
    bid: Decimal | None = None
    ask: Decimal | None = None
    quantity: Decimal | None = None  # trade size; None for a ticker
    volume: Decimal | None = None  # 24 h base volume; None for a trade
    after_gap: bool = False
    """The first tick of its symbol after a gap in the feed (``ws.gaps`` says which)."""

    @classmethod
    def from_ticker(
        cls, ticker: Ticker, bid: Decimal | None, ask: Decimal | None, after_gap: bool = False
    ) -> Tick:
        return cls(
            symbol=ticker.symbol,
            price=ticker.last_price,
            timestamp=ticker.event_time,
            source="ticker",
            bid=bid,
            ask=ask,
            volume=ticker.volume,
            after_gap=after_gap,
        )

    @classmethod
    def from_trade(
        cls, trade: Trade, bid: Decimal | None, ask: Decimal | None, after_gap: bool = False
    ) -> Tick:
        return cls(
            symbol=trade.symbol,
            price=trade.price,
            timestamp=trade.event_time,
            source="trade",
            bid=bid,
            ask=ask,
            quantity=trade.quantity,
            after_gap=after_gap,
        )
