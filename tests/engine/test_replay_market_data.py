"""Books, candles and gaps in replay: a recording made from the simulator (diff depth
with its REST snapshots, klines with their history, a forced depth gap) rebuilds the
same books, candles and gaps every time; kline files give back their own candles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
import pandas as pd
import pytest

from workspace.engine.ticks import Tick
from workspace.errors import InvalidParams, InvalidSymbol
from workspace.notebook.workspace import Workspace
from workspace.sim import ExchangeSimulator, ManualClock, SimConfig
from workspace.sim.fixedpoint import SCALE
from workspace.sim.klines import read_klines
from workspace.sim.recorder import Recorder, streams_for

from .test_replay import journal_dump, short_klines
from .waiting import until

START_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Recording:
    path: Path
    bids: list[tuple[Decimal, Decimal]]  # the simulator's book when the recording ended
    asks: list[tuple[Decimal, Decimal]]
    update_id: int
    snapshots: int
    histories: int


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """BTCUSDT and ETHUSDT for 8 simulated seconds: tickers, trades, diff depth and 1m
    klines, with the REST snapshots and kline history; BTCUSDT's depth skips one event
    halfway (a sequence gap the book must recover from)."""
    path = tmp_path_factory.mktemp("recording") / "session.jsonl"
    return asyncio.run(_record(path))


async def _record(path: Path) -> Recording:
    clock = ManualClock(START_MS)
    sim = ExchangeSimulator(
        SimConfig(symbols=("BTCUSDT", "ETHUSDT"), seed=5, clock=clock, book_interval_s=0.1)
    )
    await sim.start()
    try:
        streams = streams_for(["btcusdt", "ethusdt"])  # the defaults: what a replay uses
        with path.open("wb") as sink:
            recorder = Recorder(
                sim.stream_url, streams, sink, clock=clock, rest_url=sim.rest_url, book_depth=200
            )
            task = asyncio.create_task(recorder.run())
            await asyncio.wait_for(sim.wait_for_connections(1), 10)
            for second in range(8):
                if second == 4:
                    await sim.skip_depth_updates("BTCUSDT", events=1)
                await clock.advance(1_000)
                await sim.caught_up()
                # each book's snapshots arrive before the next second's events
                await asyncio.wait_for(recorder.settled(), 10)
            await until(lambda: recorder.snapshots >= 3, what="2 books + 1 resync")
            recorder.stop()
            await asyncio.wait_for(task, 10)
        assert sim.market is not None
        book = sim.market.book("BTCUSDT")
        assert book is not None
        levels = 50
        return Recording(
            path,
            [(Decimal(p) / SCALE, Decimal(q) / SCALE) for p, q in book.bids(levels)],
            [(Decimal(p) / SCALE, Decimal(q) / SCALE) for p, q in book.asks(levels)],
            book.update_id,
            recorder.snapshots,
            recorder.histories,
        )
    finally:
        await sim.stop()


def test_the_recording_holds_snapshots_and_kline_history_as_lines_of_their_own(
    recording: Recording,
) -> None:
    streams = [
        msgspec.json.decode(line)["frame"].get("stream")
        for line in recording.path.read_bytes().splitlines()
    ]
    assert recording.histories == 2
    assert streams[:2] == ["btcusdt@klineHistory_1m", "ethusdt@klineHistory_1m"]
    assert streams.count("btcusdt@depthSnapshot") == 2  # the start, and after the gap
    assert streams.count("ethusdt@depthSnapshot") == 1
    assert "btcusdt@depth@100ms" in streams
    assert "btcusdt@kline_1m" in streams


async def replay(path: Path, db: Path, during: list[pd.DataFrame] | None = None) -> Workspace:
    ws = Workspace(feed=f"replay:{path}", db=db)
    await ws.start()
    if during is not None:
        seen = 0

        @ws.on_tick("BTCUSDT")
        async def look(tick: Tick) -> None:
            nonlocal seen
            seen += 1
            if seen % 10 == 0:  # the candles as the strategy sees them mid-replay
                during.append(await ws.candles("BTCUSDT", "1m", 3))

    await ws.run()
    return ws


@pytest.fixture
async def replayed(recording: Recording, tmp_path: Path) -> AsyncIterator[Workspace]:
    ws = await replay(recording.path, tmp_path / "journal.sqlite")
    try:
        yield ws
    finally:
        await ws.stop()


async def test_a_replay_rebuilds_the_book_the_exchange_had(
    replayed: Workspace, recording: Recording
) -> None:
    book = replayed.engine.order_book("BTCUSDT")
    assert book.last_update_id == recording.update_id
    assert book.bids(50) == recording.bids
    assert book.asks(50) == recording.asks
    assert replayed.account.book("BTCUSDT") is book
    message = replayed.engine.book_update("BTCUSDT")
    assert message is not None
    assert message["lastUpdateId"] == recording.update_id
    with pytest.raises(InvalidSymbol, match="not in the replayed data"):
        replayed.book("SOLUSDT")
    assert replayed.engine.books_enabled
    assert await replayed.engine.acquire_book("ethusdt") == "ETHUSDT"
    await replayed.engine.release_book("ETHUSDT")


async def test_the_recorded_depth_gap_is_a_gap_of_the_replay(replayed: Workspace) -> None:
    gaps = replayed.gaps
    assert list(gaps["symbol"]) == ["BTCUSDT"]
    assert gaps["reason"].iloc[0].startswith("depth gap: BTCUSDT")
    assert gaps["end_ms"].iloc[0] > gaps["start_ms"].iloc[0]
    status = replayed.engine.status_message()
    assert status["last_gap"]["symbol"] == "BTCUSDT"
    ticks = replayed.ticks("BTCUSDT")
    flagged = ticks[ticks["after_gap"]]
    assert len(flagged) == 1
    assert flagged["timestamp"].iloc[0] >= gaps["end_ms"].iloc[0]


async def test_replayed_candles_are_the_recorded_history_and_stream(
    replayed: Workspace,
) -> None:
    frame = await replayed.candles("BTCUSDT", "1m", 1000)
    assert len(frame) == 1000  # the recorded history reaches back 1000 minutes
    assert frame.index.is_monotonic_increasing
    assert frame.index[-1] == pd.Timestamp(START_MS // 60_000 * 60_000, unit="ms", tz="UTC")
    message = await replayed.engine.candles_message("BTCUSDT", "1m", 1000)
    assert message["source"] == "exchange"
    assert [row[0] for row in message["candles"]] == [
        int(t.timestamp() * 1000) for t in frame.index
    ]
    assert message["gaps"][0]["symbol"] == "BTCUSDT"  # the depth gap, within the candles
    # 5 minutes merged from the recorded 1 minute klines, exactly
    five = await replayed.candles("BTCUSDT", "5m", 10, exact=True)
    ones = await replayed.candles("BTCUSDT", "1m", 50, exact=True)
    bucket = ones[(ones.index >= five.index[-2]) & (ones.index < five.index[-1])]
    assert len(bucket) == 5
    assert five["open"].iloc[-2] == bucket["open"].iloc[0]
    assert five["close"].iloc[-2] == bucket["close"].iloc[-1]
    assert five["high"].iloc[-2] == bucket["high"].max()
    assert five["low"].iloc[-2] == bucket["low"].min()
    assert five["volume"].iloc[-2] == sum(bucket["volume"])


async def test_the_same_recording_gives_the_same_books_candles_and_journal_twice(
    recording: Recording, tmp_path: Path
) -> None:
    runs = []
    for n in range(2):
        during: list[pd.DataFrame] = []
        ws = await replay(recording.path, tmp_path / f"journal{n}.sqlite", during)
        try:
            runs.append(
                (
                    ws.book("BTCUSDT", 50, exact=True),
                    ws.book("ETHUSDT", 50, exact=True),
                    await ws.candles("ETHUSDT", "1m", 1000, exact=True),
                    during,
                    ws.gaps,
                )
            )
        finally:
            await ws.stop()
    first, second = runs
    for a, b in zip(first[:3], second[:3], strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert len(first[3]) > 2
    for a, b in zip(first[3], second[3], strict=True):
        pd.testing.assert_frame_equal(a, b)
    # as of the record being replayed: the forming candle grows as the replay goes on
    assert any(not frame.equals(first[3][0]) for frame in first[3][1:])
    pd.testing.assert_frame_equal(first[4], second[4])
    assert journal_dump(tmp_path / "journal0.sqlite") == journal_dump(tmp_path / "journal1.sqlite")


async def test_kline_files_give_back_their_own_candles_from_the_trades(tmp_path: Path) -> None:
    path = short_klines(tmp_path, rows=30)
    ws = Workspace(feed=f"replay:{path}")
    await ws.start()
    try:
        assert len(await ws.candles("BTCUSDT", "1m")) == 0  # nothing replayed yet
        await ws.run()
        frame = await ws.candles("BTCUSDT", "1m", 1000, exact=True)
        rows = read_klines(path)
        assert len(frame) == len(rows) == 30
        for (open_time, candle), row in zip(frame.iterrows(), rows, strict=True):
            assert isinstance(open_time, pd.Timestamp)
            assert int(open_time.timestamp() * 1000) == row.open_time
            assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
                row.open,
                row.high,
                row.low,
                row.close,
            )
            assert candle["volume"] == row.volume
        # a kline file holds no order book: the protocol's subscribe_book is refused
        assert not ws.engine.books_enabled
        with pytest.raises(InvalidParams, match="no order books"):
            await ws.engine.acquire_book("BTCUSDT")
        message = await ws.engine.candles_message("BTCUSDT", "15m", 10)
        assert message["source"] == "trades"
        assert len(message["candles"]) == 2  # 00:00 and 00:15
        assert message["candles"][0][2] == float(max(r.high for r in rows[:15]))
    finally:
        await ws.stop()
