"""The order book as the fill model sees it: the engine's local book of a symbol, and
the liquidity the account's own orders already took from it.

The account keeps a reference to the engine's ``OrderBook`` (it reads it only inside
its own calls) and, beside it, what its taker fills consumed per price level.  The
book is the market's: the account never changes it.  A paper order that took 0.4 of
the 1.0 offered at 97,000 does not remove it from the exchange, so the next order
would see the same 1.0 again; to stop one liquidity from filling twice, each level the
account took from remembers the quantity the book showed then and how much was taken.
While the book still shows that quantity at that price, only the rest is available;
as soon as the book changes the level (any new quantity, or a rebuilt book), the
exchange has spoken again and its new quantity is available in full.  This is
Nautilus Trader's ``liquidity_consumption`` rule (docs/trading.md compares them).

A trade that printed before the book shows its effect (the book's last event is older
than the trade) has also taken liquidity: until the book shows the market as of the
trade, the trade's quantity counts as taken at its price on the side it hit, so a stop
it triggers does not fill against what the trade itself just took (Nautilus calls
this "trade consumption seeding").  Trades are noted as they come (a list append: the
trade path stays cheap) and counted when a walk needs them.

Everything is exact ``Decimal``; nothing here is journaled (it is market data, like
prices): a replay rebuilds it from the same records in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Context, Decimal

from workspace.market.book import OrderBook
from workspace.trading.requests import Side

ZERO = Decimal(0)
MAX_PRINTS = 256  # trades noted before they are counted anyway

Slice = tuple[Decimal, Decimal]
"""One fill of a walk: (price, quantity)."""
Walk = tuple[list[Slice], Decimal, Decimal]
"""A walk's slices with their total quantity and value (price x quantity)."""

_UNITS = Decimal(100_000_000)
DOWN = Context(prec=60, rounding=ROUND_DOWN)
"""Exact arithmetic that rounds down: a share (of a level, of a reservation) may never
come out larger than the exact one."""
_Taken = dict[int, list[Decimal]]
"""price in 1e-8 units -> [the level's quantity when first taken from, quantity taken
since, the price].  Keyed by an int, not the price: hashing a freshly parsed Decimal
costs several times more than the conversion, and a walk meets fresh levels."""
_Print = tuple[Decimal, Decimal, bool, int]
_Shown = tuple[Decimal, Decimal, int]
"""A level a walk took from: its price, the quantity the book showed, the price in 1e-8
units."""
DepthState = tuple[_Taken, _Taken, list[_Print]]
"""What the account took from a book and the trades it has not counted yet (a copy)."""


class Depth:
    """The book of one symbol and the liquidity the account took from it."""

    __slots__ = (
        "_changing",
        "_last",
        "_prints",
        "_shown",
        "_took_asks",
        "_took_bids",
        "book",
        "book_ms",
    )

    def __init__(
        self,
        book: OrderBook,
        ts_ms: int,
        changing: Callable[[Depth], None] | None = None,
    ) -> None:
        """``changing(depth)`` is called before a step changes what was taken (the
        account keeps it, to take the step back if its journal cannot write it)."""
        self.book = book
        self._changing = changing
        self.book_ms = ts_ms  # when the engine last said the book changed (its clock)
        # price -> [the level's quantity when first taken from, quantity taken since]
        self._took_asks: _Taken = {}
        self._took_bids: _Taken = {}
        # the levels the last walk took from, as (price, the level's quantity), in the
        # order of its slices: what ``take`` records, without reading the book again
        self._shown: list[_Shown] = []
        # the last walk and what it asked, while neither the book nor what was taken
        # from it has changed (placing a market order checks the wallet against the
        # very walk it then executes)
        self._last: tuple[Side, Decimal, Decimal | None, list[Slice], Decimal, Decimal] | None
        self._last = None
        # trades the book does not show yet: (price, quantity, the buyer took, trade time)
        self._prints: list[tuple[Decimal, Decimal, bool, int]] = []

    def changed(self, ts_ms: int) -> None:
        """The book changed: forget what was taken from levels it has updated."""
        self.book_ms = ts_ms
        self._last = None
        if self._prints:
            # the trades this book now shows took their liquidity in the book itself
            event_ms = self.book.event_ms
            if event_ms is not None:
                self._prints = [p for p in self._prints if p[3] > event_ms]
        if self._took_asks:
            _forget_changed(self._took_asks, self.book.ask_quantity)
        if self._took_bids:
            _forget_changed(self._took_bids, self.book.bid_quantity)

    def fresh(self, now_ms: int, max_age_ms: int) -> bool:
        return now_ms - self.book_ms <= max_age_ms

    # -- reading -----------------------------------------------------------------------
    def walk(self, side: Side, want: Decimal, limit: Decimal | None) -> list[Slice]:
        """What a taker on ``side`` would get for ``want``, best level first, up to
        ``limit`` (inclusive; ``None``: any price): fewer than ``want`` when the
        visible book runs out."""
        return self.walk_totals(side, want, limit)[0]

    def walk_totals(self, side: Side, want: Decimal, limit: Decimal | None) -> Walk:
        """:meth:`walk`, with the total quantity and value (price x quantity) of its
        slices, added up as ``fills.totals`` adds them (the same Decimals)."""
        last = self._last
        if last is not None and last[0] is side and last[1] == want and last[2] == limit:
            return list(last[3]), last[4], last[5]
        if self._prints:
            self._count_prints()
        slices, quantity, value = self._walk(side, want, limit)
        self._last = (side, want, limit, slices, quantity, value)
        return list(slices), quantity, value

    def _walk(self, side: Side, want: Decimal, limit: Decimal | None) -> Walk:
        slices: list[Slice] = []
        got = value = ZERO
        if want <= 0:
            return slices, got, value
        buy = side is Side.BUY
        took = (self._took_asks if buy else self._took_bids) or None
        shown: list[_Shown] = []
        self._shown = shown
        # levels are parsed as the walk reaches them (a 20-level walk of a 1,000-level
        # book parses 20), each with its price in 1e-8 units: the key of what was taken
        for key, (price, quantity) in self.book.taker_levels(buy):
            if limit is not None and (price > limit if buy else price < limit):
                break
            available = quantity
            if took is not None:
                taken = took.get(key)
                if taken is not None and taken[0] == quantity:
                    available = quantity - taken[1]
                    if not available:
                        continue
            shown.append((price, quantity, key))
            if available >= want:
                slices.append((price, want))
                got += want
                value += price * want
                break
            slices.append((price, available))
            got += available
            value += price * available
            want -= available
        return slices, got, value

    def walk_quote(self, side: Side, budget: Decimal) -> Decimal:
        """How much of the base asset a taker on ``side`` gets for ``budget`` of the
        quote currency, best level first: the value it takes (price x quantity) never
        exceeds ``budget``; exact, before any rounding to a lot step (the last level's
        share rounds down)."""
        if budget <= 0:
            return ZERO
        if self._prints:
            self._count_prints()
        buy = side is Side.BUY
        took = (self._took_asks if buy else self._took_bids) or None
        got = ZERO
        # the same levels and the same liquidity already taken as ``_walk`` (kept apart:
        # that walk is the 20-level placement's hot loop)
        for key, (price, quantity) in self.book.taker_levels(buy):
            available = quantity
            if took is not None:
                taken = took.get(key)
                if taken is not None and taken[0] == quantity:
                    available = quantity - taken[1]
                    if not available:
                        continue
            value = price * available
            if value >= budget:
                return got + DOWN.divide(budget, price)
            got += available
            budget -= value
        return got

    def available(self, side: Side, limit: Decimal | None) -> Decimal:
        """All a taker on ``side`` could get now up to ``limit``."""
        return sum((q for _, q in self.walk(side, Decimal("Infinity"), limit)), ZERO)

    def level(self, side: Side, price: Decimal) -> Decimal:
        """The quantity the book shows at ``price`` on ``side``'s own side (bids for a
        buy): what a limit resting there queues behind."""
        book = self.book
        return book.bid_quantity(price) if side is Side.BUY else book.ask_quantity(price)

    def newer_than(self, event_ms: int) -> bool:
        """Does the book already show the market as of exchange time ``event_ms``?"""
        book_event = self.book.event_ms
        return book_event is not None and book_event >= event_ms

    # -- the account's own consumption ---------------------------------------------------
    def take(self, side: Side, slices: list[Slice]) -> None:
        """A taker on ``side`` executed ``slices``: that liquidity is gone until the
        book updates those levels."""
        if self._changing is not None:
            self._changing(self)
        self._last = None
        buy = side is Side.BUY
        took = self._took_asks if buy else self._took_bids
        quantity_at = self.book.ask_quantity if buy else self.book.bid_quantity
        shown = self._shown
        count = len(shown)
        if not took and len(slices) <= count:
            # the usual case (a fresh level, and every slice one of the last walk's):
            # what each took, straight from the levels the walk saw
            for (price, quantity), (seen, level, key) in zip(slices, shown, strict=False):
                if seen is not price:
                    break
                took[key] = [level, quantity if quantity < level else level, price]
            else:
                return
            took.clear()  # (not the last walk's slices after all: the general way)
        for i, (price, quantity) in enumerate(slices):
            # a slice of the last walk: the level it saw, without reading the book again
            if i < count and (at := shown[i])[0] is price:
                level, key = at[1], at[2]
            else:
                level = quantity_at(price)
                if level <= ZERO:
                    continue  # no such level
                key = int(price * _UNITS)
            taken = took.get(key)
            if taken is None or taken[0] != level:
                took[key] = [level, quantity if quantity < level else level, price]
            else:
                more = taken[1] + quantity
                taken[1] = more if more < level else level

    def trade_printed(
        self, price: Decimal, quantity: Decimal, buyer_took: bool, trade_ms: int
    ) -> None:
        """A trade the book does not show yet: its quantity left the level it hit (the
        asks when the buyer was the taker)."""
        self._last = None
        prints = self._prints
        prints.append((price, quantity, buyer_took, trade_ms))
        if len(prints) > MAX_PRINTS:  # a book that stopped changing: count them now
            self._count_prints()

    def state(self) -> DepthState:
        return (_copied(self._took_asks), _copied(self._took_bids), list(self._prints))

    def restore(self, state: DepthState) -> None:
        self._took_asks, self._took_bids, self._prints = state
        self._last = None

    def _count_prints(self) -> None:
        if self._changing is not None:
            self._changing(self)
        book = self.book
        for price, quantity, buyer_took, _ in self._prints:
            if buyer_took:
                _take(self._took_asks, price, quantity, book.ask_quantity(price))
            else:
                _take(self._took_bids, price, quantity, book.bid_quantity(price))
        self._prints = []


def _copied(took: _Taken) -> _Taken:
    return {key: list(entry) for key, entry in took.items()}


def _take(took: _Taken, price: Decimal, quantity: Decimal, shown: Decimal) -> None:
    """``Depth.take`` for one level (a trade's print)."""
    if shown <= ZERO:
        return  # no such level (a book's prices are whole 1e-8 units: so are the keys)
    key = int(price * _UNITS)
    taken = took.get(key)
    if taken is None or taken[0] != shown:
        took[key] = [shown, min(quantity, shown), price]
    else:
        taken[1] = min(taken[1] + quantity, shown)


def _forget_changed(took: _Taken, quantity_at: Callable[[Decimal], Decimal]) -> None:
    for key in [k for k, taken in took.items() if quantity_at(taken[2]) != taken[0]]:
        del took[key]
