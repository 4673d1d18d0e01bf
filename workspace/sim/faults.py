"""Malformed-but-parseable upstream records, for tests of a feed's sanity checks.

Each :data:`BAD_RECORDS` kind turns a valid payload of a stream into one a careful
consumer must reject: it stays valid JSON with Binance's field names and types
(prices are strings on Binance, so ``"NaN"`` and ``"1e999999"`` are strings too, and
an event time above 2**64 is a JSON integer), only the values are wrong.

* ``negative_price`` (-5), ``zero_price``, ``huge_price`` (``1e999999``),
  ``nan_price`` on ``@aggTrade``, ``@trade`` (``p``), ``@ticker``/``@miniTicker``
  (``c``), ``@bookTicker`` (``b`` and ``a``);
* ``negative_qty`` on trades (``q``), tickers (``v``), book tickers (``B``, ``A``);
* ``future_time``: ``E`` (and ``T`` on trades) = 2**64 + 1;
* ``crossed_book``: a book ticker or ticker whose bid is above its ask.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

BadRecord = Literal[
    "negative_price",
    "zero_price",
    "huge_price",
    "nan_price",
    "negative_qty",
    "future_time",
    "crossed_book",
]
BAD_RECORDS: tuple[BadRecord, ...] = (
    "negative_price",
    "zero_price",
    "huge_price",
    "nan_price",
    "negative_qty",
    "future_time",
    "crossed_book",
)
FAR_FUTURE_MS = 2**64 + 1
_FAR = "far-future-event-time"
_PRICES = {
    "negative_price": "-5.00000000",
    "zero_price": "0.00000000",
    "huge_price": "1e999999",
    "nan_price": "NaN",
}


def corrupt(payload: bytes, kind: BadRecord) -> bytes:
    """``payload`` (a valid raw trade, ticker, mini ticker or book ticker) with the
    fault ``kind`` applied; ValueError when the fault does not apply to it."""
    data: dict[str, Any] = msgspec.json.decode(payload)
    event = data.get("e")
    is_trade = event in ("trade", "aggTrade")
    is_ticker = event in ("24hrTicker", "24hrMiniTicker")
    is_book = event is None and "u" in data and "b" in data
    if kind in _PRICES:
        value = _PRICES[kind]
        if is_trade:
            data["p"] = value
        elif is_ticker:
            data["c"] = value
        elif is_book:
            data["b"] = data["a"] = value
        else:
            raise ValueError(f"{kind} does not apply to {event!r}")
    elif kind == "negative_qty":
        if is_trade:
            data["q"] = "-1.00000000"
        elif is_ticker:
            data["v"] = "-1.00000000"
        elif is_book:
            data["B"] = data["A"] = "-1.00000000"
        else:
            raise ValueError(f"negative_qty does not apply to {event!r}")
    elif kind == "future_time":
        if "E" not in data:
            raise ValueError("future_time needs an event with an event time (E)")
        data["E"] = _FAR
        if is_trade:
            data["T"] = _FAR
    elif kind == "crossed_book":
        if "b" not in data or "a" not in data or is_trade:
            raise ValueError("crossed_book needs a book ticker or a ticker")
        data["b"], data["a"] = data["a"], data["b"]
        if data["b"] == data["a"]:
            raise ValueError("bid equals ask: cannot cross")
    else:
        raise ValueError(f"unknown bad record kind {kind!r}")
    # An integer beyond 64 bits: JSON allows it, msgspec does not encode it.
    return msgspec.json.encode(data).replace(f'"{_FAR}"'.encode(), str(FAR_FUTURE_MS).encode())
