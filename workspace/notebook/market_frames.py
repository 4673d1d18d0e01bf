"""pandas views of market data for the notebook: candles and an order book.

Floats by default (analysis; the engine keeps the exact values), or ``Decimal``
objects (``exact=True``) when every digit matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from workspace.market.book import OrderBook
from workspace.market.records import Kline

if TYPE_CHECKING:
    import pandas as pd

CANDLE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trades", "closed")
BOOK_COLUMNS = ("bid_price", "bid_qty", "bid_total", "ask_price", "ask_qty", "ask_total")


def candles_frame(klines: Sequence[Kline], *, exact: bool = False) -> pd.DataFrame:
    """One row per candle, indexed by open time (UTC), oldest first."""
    import pandas as pd

    number = _number(exact)
    rows = [
        (
            k.open_time,
            number(k.open_price),
            number(k.high_price),
            number(k.low_price),
            number(k.close_price),
            number(k.volume),
            number(k.quote_volume),
            k.trade_count,
            k.closed,
        )
        for k in klines
    ]
    frame = pd.DataFrame(rows, columns=["open_time", *CANDLE_COLUMNS])
    if not exact:
        for column in CANDLE_COLUMNS[:6]:
            frame[column] = frame[column].astype("float64")
    frame["trades"] = frame["trades"].astype("int64")
    frame["closed"] = frame["closed"].astype(bool)
    frame.index = pd.DatetimeIndex(
        pd.to_datetime(frame.pop("open_time"), unit="ms", utc=True), name="open_time"
    )
    return frame


def book_frame(book: OrderBook, depth: int, *, exact: bool = False) -> pd.DataFrame:
    """The best ``depth`` levels a side, level 0 the best, side by side."""
    import pandas as pd

    bids, asks = book.bids(depth), book.asks(depth)
    number = _number(exact)
    columns: dict[str, list[Any]] = {}
    for side, levels in (("bid", bids), ("ask", asks)):
        totals = list(accumulate(qty for _, qty in levels))
        pad: list[Any] = [None] * (max(len(bids), len(asks)) - len(levels))
        columns[f"{side}_price"] = [number(price) for price, _ in levels] + pad
        columns[f"{side}_qty"] = [number(qty) for _, qty in levels] + pad
        columns[f"{side}_total"] = [number(total) for total in totals] + pad
    frame = pd.DataFrame(columns, columns=list(BOOK_COLUMNS))
    if not exact:
        frame = frame.astype("float64")
    frame.index.name = "level"
    frame.attrs.update(
        symbol=book.symbol, last_update_id=book.last_update_id, timestamp=book.event_ms
    )
    return frame


def _number(exact: bool) -> Any:
    return (lambda value: value) if exact else (lambda value: float(value))


__all__ = ["BOOK_COLUMNS", "CANDLE_COLUMNS", "book_frame", "candles_frame"]
