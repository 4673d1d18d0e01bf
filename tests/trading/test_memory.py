"""The account's records stay out of the cycle collector (``gc=False``): they cannot
form cycles, and tracking them would make every fill bring a collection closer."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

from workspace.errors import NotFound
from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    FillEvent,
    OrderRequest,
    OrderType,
    PositionEvent,
    Side,
)
from workspace.trading.positions import PositionStatus

from .scripted import Refusing, request, trade


def fill_ids(events: list[AccountEvent]) -> list[str]:
    return [f.id for e in events if isinstance(e, FillEvent) for f in e.fills]


def test_orders_fills_positions_events_and_quotes_are_not_tracked_by_the_gc() -> None:
    account = Account(AccountConfig(initial_balance=Decimal(10**6)))
    account.on_market(trade("100", 1), 1)
    oco = OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.OCO,
        quantity=Decimal(1),
        take_profit=Decimal(110),
        stop_price=Decimal(90),
    )
    market = OrderRequest(
        symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)
    )
    _, placed = account.place(market, 2)
    group, more = account.place(oco, 3)
    records: list[object] = [*placed, *more, group, *group.legs, account.mark(4)]
    records += [account.portfolio(), account.quote("BTCUSDT"), *account.fills]
    records += [*account.positions, *account.open_orders, *account.orders.values()]
    assert len(records) > 8
    assert [r for r in records if gc.is_tracked(r)] == []


def test_the_bound_holds_after_every_step_and_a_refused_step_keeps_what_was_there() -> None:
    """Each step lets go of exactly what it pushed beyond the bound (the oldest fills
    and closed positions), not a batch every so often: one order's step never frees a
    thousand fills.  A step the journal refuses leaves the latest fills as they were."""
    keep = 8  # big enough that trimming in batches (keep // 8 at a time) would show
    account = Account(AccountConfig(initial_balance=Decimal(10**6)))
    sink = Refusing(0)
    account.attach_journal(sink)
    account.retain(keep)
    account.on_market(trade("100", 1), 1)
    every_fill: list[str] = []
    every_closed: list[str] = []
    for i in range(24):
        side = Side.BUY if i % 2 == 0 else Side.SELL  # each sell closes the position
        _, events = account.place(request(side, OrderType.MARKET, "1"), 2 + i)
        every_fill += fill_ids(events)
        every_closed += [
            e.position.id
            for e in events
            if isinstance(e, PositionEvent) and e.position.status is PositionStatus.CLOSED
        ]
        assert [f.id for f in account.fills] == every_fill[-keep:]
        assert [p.id for p in account.closed_positions] == every_closed[-keep:]
    assert (len(every_fill), len(every_closed)) == (24, 12)
    # the oldest closed position left memory with its id
    with pytest.raises(NotFound):
        account.position(every_closed[0])

    before = [f.id for f in account.fills], [p.id for p in account.closed_positions]
    sink.n = 1  # the next step
    buy = request(Side.BUY, OrderType.MARKET, "1")
    with pytest.raises(OSError, match="disk full"):
        account.place(buy, 20)
    assert ([f.id for f in account.fills], [p.id for p in account.closed_positions]) == before
    _, events = account.place(buy, 21)
    assert [f.id for f in account.fills] == [*before[0][1:], *fill_ids(events)]


def test_an_owner_that_trims_frees_after_the_step_and_the_bound_then_holds() -> None:
    """``retain(keep, owner_trims=True)``: a step keeps what it pushed past the bound
    (its events go out without freeing the oldest order inside it), and ``trim()``
    afterwards lets exactly that go, as a step would have."""
    keep = 3
    account = Account(AccountConfig(initial_balance=Decimal(10**6)))
    account.retain(keep, owner_trims=True)
    account.on_market(trade("100", 1), 1)
    every_fill: list[str] = []
    for i in range(8):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        order, events = account.place(request(side, OrderType.MARKET, "1"), 2 + i)
        every_fill += fill_ids(events)
        # the step did not trim: the newest order and fill are in, the oldest not out yet
        held = min(len(every_fill), keep + 1)
        assert [f.id for f in account.fills] == every_fill[-held:]
        assert order.id in account.orders
        assert len(account.orders) == held
        account.trim()
        assert [f.id for f in account.fills] == every_fill[-keep:]
        assert len(account.orders) == min(len(every_fill), keep)
    # back to trimming in the step
    account.retain(keep)
    _, events = account.place(request(Side.BUY, OrderType.MARKET, "1"), 20)
    every_fill += fill_ids(events)
    assert [f.id for f in account.fills] == every_fill[-keep:]
