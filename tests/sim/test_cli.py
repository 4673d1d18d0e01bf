"""``python -m workspace sim`` and ``record`` as real processes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from workspace.cli.record import rest_url_for
from workspace.cli.sim import add_arguments, config_from_args
from workspace.sim import ExchangeSimulator, SimConfig

from .conftest import ROOT, clock_of, recv, request, run_workspace


@pytest.fixture
async def sim_process() -> AsyncIterator[str]:
    """The CLI simulator on a free port; yields its stream URL (read from its output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace", "sim", "--port", "0", "--symbols", "btcusdt,solusdt",
        "--seed", "5", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    match = re.search(r"ws://127\.0\.0\.1:\d+", line)
    assert match, line
    try:
        yield match.group(0)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


async def test_sim_command_serves_the_stream_protocol(sim_process: str) -> None:
    async with connect(f"{sim_process}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": ["solusdt@ticker"], "id": 1})
        ticker = await recv(ws)
    assert reply == {"result": None, "id": 1}
    assert ticker["s"] == "SOLUSDT"


async def test_record_command_writes_jsonl_from_a_simulator(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace", "record", "--symbols", "btcusdt", "--streams",
        "ticker", "--max-frames", "3", "--url", sim.stream_url, "--out", str(out), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(sim.wait_for_connections(1), 60)
    await clock_of(sim).advance(3000)
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert process.returncode == 0
    assert b"recorded 3 frames" in stdout
    assert [line["frame"]["stream"] for line in lines] == ["btcusdt@ticker"] * 3


async def test_record_by_default_records_what_an_engine_replay_needs(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace", "record", "--symbols", "btcusdt", "--max-frames",
        "150", "--book-depth", "20", "--url", sim.stream_url, "--out", str(out), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(sim.wait_for_connections(1), 60)
    for _ in range(20):  # the REST snapshot is asked for once the first depth event came
        if process.returncode is not None:
            break
        await clock_of(sim).advance(1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), 0.2)
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stdout
    streams = [json.loads(line)["frame"]["stream"] for line in out.read_text().splitlines()]
    assert streams[0] == "btcusdt@klineHistory_1m"  # REST beside the simulator's streams
    assert "btcusdt@depthSnapshot" in streams
    assert {"btcusdt@depth@100ms", "btcusdt@kline_1m", "btcusdt@aggTrade"} <= set(streams)


async def test_record_refuses_an_unlisted_symbol_and_no_symbol_at_once(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    """An unlisted symbol recorded nothing for the whole duration and exited 0, leaving
    an empty file a replay refuses; ``--symbols ,`` did the same."""
    out = tmp_path / "rec.jsonl"
    for symbols, said in (
        ("btcusdt,nopeusdt", b"error: not listed by the exchange: NOPEUSDT"),
        (",", b"error: --symbols names no symbol: ','"),
    ):
        code, _, stderr = await run_workspace(
            "record", "--symbols", symbols, "--duration", "30", "--url", sim.stream_url,
            "--out", str(out),
        )  # fmt: skip
        assert code == 2
        assert said in stderr
        assert not out.exists()


async def test_a_recording_that_got_no_frame_exits_1_and_says_so(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    # the simulator's clock stands still: no ticker comes within the second
    out = tmp_path / "rec.jsonl"
    code, stdout, stderr = await run_workspace(
        "record", "--symbols", "btcusdt", "--streams", "ticker", "--rest-url", "none",
        "--duration", "1", "--url", sim.stream_url, "--out", str(out),
    )  # fmt: skip
    assert code == 1
    assert b"recorded 0 frames" in stdout
    assert b"no frame came from" in stderr


def test_the_rest_url_of_a_recording_follows_its_stream_url() -> None:
    assert rest_url_for("wss://stream.binance.com:9443", None) == "https://api.binance.com"
    assert rest_url_for("ws://127.0.0.1:9443", None) == "http://127.0.0.1:9443"
    assert rest_url_for("wss://localhost:9443/ws", None) == "https://localhost:9443"
    assert rest_url_for("ws://127.0.0.1:9443", "http://other:1") == "http://other:1"
    assert rest_url_for("ws://127.0.0.1:9443", "none") is None


def test_cli_flags_become_the_sim_config() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--seed", "9", "--symbols", "btcusdt,ethusdt", "--firehose", "100", "--speed", "0"]
    )
    config = config_from_args(args)
    assert (config.seed, config.symbols, config.firehose, config.speed) == (
        9,
        ("BTCUSDT", "ETHUSDT"),
        100,
        0,
    )


@pytest.mark.parametrize(
    "bad",
    [{"speed": -1.0}, {"ticker_interval_s": 0.0}, {"firehose": -5}, {"symbols": ()}],
)
def test_nonsense_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SimConfig(**bad)  # type: ignore[arg-type]


def test_symbols_without_defaults_need_a_spec() -> None:
    with pytest.raises(ValueError, match="PEPEUSDT is not one of the simulator's symbols"):
        SimConfig(symbols=("PEPEUSDT",))


def test_a_symbol_given_twice_is_refused() -> None:
    """``--symbols BTCUSDT,btcusdt`` ran two markets under one name: exchangeInfo
    listed BTCUSDT twice and its streams interleaved two price paths."""
    with pytest.raises(ValueError, match="each symbol once: BTCUSDT given twice"):
        SimConfig(symbols=("BTCUSDT", "ETHUSDT", "btcusdt"))


async def test_the_sim_command_refuses_unknown_and_repeated_symbols() -> None:
    """An unknown symbol ended the command with a traceback."""
    for symbols, said in (
        ("btcusdt,foobar", b"error: FOOBAR is not one of the simulator's symbols"),
        ("btcusdt,BTCUSDT", b"error: each symbol once: BTCUSDT given twice"),
    ):
        code, _, stderr = await run_workspace("sim", "--port", "0", "--symbols", symbols)
        assert code == 2, stderr
        assert said in stderr
        assert b"Traceback" not in stderr


async def test_record_keeps_an_earlier_recording_unless_forced(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    """``record --out day1.jsonl`` emptied an existing recording on opening it, before
    the exchange was reached: a rerun with a wrong ``--url`` (or none of the frames it
    waited for) left the earlier, unrepeatable recording empty."""
    out = tmp_path / "day1.jsonl"
    earlier = b'{"recv_ts": 1.0, "frame": {"stream": "btcusdt@ticker", "data": {}}}\n'
    out.write_bytes(earlier)
    args = (
        "record", "--symbols", "btcusdt", "--streams", "ticker", "--rest-url", "none",
        "--duration", "1", "--url", sim.stream_url, "--out", str(out),
    )  # fmt: skip
    code, _, stderr = await run_workspace(*args)
    assert code == 2
    said = (
        f"error: {out} already holds {len(earlier)} bytes (an earlier recording?): give "
        "another --out, or --force to overwrite it"
    )
    assert said.encode() in stderr
    assert out.read_bytes() == earlier
    # --force overwrites (here with nothing: the simulator's clock stands still)
    code, stdout, _ = await run_workspace(*args, "--force")
    assert code == 1
    assert b"recorded 0 frames" in stdout
    assert out.read_bytes() == b""
    # an empty file (mktemp's) is written without --force
    code, stdout, _ = await run_workspace(*args)
    assert code == 1
    assert b"recorded 0 frames" in stdout


async def test_a_recording_that_could_not_connect_leaves_no_file(tmp_path: Path) -> None:
    """It left an empty FILE.jsonl behind, which a replay refuses and a later
    ``record --out`` had to overwrite."""
    out = tmp_path / "rec.jsonl"
    code, _, stderr = await run_workspace(
        "record", "--symbols", "btcusdt", "--rest-url", "none", "--duration", "1",
        "--url", "ws://127.0.0.1:9", "--out", str(out),
    )  # fmt: skip
    assert code == 1
    assert b"record: cannot reach ws://127.0.0.1:9: " in stderr
    assert not out.exists()
