"""Records -> the exact bytes Binance sends for them.

Not ``msgspec.json.encode(record)``: that would write ``null`` for the optional
fields a given event type does not carry, and ``str(Decimal)`` can produce ``5E-8``.
Here each event type gets Binance's own key order, strings for every price and
quantity, and only the keys Binance sends.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from workspace.market.records import BookTicker, MarketRecord, MiniTicker, Ticker, Trade
from workspace.sim.fixedpoint import format_decimal

_encoder = msgspec.json.Encoder()


def _d(value: Decimal | None) -> str:
    return format_decimal(value if value is not None else Decimal(0))


def ticker_payload(t: Ticker) -> dict[str, Any]:
    return {
        "e": t.event_type,
        "E": t.event_time,
        "s": t.symbol,
        "p": _d(t.price_change),
        "P": _d(t.price_change_percent),
        "w": _d(t.weighted_avg_price),
        "x": _d(t.prev_close_price),
        "c": _d(t.last_price),
        "Q": _d(t.last_quantity),
        "b": _d(t.bid_price),
        "B": _d(t.bid_qty),
        "a": _d(t.ask_price),
        "A": _d(t.ask_qty),
        "o": _d(t.open_price),
        "h": _d(t.high_price),
        "l": _d(t.low_price),
        "v": _d(t.volume),
        "q": _d(t.quote_volume),
        "O": t.open_time,
        "C": t.close_time,
        "F": t.first_trade_id,
        "L": t.last_trade_id,
        "n": t.trade_count,
    }


def mini_ticker_payload(t: MiniTicker) -> dict[str, Any]:
    return {
        "e": t.event_type,
        "E": t.event_time,
        "s": t.symbol,
        "c": _d(t.last_price),
        "o": _d(t.open_price),
        "h": _d(t.high_price),
        "l": _d(t.low_price),
        "v": _d(t.volume),
        "q": _d(t.quote_volume),
    }


def book_ticker_payload(b: BookTicker) -> dict[str, Any]:
    return {
        "u": b.update_id,
        "s": b.symbol,
        "b": _d(b.bid_price),
        "B": _d(b.bid_qty),
        "a": _d(b.ask_price),
        "A": _d(b.ask_qty),
    }


def trade_payload(t: Trade) -> dict[str, Any]:
    if t.event_type == "aggTrade":
        return {
            "e": "aggTrade",
            "E": t.event_time,
            "s": t.symbol,
            "a": t.agg_id,
            "p": _d(t.price),
            "q": _d(t.quantity),
            "f": t.first_trade_id,
            "l": t.last_trade_id,
            "T": t.trade_time,
            "m": t.buyer_is_maker,
            "M": True,
        }
    return {
        "e": "trade",
        "E": t.event_time,
        "s": t.symbol,
        "t": t.trade_id,
        "p": _d(t.price),
        "q": _d(t.quantity),
        "T": t.trade_time,
        "m": t.buyer_is_maker,
        "M": True,
    }


def encode_record(record: MarketRecord) -> bytes:
    """The raw payload bytes of one record, as ``/ws/<stream>`` delivers them."""
    payload: dict[str, Any]
    if isinstance(record, Ticker):
        payload = ticker_payload(record)
    elif isinstance(record, MiniTicker):
        payload = mini_ticker_payload(record)
    elif isinstance(record, BookTicker):
        payload = book_ticker_payload(record)
    else:
        payload = trade_payload(record)
    return _encoder.encode(payload)


def combine(stream: str, payload: bytes) -> bytes:
    """Wrap a raw payload in the combined envelope ``{"stream":..,"data":..}``."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def encode_json(value: object) -> bytes:
    return _encoder.encode(value)
