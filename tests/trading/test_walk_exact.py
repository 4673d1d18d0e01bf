"""The book walk and the fills it makes, pinned against the model written plainly.

The account's walk reads the book lazily (``OrderBook.taker_levels``: each level
parsed as it is reached, keyed by its price in 1e-8 units) and adds up an execution's
fees and totals in C passes.  These properties compare it, Decimal for Decimal and
spelling for spelling (``str``: the journal writes the exponent too), with the same
rules written the plain way: every level read with ``asks()`` / ``bids()``, what the
account took keyed by the ``Decimal`` price, each fill's fee ``quantity x price x
rate``, the average ``value / quantity`` in the account's 60-digit arithmetic.
Random books (prices spelled the exchange's way or another), random consumption and
book changes, buys and sells, MARKET and crossing LIMIT orders, GTC / IOC / FOK,
partial fills."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workspace.market.book import OrderBook
from workspace.trading import (
    Account,
    AccountConfig,
    FillEvent,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from workspace.trading.depth import Depth

from .books import book_of, change
from .scripted import trade

S = OrderStatus
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)
Slice = tuple[Decimal, Decimal]
MID = 9_700_000_000_000  # 97,000 in 1e-8 units


def _spelled(units: int, style: int) -> str:
    text = f"{units // 10**8}.{units % 10**8:08d}"
    if style == 1:  # another spelling of the same number (the book's exact path)
        text = text.rstrip("0")
        return text[:-1] if text.endswith(".") else text
    return text


quantity_units = st.sampled_from([1, 700, 5_000_000, 12_345_678, 100_000_000, 3_000_000_000])
# (ticks from the touch, quantity in 1e-8 units, spelling)
level = st.tuples(st.integers(1, 40), quantity_units, st.sampled_from([0, 0, 0, 1]))
side_levels = st.lists(level, max_size=25)


def _levels(levels: list[tuple[int, int, int]], asks: bool) -> list[tuple[str, str]]:
    seen: dict[int, tuple[str, str]] = {}
    for ticks, quantity, style in levels:
        price = MID + ticks * 1_000_000 if asks else MID - ticks * 1_000_000
        seen[price] = (_spelled(price, style), _spelled(quantity, style))
    return list(seen.values())


class Plain:
    """The fill model's walk and consumption written plainly (the reference)."""

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.took: dict[bool, dict[Decimal, list[Decimal]]] = {True: {}, False: {}}

    def walk(self, buy: bool, want: Decimal, limit: Decimal | None) -> list[Slice]:
        slices: list[Slice] = []
        if want <= 0:
            return slices
        took = self.took[buy]
        for price, quantity in self.book.asks() if buy else self.book.bids():
            if limit is not None and (price > limit if buy else price < limit):
                break
            available = quantity
            taken = took.get(price)
            if taken is not None and taken[0] == quantity:
                available = quantity - taken[1]
            if not available:
                continue
            if available >= want:
                slices.append((price, want))
                break
            slices.append((price, available))
            want -= available
        return slices

    def take(self, buy: bool, slices: list[Slice]) -> None:
        took = self.took[buy]
        for price, quantity in slices:
            level = self.book.ask_quantity(price) if buy else self.book.bid_quantity(price)
            taken = took.get(price)
            if taken is None or taken[0] != level:
                took[price] = [level, min(quantity, level), price]
            else:
                taken[1] = min(taken[1] + quantity, level)

    def changed(self) -> None:
        for buy, took in self.took.items():
            quantity_at = self.book.ask_quantity if buy else self.book.bid_quantity
            for price in [p for p, taken in took.items() if quantity_at(p) != taken[0]]:
                del took[price]


def _spelt(slices: list[Slice]) -> list[tuple[str, str]]:
    return [(str(price), str(quantity)) for price, quantity in slices]


want_units = st.sampled_from([1, 9_999, 5_000_000, 60_000_000, 123_456_789, 10**9, 10**11])
limit_ticks = st.one_of(st.none(), st.integers(-3, 30))
walk_step = st.one_of(
    st.tuples(st.just("walk"), st.booleans(), want_units, limit_ticks, st.booleans()),
    st.tuples(st.just("change"), side_levels, side_levels),
)


def _limit(buy: bool, ticks: int | None) -> Decimal | None:
    if ticks is None:
        return None
    units = MID + ticks * 1_000_000 if buy else MID - ticks * 1_000_000
    return Decimal(units) / 10**8


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(side_levels, side_levels, st.lists(walk_step, min_size=1, max_size=25))
def test_depth_walk_is_the_plain_walk_decimal_for_decimal(
    bids: list[tuple[int, int, int]], asks: list[tuple[int, int, int]], steps: list[Any]
) -> None:
    """Walks (taking what they got, or only looking), then book changes that give
    levels back or leave them taken: the account's walk and the plain one agree on
    every slice, exponent included."""
    book = book_of(_levels(bids, False), _levels(asks, True))
    depth = Depth(book, 0)
    plain = Plain(book)
    with localcontext(EXACT):
        for step in steps:
            if step[0] == "walk":
                _, buy, want, ticks, taking = step
                side = Side.BUY if buy else Side.SELL
                wanted = Decimal(want) / 10**8
                limit = _limit(buy, ticks)
                got = depth.walk(side, wanted, limit)
                assert _spelt(got) == _spelt(plain.walk(buy, wanted, limit))
                everything = depth.available(side, limit)
                assert everything == sum(
                    (q for _, q in plain.walk(buy, Decimal("Infinity"), limit)), Decimal(0)
                )
                if taking and got:
                    again = depth.walk(side, wanted, limit)  # the kept walk, as placing reads it
                    assert _spelt(again) == _spelt(got)
                    depth.take(side, got)
                    plain.take(buy, got)
            else:
                _, new_bids, new_asks = step
                change(book, bids=_levels(new_bids, False), asks=_levels(new_asks, True))
                depth.changed(1)
                plain.changed()


order_step = st.tuples(
    st.sampled_from([OrderType.MARKET, OrderType.MARKET, OrderType.LIMIT]),
    st.booleans(),  # buy
    want_units,
    st.integers(-3, 30),  # a limit's price, in ticks through the touch
    st.sampled_from([None, "GTC", "IOC", "FOK"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    side_levels,
    side_levels,
    st.sampled_from(["0.001", "0.00075", "0"]),
    st.lists(order_step, min_size=1, max_size=8),
)
def test_placed_orders_fill_as_the_plain_model_says(
    bids: list[tuple[int, int, int]],
    asks: list[tuple[int, int, int]],
    fee: str,
    orders: list[tuple[OrderType, bool, int, int, str | None]],
) -> None:
    """Each order's fills (price, quantity, fee), its filled quantity, average price,
    executions and status are what the plain model computes, spelling included; later
    orders meet what earlier ones took."""
    rate = Decimal(fee)
    config = AccountConfig(
        initial_balance=Decimal(10) ** 12, balances={"BTC": Decimal(10) ** 6}, taker_fee=rate
    )
    account = Account(config)
    t = 1_700_000_000_000
    account.on_market(trade(Decimal(MID) / 10**8, t), t)  # values the BTC held: sells reduce it
    book = book_of(_levels(bids, False), _levels(asks, True))
    book.event_ms = t
    account.on_book("BTCUSDT", book, t)
    plain = Plain(book)
    for kind, buy, want, ticks, tif in orders:
        t += 1
        wanted = Decimal(want) / 10**8
        limit = _limit(buy, ticks) if kind is OrderType.LIMIT else None
        request = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY if buy else Side.SELL,
            type=kind,
            quantity=wanted,
            price=limit,
            time_in_force=tif,
        )
        order, events = account.place(request, t)
        assert order.status is not S.REJECTED, order.reason
        with localcontext(EXACT):
            expected = plain.walk(buy, wanted, limit)
            got = sum((q for _, q in expected), Decimal(0))
            if tif == "FOK" and got < wanted:
                expected, got = [], Decimal(0)
            fills = [f for e in events if isinstance(e, FillEvent) for f in e.fills]
            assert [(str(f.price), str(f.quantity), str(f.fee)) for f in fills] == [
                (str(p), str(q), str(q * p * rate)) for p, q in expected
            ]
            last = [e.order for e in events if isinstance(e, OrderEvent)][-1]
            if expected:
                value = sum((p * q for p, q in expected), Decimal(0))
                assert str(last.filled_quantity) == str(got)
                assert str(last.avg_price) == str(value / got)
                assert str(last.fee) == str(sum((q * p * rate for p, q in expected), Decimal(0)))
                assert [(str(e.price), str(e.quantity), str(e.fee)) for e in last.executions] == [
                    (str(p), str(q), str(q * p * rate)) for p, q in expected
                ]
                plain.take(buy, expected)
            else:
                assert last.filled_quantity == 0
                assert last.executions == ()
            if got >= wanted:
                assert last.status is S.FILLED
            elif tif in ("IOC", "FOK"):
                assert last.status is S.EXPIRED
            else:
                assert last.status is (S.PARTIALLY_FILLED if expected else S.NEW)
