"""Rolling 24 h statistics, the numbers of a ``24hrTicker``, from minute buckets.

Binance computes the 24 h ticker over a rolling window: open = the first trade in
the window, high/low/volume over the window, ``p = c - o``, ``P = p / o * 100``
(3 decimals), ``w = q / v``, ``x`` = the last price before the window, ``F``/``L``/
``n`` the first/last trade id and count.  Keeping one bucket per minute makes every
figure consistent with the others at a cost of 1440 small objects per symbol.
All amounts are e8 integers (see :mod:`workspace.sim.fixedpoint`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from workspace.sim.candle import Candle
from workspace.sim.candles import CandleStore
from workspace.sim.fixedpoint import SCALE, decimal_e8

DAY_MS = 86_400_000
MINUTE_MS = 60_000


@dataclass(slots=True)
class Bucket:
    start_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    first_id: int
    last_id: int

    @property
    def count(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass(frozen=True, slots=True)
class WindowStats:
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    prev_close: Decimal
    volume: Decimal
    quote_volume: Decimal
    weighted_avg: Decimal
    price_change: Decimal
    price_change_percent: Decimal
    first_id: int
    last_id: int
    count: int


class RollingWindow:
    """Minute buckets of one symbol's trades over the last ``window_ms``."""

    def __init__(self, window_ms: int = DAY_MS, bucket_ms: int = MINUTE_MS) -> None:
        self._window_ms = window_ms
        self._bucket_ms = bucket_ms
        self._buckets: deque[Bucket] = deque()
        self._prev_close: int | None = None
        # Aggregates of every bucket but the last (which still changes), recomputed
        # only when the set of buckets changes: a ticker costs O(1), not O(1440).
        self._closed: tuple[int, int, int, int] | None = None

    @property
    def last_price(self) -> int | None:
        return self._buckets[-1].close if self._buckets else None

    @property
    def last_trade_id(self) -> int | None:
        return self._buckets[-1].last_id if self._buckets else None

    def add_candle(self, bucket: Bucket) -> None:
        """Append a whole bucket (seeded history, a kline); must not go back in time."""
        if self._buckets and bucket.start_ms <= self._buckets[-1].start_ms:
            raise ValueError("buckets must be added in time order")
        self._buckets.append(bucket)
        self._closed = None

    def add_trade(
        self, ts_ms: int, price: int, qty: int, trade_id: int, first_id: int | None = None
    ) -> None:
        """One trade, or an aggregate of the trades ``first_id..trade_id``, at one price."""
        start = ts_ms - ts_ms % self._bucket_ms
        quote = price * qty // SCALE
        last = self._buckets[-1] if self._buckets else None
        if last is not None and last.start_ms == start:
            last.high = max(last.high, price)
            last.low = min(last.low, price)
            last.close = price
            last.volume += qty
            last.quote_volume += quote
            last.last_id = trade_id
            return
        first = trade_id if first_id is None else first_id
        self.add_candle(Bucket(start, price, price, price, price, qty, quote, first, trade_id))

    def _evict(self, now_ms: int) -> None:
        # A bucket leaves the window once all of it is older than 24 h.
        horizon = now_ms - self._window_ms
        while len(self._buckets) > 1 and self._buckets[0].start_ms + self._bucket_ms <= horizon:
            self._prev_close = self._buckets.popleft().close
            self._closed = None

    def _closed_aggregates(self) -> tuple[int, int, int, int]:
        if self._closed is None:
            closed = list(self._buckets)[:-1]
            self._closed = (
                max((b.high for b in closed), default=0),
                min((b.low for b in closed), default=2**62),
                sum(b.volume for b in closed),
                sum(b.quote_volume for b in closed),
            )
        return self._closed

    def stats(self, now_ms: int) -> WindowStats:
        """The 24 h figures at ``now_ms``; needs at least one trade or candle."""
        self._evict(now_ms)
        if not self._buckets:
            raise ValueError("no trades in the window")
        first = self._buckets[0]
        last = self._buckets[-1]
        closed_high, closed_low, closed_volume, closed_quote = self._closed_aggregates()
        high = max(closed_high, last.high)
        low = min(closed_low, last.low)
        volume = closed_volume + last.volume
        quote = closed_quote + last.quote_volume
        change = last.close - first.open
        percent = (Decimal(change) / Decimal(first.open) * 100).quantize(
            Decimal("0.001"), rounding=ROUND_HALF_EVEN
        )
        weighted = min(max(quote * SCALE // volume, low), high) if volume > 0 else last.close
        prev_close = self._prev_close if self._prev_close is not None else first.open
        return WindowStats(
            open_time=now_ms - self._window_ms,
            close_time=now_ms,
            open=decimal_e8(first.open),
            high=decimal_e8(high),
            low=decimal_e8(low),
            last=decimal_e8(last.close),
            prev_close=decimal_e8(prev_close),
            volume=decimal_e8(volume),
            quote_volume=decimal_e8(quote),
            weighted_avg=decimal_e8(weighted),
            price_change=decimal_e8(change),
            price_change_percent=percent,
            first_id=first.first_id,
            last_id=last.last_id,
            count=last.last_id - first.first_id + 1,
        )


def stats_over(store: CandleStore, span_start: int, now: int, open_time: int) -> WindowStats:
    """Ticker statistics over ``[span_start, now]`` from the klines (exact)."""
    candle = store.window(span_start)
    before = store.span(span_start - MINUTE_MS, span_start)
    if candle is None:  # before any history: a window of nothing at the last price
        candle = Candle(span_start, *(store.last_price,) * 4)
    prev_close = before.close if before is not None else candle.open
    change = candle.close - candle.open
    percent = (Decimal(change) / Decimal(candle.open) * 100).quantize(
        Decimal("0.001"), rounding=ROUND_HALF_EVEN
    )
    if candle.volume > 0:
        weighted = candle.quote_volume * SCALE // candle.volume
        weighted = min(max(weighted, candle.low), candle.high)
    else:
        weighted = candle.close
    count = candle.last_id - candle.first_id + 1 if candle.count else 0
    return WindowStats(
        open_time=open_time,
        close_time=now,
        open=decimal_e8(candle.open),
        high=decimal_e8(candle.high),
        low=decimal_e8(candle.low),
        last=decimal_e8(candle.close),
        prev_close=decimal_e8(prev_close),
        volume=decimal_e8(candle.volume),
        quote_volume=decimal_e8(candle.quote_volume),
        weighted_avg=decimal_e8(weighted),
        price_change=decimal_e8(change),
        price_change_percent=percent,
        first_id=candle.first_id,
        last_id=candle.last_id,
        count=count,
    )
