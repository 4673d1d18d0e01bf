"""Upstream sanity: which records are too wrong to hand to an account.

A feed is input like any other.  A trade at -5, 0 or 1e999999, a book ticker whose bid
is above its ask, an event time in the year 2500: each would mark positions, trigger
stops or fill orders at prices that never existed.  :func:`problem` says what is wrong
with a record (``None`` when nothing is); the feed counts such records as bad, logs
them (throttled) and never hands them on.

What is checked:

- every price a position can be marked or filled at is finite, **> 0** and no larger
  than Binance can represent (``MAX_PRICE``, 92233720368.54775807): the last
  price of a ticker and mini ticker, the bid and ask of a ticker and a book ticker, a
  trade's price, every level of a book record, a kline's open, high, low and close;
- the other prices of a ticker (open, high, low, weighted average, previous close) are
  finite and >= 0 (Binance sends zeros for a window without trades);
- every quantity and volume is finite and **>= 0** (quantities up to ``MAX_PRICE``,
  volumes up to ``MAX_VOLUME``); a trade's quantity is > 0;
- a bid is not above the ask (ticker, book ticker, the best levels of a partial depth
  or snapshot), and a kline's low <= open, close <= high;
- the event time is not more than ``max_future_skew_ms`` ahead of the local clock
  (and, if ``max_event_age_ms`` is set, not older than that): an event from the future
  is a broken clock or a forged frame.  Age is not limited by default because a
  replaying simulator serves recorded times.

Pure functions, no I/O; the clock comes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedRecord,
    Kline,
    Level,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
)

__all__ = ["SanityLimits", "problem"]

_ZERO: Final = Decimal(0)
MAX_PRICE: Final = Decimal("92233720368.54775807")
"""Binance keeps prices and order quantities as 64-bit integers of 1e-8 units, so no
price, level or trade quantity can exceed (2**63 - 1) / 1e8."""
MAX_VOLUME: Final = Decimal("1e30")
"""Accumulated volumes are not bound that way (SHIB trades 1e13 a day); anything
beyond this is garbage, not volume."""


@dataclass(frozen=True, slots=True)
class SanityLimits:
    max_future_skew_ms: int | None = 300_000
    """An event time more than this ahead of the local clock is refused (``None``: no
    limit).  Five minutes: far beyond any clock offset NTP leaves."""
    max_event_age_ms: int | None = None
    """An event time older than this is refused (``None``: no limit, the default)."""


def _positive(value: Decimal) -> bool:
    """A price or quantity the exchange can hold: finite, > 0, <= MAX_PRICE."""
    return value.is_finite() and _ZERO < value <= MAX_PRICE


def _not_negative(value: Decimal) -> bool:
    """A volume: finite, >= 0, and not absurd."""
    return value.is_finite() and _ZERO <= value <= MAX_VOLUME


def _quantity(value: Decimal) -> bool:
    """A level or best-price quantity: finite, >= 0, <= MAX_PRICE."""
    return value.is_finite() and _ZERO <= value <= MAX_PRICE


def _levels(levels: tuple[Level, ...], side: str) -> str | None:
    for price, qty in levels:
        if not _positive(price):
            return f"{side} level price {price} is not a positive number"
        if not _quantity(qty):
            return f"{side} level quantity {qty} at {price} is negative or not a number"
    return None


def _time(event_ms: int, now_ms: int, limits: SanityLimits) -> str | None:
    future = limits.max_future_skew_ms
    if future is not None and event_ms > now_ms + future:
        return f"event time {event_ms} is {(event_ms - now_ms) / 1000:.0f} s ahead of the clock"
    age = limits.max_event_age_ms
    if age is not None and event_ms < now_ms - age:
        return f"event time {event_ms} is {(now_ms - event_ms) / 1000:.0f} s old"
    return None


_TICKER_NOT_NEGATIVE: Final = (
    "open_price", "high_price", "low_price", "weighted_avg_price", "volume", "quote_volume",
    "prev_close_price", "last_quantity", "bid_qty", "ask_qty",
)  # fmt: skip


def _ticker(record: Ticker) -> str | None:
    last, bid, ask = record.last_price, record.bid_price, record.ask_price
    if not _positive(last):
        return f"last price {last} is not a positive number"
    if bid is not None:
        if not _positive(bid):
            return f"bid {bid} is not a positive number"
        if ask is not None and bid > ask:
            return f"bid {bid} is above the ask {ask}"
    if ask is not None and not _positive(ask):
        return f"ask {ask} is not a positive number"
    # One pass over the rest (written out: a loop of getattr costs twice as much on the
    # feed's hottest path).
    if (
        _not_negative(record.open_price)
        and _not_negative(record.high_price)
        and _not_negative(record.low_price)
        and _not_negative(record.weighted_avg_price)
        and _not_negative(record.volume)
        and _not_negative(record.quote_volume)
        and (record.prev_close_price is None or _not_negative(record.prev_close_price))
        and (record.last_quantity is None or _not_negative(record.last_quantity))
        and (record.bid_qty is None or _not_negative(record.bid_qty))
        and (record.ask_qty is None or _not_negative(record.ask_qty))
        and record.price_change.is_finite()
        and record.price_change_percent.is_finite()
    ):
        return None
    for name in _TICKER_NOT_NEGATIVE:  # say which one
        value = getattr(record, name)
        if value is not None and not _not_negative(value):
            return f"{name} {value} is negative or not a number"
    return "price change is not a number"


def _book_ticker(record: BookTicker) -> str | None:
    if not _positive(record.bid_price) or not _positive(record.ask_price):
        return f"bid {record.bid_price} / ask {record.ask_price} not positive numbers"
    if not _quantity(record.bid_qty) or not _quantity(record.ask_qty):
        return f"bid / ask quantity {record.bid_qty} / {record.ask_qty} negative or not a number"
    if record.bid_price > record.ask_price:
        return f"bid {record.bid_price} is above the ask {record.ask_price}"
    return None


def _depth(record: PartialDepth | DepthSnapshot) -> str | None:
    bids, asks = record.bids, record.asks  # raises InvalidOperation for a non-number
    wrong = _levels(bids, "bid") or _levels(asks, "ask")
    if wrong is not None:
        return wrong
    if bids and asks and bids[0][0] > asks[0][0]:
        return f"best bid {bids[0][0]} is above the best ask {asks[0][0]}"
    return None


def _kline(record: Kline) -> str | None:
    o, h, low, c = record.open_price, record.high_price, record.low_price, record.close_price
    if not (_positive(o) and _positive(h) and _positive(low) and _positive(c)):
        return f"candle prices {o}/{h}/{low}/{c} are not all positive numbers"
    if not (low <= o <= h and low <= c <= h):
        return f"candle low {low} / high {h} do not contain open {o} and close {c}"
    for value in (record.volume, record.quote_volume, record.taker_buy_volume,
                  record.taker_buy_quote_volume):  # fmt: skip
        if not _not_negative(value):
            return f"candle volume {value} is negative or not a number"
    return None


def problem(record: FeedRecord, now_ms: int, limits: SanityLimits) -> str | None:
    """What is wrong with ``record`` (a short sentence), or ``None``."""
    try:
        if isinstance(record, Trade):
            if not _positive(record.price):
                return f"price {record.price} is not a positive number"
            if not _positive(record.quantity):
                return f"quantity {record.quantity} is not a positive number"
            return _time(record.event_time, now_ms, limits)
        if isinstance(record, BookTicker):
            return _book_ticker(record)
        if isinstance(record, Ticker):
            return _ticker(record) or _time(record.event_time, now_ms, limits)
        if isinstance(record, DepthUpdate):
            # Its levels are checked by the book as it applies them (every one, before
            # any change): reading them twice would double the cost of the hot path.
            return _time(record.event_time, now_ms, limits)
        if isinstance(record, MiniTicker):
            if not _positive(record.last_price):
                return f"last price {record.last_price} is not a positive number"
            for value in (record.open_price, record.high_price, record.low_price,
                          record.volume, record.quote_volume):  # fmt: skip
                if not _not_negative(value):
                    return f"value {value} is negative or not a number"
            return _time(record.event_time, now_ms, limits)
        if isinstance(record, PartialDepth | DepthSnapshot):
            return _depth(record)
        wrong = _kline(record)
        if wrong is None and record.event_time is not None:
            wrong = _time(record.event_time, now_ms, limits)
        return wrong
    except ArithmeticError as exc:  # a comparison with a NaN the checks above let through
        return f"a value is not a number ({type(exc).__name__})"
