"""``python -m workspace.market`` against the simulator, as a real process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from workspace.sim import ExchangeSimulator, SimConfig


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    simulator = ExchangeSimulator(
        SimConfig(symbols=("BTCUSDT",), ticker_interval_s=0.1, trade_interval_s=0.05)
    )
    await simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace.market", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_watch_prints_records_and_exits_after_count(sim: ExchangeSimulator) -> None:
    code, out, err = await run(
        "--symbols", "btcusdt", "--count", "5", "--streams", "ticker,aggTrade",
        "--binance-url", sim.stream_url, "--binance-rest-url", sim.rest_url,
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) >= 5
    assert all("BTCUSDT" in line for line in lines)
    assert "# feed connected" in err


async def test_watch_refuses_an_unknown_symbol_with_exit_code_2(sim: ExchangeSimulator) -> None:
    code, out, err = await run(
        "--symbols", "nopeusdt",
        "--binance-url", sim.stream_url, "--binance-rest-url", sim.rest_url,
    )  # fmt: skip
    assert code == 2
    assert "unknown symbol(s) NOPEUSDT" in err
    assert out == ""


async def test_watch_refuses_an_unknown_stream_kind_with_exit_code_2() -> None:
    code, _, err = await run("--symbols", "btcusdt", "--streams", "depth3")
    assert code == 2
    assert "not one the feed normalises" in err


async def test_watch_refuses_no_symbol_and_a_count_below_1() -> None:
    """``--symbols ,`` connected and waited for records of no symbol, forever."""
    code, out, err = await run("--symbols", " , ")
    assert (code, out) == (2, "")
    assert "error: --symbols names no symbol: ' , '" in err
    code, _, err = await run("--symbols", "btcusdt", "--count", "0")
    assert code == 2
    assert "argument --count: 0: expected 1 or more" in err


async def test_watch_prints_book_levels_as_price_x_quantity(sim: ExchangeSimulator) -> None:
    """The best levels printed as Python reprs: ``(Decimal('97000.01'), ...)``."""
    code, out, err = await run(
        "--symbols", "btcusdt", "--count", "3", "--streams", "depth5", "--book",
        "--binance-url", sim.stream_url, "--binance-rest-url", sim.rest_url,
    )  # fmt: skip
    assert code == 0, err
    assert "Decimal" not in out
    levels = [line for line in out.splitlines() if " bid=" in line]
    assert levels, out
    for line in levels:
        bid = line.split(" bid=")[1].split(" ask=")[0]
        price, quantity = bid.split(" x ")
        assert Decimal(price) > 0, line
        assert Decimal(quantity) > 0, line
