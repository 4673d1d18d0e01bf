"""The live marks of open positions, kept in parallel lists for a vectorised revaluation.

Every open position has one slot: its signed quantity and signed cost (negative for a
short), the ``Quote`` of its symbol and the price it is marked at.  With signs folded
in, long and short share one formula, ``pnl = qty * price - cost`` (a short's
``cost - q * price`` is ``(-q) * price - (-cost)``), so the total is

    unrealized = sum(qty_i * price_i) - sum(cost_i)

where the cost sum changes only with fills and is kept as a running total.  A full
mark-to-market is then one C-level pass, ``sum(map(mul, qty, prices))``, instead of a
Python loop over position objects: ~0.15 us per position instead of ~1 us.  A
position's own unrealized P&L is derived from its slot when it is read (``pnl``), so
nothing is written per position; a tick re-marks its slot with one subtraction and
one multiplication (``qty * (new - old)``).

The marks live here, not on the account's ``Position`` objects: those keep what only
fills change (quantity, cost, ids, times), and the copies the account hands out are
completed from this book.  The book also keeps the running total of unrealized P&L.

A tick only notes its price (``mark``: one dict store); the notes are settled, in one
pass over the symbols that moved, the next time anything reads a mark or the total
(``unrealized``, ``price``, ``pnl``) or changes a slot.  Between two reads a symbol
that ticked a thousand times is re-marked once, and the total is the same exact
Decimal as if every tick had been applied (each settlement adds ``qty * (new - old)``).

Exactness: every operation runs in the account's context (60 digits, traps on), given
to the book: sums and products of the account's numbers never round there.

Inside a step the account may have to take back, ``put`` and ``remove`` log the slot
and the totals they replaced (``begin`` / ``rollback`` / ``commit``).
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext
from operator import attrgetter, mul
from typing import Any

from workspace.trading.market_state import Quote
from workspace.trading.positions import Position, PositionType

ZERO = Decimal(0)
_last = attrgetter("last")


class MarkBook:
    __slots__ = (
        "_cost",
        "_ctx",
        "_net_cost",
        "_pending",
        "_price",
        "_qty",
        "_quotes",
        "_slot",
        "_symbols",
        "_total",
        "_undo",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._slot: dict[str, int] = {}  # symbol -> index in every list below
        self._symbols: list[str] = []
        self._qty: list[Decimal] = []  # signed: < 0 for a short
        self._cost: list[Decimal] = []  # signed like the quantity
        self._quotes: list[Quote] = []  # the account's own quote objects (live)
        self._price: list[Decimal] = []  # the price each position is marked at
        self._net_cost = ZERO  # sum of _cost
        self._total = ZERO  # unrealized P&L of every slot at its (settled) price
        self._pending: dict[int, Decimal] = {}  # slot -> newest price, not yet settled
        # (what, slot index, the slot's columns before, total, net cost) of a step that
        # may be taken back; what: "new" (a slot appended), "set", "remove"
        self._undo: list[tuple[str, int, tuple[Any, ...], Decimal, Decimal]] | None = None

    def __len__(self) -> int:
        return len(self._symbols)

    @property
    def net_cost(self) -> Decimal:
        """The signed cost basis of every open position (shorts negative)."""
        return self._net_cost

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._slot

    def _settle(self) -> None:
        pending = self._pending
        if not pending:
            return
        ctx = self._ctx
        qty, price = self._qty, self._price
        total = self._total
        for i, new in pending.items():
            total = ctx.add(total, ctx.multiply(qty[i], ctx.subtract(new, price[i])))
            price[i] = new
        self._total = total
        pending.clear()

    @property
    def unrealized(self) -> Decimal:
        """The unrealized P&L of every open position at its latest price."""
        self._settle()
        return self._total

    def put(self, position: Position, quote: Quote) -> None:
        """Open or update the slot of ``position`` (an open position as a fill left
        it: marked at its ``current_price``)."""
        self._settle()
        ctx = self._ctx
        long = position.type is PositionType.BUY
        qty = position.quantity if long else ctx.minus(position.quantity)
        cost = position.cost if long else ctx.minus(position.cost)
        i = self._slot.get(position.symbol)
        if self._undo is not None:
            if i is None:
                self._undo.append(("new", len(self._symbols), (), self._total, self._net_cost))
            else:
                self._undo.append(("set", i, self._row(i), self._total, self._net_cost))
        if i is None:
            self._slot[position.symbol] = len(self._symbols)
            self._symbols.append(position.symbol)
            self._qty.append(qty)
            self._cost.append(cost)
            self._quotes.append(quote)
            self._price.append(position.current_price)
            self._net_cost = ctx.add(self._net_cost, cost)
            self._total = ctx.add(self._total, position.unrealized_pnl)
            return
        self._total = ctx.add(ctx.subtract(self._total, self._pnl(i)), position.unrealized_pnl)
        self._net_cost = ctx.add(ctx.subtract(self._net_cost, self._cost[i]), cost)
        self._qty[i] = qty
        self._cost[i] = cost
        self._quotes[i] = quote
        self._price[i] = position.current_price

    def remove(self, symbol: str) -> None:
        """Drop a symbol's slot (its position closed): the last slot moves into it."""
        self._settle()
        i = self._slot.pop(symbol, None)
        if i is None:
            return
        if self._undo is not None:
            self._undo.append(("remove", i, self._row(i), self._total, self._net_cost))
        self._total = self._ctx.subtract(self._total, self._pnl(i))
        self._net_cost = self._ctx.subtract(self._net_cost, self._cost[i])
        last = len(self._symbols) - 1
        if i != last:
            self._slot[self._symbols[last]] = i
        for column in self._columns():
            column[i] = column[last]
            column.pop()

    def _columns(self) -> tuple[list[Any], ...]:
        return (self._symbols, self._qty, self._cost, self._quotes, self._price)

    def _row(self, i: int) -> tuple[Any, ...]:
        return tuple(column[i] for column in self._columns())

    # -- taking a step back -----------------------------------------------------------
    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every ``put`` / ``remove`` since ``begin``, newest first: the slots
        (in their places) and both running totals are exactly as they were."""
        undo, self._undo = self._undo, None
        if not undo:
            return
        self._settle()
        undo.reverse()  # (a list mypyc can iterate; it stumbles on reversed() here)
        for step in undo:
            what, i, row, total, net_cost = step
            columns = self._columns()
            if what == "new":  # the newest slot: last in every column
                del self._slot[self._symbols[i]]
                for column in columns:
                    column.pop()
            elif what == "set":
                for column, value in zip(columns, row, strict=True):
                    column[i] = value
            else:  # "remove" moved the last slot into i: move it back, refill i
                if i < len(self._symbols):
                    self._slot[self._symbols[i]] = len(self._symbols)
                    for column in columns:
                        column.append(column[i])
                    for column, value in zip(columns, row, strict=True):
                        column[i] = value
                else:
                    for column, value in zip(columns, row, strict=True):
                        column.append(value)
                self._slot[row[0]] = i
            self._total = total
            self._net_cost = net_cost

    def price(self, symbol: str) -> Decimal:
        self._settle()
        return self._price[self._slot[symbol]]

    def pnl(self, symbol: str) -> Decimal:
        """The unrealized P&L of the symbol's position at its mark."""
        self._settle()
        return self._pnl(self._slot[symbol])

    def _pnl(self, i: int) -> Decimal:
        ctx = self._ctx
        return ctx.subtract(ctx.multiply(self._qty[i], self._price[i]), self._cost[i])

    def mark(self, symbol: str, price: Decimal) -> None:
        """Note ``price`` as the symbol's newest (``KeyError`` without a position);
        settled at the next read.  The per-tick path: one lookup and one store."""
        self._pending[self._slot[symbol]] = price

    def revalue(self) -> Decimal:
        """Re-mark every slot at its quote's last price (a slot whose symbol has no
        last price keeps its mark) and return the total unrealized P&L."""
        self._pending.clear()  # the quotes hold every noted price
        prices = list(map(_last, self._quotes))
        with localcontext(self._ctx):
            try:
                gross = sum(map(mul, self._qty, prices), ZERO)
            except TypeError:  # a None among the prices: rare, so checked only on failure
                marked = zip(prices, self._price, strict=True)
                prices = [p if p is not None else old for p, old in marked]
                gross = sum(map(mul, self._qty, prices), ZERO)
            self._price = prices
            self._total = gross - self._net_cost
            return self._total
