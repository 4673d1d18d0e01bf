"""Candles (klines) as exact integers, and Binance's kline intervals.

A :class:`Candle` holds what a Binance kline holds (``t o h l c v q n f L V Q``),
prices and amounts in units of 1e-8 like the rest of the simulator.  Every interval
is an exact aggregate of finer candles (:func:`merge`): open of the first traded
child, close of the last, extremes, sums of volumes and counts, first and last trade
ids.  A period without trades is a flat candle at the previous close with
``n = 0`` and ids ``-1`` (what Binance sends, e.g. an idle second of a ``1s`` kline).

Intervals (rest-api.md, "Kline/Candlestick data"): ``1s 1m 3m 5m 15m 30m 1h 2h 4h 6h
8h 12h 1d 3d 1w 1M``.  Buckets are aligned on UTC (or on ``timeZone``): fixed sizes
on multiples of their length since the epoch (``3d`` too, see docs/simulator.md),
weeks on Mondays, months on the calendar.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass

SECOND_MS = 1000
MINUTE_MS = 60_000
QUARTER_MS = 900_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

FIXED_MS: dict[str, int] = {
    "1s": SECOND_MS,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": QUARTER_MS,
    "30m": 2 * QUARTER_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
INTERVALS: tuple[str, ...] = (*FIXED_MS, "1M")

# 1970-01-01 was a Thursday: the first Monday is day 4.
_MONDAY = 4


@dataclass(slots=True)
class Candle:
    """One kline; mutable only while it is the open candle of a live interval."""

    open_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote_volume: int = 0
    count: int = 0
    first_id: int = -1
    last_id: int = -1
    taker_volume: int = 0
    taker_quote: int = 0

    @property
    def empty(self) -> bool:
        return self.count == 0

    def add(
        self,
        price: int,
        qty: int,
        quote: int,
        trade_id: int,
        taker_buy: bool,
        first_id: int | None = None,
    ) -> None:
        """One trade into this (open) candle, or an aggregate of the trades
        ``first_id..trade_id`` at one price."""
        first = trade_id if first_id is None else first_id
        if self.count == 0:
            self.open = self.high = self.low = price
            self.first_id = first
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.quote_volume += quote
        self.count += trade_id - first + 1
        self.last_id = trade_id
        if taker_buy:
            self.taker_volume += qty
            self.taker_quote += quote

    def copy(self) -> Candle:
        return Candle(
            self.open_time, self.open, self.high, self.low, self.close, self.volume,
            self.quote_volume, self.count, self.first_id, self.last_id, self.taker_volume,
            self.taker_quote,
        )  # fmt: skip


def flat(open_time: int, price: int) -> Candle:
    """A period without trades: flat at the previous close."""
    return Candle(open_time, price, price, price, price)


def merge(open_time: int, children: Iterable[Candle]) -> Candle | None:
    """The aggregate of consecutive candles (None for no children)."""
    result: Candle | None = None
    traded = False
    for child in children:
        if result is None:
            result = flat(open_time, child.open)
        if child.count == 0:
            if not traded:
                result.open = result.high = result.low = result.close = child.close
            continue
        if not traded:
            traded = True
            result.open, result.high, result.low = child.open, child.high, child.low
            result.first_id = child.first_id
        else:
            if child.high > result.high:
                result.high = child.high
            if child.low < result.low:
                result.low = child.low
        result.close = child.close
        result.volume += child.volume
        result.quote_volume += child.quote_volume
        result.count += child.count
        result.last_id = child.last_id
        result.taker_volume += child.taker_volume
        result.taker_quote += child.taker_quote
    return result


# -- intervals ---------------------------------------------------------------------

_TZ = re.compile(r"([+-]?)(\d{1,2})(?::(\d{2}))?")


def parse_time_zone(text: str) -> int | None:
    """Binance's ``timeZone`` (``"0"``, ``"8"``, ``"-1:00"``, ``"05:45"``) -> offset in
    ms, or None when malformed or outside [-12:00, +14:00]."""
    match = _TZ.fullmatch(text.strip())
    if match is None:
        return None
    sign = -1 if match[1] == "-" else 1
    hours = int(match[2])
    minutes = int(match[3] or 0)
    if minutes >= 60:
        return None
    offset = sign * (hours * 60 + minutes)
    if not -12 * 60 <= offset <= 14 * 60:
        return None
    return offset * MINUTE_MS


def bucket_start(interval: str, t_ms: int, offset_ms: int = 0) -> int:
    """Open time of the ``interval`` bucket holding ``t_ms`` (buckets in local time)."""
    local = t_ms + offset_ms
    size = FIXED_MS.get(interval)
    if size is not None and interval != "1w":
        return local - local % size - offset_ms
    day = local // DAY_MS
    if interval == "1w":
        return (day - (day - _MONDAY) % 7) * DAY_MS - offset_ms
    if interval != "1M":
        raise ValueError(f"unknown interval {interval!r}")
    year, month = _year_month(day)
    return _month_start(year, month) - offset_ms


def next_bucket(interval: str, start_ms: int, offset_ms: int = 0) -> int:
    """Open time of the bucket after the one opening at ``start_ms``."""
    size = FIXED_MS.get(interval)
    if size is not None:
        return start_ms + size
    year, month = _year_month((start_ms + offset_ms) // DAY_MS)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return _month_start(year, month) - offset_ms


def _year_month(day: int) -> tuple[int, int]:
    import datetime as _dt

    date = _dt.date(1970, 1, 1) + _dt.timedelta(days=day)
    return date.year, date.month


def _month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def child_step(interval: str, offset_ms: int) -> int:
    """The finest stored period an ``interval`` bucket is an exact union of."""
    if interval == "1s":
        return SECOND_MS
    if interval in ("1m", "3m", "5m") or offset_ms % QUARTER_MS:
        return MINUTE_MS
    if interval in ("1d", "3d", "1w", "1M") and offset_ms == 0:
        return DAY_MS
    return QUARTER_MS
