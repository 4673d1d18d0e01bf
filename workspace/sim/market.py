"""The random-walk market: a pure, seeded generator of Binance events.

Prices follow a geometric Brownian motion per symbol (annualised volatility from
the :class:`SymbolSpec`), quoted with a bid/ask spread rounded to the tick size.
Events happen on a fixed grid of simulated times (``start + k * interval``), so the
frames depend only on the seed and the start time, never on when the caller gets
round to asking: that is what makes a run reproducible with an injected clock.

Each symbol's 24 h ticker has its own phase on that grid (``start + phase + k *
interval``, ``0 < phase <= interval``), drawn from the seed: Binance's per-symbol
``@ticker`` streams are not aligned with each other either, and aligned tickers
would hit every consumer with one burst of every symbol at once.  ``stagger=False``
aligns them all on ``phase = interval``.

No I/O and no clock reads: the server asks :meth:`RandomWalkMarket.next_due_ms`,
sleeps until then on its clock, and calls :meth:`RandomWalkMarket.step`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workspace.market.records import BookTicker, MarketRecord, MiniTicker, Ticker, Trade
from workspace.sim.config import SymbolSpec
from workspace.sim.fixedpoint import SCALE, decimal_e8, round_to_step, to_e8
from workspace.sim.streams import stream_name
from workspace.sim.window import MINUTE_MS, Bucket, RollingWindow

MS_PER_YEAR = 365 * 86_400_000
HISTORY_MINUTES = 1440
# Not every symbol trades on every step: a quiet book is part of a realistic feed.
TRADE_PROBABILITY = 0.7


@dataclass(frozen=True, slots=True)
class Emission:
    """One event: the stream it belongs to and the record it carries."""

    stream: str
    record: MarketRecord


class _SymbolState:
    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.tick = to_e8(spec.tick_size)
        self.step = to_e8(spec.step_size)
        self.sigma_per_ms = spec.volatility / math.sqrt(MS_PER_YEAR)
        self.mid = float(spec.price)
        self.window = RollingWindow()
        self.bid = self.ask = self.bid_qty = self.ask_qty = 0
        self.last_qty = 0
        self.trade_id = 0
        self.agg_id = 0
        self.book_id = 0
        self.names = {
            kind: stream_name(spec.symbol, kind)
            for kind in ("aggTrade", "trade", "bookTicker", "ticker", "miniTicker")
        }

    def mean_qty(self, trades_per_day: float) -> float:
        return float(self.spec.daily_volume) * SCALE / trades_per_day

    def quote(self, rng: random.Random, mean_qty: float) -> None:
        """Best bid/ask around the mid: at least one tick apart, spread_bps wide."""
        half = max(self.tick / 2, self.mid * SCALE * self.spec.spread_bps / 20_000)
        mid = self.mid * SCALE
        self.bid = max(self.tick, math.floor((mid - half) / self.tick) * self.tick)
        self.ask = max(self.bid + self.tick, math.ceil((mid + half) / self.tick) * self.tick)
        self.bid_qty = round_to_step(mean_qty * rng.lognormvariate(0, 1), self.step)
        self.ask_qty = round_to_step(mean_qty * rng.lognormvariate(0, 1), self.step)


class RandomWalkMarket:
    """Seeded GBM prices, trades, book tops and 24 h tickers for a set of symbols."""

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
    ) -> None:
        if min(trade_interval_ms, book_interval_ms, ticker_interval_ms) <= 0:
            raise ValueError("intervals must be positive")
        self._rng = rng
        self._now_ms = start_ms
        self._intervals = {
            "trade": trade_interval_ms,
            "book": book_interval_ms,
            "ticker": ticker_interval_ms,
        }
        self._next = {name: start_ms + every for name, every in self._intervals.items()}
        self._states = {spec.symbol: _SymbolState(spec) for spec in specs}
        # Per-symbol ticker schedule; ``_next["ticker"]`` caches its earliest entry.
        self._ticker_next = {
            symbol: start_ms + ticker_phase_ms(seed, symbol, ticker_interval_ms, stagger)
            for symbol in self._states
        }
        self._next["ticker"] = min(self._ticker_next.values(), default=start_ms)
        self._trades_per_day = 86_400_000 / trade_interval_ms * TRADE_PROBABILITY
        for state in self._states.values():
            self._seed_history(state, start_ms)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._states)

    @property
    def now_ms(self) -> int:
        return self._now_ms

    def spec(self, symbol: str) -> SymbolSpec | None:
        state = self._states.get(symbol)
        return state.spec if state is not None else None

    def next_due_ms(self) -> int:
        return min(self._next.values())

    def next_ticker_ms(self, symbol: str) -> int:
        """When ``symbol``'s next 24 h ticker is due (ms since the epoch)."""
        return self._ticker_next[symbol]

    def step(self, wanted: Callable[[str], bool] = lambda _stream: True) -> list[Emission]:
        """Advance to the next due time and return the events happening then.

        ``wanted(stream)`` only saves building records nobody listens to; the random
        draws are the same either way, so subscriptions never change the prices.
        """
        due = self.next_due_ms()
        self._now_ms = due
        out: list[Emission] = []
        for schedule in ("trade", "book"):  # fixed order for equal times
            if self._next[schedule] != due:
                continue
            self._next[schedule] += self._intervals[schedule]
            for state in self._states.values():
                if schedule == "trade":
                    self._trade(state, due, wanted, out)
                else:
                    self._book(state, wanted, out)
        if self._next["ticker"] == due:  # tickers last, symbols in listing order
            every = self._intervals["ticker"]
            ticker_next = self._ticker_next
            for symbol, state in self._states.items():
                if ticker_next[symbol] == due:
                    ticker_next[symbol] = due + every
                    self._tickers(state, due, wanted, out)
            self._next["ticker"] = min(ticker_next.values())
        return out

    def skip_to(self, now_ms: int) -> None:
        """Jump over a long gap (a laptop that slept) without generating its events.

        Prices make one GBM move for the whole gap, so they have moved on as much as
        they would have; the schedules stay on their grid.
        """
        if now_ms <= self._now_ms:
            return
        gap = now_ms - self._now_ms
        for name in ("trade", "book"):
            self._next[name] = _after(self._next[name], now_ms, self._intervals[name])
        every = self._intervals["ticker"]
        for symbol, due in self._ticker_next.items():
            self._ticker_next[symbol] = _after(due, now_ms, every)
        self._next["ticker"] = min(self._ticker_next.values(), default=now_ms)
        for state in self._states.values():
            sigma = state.sigma_per_ms
            shock = sigma * math.sqrt(gap) * self._rng.gauss(0, 1)
            state.mid *= math.exp(-0.5 * sigma * sigma * gap + shock)
            state.quote(self._rng, state.mean_qty(self._trades_per_day))
        self._now_ms = now_ms

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None:
        """The 24 h ticker of ``symbol`` at ``now_ms`` (REST ``/api/v3/ticker/24hr``)."""
        state = self._states.get(symbol)
        return self._ticker(state, now_ms) if state is not None else None

    # -- history ----------------------------------------------------------------

    def _seed_history(self, state: _SymbolState, start_ms: int) -> None:
        """24 h of synthetic minute candles ending now at the configured price.

        The walk runs forward from 1.0 and is then scaled so that its last close is
        the spec's price: the level is what the user asked for, the shape is GBM.
        """
        rng = self._rng
        sub_steps = 6
        dt = MINUTE_MS / sub_steps
        drift = -0.5 * (state.sigma_per_ms**2) * dt
        shock = state.sigma_per_ms * math.sqrt(dt)
        candles: list[tuple[float, float, float, float]] = []
        price = 1.0
        for _ in range(HISTORY_MINUTES):
            open_ = high = low = price
            for _ in range(sub_steps):
                price *= math.exp(drift + shock * rng.gauss(0.0, 1.0))
                high = max(high, price)
                low = min(low, price)
            candles.append((open_, high, low, price))
        scale = float(state.spec.price) / price
        minute_volume = float(state.spec.daily_volume) * SCALE / HISTORY_MINUTES
        first_minute = start_ms - start_ms % MINUTE_MS - HISTORY_MINUTES * MINUTE_MS
        next_id = rng.randrange(10**7, 10**9)

        def tick(value: float) -> int:
            return round_to_step(value * scale * SCALE, state.tick)

        for index, (o, h, low_, c) in enumerate(candles):
            o_e8, h_e8, l_e8, c_e8 = tick(o), tick(h), tick(low_), tick(c)
            volume = round_to_step(minute_volume * rng.lognormvariate(-0.125, 0.5), state.step)
            typical = (h_e8 + l_e8 + c_e8) // 3
            count = rng.randint(20, 120)
            state.window.add_candle(
                Bucket(
                    start_ms=first_minute + index * MINUTE_MS,
                    open=o_e8,
                    high=h_e8,
                    low=l_e8,
                    close=c_e8,
                    volume=volume,
                    quote_volume=typical * volume // SCALE,
                    first_id=next_id,
                    last_id=next_id + count - 1,
                )
            )
            next_id += count
        state.trade_id = next_id - 1
        state.agg_id = next_id // 2  # aggregate ids run behind trade ids on Binance too
        state.book_id = rng.randrange(10**9, 10**10)
        state.mid = float(state.spec.price)
        state.quote(rng, state.mean_qty(self._trades_per_day))

    # -- events -----------------------------------------------------------------

    def _trade(
        self, state: _SymbolState, now: int, wanted: Callable[[str], bool], out: list[Emission]
    ) -> None:
        rng = self._rng
        dt = self._intervals["trade"]
        sigma = state.sigma_per_ms
        state.mid *= math.exp(-0.5 * sigma * sigma * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1))
        mean_qty = state.mean_qty(self._trades_per_day)
        state.quote(rng, mean_qty)
        if rng.random() >= TRADE_PROBABILITY:
            return
        taker_buys = rng.random() < 0.5
        price = state.ask if taker_buys else state.bid
        qty = round_to_step(mean_qty * rng.lognormvariate(-0.5, 1.0), state.step)
        state.trade_id += 1
        state.agg_id += 1
        state.last_qty = qty
        state.window.add_trade(now, price, qty, state.trade_id)
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
        mean_qty = state.mean_qty(self._trades_per_day)
        state.bid_qty = round_to_step(mean_qty * self._rng.lognormvariate(0, 1), state.step)
        state.ask_qty = round_to_step(mean_qty * self._rng.lognormvariate(0, 1), state.step)
        state.book_id += 1
        if wanted(state.names["bookTicker"]):
            record = BookTicker(
                update_id=state.book_id,
                symbol=state.symbol,
                bid_price=decimal_e8(state.bid),
                bid_qty=decimal_e8(state.bid_qty),
                ask_price=decimal_e8(state.ask),
                ask_qty=decimal_e8(state.ask_qty),
            )
            out.append(Emission(state.names["bookTicker"], record))

    def _tickers(
        self, state: _SymbolState, now: int, wanted: Callable[[str], bool], out: list[Emission]
    ) -> None:
        if wanted(state.names["ticker"]):
            out.append(Emission(state.names["ticker"], self._ticker(state, now)))
        if wanted(state.names["miniTicker"]):
            stats = state.window.stats(now)
            record = MiniTicker(
                event_type="24hrMiniTicker",
                event_time=now,
                symbol=state.symbol,
                last_price=stats.last,
                open_price=stats.open,
                high_price=stats.high,
                low_price=stats.low,
                volume=stats.volume,
                quote_volume=stats.quote_volume,
            )
            out.append(Emission(state.names["miniTicker"], record))

    def _ticker(self, state: _SymbolState, now: int) -> Ticker:
        stats = state.window.stats(now)
        return Ticker(
            event_type="24hrTicker",
            event_time=now,
            symbol=state.symbol,
            price_change=stats.price_change,
            price_change_percent=stats.price_change_percent,
            weighted_avg_price=stats.weighted_avg,
            prev_close_price=stats.prev_close,
            last_price=stats.last,
            last_quantity=decimal_e8(state.last_qty),
            bid_price=decimal_e8(state.bid),
            bid_qty=decimal_e8(state.bid_qty),
            ask_price=decimal_e8(state.ask),
            ask_qty=decimal_e8(state.ask_qty),
            open_price=stats.open,
            high_price=stats.high,
            low_price=stats.low,
            volume=stats.volume,
            quote_volume=stats.quote_volume,
            open_time=stats.open_time,
            close_time=stats.close_time,
            first_trade_id=stats.first_id,
            last_trade_id=stats.last_id,
            trade_count=stats.count,
        )


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
