"""Market data: Binance's stream protocol in, immutable records out.

The feed (:mod:`workspace.market.feed`) keeps one combined-stream connection alive;
:mod:`workspace.market.decode` turns frames into :mod:`workspace.market.records`.
Import the feed from its module (``from workspace.market.feed import BinanceFeed``);
this package only re-exports the records so that importing it stays cheap.
"""

from workspace import native as _native

# the local book's diff ingestion (book_ingest) compiled with mypyc, when built from
# these very sources (before any submodule is imported; see workspace/native.py)
__path__ = _native.package_path(__name__, list(__path__))


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
