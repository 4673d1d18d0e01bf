"""Bounded memory (issue 16): final orders beyond ``final_orders_in_memory`` leave the
account (with their legs, and as many fills and closed positions), and every view
still finds them in the journal: ``get_orders`` ALL or by a final status, an order by
id (a leg too), a cancel of an old order, ``ws.orders``.  A rebuild keeps the bound."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.errors import InvalidParams, NotFound
from workspace.journal import Journal
from workspace.market.records import Trade
from workspace.trading import AccountConfig, OrderRequest, OrderType, Side

from .fakes import ManualClock

KEEP = 5
CONFIG = AccountConfig(initial_balance=Decimal(100_000))


def trade(price: str, t: int) -> Trade:
    return Trade(
        event_type="aggTrade",
        event_time=t,
        symbol="BTCUSDT",
        price=Decimal(price),
        quantity=Decimal(1),
        trade_time=t,
        buyer_is_maker=False,
    )


def limit(price: int) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.1"),
        price=Decimal(price),
    )


def oco() -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.OCO,
        quantity=Decimal("0.1"),
        take_profit=Decimal(120),
        stop_price=Decimal(80),
    )


def market(side: Side) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, type=OrderType.MARKET, quantity=Decimal("0.1"))


def final_in_memory(engine: Engine) -> int:
    return len([o for o in engine.account.orders.values() if o.status.value != "NEW"])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    journal = Journal.open(tmp_path / "journal.sqlite", config=CONFIG)
    config = EngineConfig(final_orders_in_memory=KEEP)
    clock = ManualClock()
    engine = Engine(
        account=journal.rebuild(), journal=journal, source="test", clock=clock, config=config
    )
    engine.on_record(trade("100", clock.now_ms))
    return engine


def test_final_orders_beyond_the_bound_leave_memory_and_views_read_the_journal(
    engine: Engine,
) -> None:
    account = engine.account
    bought, _ = engine.place(market(Side.BUY))  # holds 0.1 BTC for the OCO
    group, _ = engine.place(oco())
    engine.cancel(group.id)
    canceled = [engine.cancel(engine.place(limit(90 - i))[0].id)[0] for i in range(12)]
    resting, _ = engine.place(limit(50))
    sold, _ = engine.place(market(Side.SELL))
    assert final_in_memory(engine) == KEEP
    assert not account.complete_in_memory
    assert account.fill_count == 2

    everything = engine.orders_message("ALL")["orders"]
    placed = [bought, group, *canceled, resting, sold]
    assert [o["id"] for o in everything] == [o.id for o in placed]
    assert {o["status"] for o in everything} == {"FILLED", "CANCELED", "NEW"}
    assert len(engine.orders_message("CANCELED")["orders"]) == 13
    assert [o["id"] for o in engine.orders_message()["orders"]] == [resting.id]

    oldest = canceled[0]
    with pytest.raises(NotFound):
        account.order(oldest.id)
    assert engine.order(oldest.id) == oldest
    leg = group.legs[1]
    assert engine.order(leg.id).id == leg.id
    assert engine.order(leg.id).status.value == "CANCELED"
    with pytest.raises(InvalidParams, match="already CANCELED"):
        engine.cancel(oldest.id)
    with pytest.raises(NotFound):
        engine.order("order-999")

    engine.journal.close()
    with Journal.open(engine.journal.path) as journal:
        rebuilt = journal.rebuild(retain=KEEP)
        assert rebuilt.open_orders == account.open_orders
        assert rebuilt.portfolio() == account.portfolio()
        assert len(rebuilt.orders) == len(account.orders)


async def test_in_a_running_loop_old_orders_leave_after_the_replies(engine: Engine) -> None:
    """On a running loop the engine frees what its steps pushed past the bound once
    the loop turn's replies are out (one trim for the turn), not inside each step."""
    engine.place(market(Side.BUY))
    for _ in range(KEEP + 3):
        engine.place(market(Side.SELL if final_in_memory(engine) % 2 else Side.BUY))
    # every step of this turn kept its order: nothing was freed inside them
    assert final_in_memory(engine) == KEEP + 4
    for _ in range(10):  # a few loop turns, no wall-clock wait
        if final_in_memory(engine) <= KEEP:
            break
        await asyncio.sleep(0)
    assert final_in_memory(engine) == KEEP
    assert len(engine.account.fills) == KEEP


def test_the_bound_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="final_orders_in_memory"):
        dataclasses.replace(EngineConfig(), final_orders_in_memory=0)


def test_resume_reads_come_in_pages_of_order_updates(engine: Engine) -> None:
    for i in range(9):
        engine.cancel(engine.place(limit(90 - i))[0].id)
    everything = engine.order_events_since(0)
    assert len(everything) == 18
    pages = list(engine.order_update_pages(0, page_size=4))
    assert [len(page) for page in pages] == [4, 4, 4, 4, 2]
    assert [m for page in pages for m in page] == everything
    assert all(m["type"] == "ORDER_UPDATE" for m in everything)
    snapshot = everything[9]["seq"]
    bounded = [
        m for page in engine.order_update_pages(everything[2]["seq"], 4, snapshot) for m in page
    ]
    assert bounded == everything[3:10]
