"""Seeded kline history before the simulator starts, ending exactly at the live price.

One symbol's history is a random walk in minute steps, generated **backwards** from
the moment the live walk starts (its price there is the configured one, so history
and live prices join without a jump), one UTC day at a time and only as far back as
somebody asks.  A day is a pure function of ``(seed, symbol, day)`` and the price at
its end, so any day's minutes can be regenerated on demand without keeping them: what
is kept per day is its 96 quarter-hour candles (for every interval from 15m up) and
its boundary (closing price, last trade id).

Per minute: a GBM step with the symbol's volatility (times a per-day volatility
factor, so quiet and busy days alternate), an intra-minute excursion for the wicks,
a lognormal volume around ``daily_volume / 1440`` and a trade count around the live
walk's rate, a taker-buy share, trade ids counting backwards from the live walk's
first id.  Prices are tick-rounded, volumes step-rounded, all exact integers (1e-8
units); quote volume is the minute's typical price times its volume (an estimate
Binance would compute from the trades; here it is defined so, and every coarser
candle sums it exactly).

Seconds (``1s`` klines) are refined from their minute by :func:`refine_seconds`: 60
candles whose aggregate is the minute exactly (open, high, low, close, volume, count,
ids, taker volume, quote volume), with the prices on a little path inside the
minute's range.  The live store uses the same refinement for live minutes whose
seconds are no longer kept.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from workspace.sim.candle import DAY_MS, MINUTE_MS, QUARTER_MS, SECOND_MS, Candle, flat, merge
from workspace.sim.fixedpoint import SCALE

_MINUTES_PER_DAY = DAY_MS // MINUTE_MS
_QUARTERS_PER_DAY = DAY_MS // QUARTER_MS
_MINUTES_PER_YEAR = 365 * _MINUTES_PER_DAY
_CACHED_DAYS_OF_MINUTES = 8


@dataclass(frozen=True, slots=True)
class HistoryParams:
    """What a symbol's history is made of (e8 integers where amounts)."""

    symbol: str
    seed: int
    tick: int
    step: int
    end_price: int
    volatility: float
    daily_volume: int
    trades_per_minute: float
    last_trade_id: int


@dataclass(slots=True)
class _Day:
    index: int
    close: int  # the price at the end of the day (= next day's first open)
    last_id: int
    first_id: int
    open: int
    minutes: int  # 1440, or fewer for the day the history ends in
    quarters: list[Candle]
    candle: Candle


class KlineHistory:
    """The history of one symbol, generated lazily backwards from ``end_ms``."""

    def __init__(self, params: HistoryParams, end_ms: int, days: int) -> None:
        if end_ms % MINUTE_MS:
            raise ValueError("history ends on a minute boundary")
        self.params = params
        self.end_ms = end_ms
        last_day = (end_ms - 1) // DAY_MS
        self.start_ms = (last_day - days + 1) * DAY_MS
        self._first_day = last_day - days + 1
        self._last_day = last_day
        self._days: dict[int, _Day] = {}
        self._oldest = last_day + 1  # days >= _oldest are generated
        self._minutes_cache: OrderedDict[int, list[Candle]] = OrderedDict()
        digest = hashlib.sha256(f"{params.seed}:{params.symbol}:klines".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big")

    # -- reading ----------------------------------------------------------------

    def has(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms

    def day(self, day_index: int) -> Candle | None:
        found = self._day(day_index)
        return found.candle if found is not None else None

    def quarters(self, day_index: int) -> list[Candle]:
        found = self._day(day_index)
        return found.quarters if found is not None else []

    def minutes(self, day_index: int) -> list[Candle]:
        """Every minute candle of a day (fewer for the last, partial day)."""
        cached = self._minutes_cache.get(day_index)
        if cached is not None:
            self._minutes_cache.move_to_end(day_index)
            return cached
        found = self._day(day_index)
        if found is None:
            return []
        minutes = self._minutes_of(found)
        self._minutes_cache[day_index] = minutes
        if len(self._minutes_cache) > _CACHED_DAYS_OF_MINUTES:
            self._minutes_cache.popitem(last=False)
        return minutes

    def minute(self, t_ms: int) -> Candle | None:
        if not self.has(t_ms):
            return None
        day = t_ms // DAY_MS
        return self.minutes(day)[(t_ms - day * DAY_MS) // MINUTE_MS]

    def seconds(self, minute_ms: int) -> list[Candle]:
        """The 60 ``1s`` candles of a history minute."""
        minute = self.minute(minute_ms)
        if minute is None:
            return []
        previous = self.minute(minute_ms - MINUTE_MS)
        prev_close = previous.close if previous is not None else minute.open
        rng = self._rng_for("s", minute_ms)
        return refine_seconds(minute, prev_close, rng, self.params.tick, self.params.step)

    # -- generation -------------------------------------------------------------

    def _day(self, day_index: int) -> _Day | None:
        if not self._first_day <= day_index <= self._last_day:
            return None
        while self._oldest > day_index:
            self._generate_previous_day()
        return self._days[day_index]

    def _generate_previous_day(self) -> None:
        index = self._oldest - 1
        if index == self._last_day:
            close = self.params.end_price
            last_id = self.params.last_trade_id
            count = (self.end_ms - index * DAY_MS) // MINUTE_MS
        else:
            after = self._days[index + 1]
            close, last_id, count = after.open, after.first_id - 1, _MINUTES_PER_DAY
        arrays = self._generate(index, close, last_id, count)
        quarters = _quarters(arrays, index * DAY_MS)
        day_candle = merge(index * DAY_MS, quarters)
        assert day_candle is not None
        self._days[index] = _Day(
            index=index,
            close=close,
            last_id=last_id,
            first_id=int(arrays.first_ids[0]),
            open=int(arrays.opens[0]),
            minutes=count,
            quarters=quarters,
            candle=day_candle,
        )
        self._oldest = index

    def _rng_for(self, kind: str, value: int) -> random.Random:
        return random.Random(f"{self._key}:{kind}:{value}")

    def _minutes_of(self, day: _Day) -> list[Candle]:
        a = self._generate(day.index, day.close, day.last_id, day.minutes)
        start = day.index * DAY_MS
        columns = zip(
            a.opens.tolist(), a.highs.tolist(), a.lows.tolist(), a.closes.tolist(),
            a.volumes.tolist(), a.quotes.tolist(), a.counts.tolist(), a.first_ids.tolist(),
            a.last_ids.tolist(), a.takers.tolist(), a.taker_quotes.tolist(), strict=True,
        )  # fmt: skip
        return [Candle(start + i * MINUTE_MS, *row) for i, row in enumerate(columns)]

    def _generate(self, day_index: int, close: int, last_id: int, count: int) -> _Minutes:
        """The ``count`` minutes of a day that ends at ``close`` with trade ``last_id``."""
        p = self.params
        rng = np.random.default_rng([self._key, day_index & 0xFFFFFFFF, 1])
        sigma = p.volatility / math.sqrt(_MINUTES_PER_YEAR) * float(rng.lognormal(0.0, 0.3))
        shocks = rng.standard_normal(count) * sigma
        # Backwards from the close: log price at the start of minute i.
        log_close = math.log(close / SCALE)
        logs = np.empty(count + 1)
        logs[count] = log_close
        logs[:count] = log_close - np.cumsum(shocks[::-1])[::-1]
        ticks = np.maximum(1, np.rint(np.exp(logs) * (SCALE / p.tick))).astype(np.int64)
        ticks[count] = close // p.tick
        opens, closes = ticks[:-1], ticks[1:]
        wick = sigma * 0.6
        up = np.exp(np.abs(rng.standard_normal(count)) * wick)
        down = np.exp(-np.abs(rng.standard_normal(count)) * wick)
        top = np.maximum(opens, closes)
        bottom = np.minimum(opens, closes)
        highs = np.maximum(np.rint(top * up).astype(np.int64), top)
        lows = np.clip(np.rint(bottom * down).astype(np.int64), 1, bottom)
        mean_volume = p.daily_volume / _MINUTES_PER_DAY / p.step
        volumes = np.maximum(1, np.rint(mean_volume * rng.lognormal(-0.18, 0.6, count)))
        volumes = volumes.astype(np.int64)
        counts = np.maximum(1, np.rint(p.trades_per_minute * rng.lognormal(-0.08, 0.4, count)))
        counts = np.minimum(counts.astype(np.int64), volumes)  # a trade moves >= one step
        takers = np.rint(volumes * rng.uniform(0.3, 0.7, count)).astype(np.int64)
        typical = (opens + highs + lows + closes).astype(np.float64) * (p.tick / 4 / SCALE)
        volumes = volumes * p.step
        takers = takers * p.step
        quotes = np.floor(typical * volumes.astype(np.float64)).astype(np.int64)
        taker_quotes = np.floor(quotes * (takers / volumes)).astype(np.int64)
        taker_quotes = np.minimum(taker_quotes, quotes)
        last_ids = last_id - np.concatenate(([0], np.cumsum(counts[::-1])[:-1]))[::-1]
        first_ids = last_ids - counts + 1
        return _Minutes(
            opens * p.tick, highs * p.tick, lows * p.tick, closes * p.tick, volumes, quotes,
            counts, first_ids, last_ids, takers, taker_quotes,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Minutes:
    """A day's minutes as columns (numpy int64)."""

    opens: np.ndarray
    highs: np.ndarray
    lows: np.ndarray
    closes: np.ndarray
    volumes: np.ndarray
    quotes: np.ndarray
    counts: np.ndarray
    first_ids: np.ndarray
    last_ids: np.ndarray
    takers: np.ndarray
    taker_quotes: np.ndarray


def _quarters(a: _Minutes, day_start: int) -> list[Candle]:
    """Quarter-hour aggregates of a day's minutes (the last one partial if the day is)."""
    per = QUARTER_MS // MINUTE_MS
    count = len(a.opens)
    starts = np.arange(0, count, per)
    ends = np.minimum(starts + per, count) - 1

    def total(column: np.ndarray) -> list[int]:
        return [int(x) for x in np.add.reduceat(column, starts)]

    highs = np.maximum.reduceat(a.highs, starts)
    lows = np.minimum.reduceat(a.lows, starts)
    rows = zip(
        a.opens[starts].tolist(), highs.tolist(), lows.tolist(), a.closes[ends].tolist(),
        total(a.volumes), total(a.quotes), total(a.counts), a.first_ids[starts].tolist(),
        a.last_ids[ends].tolist(), total(a.takers), total(a.taker_quotes), strict=True,
    )  # fmt: skip
    return [Candle(day_start + i * QUARTER_MS, *row) for i, row in enumerate(rows)]


def refine_seconds(
    minute: Candle, prev_close: int, rng: random.Random, tick: int, step: int
) -> list[Candle]:
    """60 one-second candles whose aggregate is exactly ``minute``.

    Trades fall in a random subset of the seconds (seconds without trades are flat at
    the previous close, with ids -1, as Binance sends them); the price walks from the
    minute's open to its close through the traded seconds, the high and the low are
    each reached in one of them, and nothing leaves the minute's range.
    """
    start = minute.open_time
    if minute.count == 0:
        return [flat(start + i * SECOND_MS, minute.close) for i in range(60)]
    steps = max(1, minute.volume // step)
    active = min(60, minute.count, steps)
    if active > 1 and minute.count >= 60:
        active = rng.randint(max(1, min(40, active)), active)
    seconds = sorted(rng.sample(range(60), active))
    counts = _split_units(minute.count, active, rng)
    volumes = [units * step for units in _split_units(steps, active, rng)]
    volumes[-1] += minute.volume - steps * step  # a volume not on the step grid
    # The price path: one point per traded second, pinned at open and close.
    low, high = minute.low, minute.high
    path = [minute.open]
    spread = max(1, high - low)
    for i in range(1, active):
        target = minute.open + (minute.close - minute.open) * i / active
        jitter = rng.gauss(0.0, spread / 6)
        path.append(min(high, max(low, round(target + jitter))))
    path.append(minute.close)
    path = [low + (p - low) // tick * tick for p in path[:-1]] + [minute.close]
    path[0] = minute.open
    at_high = rng.randrange(active)
    at_low = rng.randrange(active)
    out: list[Candle] = []
    traded = dict(zip(seconds, range(active), strict=True))
    next_id = minute.first_id
    previous = prev_close
    for second in range(60):
        t = start + second * SECOND_MS
        slot = traded.get(second)
        if slot is None:
            out.append(flat(t, previous))
            continue
        o, c = path[slot], path[slot + 1]
        h = high if slot == at_high else max(o, c)
        lo = low if slot == at_low else min(o, c)
        n = counts[slot]
        out.append(Candle(t, o, h, lo, c, volumes[slot], 0, n, next_id, next_id + n - 1))
        next_id += n
        previous = c
    _split_quotes([c for c in out if c.count], minute)
    return out


def _split_units(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` (>= parts) in ``parts`` random positive integers that add up exactly."""
    if parts <= 1:
        return [total]
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _split_quotes(children: list[Candle], parent: Candle) -> None:
    """Quote and taker volumes of ``children`` adding up exactly to the parent's, each
    child's taker volume within its volume and taker quote within its quote volume."""
    weights = [c.volume * (c.open + c.high + c.low + c.close) for c in children]
    quotes = _proportional(parent.quote_volume, weights, None)
    for child, quote in zip(children, quotes, strict=True):
        child.quote_volume = quote
    takers = _proportional(
        parent.taker_volume, [c.volume for c in children], [c.volume for c in children]
    )
    for child, taker in zip(children, takers, strict=True):
        child.taker_volume = taker
    taker_quotes = _proportional(parent.taker_quote, takers, [c.quote_volume for c in children])
    for child, taker_quote in zip(children, taker_quotes, strict=True):
        child.taker_quote = taker_quote


def _proportional(total: int, weights: list[int], caps: list[int] | None) -> list[int]:
    """``total`` split in proportion to ``weights`` (floors, then the remainder handed
    out in order), never above ``caps``; the shares add up to ``total`` exactly when
    the caps allow it."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights = [1] * len(weights)
        weight_sum = len(weights)
    shares = [total * w // weight_sum for w in weights]
    if caps is not None:
        shares = [min(s, c) for s, c in zip(shares, caps, strict=True)]
    left = total - sum(shares)
    for index in range(len(shares)):
        if left <= 0:
            break
        room = left if caps is None else min(left, caps[index] - shares[index])
        shares[index] += room
        left -= room
    return shares
