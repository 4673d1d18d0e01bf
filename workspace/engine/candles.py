"""Candles (klines) of the exchange, as the engine serves them (``get_candles`` /
``CANDLES``, ``ws.candles``).

- **live** (:class:`LiveCandles`): the first use of a (symbol, interval) subscribes its
  ``@kline_<interval>`` stream, then backfills from REST (``/api/v3/klines``); from
  then on the stream keeps the series current (exact OHLCV from the exchange's trades).
  A series nobody asked for during ``idle_s`` is dropped and its stream unsubscribed;
  after a gap of the whole feed the series are refilled from REST over the gap.
- **replay** (:class:`RecordedCandles`): the same candles from the recording, as of the
  record being replayed: its own klines when it has that interval's, else merged from
  a finer interval's klines (exact, and as far back as their recorded history), else
  aggregated exactly from its trades.

Values stay exact: every candle is a ``Kline`` record with ``Decimal`` prices.  Memory
is bounded: ``max_candles`` per live series, ``max_series`` series.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from workspace.engine.clock import Clock
from workspace.engine.feed_port import FeedPort
from workspace.errors import InvalidParams
from workspace.market.records import FeedRecord, Kline, Trade
from workspace.market.subscriptions import check_kline_interval
from workspace.sim.candle import FIXED_MS, bucket_start, next_bucket

log = logging.getLogger("workspace.engine")

MAX_LIMIT: Final = 1000
"""PROTOCOL v2: ``get_candles`` ``limit`` at most 1000 (Binance's own maximum)."""
DEFAULT_LIMIT: Final = 500

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


def check_request(interval: object, limit: object) -> tuple[str, int]:
    """A valid (interval, limit), or ``InvalidParams`` saying what is wrong."""
    name = check_kline_interval(interval)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidParams(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return name, limit


def newer(new: Kline, old: Kline) -> bool:
    """Whether ``new`` is a later state of the same candle than ``old``: a closed candle
    is final; a forming one only grows (trades, volume), whichever path (stream or
    REST) brought it, so the order they arrive in does not matter."""
    if old.closed != new.closed:
        return new.closed
    if new.event_time is not None and old.event_time is not None:
        return new.event_time >= old.event_time
    return (new.trade_count, new.volume) >= (old.trade_count, old.volume)


class CandleSeries:
    """The klines of one (symbol, interval) by open time, oldest first, at most
    ``max_candles`` (the oldest go first)."""

    def __init__(self, symbol: str, interval: str, max_candles: int = MAX_LIMIT) -> None:
        self.symbol = symbol
        self.interval = interval
        self.max_candles = max_candles
        self._times: list[int] = []
        self._rows: dict[int, Kline] = {}
        self.last_used = 0.0

    def upsert(self, kline: Kline) -> bool:
        """Add or update a candle; False if it was older than what is kept."""
        time = kline.open_time
        old = self._rows.get(time)
        if old is not None:
            if not newer(kline, old):
                return False
            self._rows[time] = kline
            return True
        times = self._times
        if times and time < times[0] and len(times) >= self.max_candles:
            return False  # older than the window kept
        if not times or time > times[-1]:
            times.append(time)
        else:
            insort(times, time)
        self._rows[time] = kline
        if len(times) > self.max_candles:
            for gone in times[: len(times) - self.max_candles]:
                del self._rows[gone]
            del times[: len(times) - self.max_candles]
        return True

    def last(self, limit: int) -> list[Kline]:
        rows = self._rows
        return [rows[t] for t in self._times[-limit:]]

    def __len__(self) -> int:
        return len(self._times)


@dataclass(slots=True)
class _Loading:
    task: asyncio.Task[None]


class LiveCandles:
    """Live candles: kline streams subscribed on first use, backfilled from REST."""

    def __init__(
        self,
        feed: FeedPort,
        clock: Clock,
        spawn: Spawn,
        *,
        max_candles: int = MAX_LIMIT,
        idle_s: float = 120.0,
        max_series: int = 64,
    ) -> None:
        self._feed = feed
        self._clock = clock
        self._spawn = spawn
        self.max_candles = max_candles
        self.idle_s = idle_s
        self.max_series = max_series
        self._series: dict[tuple[str, str], CandleSeries] = {}
        self._loading: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.backfills = 0
        self.refills = 0

    @property
    def keys(self) -> list[tuple[str, str]]:
        """The (symbol, interval) series kept (loaded or loading)."""
        return list(self._series)

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Kline]:
        """The newest ``limit`` candles (the last one possibly still forming), after a
        backfill on first use.  Raises what the feed raises (``InvalidSymbol`` for a
        symbol the exchange does not list, ``RestError``...)."""
        key = (symbol, interval)
        series = self._series.get(key)
        task = self._loading.get(key)
        if series is None:
            series = self._series[key] = CandleSeries(symbol, interval, self.max_candles)
            task = self._loading[key] = self._spawn(
                self._load(series), f"engine.candles.{symbol}.{interval}"
            )
            task.add_done_callback(_retrieve)
            self._evict()
        series.last_used = self._clock.monotonic()
        if task is not None:
            await asyncio.shield(task)  # a caller that gives up leaves the load running
        return series.last(limit)

    async def _load(self, series: CandleSeries) -> None:
        key = (series.symbol, series.interval)
        try:
            # The stream first: candles that change while REST answers are not missed
            # (the merge rule keeps the later state of each candle).
            await self._feed.subscribe_klines(series.symbol, series.interval)
            rows = await self._feed.klines(series.symbol, series.interval, limit=self.max_candles)
            for row in rows:
                series.upsert(row)
            self.backfills += 1
        except BaseException:
            if self._series.get(key) is series:
                del self._series[key]
                self._spawn(self._unsubscribe(key), f"engine.candles.drop.{key[0]}.{key[1]}")
            raise
        finally:
            self._loading.pop(key, None)

    def on_kline(self, kline: Kline) -> None:
        series = self._series.get((kline.symbol, kline.interval))
        if series is not None:
            series.upsert(kline)

    def refill(self, start_ms: int | None) -> None:
        """The whole feed lost data from ``start_ms``: the candles it touched may have
        missed their last updates; the exchange's REST history has them."""
        if start_ms is None:
            return
        for key, series in list(self._series.items()):
            if key not in self._loading:
                self._spawn(self._refill(series, start_ms), f"engine.candles.refill.{key[0]}")

    async def _refill(self, series: CandleSeries, start_ms: int) -> None:
        try:
            rows = await self._feed.klines(
                series.symbol,
                series.interval,
                limit=self.max_candles,
                start_ms=bucket_start(series.interval, start_ms),
            )
        except Exception as error:
            log.warning(
                "could not refill %s %s candles after a gap: %s",
                series.symbol,
                series.interval,
                error,
            )
            return
        for row in rows:
            series.upsert(row)
        self.refills += 1

    def sweep(self) -> list[tuple[str, str]]:
        """Drop the series nobody asked for during ``idle_s`` (their streams are
        unsubscribed); returns them."""
        now = self._clock.monotonic()
        idle = [
            key
            for key, series in self._series.items()
            if key not in self._loading and now - series.last_used > self.idle_s
        ]
        for key in idle:
            self._drop(key)
        return idle

    def _evict(self) -> None:
        """Beyond ``max_series``, the least recently used series go."""
        excess = len(self._series) - self.max_series
        if excess <= 0:
            return
        ready = sorted(
            (s.last_used, key) for key, s in self._series.items() if key not in self._loading
        )
        for _, key in ready[:excess]:
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        del self._series[key]
        self._spawn(self._unsubscribe(key), f"engine.candles.drop.{key[0]}.{key[1]}")

    async def _unsubscribe(self, key: tuple[str, str]) -> None:
        if key in self._series:
            return  # asked for again meanwhile
        try:
            await self._feed.unsubscribe_klines(*key)
        except Exception as error:
            log.warning("could not unsubscribe the %s %s klines: %s", *key, error)


def _retrieve(task: asyncio.Task[None]) -> None:
    # Its callers get the error; this keeps an abandoned load from warning at exit.
    if not task.cancelled():
        task.exception()


# -- replay -----------------------------------------------------------------------------


@dataclass(slots=True)
class _KlineIndex:
    """One (symbol, interval)'s recorded klines: every update in file order, and per
    open time where its updates are."""

    updates: list[tuple[int, Kline]] = field(default_factory=list)  # (record index, kline)
    times: list[int] = field(default_factory=list)  # open times, sorted
    first: dict[int, int] = field(default_factory=dict)  # open time -> first index
    last: dict[int, tuple[int, Kline]] = field(default_factory=dict)  # -> final update

    def add(self, index: int, kline: Kline) -> None:
        self.updates.append((index, kline))
        time = kline.open_time
        if time not in self.first:
            self.first[time] = index
            insort(self.times, time)
        self.last[time] = (index, kline)

    def as_of(self, position: int, now_ms: int, limit: int) -> list[Kline]:
        """The newest ``limit`` candles known once ``position`` records were replayed:
        each open time's latest update among them."""
        found: list[Kline] = []
        end = bisect_right(self.times, now_ms)
        for time in reversed(self.times[:end]):
            if self.first[time] >= position:
                continue
            index, kline = self.last[time]
            if index >= position:
                kline = self._latest_before(time, position)
            found.append(kline)
            if len(found) == limit:
                break
        found.reverse()
        return found

    def _latest_before(self, time: int, position: int) -> Kline:
        updates = self.updates
        i = bisect_left(updates, position, key=lambda item: item[0]) - 1
        while i >= 0:
            _, kline = updates[i]
            if kline.open_time == time:
                return kline
            i -= 1
        raise AssertionError("an open time's first update is before the position")


@dataclass(slots=True)
class _Trades:
    """One symbol's recorded trades, by (event time, record index)."""

    times: list[int] = field(default_factory=list)
    rows: list[tuple[int, int, Trade]] = field(default_factory=list)  # (time, index, trade)


class RecordedCandles:
    """Candles from a recording, as of the record being replayed (deterministic)."""

    def __init__(self, records: Sequence[FeedRecord]) -> None:
        self._klines: dict[tuple[str, str], _KlineIndex] = {}
        aggregated: dict[str, list[tuple[int, int, Trade]]] = {}
        plain: dict[str, list[tuple[int, int, Trade]]] = {}
        for index, record in enumerate(records):
            if isinstance(record, Kline):
                key = (record.symbol, record.interval)
                bucket = self._klines.get(key)
                if bucket is None:
                    bucket = self._klines[key] = _KlineIndex()
                bucket.add(index, record)
            elif isinstance(record, Trade):
                # Both aggTrade and trade streams may be recorded: counting both would
                # count every trade twice; the aggregated ones win, as on the exchange.
                target = aggregated if record.event_type == "aggTrade" else plain
                target.setdefault(record.symbol, []).append((record.trade_time, index, record))
        self._trades: dict[str, _Trades] = {}
        for symbol, rows in {**plain, **aggregated}.items():
            rows.sort(key=lambda row: (row[0], row[1]))
            self._trades[symbol] = _Trades([row[0] for row in rows], rows)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._trades) | {symbol for symbol, _ in self._klines}

    def source(self, symbol: str, interval: str) -> str:
        """Where ``interval``'s candles come from: ``"klines"`` (recorded),
        ``"klines:<finer>"`` (merged from a finer recorded interval), ``"trades"``
        (aggregated from recorded trades) or ``""`` (nothing to build them from)."""
        if (symbol, interval) in self._klines:
            return "klines"
        finer = self._finer(symbol, interval)
        if finer is not None:
            return f"klines:{finer}"
        return "trades" if symbol in self._trades else ""

    def candles(
        self, symbol: str, interval: str, limit: int, position: int, now_ms: int
    ) -> list[Kline]:
        """The newest ``limit`` candles once ``position`` records were replayed, at data
        time ``now_ms``."""
        recorded = self._klines.get((symbol, interval))
        if recorded is not None:
            return recorded.as_of(position, now_ms, limit)
        finer = self._finer(symbol, interval)
        if finer is not None:
            # The exchange's own finer candles merge exactly (and reach back as far as
            # their recorded history); enough of them to cover ``limit`` buckets.
            base = self._klines[(symbol, finer)]
            per_bucket = _ratio(interval, finer)
            children = base.as_of(position, now_ms, min(len(base.times), limit * per_bucket))
            return _group(symbol, interval, children, now_ms)[-limit:]
        trades = self._trades.get(symbol)
        if trades is not None:
            return self._from_trades(symbol, interval, trades, limit, position, now_ms)
        return []

    def _finer(self, symbol: str, interval: str) -> str | None:
        """The finest recorded interval whose buckets tile ``interval``'s."""
        best: tuple[int, str] | None = None
        for sym, finer in self._klines:
            if sym != symbol or finer == interval or finer not in FIXED_MS:
                continue
            size = FIXED_MS[finer]
            if interval in ("1w", "1M"):
                tiles = size <= FIXED_MS["1d"] and FIXED_MS["1d"] % size == 0
            else:
                whole = FIXED_MS.get(interval)
                tiles = whole is not None and whole % size == 0 and interval != "1w"
            if tiles and (best is None or size < best[0]):
                best = (size, finer)
        return None if best is None else best[1]

    def _from_trades(
        self, symbol: str, interval: str, trades: _Trades, limit: int, position: int, now_ms: int
    ) -> list[Kline]:
        start = bucket_start(interval, now_ms)
        for _ in range(limit - 1):
            start = _previous_bucket(interval, start)
        lo = bisect_left(trades.times, start)
        hi = bisect_right(trades.times, now_ms)
        candles: list[Kline] = []
        builder: _Builder | None = None
        for _, index, trade in trades.rows[lo:hi]:
            if index >= position:
                continue  # recorded, but not replayed yet
            opened = bucket_start(interval, trade.trade_time)
            if builder is None or builder.open_time != opened:
                if builder is not None:
                    candles.append(builder.kline(now_ms))
                builder = _Builder(symbol, interval, opened)
            builder.add(trade)
        if builder is not None:
            candles.append(builder.kline(now_ms))
        return candles[-limit:]


def _ratio(interval: str, finer: str) -> int:
    whole = FIXED_MS.get(interval, 31 * FIXED_MS["1d"])
    return max(1, whole // FIXED_MS[finer] + 1)


def _previous_bucket(interval: str, start_ms: int) -> int:
    return bucket_start(interval, start_ms - 1)


@dataclass(slots=True)
class _Builder:
    """One candle aggregated from trades (or from finer candles)."""

    symbol: str
    interval: str
    open_time: int
    open: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    close: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    count: int = 0
    taker: Decimal = Decimal(0)
    taker_quote: Decimal = Decimal(0)
    first_id: int | None = None
    last_id: int | None = None
    started: bool = False

    def add(self, trade: Trade) -> None:
        price, qty = trade.price, trade.quantity
        self._price(price, price, price, price)
        quote = price * qty
        self.volume += qty
        self.quote += quote
        first = trade.first_trade_id if trade.first_trade_id is not None else trade.trade_id
        last = trade.last_trade_id if trade.last_trade_id is not None else trade.trade_id
        self.count += last - first + 1 if first is not None and last is not None else 1
        if not trade.buyer_is_maker:  # the buyer took liquidity
            self.taker += qty
            self.taker_quote += quote
        self._ids(first, last)

    def merge(self, child: Kline) -> None:
        if child.trade_count == 0 and self.started:
            return  # an idle child is flat at the previous close: nothing traded
        self._price(child.open_price, child.high_price, child.low_price, child.close_price)
        self.volume += child.volume
        self.quote += child.quote_volume
        self.count += child.trade_count
        self.taker += child.taker_buy_volume
        self.taker_quote += child.taker_buy_quote_volume
        if child.trade_count:
            self._ids(child.first_trade_id, child.last_trade_id)

    def _price(self, o: Decimal, h: Decimal, low: Decimal, c: Decimal) -> None:
        if not self.started:
            self.open, self.high, self.low, self.started = o, h, low, True
        else:
            self.high = max(self.high, h)
            self.low = min(self.low, low)
        self.close = c

    def _ids(self, first: int | None, last: int | None) -> None:
        if first is not None and first >= 0 and self.first_id is None:
            self.first_id = first
        if last is not None and last >= 0:
            self.last_id = last

    def kline(self, now_ms: int) -> Kline:
        close_time = next_bucket(self.interval, self.open_time) - 1
        return Kline(
            symbol=self.symbol,
            interval=self.interval,
            open_time=self.open_time,
            close_time=close_time,
            open_price=self.open,
            high_price=self.high,
            low_price=self.low,
            close_price=self.close,
            volume=self.volume,
            quote_volume=self.quote,
            trade_count=self.count,
            taker_buy_volume=self.taker,
            taker_buy_quote_volume=self.taker_quote,
            closed=close_time < now_ms,
            first_trade_id=self.first_id,
            last_trade_id=self.last_id,
        )


def _group(symbol: str, interval: str, children: Iterable[Kline], now_ms: int) -> list[Kline]:
    candles: list[Kline] = []
    builder: _Builder | None = None
    for child in children:
        opened = bucket_start(interval, child.open_time)
        if builder is None or builder.open_time != opened:
            if builder is not None:
                candles.append(builder.kline(now_ms))
            builder = _Builder(symbol, interval, opened)
        builder.merge(child)
    if builder is not None:
        candles.append(builder.kline(now_ms))
    return candles


def wire_candles(klines: Iterable[Kline]) -> list[list[float]]:
    """CANDLES rows: ``[open_time_ms, open, high, low, close, volume]`` as JSON numbers."""
    return [
        [
            k.open_time,
            float(k.open_price),
            float(k.high_price),
            float(k.low_price),
            float(k.close_price),
            float(k.volume),
        ]
        for k in klines
    ]
