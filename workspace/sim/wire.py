"""Records -> the exact bytes Binance sends for them.

Not ``msgspec.json.encode(record)``: that would write ``null`` for the optional
fields a given event type does not carry, and ``str(Decimal)`` can produce ``5E-8``.
Here each event type gets Binance's own key order, strings for every price and
quantity, and only the keys Binance sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from workspace.market.records import BookTicker, MarketRecord, MiniTicker, Ticker, Trade
from workspace.sim.candle import Candle
from workspace.sim.fixedpoint import format_decimal, format_e8
from workspace.sim.window import WindowStats

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


def encode_record(record: MarketRecord | RawPayload) -> bytes:
    """The raw payload bytes of one record, as ``/ws/<stream>`` delivers them."""
    payload: dict[str, Any]
    if isinstance(record, RawPayload):
        return record.data
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


# -- payloads built straight from e8 integers (depth, klines, window tickers) -------

Levels = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class RawPayload:
    """An already encoded payload (streams without a market record type)."""

    data: bytes


def _levels(levels: Levels) -> str:
    return ",".join(f'["{format_e8(p)}","{format_e8(q)}"]' for p, q in levels)


def depth_update_payload(
    event_ms: int, symbol: str, first_id: int, last_id: int, bids: Levels, asks: Levels
) -> bytes:
    """Binance's spot diff depth event (``depthUpdate``: E, s, U, u, b, a)."""
    return (
        f'{{"e":"depthUpdate","E":{event_ms},"s":"{symbol}","U":{first_id},"u":{last_id},'
        f'"b":[{_levels(bids)}],"a":[{_levels(asks)}]}}'
    ).encode()


def partial_depth_payload(last_update_id: int, bids: Levels, asks: Levels) -> bytes:
    """A partial book (``@depth<N>``, also the REST ``/api/v3/depth`` body)."""
    return (
        f'{{"lastUpdateId":{last_update_id},"bids":[{_levels(bids)}],"asks":[{_levels(asks)}]}}'
    ).encode()


def kline_payload(
    event_ms: int, symbol: str, interval: str, candle: Candle, close_time: int, closed: bool
) -> bytes:
    c = candle
    return (
        f'{{"e":"kline","E":{event_ms},"s":"{symbol}","k":{{"t":{c.open_time},'
        f'"T":{close_time},"s":"{symbol}","i":"{interval}","f":{c.first_id},'
        f'"L":{c.last_id},"o":"{format_e8(c.open)}","c":"{format_e8(c.close)}",'
        f'"h":"{format_e8(c.high)}","l":"{format_e8(c.low)}","v":"{format_e8(c.volume)}",'
        f'"n":{c.count},"x":{"true" if closed else "false"},'
        f'"q":"{format_e8(c.quote_volume)}","V":"{format_e8(c.taker_volume)}",'
        f'"Q":"{format_e8(c.taker_quote)}","B":"0"}}}}'
    ).encode()


def kline_row(candle: Candle, close_time: int) -> list[object]:
    """One row of REST ``/api/v3/klines`` (12 fields, prices as strings)."""
    c = candle
    return [
        c.open_time, format_e8(c.open), format_e8(c.high), format_e8(c.low),
        format_e8(c.close), format_e8(c.volume), close_time, format_e8(c.quote_volume),
        c.count, format_e8(c.taker_volume), format_e8(c.taker_quote), "0",
    ]  # fmt: skip


def avg_price_payload(event_ms: int, symbol: str, price: int, last_trade_ms: int) -> bytes:
    return (
        f'{{"e":"avgPrice","E":{event_ms},"s":"{symbol}","i":"5m",'
        f'"w":"{format_e8(price)}","T":{last_trade_ms}}}'
    ).encode()


def window_ticker_payload(event_type: str, event_ms: int, symbol: str, s: WindowStats) -> bytes:
    """A rolling window ticker (``1hTicker``, ``4hTicker``, ``1dTicker``)."""
    d = format_decimal
    return (
        f'{{"e":"{event_type}","E":{event_ms},"s":"{symbol}","p":"{d(s.price_change)}",'
        f'"P":"{d(s.price_change_percent)}","o":"{d(s.open)}","h":"{d(s.high)}",'
        f'"l":"{d(s.low)}","c":"{d(s.last)}","w":"{d(s.weighted_avg)}","v":"{d(s.volume)}",'
        f'"q":"{d(s.quote_volume)}","O":{s.open_time},"C":{s.close_time},'
        f'"F":{s.first_id},"L":{s.last_id},"n":{s.count}}}'
    ).encode()


def json_array(payloads: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(payloads) + b"]"
