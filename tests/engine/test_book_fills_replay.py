"""The book fill model in a running workspace: a recording made from the simulator with
the real recorder (tickers, trades, diff depth with its REST snapshots) replays a
strategy whose orders walk the book, rest in its queue and expire by their time in
force; the same recording gives the same journal, byte for byte."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.engine.ticks import Tick
from workspace.journal import Journal
from workspace.notebook.workspace import Workspace
from workspace.sim import ExchangeSimulator, ManualClock, SimConfig
from workspace.sim.recorder import Recorder, streams_for
from workspace.trading import FillEvent, Order, OrderEvent
from workspace.trading.orders import Fill

from .test_replay import journal_dump
from .waiting import until

START_MS = 1_700_000_000_000
SECONDS = 12


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fills") / "session.jsonl"
    asyncio.run(_record(path))
    return path


async def _record(path: Path) -> None:
    clock = ManualClock(START_MS)
    sim = ExchangeSimulator(
        SimConfig(symbols=("BTCUSDT",), seed=11, clock=clock, book_interval_s=0.1)
    )
    await sim.start()
    try:
        streams = streams_for(["btcusdt"], ["ticker", "bookTicker", "aggTrade", "depth@100ms"])
        with path.open("wb") as sink:
            recorder = Recorder(
                sim.stream_url, streams, sink, clock=clock, rest_url=sim.rest_url, book_depth=100
            )
            task = asyncio.create_task(recorder.run())
            await asyncio.wait_for(sim.wait_for_connections(1), 10)
            for _ in range(SECONDS):
                await clock.advance(1_000)
                await sim.caught_up()
                await asyncio.wait_for(recorder.settled(), 10)
            await until(lambda: recorder.snapshots >= 1, what="the book's snapshot")
            recorder.stop()
            await asyncio.wait_for(task, 10)
    finally:
        await sim.stop()


def attach_strategy(ws: Workspace, placed: list[Order]) -> None:
    """Every 6th tick, one of: a market buy larger than the best three asks, a market
    sell of as much, a limit buy resting at the best bid (behind its queue), one inside
    the spread (first in line), an IOC buy of three times as much up to the third ask, a
    FOK buy up to the third ask that the book cannot fill."""
    count = 0

    @ws.on_tick("BTCUSDT")
    def strategy(tick: Tick) -> None:
        nonlocal count
        count += 1
        book = ws.account.book("BTCUSDT")
        if count % 6 != 3 or book is None or len(book.asks(3)) < 3 or len(book.bids(3)) < 3:
            return
        asks, bids = book.asks(3), book.bids(3)
        three = ws.round_qty("BTCUSDT", sum(q for _, q in asks) + Decimal("0.001"))
        step = count // 6 % 6
        if step == 0:
            placed.append(ws.buy("BTCUSDT", three))
        elif step == 1:
            placed.append(ws.sell("BTCUSDT", three))
        elif step == 2:
            placed.append(ws.limit("BTCUSDT", "BUY", "0.002", bids[0][0]))
        elif step == 3:
            inside = bids[0][0] + Decimal("0.01")
            if inside < asks[0][0]:
                placed.append(ws.limit("BTCUSDT", "BUY", "0.002", inside))
        elif step == 4:
            placed.append(ws.limit("BTCUSDT", "BUY", three * 3, asks[2][0], time_in_force="IOC"))
        else:
            placed.append(ws.limit("BTCUSDT", "BUY", three, asks[2][0], time_in_force="FOK"))


async def run_once(
    path: Path, db: Path, called: list[Fill] | None = None
) -> tuple[list[str], list[Order]]:
    ws = Workspace(feed=f"replay:{path}", db=db, balances={"USDT": 10_000_000, "BTC": 1000})
    placed: list[Order] = []
    attach_strategy(ws, placed)
    if called is not None:
        ws.on_fill("BTCUSDT")(called.append)  # a strategy's on_fill: once per fill
    await ws.start()
    try:
        await ws.run()
        status = ws.status
        assert status["fill_model"] == "book"
        assert status["fill_models"] == {"BTCUSDT": "book"}
    finally:
        await ws.stop()
    # the journal's identity is made when a client (here ``ws.status``) first asks
    return [line for line in journal_dump(db) if "'journal_id'" not in line], placed


async def test_a_replayed_strategy_walks_the_recorded_books_the_same_way_twice(
    recording: Path, tmp_path: Path
) -> None:
    called: list[Fill] = []
    first, placed = await run_once(recording, tmp_path / "a.sqlite", called)
    second, _ = await run_once(recording, tmp_path / "b.sqlite")
    assert first == second  # byte for byte, the same journal
    assert len(placed) >= 10
    with Journal.open(tmp_path / "a.sqlite") as journal:
        recorded = [event for _, event in journal.events()]
    fills = [f for e in recorded if isinstance(e, FillEvent) for f in e.fills]
    # a walk is one fill event with a fill per level; on_fill still sees every fill
    assert any(len(e.fills) >= 3 for e in recorded if isinstance(e, FillEvent))
    assert called == fills
    orders: dict[str, Order] = {}
    for event in recorded:
        if isinstance(event, OrderEvent):
            orders[event.order.id] = event.order
    walked = [o for o in orders.values() if o.type.value == "MARKET" and len(o.executions) >= 3]
    assert walked, "a market order larger than three levels walked at least three"
    for order in walked:
        prices = [e.price for e in order.executions]
        assert prices == sorted(prices, reverse=order.side.value == "SELL")
        assert not any(e.maker for e in order.executions)
    ioc = [o for o in orders.values() if o.time_in_force == "IOC"]
    assert ioc
    assert all(o.status.value in ("FILLED", "EXPIRED") for o in ioc)
    fok = [o for o in orders.values() if o.time_in_force == "FOK"]
    assert fok
    assert all((o.status.value, o.filled_quantity) == ("EXPIRED", Decimal(0)) for o in fok)
    resting = [o for o in orders.values() if o.type.value == "LIMIT" and o.time_in_force == "GTC"]
    assert resting
    assert all(o.queue_ahead is not None for o in resting)
    # the ones first in line (inside the spread) fill as makers when a sale reaches them
    makers = [f for f in fills if f.liquidity.value == "maker"]
    assert makers
    assert all(orders[f.order_id].price == f.price for f in makers)
