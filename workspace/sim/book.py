"""One symbol's simulated L2 order book: price levels around the random walk's quote.

The walk decides where the best bid and ask are (:mod:`workspace.sim.market`); the
book fills in the depth behind them and keeps it alive:

* levels sit on the tick grid, a random number of ticks apart (mean
  ``gap_ticks``), with lognormal sizes that grow with the distance from the top
  (``level_qty`` is the typical size near the top);
* :meth:`SimBook.align` follows the walk: levels the new quote crosses are removed
  (lifted or cancelled), the new best levels and the ticks between are filled in;
* :meth:`SimBook.take` is a trade hitting the best level: its size shrinks and the
  level disappears when emptied (the next :meth:`align` replenishes the quote);
* :meth:`SimBook.churn` is the other traders' activity near the top: sizes change,
  levels are cancelled, new ones appear between existing ones;
* :meth:`SimBook.maintain` keeps ``depth`` levels per side (trimming the far end,
  extending it as the price drifts).

Every level change takes the next update id, exactly like Binance's order book
update ids: a diff depth event spans ``U..u`` = the ids of the changes it carries,
and ``lastUpdateId`` of a snapshot is the id of the last change applied.  Changes are
handed to the :class:`DepthRecorder` s attached to the book (one per diff stream
speed somebody listens to); with none attached a change costs two dict/list updates.

Prices and quantities are integers in units of 1e-8 (:mod:`workspace.sim.fixedpoint`).
Pure and synchronous: no clock, no I/O; randomness from the generator it is given,
so the book is a function of the seed and the walk.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, insort

# Sizes grow with the distance from the top: level i is (1 + i / _DEEPENING) times
# larger on average, as on real books (the top is thin, the depth is thick).
_DEEPENING = 40.0
_SIZE_SIGMA = 0.8


class DepthRecorder:
    """The changes of a book since the last :meth:`take`: one diff depth event."""

    __slots__ = ("asks", "bids", "first_id", "last_id")

    def __init__(self) -> None:
        self.first_id = 0
        self.last_id = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def add(self, is_bid: bool, price: int, qty: int, update_id: int) -> None:
        if not self.first_id:
            self.first_id = update_id
        self.last_id = update_id
        (self.bids if is_bid else self.asks)[price] = qty

    @property
    def empty(self) -> bool:
        return not self.first_id

    def take(self) -> tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]]:
        """``(U, u, bids, asks)`` of the changes so far (best prices first), then reset."""
        event = (
            self.first_id,
            self.last_id,
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )
        self.first_id = self.last_id = 0
        self.bids = {}
        self.asks = {}
        return event


class SimBook:
    """Sorted price levels of one symbol, with Binance's update ids."""

    def __init__(
        self,
        *,
        tick: int,
        step: int,
        level_qty: int,
        gap_ticks: float,
        depth: int,
        rng: random.Random,
        first_update_id: int,
    ) -> None:
        if tick <= 0 or step <= 0 or level_qty <= 0 or depth <= 0:
            raise ValueError("tick, step, level size and depth must be positive")
        self.tick = tick
        self.step = step
        self.depth = depth
        self.update_id = first_update_id
        self.recorders: list[DepthRecorder] = []
        self._rng = rng
        self._mu = math.log(level_qty) - _SIZE_SIGMA * _SIZE_SIGMA / 2
        self._extra_gap = max(0.0, gap_ticks - 1.0)
        # Both sides ascending; the best bid is the last bid, the best ask the first ask.
        self._bids: list[int] = []
        self._asks: list[int] = []
        self._bid_qty: dict[int, int] = {}
        self._ask_qty: dict[int, int] = {}

    # -- reading ------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return not self._bids or not self._asks

    def best_bid(self) -> tuple[int, int]:
        price = self._bids[-1]
        return price, self._bid_qty[price]

    def best_ask(self) -> tuple[int, int]:
        price = self._asks[0]
        return price, self._ask_qty[price]

    def bids(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` bid levels, best first."""
        qty = self._bid_qty
        return [(p, qty[p]) for p in reversed(self._bids[-n:])] if n > 0 else []

    def asks(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` ask levels, best first."""
        qty = self._ask_qty
        return [(p, qty[p]) for p in self._asks[:n]]

    def level_count(self) -> tuple[int, int]:
        return len(self._bids), len(self._asks)

    # -- moving -------------------------------------------------------------------

    def align(self, bid: int, ask: int) -> None:
        """Make ``bid``/``ask`` the best levels (the walk's quote)."""
        while self._asks and self._asks[0] < ask:
            self._set(False, self._asks[0], 0)
        while self._bids and self._bids[-1] > bid:
            self._set(True, self._bids[-1], 0)
        if not self._bids or self._bids[-1] < bid:
            floor = self._bids[-1] if self._bids else 0
            self._fill(True, bid, floor)
        if not self._asks or self._asks[0] > ask:
            ceiling = self._asks[0] if self._asks else 2**62
            self._fill(False, ask, ceiling)

    def take(self, is_buy: bool, qty: int) -> tuple[int, int]:
        """A taker order of ``qty`` against the best level: ``(price, executed)``.

        Executes at most the level's size (one print at one price); the level shrinks
        or disappears.
        """
        if is_buy:
            price = self._asks[0]
            available = self._ask_qty[price]
        else:
            price = self._bids[-1]
            available = self._bid_qty[price]
        executed = min(qty, available)
        self._set(not is_buy, price, available - executed)
        return price, executed

    def churn(self, operations: int | None = None) -> None:
        """Other traders near the top: resize, cancel and add levels (a random number
        of operations, 6 on average, unless told)."""
        rng = self._rng
        if operations is None:
            operations = 2 + int(rng.expovariate(0.25))
        for _ in range(operations):
            is_bid = rng.random() < 0.5
            side = self._bids if is_bid else self._asks
            if not side:
                continue
            index = min(len(side) - 1, int(rng.expovariate(0.2)))
            price = side[-1 - index] if is_bid else side[index]
            roll = rng.random()
            if roll < 0.6:
                self._set(is_bid, price, self._size(index))
            elif roll < 0.8 and index > 0:
                self._set(is_bid, price, 0)  # never the best level: the walk owns it
            else:
                # A new level one tick further from the top than this one, if free.
                new = price - self.tick if is_bid else price + self.tick
                quantities = self._bid_qty if is_bid else self._ask_qty
                if new > 0 and new not in quantities:
                    self._set(is_bid, new, self._size(index + 1))

    def maintain(self) -> None:
        """Keep ``depth`` levels per side: trim the far end, or extend it."""
        slack = max(2, self.depth // 10)
        for is_bid, side in ((True, self._bids), (False, self._asks)):
            if len(side) > self.depth + slack:
                while len(side) > self.depth:
                    self._set(is_bid, side[0] if is_bid else side[-1], 0)
            elif side and len(side) < self.depth:
                self._extend(is_bid, self.depth - len(side))

    # -- internals ----------------------------------------------------------------

    def _size(self, index: int) -> int:
        mean_factor = 1.0 + index / _DEEPENING
        raw = math.exp(self._mu + _SIZE_SIGMA * self._rng.gauss(0.0, 1.0)) * mean_factor
        steps = max(1, round(raw / self.step))
        return steps * self.step

    def _gap(self) -> int:
        extra = int(self._rng.expovariate(1.0 / self._extra_gap)) if self._extra_gap else 0
        return (1 + extra) * self.tick

    def _fill(self, is_bid: bool, best: int, limit: int) -> None:
        """New levels from ``best`` away from the top, up to (excluding) ``limit``."""
        price = best
        added = 0
        while added < self.depth and (price > limit if is_bid else price < limit):
            if price <= 0:
                break
            self._set(is_bid, price, self._size(added))
            added += 1
            price = price - self._gap() if is_bid else price + self._gap()

    def _extend(self, is_bid: bool, count: int) -> None:
        side = self._bids if is_bid else self._asks
        price = side[0] if is_bid else side[-1]
        index = len(side)
        for _ in range(count):
            price = price - self._gap() if is_bid else price + self._gap()
            if price <= 0:
                return
            self._set(is_bid, price, self._size(index))
            index += 1

    def _set(self, is_bid: bool, price: int, qty: int) -> None:
        if is_bid:
            side, quantities = self._bids, self._bid_qty
        else:
            side, quantities = self._asks, self._ask_qty
        if qty > 0:
            if price not in quantities:
                insort(side, price)
            quantities[price] = qty
        else:
            if price not in quantities:
                return
            del quantities[price]
            del side[bisect_left(side, price)]
        self.update_id += 1
        for recorder in self.recorders:
            recorder.add(is_bid, price, qty, self.update_id)
