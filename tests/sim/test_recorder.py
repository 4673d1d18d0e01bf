"""The recorder: frames with receive times to JSONL, and back through --replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect

from workspace.__main__ import _commands
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.recorder import Recorder, record, streams_for

from .conftest import START_MS, TIMEOUT, clock_of, recv_text


class _Line(msgspec.Struct):
    recv_ts: float
    frame: msgspec.Raw


def read_lines(path: Path) -> list[_Line]:
    decoder = msgspec.json.Decoder(_Line)
    return [decoder.decode(line) for line in path.read_bytes().splitlines()]


async def test_recording_from_the_simulator_replays_as_the_same_frames(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    out = tmp_path / "session.jsonl"
    streams = streams_for(["btcusdt", "ethusdt"], ["ticker", "aggTrade"])
    recording = asyncio.create_task(
        record(sim.stream_url, streams, out, max_frames=30, clock=clock_of(sim))
    )
    await asyncio.wait_for(sim.wait_for_connections(1), TIMEOUT)  # data flows after this
    await clock_of(sim).advance(10_000)
    written = await asyncio.wait_for(recording, TIMEOUT)

    lines = read_lines(out)
    assert written == len(lines) == 30
    assert all(line.recv_ts == START_MS / 1000 + 10 for line in lines)
    recorded = [bytes(line.frame) for line in lines]
    assert {msgspec.json.decode(f)["stream"] for f in recorded} <= set(streams)

    replay = ExchangeSimulator(SimConfig(replay=out, speed=0))
    await replay.start()
    try:
        async with connect(f"{replay.stream_url}/stream?streams={'/'.join(streams)}") as ws:
            served = [(await recv_text(ws)).encode() for _ in range(len(lines))]
    finally:
        await replay.stop()
    assert served == recorded


async def test_recorder_stops_after_its_duration_by_the_clock(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    out = tmp_path / "short.jsonl"
    recording = asyncio.create_task(
        record(sim.stream_url, ["btcusdt@ticker"], out, duration_s=3, clock=clock_of(sim))
    )
    await asyncio.wait_for(sim.wait_for_connections(1), TIMEOUT)
    await clock_of(sim).advance(2000)
    await sim.caught_up()
    await clock_of(sim).advance(1000)
    written = await asyncio.wait_for(recording, TIMEOUT)
    assert written in (2, 3)  # the third ticker races the deadline at the same instant
    assert len(read_lines(out)) == written


def test_stream_names_are_validated_before_connecting() -> None:
    assert streams_for(["btcusdt"], ["ticker", "bookTicker"]) == [
        "btcusdt@ticker",
        "btcusdt@bookTicker",
    ]
    with pytest.raises(ValueError, match="invalid stream"):
        streams_for(["btc usdt"], ["ticker"])


def test_sim_and_record_are_cli_subcommands() -> None:
    commands = _commands()
    assert {"sim", "record"} <= set(commands)
    assert commands["sim"].HELP
    assert commands["record"].HELP


async def test_with_rest_the_recording_holds_what_a_replay_needs_and_still_replays(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    out = tmp_path / "book.jsonl"
    streams = streams_for(["btcusdt"], ["depth@100ms", "kline_1m"])
    clock = clock_of(sim)
    with out.open("wb") as sink:
        recorder = Recorder(
            sim.stream_url, streams, sink, clock=clock, rest_url=sim.rest_url, book_depth=20
        )
        task = asyncio.create_task(recorder.run())
        await asyncio.wait_for(sim.wait_for_connections(1), TIMEOUT)
        for _ in range(3):
            await clock.advance(1000)
            await sim.caught_up()
            await asyncio.wait_for(recorder.settled(), TIMEOUT)  # its snapshot, if asked
        recorder.stop()
        await asyncio.wait_for(task, TIMEOUT)
    lines = read_lines(out)
    frames = [msgspec.json.decode(bytes(line.frame)) for line in lines]
    names = [frame["stream"] for frame in frames]
    assert names[0] == "btcusdt@klineHistory_1m"  # before any stream frame
    assert len(frames[0]["data"]) == 1000
    assert names.count("btcusdt@depthSnapshot") == recorder.snapshots == 1
    snapshot = frames[names.index("btcusdt@depthSnapshot")]["data"]
    assert len(snapshot["bids"]) == len(snapshot["asks"]) == 20
    first_depth = names.index("btcusdt@depth@100ms")
    assert first_depth < names.index("btcusdt@depthSnapshot")  # asked for once events came
    # the snapshot continues the events recorded before it (Binance's procedure)
    depth = [f["data"] for f in frames if f["stream"] == "btcusdt@depth@100ms"]
    assert depth[0]["U"] <= snapshot["lastUpdateId"] + 1
    assert any(d["U"] <= snapshot["lastUpdateId"] + 1 <= d["u"] for d in depth)

    replay = ExchangeSimulator(SimConfig(replay=out, speed=0))
    await replay.start()
    try:
        async with connect(f"{replay.stream_url}/stream?streams={'/'.join(streams)}") as ws:
            served = [
                msgspec.json.decode((await recv_text(ws)).encode()) for _ in range(recorder.written)
            ]
    finally:
        await replay.stop()
    assert served == [f for f in frames if f["stream"] in streams]  # REST lines not served
