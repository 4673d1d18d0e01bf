"""One fill event per execution: a market order that walks twenty levels of the book is
one ``FillEvent`` carrying its twenty fills (not twenty events), exact to the last
digit, and the account it leaves is the one a rebuild from the journal gives, whether
the journal holds the new events or a schema 3 journal's one fill per event."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from workspace.journal import Journal
from workspace.journal.codec import EventCodec
from workspace.market.records import Trade
from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    FillEvent,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    Side,
)
from workspace.trading.average_cost import apply_fills
from workspace.trading.orders import Fill, Liquidity
from workspace.trading.positions import Position, PositionStatus, PositionType

from .books import book_of
from .scripted import D, buy, sell

SYMBOL = "BTCUSDT"
T0 = 1_700_000_000_000
FEE = D("0.001")
# twenty asks of uneven sizes and prices a tick apart, and as many bids
ASKS = [(f"{D(100) + D('0.01') * i:.2f}", f"{D('0.013') * (i % 7 + 1):.3f}") for i in range(40)]
BIDS = [(f"{D('99.99') - D('0.01') * i:.2f}", f"{D('0.011') * (i % 5 + 1):.3f}") for i in range(40)]


def desk(**config: object) -> Account:
    account = Account(
        AccountConfig(**{"initial_balance": D(100_000), **config})  # type: ignore[arg-type]
    )
    book = book_of(BIDS, ASKS)
    book.event_ms = T0
    account.on_book(SYMBOL, book, T0)
    return account


def within(levels: list[tuple[str, str]], count: int) -> Decimal:
    """A quantity that ends inside level ``count`` (1-based) of ``levels``."""
    return sum((D(q) for _, q in levels[: count - 1]), D(0)) + D("0.001")


def state(account: Account) -> tuple[object, ...]:
    """Everything a rebuild must give back, exactly (Decimals compare by value; their
    spelling is compared through the wire encoding of the positions and orders)."""
    return (
        account.portfolio(),
        dict(account.balances()),
        # (a rebuild has no live prices: every mark is stale until one comes)
        msgspec.json.encode(
            [
                msgspec.structs.replace(p, stale=True, price_ms=None)
                for p in account.positions_at(T0 + 10)
            ]
        ),
        msgspec.json.encode(account.closed_positions),
        msgspec.json.encode(sorted(account.orders.values(), key=lambda o: o.seq_no)),
        msgspec.json.encode(account.fills),
        account.fill_count,
        (account.ids.order, account.ids.fill, account.ids.position, account.ids.seq_no),
    )


def replayed(events: list[AccountEvent], **config: object) -> Account:
    account = Account(
        AccountConfig(**{"initial_balance": D(100_000), **config})  # type: ignore[arg-type]
    )
    for event in events:
        account.apply(event)
    return account


def split(events: list[AccountEvent]) -> list[AccountEvent]:
    """The same events as a schema 3 journal held them: one fill per fill event."""
    out: list[AccountEvent] = []
    for event in events:
        if isinstance(event, FillEvent):
            out += [FillEvent(ts_ms=event.ts_ms, fill=f) for f in event.fills]
        else:
            out.append(event)
    return out


def test_a_20_level_walk_is_one_fill_event_with_20_exact_fills() -> None:
    account = desk()
    quantity = within(ASKS, 20)
    order, events = account.place(buy(OrderType.MARKET, str(quantity)), T0 + 1)
    assert [e.kind for e in events] == ["order", "fill", "position", "order"]
    (event,) = [e for e in events if isinstance(e, FillEvent)]
    fills = event.fills
    assert len(fills) == 20
    assert fills[0] is event.fill
    assert fills[1:] == event.more
    # one fill per level at the level's price, the last cut to what was left
    for fill, (price, level) in zip(fills[:-1], ASKS, strict=False):
        assert (fill.price, fill.quantity) == (D(price), D(level))
    assert (fills[-1].price, fills[-1].quantity) == (D(ASKS[19][0]), D("0.001"))
    assert [f.id for f in fills] == [f"fill-{n}" for n in range(1, 21)]
    for fill in fills:
        assert fill.fee == fill.quantity * fill.price * FEE  # a taker fee per fill, exact
        assert (fill.order_id, fill.side, fill.liquidity) == (order.id, Side.BUY, Liquidity.TAKER)
        assert fill.fee_asset == "USDT"
        assert fill.ts_ms == T0 + 1
    notional = sum((f.quantity * f.price for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    assert sum((f.quantity for f in fills), D(0)) == quantity
    assert order.status is OrderStatus.FILLED
    assert order.avg_price == account.ctx.divide(notional, quantity)  # the account's 60 digits
    assert order.fee == fees
    assert [(x.price, x.quantity, x.fee) for x in order.executions] == [
        (f.price, f.quantity, f.fee) for f in fills
    ]
    # the wallet moved by exactly what the fills say
    balances = account.balances()
    assert (balances["USDT"].free, balances["USDT"].locked) == (
        D(100_000) - notional - fees,
        D(0),
    )
    assert balances["BTC"].free == quantity
    assert account.portfolio().fees_paid == fees
    assert account.fill_count == 20
    assert account.ids.fill == 21
    position = account.positions[0]
    assert (position.quantity, position.cost) == (quantity, notional)


def test_a_walk_that_reduces_a_holding_realizes_pnl_per_fill() -> None:
    account = desk(balances={"BTC": D(5)})
    account.on_market(_trade(D("99.5"), T0 + 1), T0 + 1)  # values the BTC held at 99.5
    quantity = within(BIDS, 20)
    order, events = account.place(sell(OrderType.MARKET, str(quantity)), T0 + 2)
    (event,) = [e for e in events if isinstance(e, FillEvent)]
    assert len(event.fills) == 20
    # each fill realizes its price against the holding's cost of 99.5 (exact here)
    for fill in event.fills:
        assert fill.realized_pnl == fill.quantity * (fill.price - D("99.5"))
    (position,) = account.positions
    assert position.quantity == 5 - quantity
    assert account.portfolio().realized_pnl == sum((f.realized_pnl for f in event.fills), D(0))
    assert order.status is OrderStatus.FILLED


def _trade(price: Decimal, t: int) -> Trade:
    return Trade(
        event_type="trade",
        event_time=t,
        symbol=SYMBOL,
        price=price,
        quantity=D("0.001"),
        trade_time=t,
        buyer_is_maker=False,
        trade_id=t,
    )


def session() -> tuple[Account, list[AccountEvent]]:
    """Buys and sells that walk the book, a margin-free spot account."""
    account = desk(balances={"BTC": D(3)})
    events: list[AccountEvent] = []
    t = T0
    for i, count in enumerate((20, 3, 20, 7, 1, 12)):
        t += 1
        events += account.on_market(_trade(D(100), t), t)
        fresh = book_of(BIDS, ASKS)  # a rebuilt book: all its liquidity again
        fresh.event_ms = t
        events += account.on_book(SYMBOL, fresh, t)
        side = buy if i % 2 == 0 else sell
        levels = ASKS if i % 2 == 0 else BIDS
        order, placed = account.place(side(OrderType.MARKET, str(within(levels, count))), t)
        assert order.status is OrderStatus.FILLED, order.reason
        events += placed
    return account, events


def test_applying_the_events_again_gives_the_same_account_and_bytes() -> None:
    account, events = session()
    assert state(replayed(events, balances={"BTC": D(3)})) == state(account)
    codec = EventCodec()
    for event in events:  # the journal's bytes decode to events that encode the same
        body = codec.encode(event)
        assert codec.encode(codec.decode(body)) == body
    single = [e for e in events if isinstance(e, FillEvent) and not e.more]
    assert single  # a one-level execution encodes as it always did: no "more"
    assert b"more" not in codec.encode(single[0])


def test_the_one_fill_per_event_form_of_older_journals_applies_the_same() -> None:
    account, events = session()
    old = split(events)
    assert len(old) > len(events) + 50
    assert state(replayed(old, balances={"BTC": D(3)})) == state(account)


def test_a_schema_3_journal_of_one_fill_per_event_upgrades_and_rebuilds_the_same(
    tmp_path: Path,
) -> None:
    account, events = session()
    config = AccountConfig(initial_balance=D(100_000), balances={"BTC": D(3)})
    path = tmp_path / "v3.sqlite"
    with Journal.open(path, config) as journal:
        journal.append(split(events))
    with sqlite3.connect(path) as con:  # what schema 3 wrote: the same tables, version 3
        con.execute("PRAGMA user_version = 3")
    with Journal.open(path) as journal:
        rebuilt = journal.rebuild()
        kinds = [e.kind for _, e in journal.events()]
    assert kinds.count("fill") == account.fill_count
    assert state(rebuilt) == state(account)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'upgraded_from'").fetchone() == (
            b"3",
        )


def test_a_journal_of_walks_rebuilds_the_same_account(tmp_path: Path) -> None:
    account, events = session()
    config = AccountConfig(initial_balance=D(100_000), balances={"BTC": D(3)})
    with Journal.open(tmp_path / "j.sqlite", config) as journal:
        journal.append(events)
    with Journal.open(tmp_path / "j.sqlite") as journal:
        assert state(journal.rebuild()) == state(account)
        stored = [e for _, e in journal.events()]
    assert stored == events


def test_fills_of_different_orders_or_fee_assets_in_one_event_apply_one_by_one() -> None:
    # no execution makes such an event; a hand-made one must still apply exactly
    base = Fill(
        id="fill-1",
        order_id="order-1",
        symbol=SYMBOL,
        side=Side.BUY,
        quantity=D("0.5"),
        price=D(100),
        fee=D("0.05"),
        liquidity=Liquidity.TAKER,
        ts_ms=T0,
        position_id="pos-1",
        fee_asset="USDT",
    )
    other = msgspec.structs.replace(
        base, id="fill-2", side=Side.SELL, quantity=D("0.2"), fee=D("0.0002"), fee_asset="BTC"
    )
    together = replayed([FillEvent(ts_ms=T0, fill=base, more=(other,))], balances={"BTC": D(1)})
    apart = replayed(
        [FillEvent(ts_ms=T0, fill=base), FillEvent(ts_ms=T0, fill=other)], balances={"BTC": D(1)}
    )
    assert state(together) == state(apart)
    assert together.balances()["BTC"].free == D(1) + D("0.5") - D("0.2") - D("0.0002")


def _position(kind: PositionType, quantity: str, cost: str) -> Position:
    q, c = D(quantity), D(cost)
    return Position(
        id="pos-7",
        symbol=SYMBOL,
        type=kind,
        quantity=q,
        cost=c,
        entry_price=c / q,
        status=PositionStatus.OPEN,
        opened_at=T0,
        updated_at=T0,
        current_price=D(100),
    )


@pytest.mark.parametrize(
    ("position", "side"),
    [
        (None, Side.BUY),
        (None, Side.SELL),
        (_position(PositionType.BUY, "3", "301"), Side.BUY),  # grows
        (_position(PositionType.BUY, "3", "301"), Side.SELL),  # reduces, cost / 3 repeats
        (_position(PositionType.SELL, "7", "700.07"), Side.BUY),  # a short reduces
        (_position(PositionType.BUY, "0.4", "40"), Side.SELL),  # closes and turns
    ],
)
def test_an_executions_totals_give_what_the_fill_by_fill_rule_gives(
    position: Position | None, side: Side
) -> None:
    fills = [(D("100.01"), D("0.13")), (D("100.02"), D("0.07")), (D("99.97"), D("0.31"))]
    totals = (
        sum((q for _, q in fills), D(0)),
        sum((p * q for p, q in fills), D(0)),
    )
    kw = {"symbol": SYMBOL, "side": side, "mark": D("100.5"), "ts_ms": T0 + 5, "new_id": "pos-9"}
    fast = apply_fills(position, fills=fills, totals=totals, **kw)  # type: ignore[arg-type]
    rule = apply_fills(position, fills=fills, **kw)  # type: ignore[arg-type]
    assert msgspec.json.encode(fast) == msgspec.json.encode(rule)
    if position is not None:
        assert position.quantity in (D(3), D(7), D("0.4"))  # the caller's copy is untouched


def test_an_execution_emits_its_order_after_the_position() -> None:
    account = desk()
    _, events = account.place(buy(OrderType.MARKET, str(within(ASKS, 5))), T0 + 1)
    assert isinstance(events[0], OrderEvent)
    assert events[0].order.status is OrderStatus.NEW
    assert isinstance(events[2], PositionEvent)
    assert isinstance(events[3], OrderEvent)
    assert events[3].order.status is OrderStatus.FILLED


def _naive_walk(levels: list[tuple[str, str]], want: Decimal) -> list[tuple[Decimal, Decimal]]:
    out: list[tuple[Decimal, Decimal]] = []
    for price, quantity in levels:
        if want <= 0:
            break
        take = min(D(quantity), want)
        out.append((D(price), take))
        want -= take
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_walk_reads_levels_in_batches_and_gets_what_a_plain_walk_gets(seed: int) -> None:
    import random

    from workspace.trading.depth import Depth

    rng = random.Random(seed)
    # level sizes that change along the book (small at the touch, big further out, or
    # the other way round), so the batch estimates are wrong in both directions
    sizes = [rng.choice(("0.001", "0.5", "0.02", "3", "0.0007")) for _ in range(600)]
    asks = [(f"{D(1000) + D('0.1') * i:.1f}", size) for i, size in enumerate(sizes)]
    book = book_of([("999.9", "1")], asks)
    depth = Depth(book, T0)
    total = sum((D(q) for _, q in asks), D(0))
    for want in (D("0.0001"), D("0.7"), D("5.5"), D(40), total - D("0.0001"), total, total + 1):
        assert depth.walk(Side.BUY, want, None) == _naive_walk(asks, want), want
    assert depth.available(Side.BUY, None) == total
    assert depth.available(Side.BUY, D("1000.5")) == sum((D(q) for _, q in asks[:6]), D(0))


def test_a_trade_spelled_otherwise_than_the_book_counts_against_the_same_level() -> None:
    from workspace.trading.depth import Depth

    book = book_of([("99.00000000", "1")], [("100.50000000", "2"), ("101.00000000", "5")])
    book.event_ms = T0
    depth = Depth(book, T0)
    depth.trade_printed(D("100.5"), D("1.5"), True, T0 + 1)  # a trade's own spelling
    assert depth.walk(Side.BUY, D(3), None) == [(D("100.5"), D("0.5")), (D(101), D("2.5"))]
    depth.take(Side.BUY, [(D("100.50"), D("0.5"))])  # and a slice spelled a third way
    assert depth.walk(Side.BUY, D(3), None) == [(D(101), D(3))]


def test_the_fills_view_has_a_row_per_fill_of_each_event() -> None:
    from workspace.journal import fills_frame

    account, events = session()
    frame = fills_frame(events)
    assert len(frame) == account.fill_count
    assert list(frame["fill_id"]) == [f.id for f in account.fills]
