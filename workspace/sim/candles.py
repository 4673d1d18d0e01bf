"""One symbol's klines of every interval: the seeded history joined to the live trades.

The live walk's trades go into two open candles, the current second and the current
minute (:meth:`CandleStore.add_trade`); closed seconds stay in a ring (an hour by
default), closed minutes in a list (a month).  Every other candle is an exact
aggregate: a bucket ``[t0, t1)`` is cut into the coarsest stored blocks that fit (UTC
days, quarter hours, minutes, seconds) and merged, so a 4h candle, a 1M candle, the
stream's open candle and the REST answer all agree to the last unit, whatever the
``timeZone``.  Blocks before the live start come from :class:`KlineHistory`; closed
live quarters and days are cached once computed.  Seconds of a live minute that left
the ring are refined from the minute, like history seconds.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from collections.abc import Iterator

from workspace.sim.candle import (
    DAY_MS,
    MINUTE_MS,
    QUARTER_MS,
    SECOND_MS,
    Candle,
    bucket_start,
    flat,
    merge,
    next_bucket,
)
from workspace.sim.fixedpoint import SCALE
from workspace.sim.history import KlineHistory, refine_seconds

_BLOCKS = (DAY_MS, QUARTER_MS, MINUTE_MS)
_MINUTE_MEMORY = 31 * 24 * 60
_REFINED_MINUTES = 64


class CandleStore:
    """History plus live klines of one symbol (prices in 1e-8 units)."""

    def __init__(
        self,
        history: KlineHistory | None,
        *,
        tick: int,
        step: int,
        second_memory: int = 3600,
        start_ms: int | None = None,
        price: int | None = None,
        seed: int = 0,
    ) -> None:
        """``history`` ends where the live candles start; without one (a replayed
        recording) they start at ``start_ms`` (a minute) at ``price``."""
        self.history = history
        if history is not None:
            self.live_start = history.end_ms
            self.first_ms = history.start_ms
            price = history.params.end_price
            seed = history.params.seed
        elif start_ms is None or price is None or start_ms % MINUTE_MS:
            raise ValueError("without history, give the first minute and price")
        else:
            self.live_start = self.first_ms = start_ms
        self._seed = seed
        self._tick = tick
        self._step = step
        self._minutes: deque[Candle] = deque(maxlen=_MINUTE_MEMORY)
        self._open_minute = flat(self.live_start, price)
        self._second_memory = max(60, second_memory)
        self._seconds: deque[Candle] = deque(maxlen=self._second_memory)
        self._open_second = flat(self.live_start, price)
        self._cache: dict[tuple[int, int], Candle] = {}
        self._refined: OrderedDict[int, list[Candle]] = OrderedDict()
        self._windows: dict[int, Candle | None] = {}
        self._windows_minute = -1
        self.last_trade_ms: int | None = None

    # -- live ---------------------------------------------------------------------

    @property
    def last_price(self) -> int:
        return self._open_second.close

    @property
    def open_second(self) -> Candle:
        return self._open_second

    def add_trade(
        self,
        ts_ms: int,
        price: int,
        qty: int,
        trade_id: int,
        taker_buy: bool,
        first_id: int | None = None,
    ) -> None:
        """A trade (or an aggregate of ``first_id..trade_id`` at one price)."""
        self.roll(ts_ms)
        quote = price * qty // SCALE
        self._open_second.add(price, qty, quote, trade_id, taker_buy, first_id)
        self._open_minute.add(price, qty, quote, trade_id, taker_buy, first_id)
        self.last_trade_ms = ts_ms

    def roll(self, now_ms: int) -> None:
        """Close the second and minute candles that ended by ``now_ms``."""
        second = self._open_second
        if now_ms < second.open_time + SECOND_MS:
            return
        target = now_ms - now_ms % SECOND_MS
        price = second.close
        # A long gap (a laptop asleep) only needs the seconds the ring can hold.
        first_kept = max(second.open_time + SECOND_MS, target - self._second_memory * SECOND_MS)
        self._seconds.append(second)
        if first_kept > second.open_time + SECOND_MS:
            self._seconds.clear()
        for t in range(first_kept, target, SECOND_MS):
            self._seconds.append(flat(t, price))
        self._open_second = flat(target, price)
        minute = self._open_minute
        minute_target = now_ms - now_ms % MINUTE_MS
        if minute_target > minute.open_time:
            self._minutes.append(minute)
            for t in range(minute.open_time + MINUTE_MS, minute_target, MINUTE_MS):
                self._minutes.append(flat(t, price))
            self._open_minute = flat(minute_target, price)

    # -- reading ------------------------------------------------------------------

    @property
    def now_end(self) -> int:
        """End of the current (open) second: nothing exists from here on."""
        return self._open_second.open_time + SECOND_MS

    def bucket(self, interval: str, open_time: int, offset_ms: int = 0) -> Candle | None:
        """The candle of ``interval`` opening at ``open_time`` (None before history)."""
        end = min(next_bucket(interval, open_time, offset_ms), self.now_end)
        return merge(open_time, self.pieces(open_time, end))

    def current(self, interval: str, offset_ms: int = 0) -> Candle:
        """The open candle of ``interval`` now."""
        start = bucket_start(interval, self._open_second.open_time, offset_ms)
        candle = self.bucket(interval, start, offset_ms)
        assert candle is not None  # the open second always exists
        return candle

    def span(self, t0: int, t1: int) -> Candle | None:
        """The aggregate of ``[t0, t1)`` (stops at now)."""
        return merge(t0, self.pieces(t0, min(t1, self.now_end)))

    def window(self, t0: int) -> Candle | None:
        """The aggregate from the minute ``t0`` to now: rolling tickers ask for it
        every second, so the closed minutes' part is kept until the minute turns."""
        minute = self._open_minute.open_time
        if minute != self._windows_minute:
            self._windows = {}
            self._windows_minute = minute
        if t0 not in self._windows:
            self._windows[t0] = merge(t0, self.pieces(t0, minute))
        closed = self._windows[t0]
        parts = [closed] if closed is not None else []
        return merge(t0, [*parts, *self.pieces(minute, self.now_end)])

    def klines(
        self,
        interval: str,
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        offset_ms: int = 0,
    ) -> list[Candle]:
        """Binance's klines selection: the latest ``limit`` buckets, or from
        ``start_ms`` on, or up to ``end_ms`` (open times inclusive)."""
        newest = bucket_start(interval, self._open_second.open_time, offset_ms)
        if end_ms is not None:
            newest = min(newest, bucket_start(interval, end_ms, offset_ms))
        oldest = bucket_start(interval, self.first_ms, offset_ms)
        out: list[Candle] = []
        if start_ms is not None:
            b = max(bucket_start(interval, start_ms, offset_ms), oldest)
            if b < start_ms:
                b = next_bucket(interval, b, offset_ms)
            while b <= newest and len(out) < limit:
                candle = self.bucket(interval, b, offset_ms)
                if candle is not None:
                    out.append(candle)
                b = next_bucket(interval, b, offset_ms)
            return out
        b = newest
        while b >= oldest and len(out) < limit:
            candle = self.bucket(interval, b, offset_ms)
            if candle is not None:
                out.append(candle)
            b = bucket_start(interval, b - 1, offset_ms)
        out.reverse()
        return out

    def pieces(self, t0: int, t1: int) -> Iterator[Candle]:
        """Stored candles covering ``[t0, t1)`` in time order, coarsest blocks first."""
        t = max(t0, self.first_ms)
        while t < t1:
            for size in _BLOCKS:
                if t % size == 0 and t + size <= t1:
                    block = self._block(size, t)
                    if block is not None:
                        yield block
                    t += size
                    break
            else:
                second = self._second(t)
                if second is not None:
                    yield second
                t += SECOND_MS

    # -- blocks -------------------------------------------------------------------

    def _block(self, size: int, t: int) -> Candle | None:
        if size == MINUTE_MS:
            return self._minute(t)
        if t + size <= self.live_start and self.history is not None:
            if size == DAY_MS:
                return self.history.day(t // DAY_MS)
            quarters = self.history.quarters(t // DAY_MS)
            index = (t % DAY_MS) // QUARTER_MS
            return quarters[index] if index < len(quarters) else None
        key = (size, t)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        finer = QUARTER_MS if size == DAY_MS else MINUTE_MS
        candle = merge(
            t, (b for u in range(t, t + size, finer) if (b := self._block(finer, u)) is not None)
        )
        if candle is not None and t + size <= self._open_minute.open_time:
            self._cache[key] = candle  # closed for good
        return candle

    def _minute(self, t: int) -> Candle | None:
        if t < self.live_start:
            return self.history.minute(t) if self.history is not None else None
        if t == self._open_minute.open_time:
            return self._open_minute
        if not self._minutes or t > self._open_minute.open_time:
            return None
        index = (t - self._minutes[0].open_time) // MINUTE_MS
        return self._minutes[index] if 0 <= index < len(self._minutes) else None

    def _second(self, t: int) -> Candle | None:
        if t == self._open_second.open_time:
            return self._open_second
        if t > self._open_second.open_time:
            return None
        if self._seconds and t >= self._seconds[0].open_time:
            return self._seconds[(t - self._seconds[0].open_time) // SECOND_MS]
        minute_start = t - t % MINUTE_MS
        if minute_start < self.live_start:
            seconds = self.history.seconds(minute_start) if self.history is not None else []
        else:
            seconds = self._refine(minute_start)
        index = (t - minute_start) // SECOND_MS
        return seconds[index] if index < len(seconds) else None

    def _refine(self, minute_start: int) -> list[Candle]:
        cached = self._refined.get(minute_start)
        if cached is not None:
            return cached
        minute = self._minute(minute_start)
        if minute is None:
            return []
        previous = self._minute(minute_start - MINUTE_MS)
        prev_close = previous.close if previous is not None else minute.open
        rng = random.Random(f"{self._seed}:{minute_start}:live-seconds")
        seconds = refine_seconds(minute, prev_close, rng, self._tick, self._step)
        self._refined[minute_start] = seconds
        if len(self._refined) > _REFINED_MINUTES:
            self._refined.popitem(last=False)
        return seconds
