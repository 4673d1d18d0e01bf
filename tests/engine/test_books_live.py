"""Order books in the engine, live: the feed's books against the simulator's own book,
BOOK_UPDATE, the account's reference, and a forced sequence gap end to end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.engine.books import BookUnavailable
from workspace.engine.config import EngineConfig
from workspace.market.book import OrderBook
from workspace.market.config import FeedConfig
from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.sim import ManualClock, SimConfig
from workspace.sim.book import SimBook
from workspace.sim.fixedpoint import SCALE

from .conftest import FAST_ENGINE
from .waiting import next_of, until

START_MS = 1_700_000_000_000


def sim_levels(levels: list[tuple[int, int]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(price) / SCALE, Decimal(qty) / SCALE) for price, qty in levels]


@pytest.fixture
async def frozen(tmp_path: Path) -> AsyncIterator[tuple[Workspace, ManualClock]]:
    """A workspace on a simulator whose clock only moves when the test moves it, so
    the simulator's book holds still while the engine's is compared with it."""
    clock = ManualClock(START_MS)
    sim = SimConfig(symbols=("BTCUSDT", "ETHUSDT"), seed=11, clock=clock, book_interval_s=0.1)
    ws = Workspace(
        feed="sim",
        db=tmp_path / "journal.sqlite",
        sim=sim,
        engine=FAST_ENGINE,
        feed_config=FeedConfig(stall_after_s=None),  # a frozen market is not a stall
    )
    await ws.start()
    try:
        yield ws, clock
    finally:
        await ws.stop()


def market_book(ws: Workspace, symbol: str) -> SimBook:
    assert ws.simulator is not None
    assert ws.simulator.market is not None
    book = ws.simulator.market.book(symbol)
    assert book is not None
    return book


async def move_market(ws: Workspace, clock: ManualClock, ms: int) -> None:
    """Let the simulated market run ``ms`` and the engine's book catch up with it (a
    book starts with the first diff event: Binance's procedure buffers it, then asks
    for the snapshot)."""
    await clock.advance(ms)
    assert ws.simulator is not None
    await ws.simulator.caught_up()
    sim_book = market_book(ws, "BTCUSDT")
    await until(
        lambda: (
            ws.engine.feed is not None
            and (book := ws.engine.feed.book("BTCUSDT")) is not None
            and book.last_update_id == sim_book.update_id
        ),
        what="the engine's book reaches the simulator's update id",
    )


def assert_same_book(ws: Workspace, levels: int = 50) -> OrderBook:
    sim_book = market_book(ws, "BTCUSDT")
    book = ws.engine.order_book("BTCUSDT")
    assert book.last_update_id == sim_book.update_id
    assert book.bids(levels) == sim_levels(sim_book.bids(levels))
    assert book.asks(levels) == sim_levels(sim_book.asks(levels))
    return book


async def test_the_engines_book_follows_the_simulators_book_level_for_level(
    frozen: tuple[Workspace, ManualClock],
) -> None:
    ws, clock = frozen
    with pytest.raises(BookUnavailable, match="subscribe"):
        ws.book("BTCUSDT")
    await ws.subscribe("BTCUSDT")
    for _ in range(3):
        await move_market(ws, clock, 1_000)
        book = assert_same_book(ws)
    # the account holds the very book the engine keeps (it changes in place)
    assert ws.account.book("BTCUSDT") is book
    frame = ws.book("BTCUSDT", depth=5)
    assert list(frame.columns) == [
        "bid_price", "bid_qty", "bid_total", "ask_price", "ask_qty", "ask_total",
    ]  # fmt: skip
    assert frame["bid_price"].is_monotonic_decreasing
    assert frame["ask_price"].is_monotonic_increasing
    assert frame["bid_price"].iloc[0] < frame["ask_price"].iloc[0]
    assert frame["bid_total"].iloc[-1] == pytest.approx(frame["bid_qty"].sum())
    assert frame.attrs["last_update_id"] == book.last_update_id
    exact = ws.book("BTCUSDT", depth=3, exact=True)
    assert list(exact["ask_price"]) == [price for price, _ in book.asks(3)]


async def test_book_update_carries_the_top_20_levels_of_the_engines_book(
    frozen: tuple[Workspace, ManualClock],
) -> None:
    ws, clock = frozen
    engine = ws.engine
    assert await engine.acquire_book("btcusdt") == "BTCUSDT"
    await move_market(ws, clock, 500)
    message = engine.book_update("BTCUSDT")
    assert message is not None
    book = engine.order_book("BTCUSDT")
    assert message["type"] == "BOOK_UPDATE"
    assert message["lastUpdateId"] == book.last_update_id
    assert message["bids"] == [[float(p), float(q)] for p, q in book.bids(20)]
    assert message["asks"] == [[float(p), float(q)] for p, q in book.asks(20)]
    assert len(message["bids"]) == len(message["asks"]) == 20
    prices = [level[0] for level in message["bids"]]
    assert prices == sorted(prices, reverse=True)
    assert [level[0] for level in message["asks"]] == sorted(level[0] for level in message["asks"])
    await engine.release_book("BTCUSDT")


async def test_book_update_carries_the_last_trade_the_engine_saw(
    frozen: tuple[Workspace, ManualClock],
) -> None:
    ws, clock = frozen
    engine = ws.engine
    await engine.acquire_book("BTCUSDT")
    await move_market(ws, clock, 2_000)
    assert ws.simulator is not None
    assert ws.simulator.market is not None
    printed = ws.simulator.market.recent_trades("BTCUSDT")[-1]
    price = float(Decimal(printed.price) / SCALE)

    def carried() -> bool:
        message = engine.book_update("BTCUSDT")
        return message is not None and message.get("last_time") == printed.time_ms

    await until(carried, what="the BOOK_UPDATE carries the simulator's last trade")
    message = engine.book_update("BTCUSDT")
    assert message is not None
    assert message["last_price"] == price
    await engine.release_book("BTCUSDT")


async def test_a_book_asked_for_alone_subscribes_its_depth_stream_and_lets_it_go(
    tmp_path: Path,
) -> None:
    sim = SimConfig(symbols=("BTCUSDT",), seed=3, book_interval_s=0.05)
    ws = Workspace(
        feed="sim",
        db=tmp_path / "j.sqlite",
        sim=sim,
        engine=EngineConfig(keep_books=False, status_interval_s=0.2),
    )
    await ws.start()
    try:
        simulator = ws.simulator
        assert simulator is not None
        await ws.subscribe("BTCUSDT")
        assert simulator.subscribers("btcusdt@depth@100ms") == 0  # tickers only
        await ws.engine.acquire_book("BTCUSDT")
        await asyncio.wait_for(simulator.wait_for_subscribers("btcusdt@depth@100ms", 1), 10)
        book = await ws.wait_for_book("BTCUSDT")
        assert book.best_bid() is not None
        await ws.engine.release_book("BTCUSDT")
        await asyncio.wait_for(simulator.wait_for_subscribers("btcusdt@depth@100ms", 0), 10)
        assert simulator.subscribers("btcusdt@ticker") == 1  # the notebook still holds it
        with pytest.raises(BookUnavailable):
            ws.book("BTCUSDT")
    finally:
        await ws.stop()


async def test_a_forced_depth_gap_shows_in_status_journal_gaps_and_ticks(
    frozen: tuple[Workspace, ManualClock], tmp_path: Path
) -> None:
    ws, clock = frozen
    statuses: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(listener=statuses.put_nowait)
    await ws.subscribe("BTCUSDT")
    await move_market(ws, clock, 1_000)  # the book starts: the snapshot
    await move_market(ws, clock, 1_000)  # events applied to it
    before = ws.engine.order_book("BTCUSDT")
    applied_ms = before.event_ms
    assert applied_ms is not None

    assert ws.simulator is not None
    await ws.simulator.skip_depth_updates("BTCUSDT", events=1)
    await move_market(ws, clock, 1_000)  # the gap and the resync from a new snapshot
    await move_market(ws, clock, 1_000)  # the first event applied to the new book ends it
    status = await next_of(
        statuses, "STATUS", where=lambda m: (m.get("last_gap") or {}).get("symbol") == "BTCUSDT"
    )
    gap = status["last_gap"]
    assert gap["reason"].startswith("depth gap: BTCUSDT")
    assert gap["start_ms"] == applied_ms  # the last event applied to the old book
    assert gap["end_ms"] > gap["start_ms"]

    rebuilt = assert_same_book(ws)
    assert rebuilt is not before  # a new book from a new snapshot
    assert ws.account.book("BTCUSDT") is rebuilt

    gaps = ws.gaps
    assert list(gaps["symbol"]) == ["BTCUSDT"]
    assert list(gaps["start_ms"]) == [gap["start_ms"]]
    assert gaps["duration_s"].iloc[0] > 0
    with sqlite3.connect(tmp_path / "journal.sqlite") as con:
        rows = con.execute("SELECT start_ms, end_ms, reason, symbol FROM gaps").fetchall()
    assert rows == [(gap["start_ms"], gap["end_ms"], gap["reason"], "BTCUSDT")]

    await move_market(ws, clock, 1_000)  # ticks after the gap
    ticks = ws.ticks("BTCUSDT")
    flagged = ticks[ticks["after_gap"]]
    assert len(flagged) == 1  # only the first tick after it
    assert flagged["timestamp"].iloc[0] >= gap["end_ms"]
    assert not ticks[ticks["timestamp"] < gap["end_ms"]]["after_gap"].any()
