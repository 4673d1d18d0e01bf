"""Market data: Binance's stream protocol in, immutable records out.

The feed (:mod:`workspace.market.feed`) keeps one combined-stream connection alive;
:mod:`workspace.market.decode` turns frames into :mod:`workspace.market.records`.
Import the feed from its module (``from workspace.market.feed import BinanceFeed``);
this package only re-exports the records so that importing it stays cheap.
"""

from workspace.market.records import (
    BookRecord,
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedRecord,
    Kline,
    Level,
    MarketRecord,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
)

__all__ = [
    "BookRecord",
    "BookTicker",
    "DepthSnapshot",
    "DepthUpdate",
    "FeedRecord",
    "Kline",
    "Level",
    "MarketRecord",
    "MiniTicker",
    "PartialDepth",
    "Ticker",
    "Trade",
]
