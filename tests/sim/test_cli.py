"""``python -m workspace sim`` and ``record`` as real processes on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from workspace.cli.sim import add_arguments, config_from_args
from workspace.sim import ExchangeSimulator, SimConfig

from .conftest import clock_of, recv, request

ROOT = Path(__file__).resolve().parents[2]


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
    with pytest.raises(ValueError, match="SymbolSpec"):
        SimConfig(symbols=("PEPEUSDT",)).symbol_specs()
