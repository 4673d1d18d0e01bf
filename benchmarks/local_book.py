"""Local order book designs, side by side: CPU per diff event and per top-20 read.

The same seeded stream of diff events (10 level changes each, most near the top of the
book, 30 % removals) is applied to:

- ``OrderBook`` (workspace/market/book.py): a dict of quantities keyed by the exchange's
  own price strings (a change to an existing level parses no number) + a sorted list of
  the prices in 1e-8 units (``bisect``) in which removed prices stay listed until the
  dead outnumber the live; levels checked in one quick pass: the design the feed uses;
- the same with ``Decimal`` keys and values (the first design the feed had);
- a ``sortedcontainers.SortedDict`` per side;
- a dict of quantities + a ``sortedcontainers.SortedList`` of prices;

at two depths: ~1,000 levels a side with changes near the top (a liquid pair), and
~7,000 levels with changes spread wide (a deep book).  Each design must end with the
same book as the others (checked).  Each design starts from the records as the feed
decodes them (wire strings); the Decimal designs convert them (``record.bids``).

    .venv/bin/python benchmarks/order_book.py [--events 20000]

Last line: one JSON object with microseconds per event and per top-20 read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from bisect import bisect_left, insort
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from sortedcontainers import SortedDict, SortedList

from workspace.market.book import OrderBook
from workspace.market.records import DepthSnapshot, DepthUpdate, Level

TICK = Decimal("0.01")


class Design(Protocol):
    def apply(self, update: DepthUpdate) -> None: ...
    def top(self, n: int) -> tuple[list[Level], list[Level]]: ...


class Ours:
    def __init__(self, snapshot: DepthSnapshot) -> None:
        self.book = OrderBook.from_snapshot(snapshot)

    def apply(self, update: DepthUpdate) -> None:
        self.book.apply(update)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        return self.book.bids(n), self.book.asks(n)


class DecimalBisectBook:
    def __init__(self, snapshot: DepthSnapshot) -> None:
        self.bids = {p: q for p, q in snapshot.bids if q}
        self.asks = {p: q for p, q in snapshot.asks if q}
        self.bid_prices = sorted(self.bids)
        self.ask_prices = sorted(self.asks)

    @staticmethod
    def _side(
        levels: tuple[Level, ...], side: dict[Decimal, Decimal], prices: list[Decimal]
    ) -> None:
        for price, qty in levels:
            if qty:
                if price not in side:
                    insort(prices, price)
                side[price] = qty
            elif price in side:
                del side[price]
                del prices[bisect_left(prices, price)]

    def apply(self, update: DepthUpdate) -> None:
        self._side(update.bids, self.bids, self.bid_prices)
        self._side(update.asks, self.asks, self.ask_prices)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        bids = [(p, self.bids[p]) for p in self.bid_prices[: -n - 1 : -1]]
        return bids, [(p, self.asks[p]) for p in self.ask_prices[:n]]


class SortedDictBook:
    def __init__(self, snapshot: DepthSnapshot) -> None:
        self.bids = SortedDict({p: q for p, q in snapshot.bids if q})
        self.asks = SortedDict({p: q for p, q in snapshot.asks if q})

    @staticmethod
    def _side(levels: tuple[Level, ...], side: SortedDict) -> None:
        for price, qty in levels:
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)

    def apply(self, update: DepthUpdate) -> None:
        self._side(update.bids, self.bids)
        self._side(update.asks, self.asks)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        return list(self.bids.items()[: -n - 1 : -1]), list(self.asks.items()[:n])


class DictSortedListBook:
    def __init__(self, snapshot: DepthSnapshot) -> None:
        self.bids = {p: q for p, q in snapshot.bids if q}
        self.asks = {p: q for p, q in snapshot.asks if q}
        self.bid_prices = SortedList(self.bids)
        self.ask_prices = SortedList(self.asks)

    @staticmethod
    def _side(levels: tuple[Level, ...], side: dict[Decimal, Decimal], prices: SortedList) -> None:
        for price, qty in levels:
            if qty:
                if price not in side:
                    prices.add(price)
                side[price] = qty
            elif price in side:
                del side[price]
                prices.remove(price)

    def apply(self, update: DepthUpdate) -> None:
        self._side(update.bids, self.bids, self.bid_prices)
        self._side(update.asks, self.asks, self.ask_prices)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        bids = [(p, self.bids[p]) for p in self.bid_prices[: -n - 1 : -1]]
        return bids, [(p, self.asks[p]) for p in self.ask_prices[:n]]


DESIGNS: dict[str, Callable[[DepthSnapshot], Design]] = {
    "wire keys+bisect (OrderBook)": Ours,
    "Decimal keys+bisect": DecimalBisectBook,
    "SortedDict": SortedDictBook,
    "dict+SortedList": DictSortedListBook,
}


def workload(
    levels: int, spread_levels: float, events: int, seed: int = 1
) -> tuple[DepthSnapshot, list[DepthUpdate]]:
    rng = random.Random(seed)
    mid = 10_000_000

    def qty() -> str:
        return f"{Decimal(rng.randint(1, 10**6)) / 10**5:.8f}"

    def price(units: int) -> str:
        return f"{Decimal(units) * TICK:.8f}"

    bids = tuple((price(mid - 1 - i), qty()) for i in range(levels))
    asks = tuple((price(mid + 1 + i), qty()) for i in range(levels))
    live = {True: {p for p, _ in bids}, False: {p for p, _ in asks}}
    updates = []
    for number in range(events):
        changes: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
        for _ in range(10):
            is_bid = rng.random() < 0.5
            offset = int(rng.expovariate(1 / spread_levels))
            at = price(mid - 1 - offset if is_bid else mid + 1 + offset)
            if at in live[is_bid] and rng.random() < 0.3:
                changes[is_bid].append((at, "0.00000000"))
                live[is_bid].discard(at)
            else:
                changes[is_bid].append((at, qty()))
                live[is_bid].add(at)
        updates.append(
            DepthUpdate(
                event_type="depthUpdate",
                event_time=number,
                symbol="BTCUSDT",
                first_update_id=number + 1,
                final_update_id=number + 1,
                bid_levels=tuple(changes[True]),
                ask_levels=tuple(changes[False]),
            )
        )
    snapshot = DepthSnapshot(symbol="BTCUSDT", last_update_id=0, bid_levels=bids, ask_levels=asks)
    return snapshot, updates


def measure(
    make: Callable[[DepthSnapshot], Design], snapshot: DepthSnapshot, updates: list[DepthUpdate]
) -> tuple[float, float, tuple[list[Level], list[Level]]]:
    best_apply = best_top = float("inf")
    final: tuple[list[Level], list[Level]] = ([], [])
    for _ in range(3):
        design = make(snapshot)
        started = time.process_time()
        for update in updates:
            design.apply(update)
        best_apply = min(best_apply, (time.process_time() - started) / len(updates))
        started = time.process_time()
        for _ in range(len(updates)):
            design.top(20)
        best_top = min(best_top, (time.process_time() - started) / len(updates))
        final = design.top(100)
    return best_apply * 1e6, best_top * 1e6, final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, levels, spread in (("liquid", 1000, 30.0), ("deep", 5000, 2000.0)):
        snapshot, updates = workload(levels, spread, args.events)
        print(f"{name}: {levels} levels a side, changes ~{spread:.0f} levels from the top")
        reference = None
        result[name] = {}
        for design, make in DESIGNS.items():
            apply_us, top_us, final = measure(make, snapshot, updates)
            if reference is None:
                reference = final
            elif final != reference:
                raise AssertionError(f"{design} ended with a different book")
            print(f"  {design:<24} {apply_us:6.2f} us/event   top-20 read {top_us:5.2f} us")
            result[name][design] = {
                "us_per_event": round(apply_us, 2),
                "top20_us": round(top_us, 2),
            }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
