"""The live marks of open positions, kept in parallel lists for a vectorised revaluation.

Every open position has one slot: its signed quantity and signed cost (negative for a
short), the ``Quote`` of its symbol, its current mark price and its unrealized P&L.
With signs folded in, long and short share one formula, ``pnl = qty * price - cost``
(a short's ``cost - q * price`` is ``(-q) * price - (-cost)``), so a full
mark-to-market is three C-level passes (``map(mul)``, ``map(sub)``, ``sum``) over
lists instead of a Python loop over position objects: the per-element price of an
exact Decimal revaluation drops from ~1 us to ~0.25 us.

The marks live here and not on the account's ``Position`` objects: a revaluation then
replaces two lists instead of writing 20,000 attributes, and a tick re-marks one
slot.  The account's own ``Position`` objects keep what only fills change (quantity,
cost, ids, times); the copies it hands out are completed from this book.

Exactness: all arithmetic runs in the account's context (60 digits, traps on), the
caller's job (``ctx`` argument, or ``localcontext`` around ``revalue``): sums and
products of the account's numbers never round there.
"""

from __future__ import annotations

from decimal import Context, Decimal
from operator import attrgetter, mul, sub
from typing import Any

from workspace.trading.market_state import Quote
from workspace.trading.positions import Position, PositionType

ZERO = Decimal(0)
_last = attrgetter("last")


class MarkBook:
    __slots__ = ("_cost", "_pnl", "_price", "_qty", "_quotes", "_slot", "_symbols")

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}  # symbol -> index in every list below
        self._symbols: list[str] = []
        self._qty: list[Decimal] = []  # signed: < 0 for a short
        self._cost: list[Decimal] = []  # signed like the quantity
        self._quotes: list[Quote] = []  # the account's own quote objects (live)
        self._price: list[Decimal] = []  # the price each position is marked at
        self._pnl: list[Decimal] = []  # unrealized P&L at that price

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._slot

    def put(self, position: Position, quote: Quote) -> None:
        """Open or update the slot of ``position`` (an open position, as a fill left
        it: its ``current_price`` and ``unrealized_pnl`` are the mark of that fill)."""
        long = position.type is PositionType.BUY
        qty = position.quantity if long else -position.quantity
        cost = position.cost if long else -position.cost
        i = self._slot.get(position.symbol)
        if i is None:
            self._slot[position.symbol] = len(self._symbols)
            self._symbols.append(position.symbol)
            self._qty.append(qty)
            self._cost.append(cost)
            self._quotes.append(quote)
            self._price.append(position.current_price)
            self._pnl.append(position.unrealized_pnl)
            return
        self._qty[i] = qty
        self._cost[i] = cost
        self._quotes[i] = quote
        self._price[i] = position.current_price
        self._pnl[i] = position.unrealized_pnl

    def remove(self, symbol: str) -> None:
        """Drop a symbol's slot (its position closed): the last slot moves into it."""
        i = self._slot.pop(symbol, None)
        if i is None:
            return
        last = len(self._symbols) - 1
        if i != last:
            self._slot[self._symbols[last]] = i
        for column in self._columns():
            column[i] = column[last]
            column.pop()

    def _columns(self) -> tuple[list[Any], ...]:
        return (self._symbols, self._qty, self._cost, self._quotes, self._price, self._pnl)

    def pnl(self, symbol: str) -> Decimal:
        return self._pnl[self._slot[symbol]]

    def price(self, symbol: str) -> Decimal:
        return self._price[self._slot[symbol]]

    def mark(self, symbol: str, price: Decimal, ctx: Context) -> Decimal | None:
        """Re-mark one symbol's position at ``price``; returns the change of its
        unrealized P&L, or None when the symbol has no position.  The per-tick path:
        arithmetic goes through ``ctx`` explicitly, as entering a ``localcontext``
        would cost more than the arithmetic itself."""
        i = self._slot.get(symbol)
        if i is None:
            return None
        new = ctx.subtract(ctx.multiply(self._qty[i], price), self._cost[i])
        delta = ctx.subtract(new, self._pnl[i])
        self._price[i] = price
        self._pnl[i] = new
        return delta

    def revalue(self) -> Decimal:
        """Re-mark every slot at its quote's last price (a slot whose symbol has no
        last price keeps its mark) and return the total unrealized P&L.  Runs in the
        thread's decimal context: the caller enters the account's."""
        prices = list(map(_last, self._quotes))
        try:
            pnl = list(map(sub, map(mul, self._qty, prices), self._cost))
        except TypeError:  # a None among the prices: rare, so checked only on failure
            marked = zip(prices, self._price, strict=True)
            prices = [p if p is not None else old for p, old in marked]
            pnl = list(map(sub, map(mul, self._qty, prices), self._cost))
        self._price = prices
        self._pnl = pnl
        return sum(pnl, ZERO)
