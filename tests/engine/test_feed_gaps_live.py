"""Feed outages made visible: a stall and a lost connection, from the simulator's fault
hooks to STATUS, health, ws.status, the journal, ws.gaps, the ticks and the candles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workspace.market.config import FeedConfig
from workspace.notebook.workspace import Workspace
from workspace.session import Message

from .conftest import make_workspace
from .waiting import next_of, until

QUICK_STALL = FeedConfig(stall_after_s=0.5, stall_factor=3, watchdog_interval_s=0.1)


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[Workspace, asyncio.Queue[Message]]]:
    ws = make_workspace(tmp_path / "journal.sqlite", feed_config=QUICK_STALL)
    await ws.start()
    messages: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(listener=messages.put_nowait)
    try:
        await ws.subscribe("BTCUSDT", "ETHUSDT")
        for symbol in ("BTCUSDT", "ETHUSDT"):  # both stream (the stall judges their pace)
            await next_of(messages, "MARKET_UPDATE", symbol=symbol)
        yield ws, messages
    finally:
        await ws.stop()


async def test_a_stall_reads_stalled_with_an_open_gap_then_connected_and_journaled(
    watched: tuple[Workspace, asyncio.Queue[Message]],
) -> None:
    ws, messages = watched
    assert ws.engine.health()["healthy"]
    assert ws.simulator is not None
    await ws.simulator.stall(30)
    stalled = await next_of(messages, "STATUS", feed="stalled")
    assert stalled["reason"].startswith("no data for")
    open_gap = stalled["last_gap"]
    assert open_gap["end_ms"] is None
    assert open_gap["symbol"] is None
    assert open_gap["start_ms"] is not None
    assert open_gap["start_ms"] <= stalled["last_price_ms"] + 1000  # data was flowing
    health = ws.engine.health()
    assert not health["healthy"]
    assert health["problems"][0].startswith("feed stalled")
    assert ws.status["feed"] == "stalled"
    assert not ws.status["healthy"]
    open_frame = ws.gaps
    assert len(open_frame) == 1
    assert open_frame["end"].isna().all()

    await ws.simulator.stall(0)
    await next_of(messages, "STATUS", feed="connected")
    closed = await next_of(
        messages, "STATUS", where=lambda m: (m.get("last_gap") or {}).get("end_ms") is not None
    )
    gap = closed["last_gap"]
    assert gap["reason"] == "stalled"
    assert gap["end_ms"] > gap["start_ms"] == open_gap["start_ms"]
    assert ws.engine.health()["healthy"]
    gaps = ws.gaps
    assert list(gaps["reason"]) == ["stalled"]
    assert gaps["symbol"].isna().all()
    assert gaps["duration_s"].iloc[0] == (gap["end_ms"] - gap["start_ms"]) / 1000
    # the first tick of each symbol after the stall says so
    for symbol in ("BTCUSDT", "ETHUSDT"):

        def flagged_after_gap(s: str = symbol) -> object:
            return ws.ticks(s)["after_gap"].any()

        await until(flagged_after_gap, what=f"{symbol} flagged")
        ticks = ws.ticks(symbol)
        flagged = ticks[ticks["after_gap"]]
        assert len(flagged) == 1
        assert flagged["timestamp"].iloc[0] >= gap["end_ms"]


async def test_a_lost_connection_is_a_gap_and_the_candles_are_refilled_over_it(
    watched: tuple[Workspace, asyncio.Queue[Message]],
) -> None:
    ws, messages = watched
    candles = await ws.candles("BTCUSDT", "1m", 5)
    assert len(candles) == 5
    keeper = ws.engine.live_candles
    assert keeper is not None
    assert keeper.refills == 0
    assert ws.simulator is not None
    await ws.simulator.drop_connections()
    await next_of(messages, "STATUS", feed="reconnecting")
    await next_of(messages, "STATUS", feed="connected")
    status = await next_of(
        messages, "STATUS", where=lambda m: (m.get("last_gap") or {}).get("end_ms") is not None
    )
    gap = status["last_gap"]
    assert gap["symbol"] is None
    assert gap["reason"].startswith("connection")
    await until(lambda: keeper.refills == 1, what="the 1m candles refilled from REST")
    assert list(ws.gaps["reason"]) == [gap["reason"]]
