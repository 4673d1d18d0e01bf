"""Resting orders indexed by symbol and trigger level, so a tick never scans them all.

Per symbol there are two sorted books of levels:

- ``rising``: entries that fire when the trade price reaches the level from below
  (price >= level): sell limits, buy stops, sell take-profits;
- ``falling``: entries that fire when the price reaches the level from above
  (price <= level): buy limits, sell stops, buy take-profits.

A tick at price ``p`` pops the prefix of ``rising`` with level <= p and the suffix of
``falling`` with level >= p: O(log n + fired) with ``bisect``.  Trailing stops move
with every trade, so they live in a small per-symbol set instead and are visited on
each trade of their symbol.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from enum import Enum


class Direction(Enum):
    RISING = "rising"
    FALLING = "falling"


class _Book:
    """Parallel sorted lists: ``levels`` for bisect, ``ids`` for what sits there."""

    __slots__ = ("ids", "levels")

    def __init__(self) -> None:
        self.levels: list[Decimal] = []
        self.ids: list[tuple[int, str]] = []

    def insert(self, level: Decimal, seq_no: int, order_id: str) -> None:
        i = bisect_right(self.levels, level)  # after equal levels: first in, first out
        self.levels.insert(i, level)
        self.ids.insert(i, (seq_no, order_id))

    def remove(self, level: Decimal, order_id: str) -> bool:
        lo = bisect_left(self.levels, level)
        hi = bisect_right(self.levels, level, lo)
        for i in range(lo, hi):
            if self.ids[i][1] == order_id:
                del self.levels[i]
                del self.ids[i]
                return True
        return False

    def pop_at_or_below(self, price: Decimal) -> list[tuple[int, str]]:
        i = bisect_right(self.levels, price)
        if i == 0:
            return []
        fired = self.ids[:i]
        del self.levels[:i]
        del self.ids[:i]
        return fired

    def pop_at_or_above(self, price: Decimal) -> list[tuple[int, str]]:
        i = bisect_left(self.levels, price)
        if i == len(self.levels):
            return []
        fired = self.ids[i:]
        del self.levels[i:]
        del self.ids[i:]
        return fired

    def __len__(self) -> int:
        return len(self.levels)


class TriggerIndex:
    def __init__(self) -> None:
        self._rising: dict[str, _Book] = {}
        self._falling: dict[str, _Book] = {}
        self._trailing: dict[str, dict[str, int]] = {}
        # order id -> (symbol, direction, level), to remove without knowing the order
        self._where: dict[str, tuple[str, Direction, Decimal]] = {}
        self._trailing_symbol: dict[str, str] = {}

    def add(
        self, symbol: str, direction: Direction, level: Decimal, seq_no: int, order_id: str
    ) -> None:
        self.discard(order_id)
        books = self._rising if direction is Direction.RISING else self._falling
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = _Book()
        book.insert(level, seq_no, order_id)
        self._where[order_id] = (symbol, direction, level)

    def add_trailing(self, symbol: str, seq_no: int, order_id: str) -> None:
        self.discard(order_id)
        self._trailing.setdefault(symbol, {})[order_id] = seq_no
        self._trailing_symbol[order_id] = symbol

    def discard(self, order_id: str) -> None:
        where = self._where.pop(order_id, None)
        if where is not None:
            symbol, direction, level = where
            books = self._rising if direction is Direction.RISING else self._falling
            books[symbol].remove(level, order_id)
            return
        trailing_symbol = self._trailing_symbol.pop(order_id, None)
        if trailing_symbol is not None:
            del self._trailing[trailing_symbol][order_id]

    def trailing(self, symbol: str) -> list[tuple[int, str]]:
        """The trailing stops of ``symbol`` in placement order (a copy: safe to mutate)."""
        found = self._trailing.get(symbol)
        if not found:
            return []
        return sorted((seq_no, order_id) for order_id, seq_no in found.items())

    def may_fire(self, symbol: str, price: Decimal) -> bool:
        """Whether a trade at ``price`` has anything to do (a cheap pre-check)."""
        if self._trailing.get(symbol):
            return True
        rising = self._rising.get(symbol)
        if rising is not None and rising.levels and rising.levels[0] <= price:
            return True
        falling = self._falling.get(symbol)
        return falling is not None and bool(falling.levels) and falling.levels[-1] >= price

    def fire(self, symbol: str, price: Decimal) -> list[tuple[int, str]]:
        """Remove and return every level entry a trade at ``price`` reaches, in
        placement order."""
        fired: list[tuple[int, str]] = []
        rising = self._rising.get(symbol)
        if rising is not None and rising.levels and rising.levels[0] <= price:
            fired.extend(rising.pop_at_or_below(price))
        falling = self._falling.get(symbol)
        if falling is not None and falling.levels and falling.levels[-1] >= price:
            fired.extend(falling.pop_at_or_above(price))
        for _, order_id in fired:
            del self._where[order_id]
        if len(fired) > 1:
            fired.sort()
        return fired

    def __len__(self) -> int:
        return len(self._where) + len(self._trailing_symbol)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._where or order_id in self._trailing_symbol
