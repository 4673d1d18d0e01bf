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

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from workspace.market.decimal_text import plain_decimals
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

__all__ = ["CHECKS", "SanityLimits", "not_a_number", "problem"]

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
    "open_price", "high_price", "low_price", "weighted_avg_price", "quote_volume",
    "prev_close_price", "last_quantity", "bid_qty", "ask_qty",
)  # fmt: skip

VOLUME_DIGITS: Final = 30
"""Plain decimals with at most this many digits in a run are below ``MAX_VOLUME``."""
PRICE_DIGITS: Final = 10
"""... and with at most this many, below ``MAX_PRICE`` (92233720368.54775807)."""


def _ticker(record: Ticker, now_ms: int, limits: SanityLimits) -> str | None:
    # The feed's hottest check, written out.  The decoded numbers (what the engine
    # reads) are compared as Decimals: a NaN raises InvalidOperation (problem() says
    # so), an infinity falls outside the range.  The other eleven strings are checked
    # in one pass without building their Decimals (workspace/market/decimal_text.py).
    last, bid, ask, volume = record.last_price, record.bid_price, record.ask_price, record.volume
    if not _ZERO < last <= MAX_PRICE:
        return f"last price {last} is not a positive number"
    if bid is not None:
        if not _ZERO < bid <= MAX_PRICE:
            return f"bid {bid} is not a positive number"
        if ask is not None and bid > ask:
            return f"bid {bid} is above the ask {ask}"
    if ask is not None and not _ZERO < ask <= MAX_PRICE:
        return f"ask {ask} is not a positive number"
    if not _ZERO <= volume <= MAX_VOLUME:
        return f"volume {volume} is negative or not a number"
    prev_close, last_qty = record.prev_close_price_text, record.last_quantity_text
    bid_qty, ask_qty = record.bid_qty_text, record.ask_qty_text
    if (
        prev_close is not None
        and last_qty is not None
        and bid_qty is not None
        and ask_qty is not None
        and plain_decimals(
            (
                "",
                record.open_price_text, record.high_price_text, record.low_price_text,
                record.weighted_avg_price_text, record.quote_volume_text,
                prev_close, last_qty, bid_qty, ask_qty,
                record.price_change_text.removeprefix("-"),
                record.price_change_percent_text.removeprefix("-"),
                "",
            ),
            VOLUME_DIGITS,
        )
    ):  # fmt: skip
        wrong = None
    else:
        wrong = _ticker_exactly(record)
    if wrong is None and (
        limits.max_event_age_ms is not None
        or (limits.max_future_skew_ms is not None
            and record.event_time > now_ms + limits.max_future_skew_ms)
    ):  # fmt: skip
        wrong = _time(record.event_time, now_ms, limits)
    return wrong


def _ticker_exactly(record: Ticker) -> str | None:
    """The same checks on every number as a Decimal: what the quick pass could not vouch
    for (a rolling-window ticker without the optional fields, an integer, a NaN ...)."""
    for name in _TICKER_NOT_NEGATIVE:
        value = getattr(record, name)
        if value is not None and not _not_negative(value):
            return f"{name} {value} is negative or not a number"
    if not (record.price_change.is_finite() and record.price_change_percent.is_finite()):
        return "price change is not a number"
    return None


def _book_ticker(record: BookTicker, now_ms: int, limits: SanityLimits) -> str | None:
    bid, ask = record.bid_price, record.ask_price
    if not (_ZERO < bid <= MAX_PRICE and _ZERO < ask <= MAX_PRICE):
        return f"bid {bid} / ask {ask} not positive numbers"
    if bid > ask:
        return f"bid {bid} is above the ask {ask}"
    if plain_decimals(("", record.bid_qty_text, record.ask_qty_text, ""), PRICE_DIGITS):
        return None
    if not _quantity(record.bid_qty) or not _quantity(record.ask_qty):
        return f"bid / ask quantity {record.bid_qty} / {record.ask_qty} negative or not a number"
    return None


def _mini_ticker(record: MiniTicker) -> str | None:
    if not _positive(record.last_price):
        return f"last price {record.last_price} is not a positive number"
    if plain_decimals(
        ("", record.open_price_text, record.high_price_text, record.low_price_text,
         record.volume_text, record.quote_volume_text, ""),
        VOLUME_DIGITS,
    ):  # fmt: skip
        return None
    for value in (record.open_price, record.high_price, record.low_price,
                  record.volume, record.quote_volume):  # fmt: skip
        if not _not_negative(value):
            return f"value {value} is negative or not a number"
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


def _trade(record: Trade, now_ms: int, limits: SanityLimits) -> str | None:
    price, quantity = record.price, record.quantity
    if not _ZERO < price <= MAX_PRICE:  # a NaN raises InvalidOperation: problem() says so
        return f"price {price} is not a positive number"
    if not _ZERO < quantity <= MAX_PRICE:
        return f"quantity {quantity} is not a positive number"
    future = limits.max_future_skew_ms
    if limits.max_event_age_ms is None and (future is None or record.event_time <= now_ms + future):
        return None
    return _time(record.event_time, now_ms, limits)


def _timed_mini_ticker(record: MiniTicker, now_ms: int, limits: SanityLimits) -> str | None:
    return _mini_ticker(record) or _time(record.event_time, now_ms, limits)


def _depth_update(record: DepthUpdate, now_ms: int, limits: SanityLimits) -> str | None:
    # Its levels are checked by the book as it applies them (every one, before any
    # change): reading them twice would double the cost of the hot path.
    future = limits.max_future_skew_ms
    if limits.max_event_age_ms is None and (future is None or record.event_time <= now_ms + future):
        return None
    return _time(record.event_time, now_ms, limits)


def _untimed_depth(
    record: PartialDepth | DepthSnapshot, now_ms: int, limits: SanityLimits
) -> str | None:
    return _depth(record)


def _timed_kline(record: Kline, now_ms: int, limits: SanityLimits) -> str | None:
    wrong = _kline(record)
    if wrong is None and record.event_time is not None:
        wrong = _time(record.event_time, now_ms, limits)
    return wrong


CHECKS: Final[dict[type, Callable[[Any, int, SanityLimits], str | None]]] = {
    # record type -> its check (what problem() dispatches to; the feed calls it direct)
    Trade: _trade,
    BookTicker: _book_ticker,
    Ticker: _ticker,
    MiniTicker: _timed_mini_ticker,
    DepthUpdate: _depth_update,
    PartialDepth: _untimed_depth,
    DepthSnapshot: _untimed_depth,
    Kline: _timed_kline,
}


def problem(record: FeedRecord, now_ms: int, limits: SanityLimits) -> str | None:
    """What is wrong with ``record`` (a short sentence), or ``None``."""
    try:
        return CHECKS[type(record)](record, now_ms, limits)
    except ArithmeticError as exc:  # a NaN the checks above let through, or not a number
        return not_a_number(exc)


def not_a_number(exc: ArithmeticError) -> str:
    """What :func:`problem` says when a check raised (a NaN compared, a string that is
    not a number)."""
    return f"a value is not a number ({type(exc).__name__})"
