"""The random-walk market: a pure, seeded generator of Binance events.

Prices follow a geometric Brownian motion per symbol (annualised volatility from
the :class:`SymbolSpec`), moved only by trades, quoted with a bid/ask spread on the
tick grid.  Behind the
quote sits an L2 order book (:mod:`workspace.sim.book`) that trades hit and other
traders churn; behind the trades a kline store (:mod:`workspace.sim.candles`) joined
to a seeded history that ends exactly where the live walk starts
(:mod:`workspace.sim.history`).

Events happen on fixed grids of simulated times, so the frames depend only on the
seed and the start time, never on when the caller gets round to asking: that is what
makes a run reproducible with an injected clock.

* trades (``@aggTrade``, ``@trade``) every ``trade_interval`` (when one happens);
* the book (``@bookTicker`` when its top changed) every ``book_interval``;
* diff depth (``@depth@100ms``, ``@depth``) and partial depth (``@depth<N>...``)
  every 100 ms and 1000 ms on the same grid;
* each symbol's 24 h and rolling-window tickers (``@ticker``, ``@miniTicker``,
  ``@ticker_<w>``) on its own phase (``start + phase + k * interval``, ``0 < phase
  <= interval``, drawn from the seed: Binance's per-symbol streams are not aligned
  with each other either; ``stagger=False`` aligns them all on ``phase =
  interval``);
* on every UTC second: klines (``1s`` closed every second, other intervals open
  every 2 s and closed at their end, as Binance pushes them), ``@avgPrice`` and the
  ``!...@arr`` arrays of the symbols that traded.

Random draws never depend on subscriptions (``wanted`` only saves building frames
nobody listens to), so subscribing never changes a price, a size or an id.

No I/O and no clock reads: the server asks :meth:`RandomWalkMarket.next_due_ms`,
sleeps until then on its clock, and calls :meth:`RandomWalkMarket.step`.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from workspace.market.records import BookTicker, MarketRecord, MiniTicker, Ticker, Trade
from workspace.sim.book import DepthRecorder, SimBook
from workspace.sim.candle import (
    DAY_MS,
    MINUTE_MS,
    SECOND_MS,
    bucket_start,
    next_bucket,
)
from workspace.sim.candles import CandleStore
from workspace.sim.config import KLINE_INTERVALS, SymbolSpec
from workspace.sim.fixedpoint import (
    SCALE,
    decimal_e8,
    format_decimal,
    format_e8,
    round_to_step,
    to_e8,
)
from workspace.sim.history import HistoryParams, KlineHistory
from workspace.sim.streams import stream_name
from workspace.sim.window import WindowStats, stats_over
from workspace.sim.wire import (
    RawPayload,
    avg_price_payload,
    depth_update_payload,
    encode_record,
    json_array,
    kline_payload,
    partial_depth_payload,
    window_ticker_payload,
)

MS_PER_YEAR = 365 * 86_400_000
# Not every symbol trades on every step: a quiet book is part of a realistic feed.
TRADE_PROBABILITY = 0.7
DEPTH_FAST_MS = 100
DEPTH_SLOW_MS = 1000
AVG_PRICE_MS = 5 * MINUTE_MS
WINDOWS_MS = {"1h": 3_600_000, "4h": 14_400_000, "1d": DAY_MS}
_PARTIAL_LEVELS = (5, 10, 20)
_EIGHT_HOURS_MS = 8 * 3_600_000


@dataclass(frozen=True, slots=True)
class Emission:
    """One event: the stream it belongs to and the record (or payload) it carries."""

    stream: str
    record: MarketRecord | RawPayload


@dataclass(frozen=True, slots=True)
class RecentTrade:
    """A live trade kept for ``/api/v3/trades`` and ``/api/v3/aggTrades``."""

    trade_id: int  # the (last) trade id
    agg_id: int
    price: int
    qty: int
    time_ms: int
    buyer_is_maker: bool
    first_trade_id: int | None = None  # of an aggregate of several trades

    @property
    def first_id(self) -> int:
        return self.first_trade_id if self.first_trade_id is not None else self.trade_id


class _SymbolState:
    def __init__(self, spec: SymbolSpec, book: SimBook, store: CandleStore, memory: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.tick = to_e8(spec.tick_size)
        self.step = to_e8(spec.step_size)
        self.sigma_per_ms = spec.volatility / math.sqrt(MS_PER_YEAR)
        self.mid = float(spec.price)
        self.bid = self.ask = 0
        self.last_qty = 0
        self.trade_id = 0
        self.agg_id = 0
        self.book = book
        self.store = store
        self.trades: deque[RecentTrade] = deque(maxlen=memory)
        self.fast: DepthRecorder | None = None
        self.slow: DepthRecorder | None = None
        self.drop_depth_events = 0
        self.last_top: tuple[int, int, int, int] | None = None
        base = spec.symbol.lower()
        self.names = {
            kind: f"{base}@{kind}"
            for kind in (
                "aggTrade", "trade", "bookTicker", "ticker", "miniTicker", "avgPrice",
                "ticker_1h", "ticker_4h", "ticker_1d", "depth", "depth@100ms",
                "depth@1000ms",
            )
        }  # fmt: skip
        self.partial_fast = [(n, f"{base}@depth{n}@100ms") for n in _PARTIAL_LEVELS]
        self.partial_slow = [
            (n, (f"{base}@depth{n}", f"{base}@depth{n}@1000ms")) for n in _PARTIAL_LEVELS
        ]
        self.klines = [
            (interval, offset, f"{base}@kline_{interval}{suffix}")
            for interval in KLINE_INTERVALS
            for offset, suffix in ((0, ""), (_EIGHT_HOURS_MS, "@+08:00"))
        ]

    def quote(self, spread_ticks: int) -> None:
        """Best bid/ask around the mid on the tick grid, ``spread_ticks`` apart."""
        mid = self.mid * SCALE
        half = spread_ticks * self.tick / 2
        self.bid = max(self.tick, math.floor((mid - half) / self.tick) * self.tick)
        self.ask = self.bid + spread_ticks * self.tick

    def spread_ticks(self) -> int:
        wanted = self.mid * SCALE * self.spec.spread_bps / 10_000
        return max(1, round(wanted / self.tick))


class RandomWalkMarket:
    """Seeded GBM prices, an order book, trades, klines and tickers for a set of symbols."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        rng: random.Random,
        start_ms: int,
        *,
        trade_interval_ms: int = 100,
        book_interval_ms: int = 100,
        ticker_interval_ms: int = 1000,
        stagger: bool = True,
        seed: int = 0,
        book_depth: int = 1000,
        history_days: int = 400,
        trade_memory: int = 5000,
    ) -> None:
        if min(trade_interval_ms, book_interval_ms, ticker_interval_ms) <= 0:
            raise ValueError("intervals must be positive")
        self._rng = rng
        self._now_ms = start_ms
        self.start_ms = start_ms
        self._intervals = {
            "trade": trade_interval_ms,
            "book": book_interval_ms,
            "depth_fast": DEPTH_FAST_MS,
            "depth_slow": DEPTH_SLOW_MS,
            "second": SECOND_MS,
            "ticker": ticker_interval_ms,
        }
        self._next = {
            name: start_ms + every
            for name, every in self._intervals.items()
            if name not in ("second", "ticker")
        }
        # Klines and arrays on whole UTC seconds, like Binance's.
        self._next["second"] = start_ms - start_ms % SECOND_MS + SECOND_MS
        self._trades_per_day = 86_400_000 / trade_interval_ms * TRADE_PROBABILITY
        self._states: dict[str, _SymbolState] = {}
        history_end = start_ms - start_ms % MINUTE_MS
        for spec in specs:
            self._states[spec.symbol] = self._new_state(
                spec, seed, history_end, book_depth, history_days, trade_memory
            )
        # Per-symbol ticker schedule; ``_next["ticker"]`` caches its earliest entry.
        self._ticker_next = {
            symbol: start_ms + ticker_phase_ms(seed, symbol, ticker_interval_ms, stagger)
            for symbol in self._states
        }
        self._next["ticker"] = min(self._ticker_next.values(), default=start_ms)

    def _new_state(
        self,
        spec: SymbolSpec,
        seed: int,
        history_end: int,
        depth: int,
        history_days: int,
        memory: int,
    ) -> _SymbolState:
        rng = self._rng
        tick, step = to_e8(spec.tick_size), to_e8(spec.step_size)
        first_trade_id = rng.randrange(10**7, 10**9)
        first_update_id = rng.randrange(10**9, 10**10)
        params = HistoryParams(
            symbol=spec.symbol,
            seed=seed,
            tick=tick,
            step=step,
            end_price=round_to_step(float(spec.price) * SCALE, tick),
            volatility=spec.volatility,
            daily_volume=to_e8(spec.daily_volume.quantize(Decimal("0.00000001"))),
            trades_per_minute=self._trades_per_day / 1440,
            last_trade_id=first_trade_id - 1,
        )
        store = CandleStore(KlineHistory(params, history_end, history_days), tick=tick, step=step)
        book = SimBook(
            tick=tick,
            step=step,
            level_qty=max(step, to_e8(spec.level_qty().quantize(Decimal("0.00000001")))),
            gap_ticks=spec.book_gap_ticks,
            depth=depth,
            rng=random.Random(f"{seed}:{spec.symbol}:book"),
            first_update_id=first_update_id,
        )
        store.roll(self.start_ms)
        state = _SymbolState(spec, book, store, memory)
        state.trade_id = first_trade_id - 1
        state.agg_id = first_trade_id // 2 - 1  # aggregate ids run behind trade ids
        state.quote(state.spread_ticks())
        book.align(state.bid, state.ask)
        return state

    # -- state --------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._states)

    @property
    def now_ms(self) -> int:
        return self._now_ms

    def spec(self, symbol: str) -> SymbolSpec | None:
        state = self._states.get(symbol)
        return state.spec if state is not None else None

    def specs(self) -> tuple[SymbolSpec, ...]:
        return tuple(state.spec for state in self._states.values())

    def next_due_ms(self) -> int:
        return min(self._next.values())

    def next_ticker_ms(self, symbol: str) -> int:
        """When ``symbol``'s next 24 h ticker is due (ms since the epoch)."""
        return self._ticker_next[symbol]

    def book(self, symbol: str) -> SimBook | None:
        state = self._states.get(symbol)
        return state.book if state is not None else None

    def candles(self, symbol: str) -> CandleStore | None:
        state = self._states.get(symbol)
        return state.store if state is not None else None

    def recent_trades(self, symbol: str) -> Sequence[RecentTrade]:
        state = self._states.get(symbol)
        return tuple(state.trades) if state is not None else ()

    def skip_depth_events(self, symbol: str | None, events: int) -> None:
        """Fault hook: the next ``events`` diff depth events of ``symbol`` (or of every
        symbol) are lost, so subscribers see a gap in the update ids."""
        for state in self._states.values():
            if symbol is None or state.symbol == symbol:
                state.drop_depth_events += events

    def sample_payload(self, symbol: str, kind: str) -> bytes:
        """A valid raw payload of ``<symbol>@<kind>`` now (``aggTrade``, ``trade``,
        ``ticker``, ``miniTicker``, ``bookTicker``): the base of a fault hook's record."""
        state = self._states.get(symbol)
        if state is None:
            raise ValueError(f"unknown symbol {symbol}")
        now = self._now_ms
        record: MarketRecord
        if kind in ("aggTrade", "trade"):
            bid, _ = state.book.best_bid()
            common = {
                "event_time": now,
                "symbol": symbol,
                "price": decimal_e8(bid),
                "quantity": decimal_e8(state.step),
                "trade_time": now,
                "buyer_is_maker": True,
            }
            if kind == "aggTrade":
                record = Trade(
                    event_type="aggTrade",
                    agg_id=state.agg_id + 1,
                    first_trade_id=state.trade_id + 1,
                    last_trade_id=state.trade_id + 1,
                    **common,  # type: ignore[arg-type]
                )
            else:
                record = Trade(event_type="trade", trade_id=state.trade_id + 1, **common)  # type: ignore[arg-type]
        elif kind == "ticker":
            record = self._ticker(state, now)
        elif kind == "miniTicker":
            record = self._mini(state, now)
        elif kind == "bookTicker":
            (bid, bid_qty), (ask, ask_qty) = state.book.best_bid(), state.book.best_ask()
            record = BookTicker(
                update_id=state.book.update_id,
                symbol=symbol,
                bid_price=decimal_e8(bid),
                bid_qty_text=format_e8(bid_qty),
                ask_price=decimal_e8(ask),
                ask_qty_text=format_e8(ask_qty),
            )
        else:
            raise ValueError(f"no sample for stream kind {kind!r}")
        return encode_record(record)

    # -- stepping -----------------------------------------------------------------

    def step(self, wanted: Callable[[str], bool] = lambda _stream: True) -> list[Emission]:
        """Advance to the next due time and return the events happening then.

        ``wanted(stream)`` only saves building records nobody listens to; the random
        draws are the same either way, so subscriptions never change the prices.
        """
        due = self.next_due_ms()
        self._now_ms = due
        out: list[Emission] = []
        nxt = self._next
        if nxt["trade"] == due or nxt["book"] == due:
            self._attach_recorders(wanted)
        if nxt["trade"] == due:
            nxt["trade"] += self._intervals["trade"]
            for state in self._states.values():
                self._trade(state, due, wanted, out)
        if nxt["book"] == due:
            nxt["book"] += self._intervals["book"]
            for state in self._states.values():
                self._book(state, wanted, out)
        if nxt["depth_fast"] == due:
            nxt["depth_fast"] += DEPTH_FAST_MS
            for state in self._states.values():
                self._depth(state, due, wanted, out, fast=True)
        if nxt["depth_slow"] == due:
            nxt["depth_slow"] += DEPTH_SLOW_MS
            for state in self._states.values():
                self._depth(state, due, wanted, out, fast=False)
        if nxt["second"] == due:
            nxt["second"] += SECOND_MS
            self._second(due, wanted, out)
        if nxt["ticker"] == due:  # tickers last, symbols in listing order
            every = self._intervals["ticker"]
            ticker_next = self._ticker_next
            for symbol, state in self._states.items():
                if ticker_next[symbol] == due:
                    ticker_next[symbol] = due + every
                    self._tickers(state, due, wanted, out)
            nxt["ticker"] = min(ticker_next.values())
        return out

    def skip_to(self, now_ms: int) -> None:
        """Jump over a long gap (a laptop that slept) without generating its events.

        Prices make one GBM move for the whole gap, so they have moved on as much as
        they would have; the book follows, candles of the gap are empty; the schedules
        stay on their grid.
        """
        if now_ms <= self._now_ms:
            return
        gap = now_ms - self._now_ms
        for name in ("trade", "book", "depth_fast", "depth_slow", "second"):
            self._next[name] = _after(self._next[name], now_ms, self._intervals[name])
        every = self._intervals["ticker"]
        for symbol, due in self._ticker_next.items():
            self._ticker_next[symbol] = _after(due, now_ms, every)
        self._next["ticker"] = min(self._ticker_next.values(), default=now_ms)
        for state in self._states.values():
            sigma = state.sigma_per_ms
            shock = sigma * math.sqrt(gap) * self._rng.gauss(0, 1)
            state.mid *= math.exp(-0.5 * sigma * sigma * gap + shock)
            state.quote(state.spread_ticks())
            state.book.align(state.bid, state.ask)
            state.book.maintain()
            state.store.roll(now_ms)
        self._now_ms = now_ms

    # -- queries (REST) -----------------------------------------------------------

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None:
        """The 24 h ticker of ``symbol`` at ``now_ms`` (REST ``/api/v3/ticker/24hr``)."""
        state = self._states.get(symbol)
        return self._ticker(state, max(now_ms, self._now_ms)) if state is not None else None

    def window_stats(self, symbol: str, window_ms: int, now_ms: int) -> WindowStats | None:
        """Rolling window statistics (``/api/v3/ticker``, ``@ticker_<w>``): the window
        opens on the minute, closes now."""
        state = self._states.get(symbol)
        if state is None:
            return None
        now = max(now_ms, self._now_ms)
        start = now - window_ms
        return stats_over(state.store, start - start % MINUTE_MS, now, start - start % MINUTE_MS)

    def avg_price(self, symbol: str) -> tuple[int, int] | None:
        """Binance's 5-minute average price and the last trade's time."""
        state = self._states.get(symbol)
        if state is None:
            return None
        return self._avg_price(state)

    # -- events -------------------------------------------------------------------

    def _attach_recorders(self, wanted: Callable[[str], bool]) -> None:
        for state in self._states.values():
            names = state.names
            fast = wanted(names["depth@100ms"])
            slow = wanted(names["depth"]) or wanted(names["depth@1000ms"])
            book = state.book
            if fast and state.fast is None:
                state.fast = DepthRecorder()
                book.recorders.append(state.fast)
            elif not fast and state.fast is not None:
                book.recorders.remove(state.fast)
                state.fast = None
            if slow and state.slow is None:
                state.slow = DepthRecorder()
                book.recorders.append(state.slow)
            elif not slow and state.slow is not None:
                book.recorders.remove(state.slow)
                state.slow = None

    def _trade(
        self, state: _SymbolState, now: int, wanted: Callable[[str], bool], out: list[Emission]
    ) -> None:
        rng = self._rng
        if rng.random() >= TRADE_PROBABILITY:
            return
        # The price moves only with a trade, as a taker moves it on the exchange: the
        # last trade then stays between the best bid and ask until the next one (a
        # quote that drifted off on its own left the ladder's last trade outside the
        # spread).  The steps that trade carry the whole variance: each spans
        # 1 / TRADE_PROBABILITY of a step on average, so the volatility is the spec's.
        dt = self._intervals["trade"] / TRADE_PROBABILITY
        sigma = state.sigma_per_ms
        state.mid *= math.exp(-0.5 * sigma * sigma * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1))
        state.quote(state.spread_ticks())
        state.book.align(state.bid, state.ask)
        taker_buys = rng.random() < 0.5
        mean_qty = float(state.spec.daily_volume) * SCALE / self._trades_per_day
        wanted_qty = round_to_step(mean_qty * rng.lognormvariate(-0.5, 1.0), state.step)
        # One print at one price: at most what the best level holds.
        price, qty = state.book.take(taker_buys, wanted_qty)
        state.trade_id += 1
        state.agg_id += 1
        state.last_qty = qty
        state.store.add_trade(now, price, qty, state.trade_id, taker_buys)
        state.trades.append(
            RecentTrade(state.trade_id, state.agg_id, price, qty, now, not taker_buys)
        )
        common = {
            "event_time": now,
            "symbol": state.symbol,
            "price": decimal_e8(price),
            "quantity": decimal_e8(qty),
            "trade_time": now,
            "buyer_is_maker": not taker_buys,
        }
        if wanted(state.names["aggTrade"]):
            record = Trade(
                event_type="aggTrade",
                agg_id=state.agg_id,
                first_trade_id=state.trade_id,
                last_trade_id=state.trade_id,
                **common,  # type: ignore[arg-type]
            )
            out.append(Emission(state.names["aggTrade"], record))
        if wanted(state.names["trade"]):
            record = Trade(event_type="trade", trade_id=state.trade_id, **common)  # type: ignore[arg-type]
            out.append(Emission(state.names["trade"], record))

    def _book(
        self, state: _SymbolState, wanted: Callable[[str], bool], out: list[Emission]
    ) -> None:
        book = state.book
        book.churn()
        book.align(state.bid, state.ask)
        book.maintain()
        bid, bid_qty = book.best_bid()
        ask, ask_qty = book.best_ask()
        top = (bid, bid_qty, ask, ask_qty)
        if top == state.last_top:
            return  # Binance pushes a book ticker when the top changes
        state.last_top = top
        if wanted(state.names["bookTicker"]):
            record = BookTicker(
                update_id=book.update_id,
                symbol=state.symbol,
                bid_price=decimal_e8(bid),
                bid_qty_text=format_e8(bid_qty),
                ask_price=decimal_e8(ask),
                ask_qty_text=format_e8(ask_qty),
            )
            out.append(Emission(state.names["bookTicker"], record))

    def _depth(
        self,
        state: _SymbolState,
        now: int,
        wanted: Callable[[str], bool],
        out: list[Emission],
        *,
        fast: bool,
    ) -> None:
        recorder = state.fast if fast else state.slow
        if recorder is not None and not recorder.empty:
            first, last, bids, asks = recorder.take()
            if state.drop_depth_events > 0:
                state.drop_depth_events -= 1  # lost on the way: a gap in U..u
            else:
                payload = RawPayload(
                    depth_update_payload(now, state.symbol, first, last, bids, asks)
                )
                names = (
                    (state.names["depth@100ms"],)
                    if fast
                    else (state.names["depth"], state.names["depth@1000ms"])
                )
                for name in names:
                    if wanted(name):
                        out.append(Emission(name, payload))
        book = state.book
        if fast:
            for levels, name in state.partial_fast:
                if wanted(name):
                    data = partial_depth_payload(
                        book.update_id, book.bids(levels), book.asks(levels)
                    )
                    out.append(Emission(name, RawPayload(data)))
        else:
            for levels, names in state.partial_slow:
                chosen = [name for name in names if wanted(name)]
                if chosen:
                    data = partial_depth_payload(
                        book.update_id, book.bids(levels), book.asks(levels)
                    )
                    out.extend(Emission(name, RawPayload(data)) for name in chosen)

    def _second(self, now: int, wanted: Callable[[str], bool], out: list[Emission]) -> None:
        even = (now // SECOND_MS) % 2 == 0
        minis: list[bytes] = []
        window_arrays: dict[str, list[bytes]] = {w: [] for w in WINDOWS_MS}
        want_minis = wanted("!miniTicker@arr") or wanted("!miniTicker@arr@1000ms")
        want_windows = {w: wanted(f"!ticker_{w}@arr") for w in WINDOWS_MS}
        for state in self._states.values():
            store = state.store
            store.roll(now)
            for interval, offset, name in state.klines:
                if not wanted(name):
                    continue
                payload = _kline_event(store, state.symbol, interval, offset, now, even)
                if payload is not None:
                    out.append(Emission(name, RawPayload(payload)))
            if wanted(state.names["avgPrice"]):
                price, last_ms = self._avg_price(state)
                data = avg_price_payload(now, state.symbol, price, last_ms)
                out.append(Emission(state.names["avgPrice"], RawPayload(data)))
            traded = store.last_trade_ms is not None and store.last_trade_ms >= now - SECOND_MS
            if not traded:
                continue  # Binance's arrays list the symbols that changed
            if want_minis:
                minis.append(encode_record(self._mini(state, now)))
            for window, on in want_windows.items():
                if on:
                    stats = self.window_stats(state.symbol, WINDOWS_MS[window], now)
                    assert stats is not None
                    window_arrays[window].append(
                        window_ticker_payload(f"{window}Ticker", now, state.symbol, stats)
                    )
        if minis:
            array = RawPayload(json_array(minis))
            for name in ("!miniTicker@arr", "!miniTicker@arr@1000ms"):
                if wanted(name):
                    out.append(Emission(name, array))
        for window, payloads in window_arrays.items():
            if payloads:
                out.append(Emission(f"!ticker_{window}@arr", RawPayload(json_array(payloads))))

    def _tickers(
        self, state: _SymbolState, now: int, wanted: Callable[[str], bool], out: list[Emission]
    ) -> None:
        if wanted(state.names["ticker"]):
            out.append(Emission(state.names["ticker"], self._ticker(state, now)))
        if wanted(state.names["miniTicker"]):
            out.append(Emission(state.names["miniTicker"], self._mini(state, now)))
        for window, window_ms in WINDOWS_MS.items():
            name = state.names[f"ticker_{window}"]
            if wanted(name):
                stats = self.window_stats(state.symbol, window_ms, now)
                assert stats is not None
                data = window_ticker_payload(f"{window}Ticker", now, state.symbol, stats)
                out.append(Emission(name, RawPayload(data)))

    def _day_stats(self, state: _SymbolState, now: int) -> WindowStats:
        start = now - DAY_MS
        return stats_over(state.store, start - start % MINUTE_MS, now, start)

    def _mini(self, state: _SymbolState, now: int) -> MiniTicker:
        stats = self._day_stats(state, now)
        return MiniTicker(
            event_type="24hrMiniTicker",
            event_time=now,
            symbol=state.symbol,
            last_price=stats.last,
            open_price_text=format_decimal(stats.open),
            high_price_text=format_decimal(stats.high),
            low_price_text=format_decimal(stats.low),
            volume_text=format_decimal(stats.volume),
            quote_volume_text=format_decimal(stats.quote_volume),
        )

    def _ticker(self, state: _SymbolState, now: int) -> Ticker:
        stats = self._day_stats(state, now)
        bid, bid_qty = state.book.best_bid()
        ask, ask_qty = state.book.best_ask()
        return Ticker(
            event_type="24hrTicker",
            event_time=now,
            symbol=state.symbol,
            price_change_text=format_decimal(stats.price_change),
            price_change_percent_text=format_decimal(stats.price_change_percent),
            weighted_avg_price_text=format_decimal(stats.weighted_avg),
            prev_close_price_text=format_decimal(stats.prev_close),
            last_price=stats.last,
            last_quantity_text=format_e8(state.last_qty),
            bid_price=decimal_e8(bid),
            bid_qty_text=format_e8(bid_qty),
            ask_price=decimal_e8(ask),
            ask_qty_text=format_e8(ask_qty),
            open_price_text=format_decimal(stats.open),
            high_price_text=format_decimal(stats.high),
            low_price_text=format_decimal(stats.low),
            volume=stats.volume,
            quote_volume_text=format_decimal(stats.quote_volume),
            open_time=stats.open_time,
            close_time=stats.close_time,
            first_trade_id=stats.first_id,
            last_trade_id=stats.last_id,
            trade_count=stats.count,
        )

    def _avg_price(self, state: _SymbolState) -> tuple[int, int]:
        store = state.store
        now = self._now_ms
        start = now - AVG_PRICE_MS
        candle = store.window(start - start % MINUTE_MS)
        last_ms = store.last_trade_ms if store.last_trade_ms is not None else store.live_start
        if candle is None or candle.volume == 0:
            return store.last_price, last_ms
        average = candle.quote_volume * SCALE // candle.volume
        return min(max(average, candle.low), candle.high), last_ms


def _kline_event(
    store: CandleStore, symbol: str, interval: str, offset: int, now: int, even: bool
) -> bytes | None:
    """The kline event due at the whole second ``now``: a bucket that just closed, or
    (every 2 s; every second for 1s klines, which only ever send closed ones) the open
    one."""
    previous = bucket_start(interval, now - 1, offset)
    if previous != bucket_start(interval, now, offset):
        candle = store.bucket(interval, previous, offset)
        closed = True
    elif interval != "1s" and even:
        candle = store.bucket(interval, previous, offset)
        closed = False
    else:
        return None
    if candle is None:
        return None
    close_time = next_bucket(interval, candle.open_time, offset) - 1
    return kline_payload(now, symbol, interval, candle, close_time, closed)


def ticker_phase_ms(seed: int, symbol: str, interval_ms: int, stagger: bool = True) -> int:
    """The offset of ``symbol``'s first ticker from the start, in ``1..interval_ms``.

    Drawn from its own generator (seeded by seed and symbol, not by the walk's
    generator), so staggering never changes a price, and a symbol keeps its phase
    whatever the other symbols are."""
    if not stagger:
        return interval_ms
    return random.Random(f"{seed}:{symbol}:ticker").randint(1, interval_ms)


def _after(due: int, now_ms: int, every: int) -> int:
    """The first time of ``due``'s grid that is after ``now_ms`` (``due`` if it is)."""
    behind = now_ms - due
    return due + (behind // every + 1) * every if behind >= 0 else due


__all__ = ["Emission", "RandomWalkMarket", "RecentTrade", "stream_name", "ticker_phase_ms"]
