"""Shared helpers for the simulator tests: a started simulator, JSON receive helpers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from workspace.sim import ExchangeSimulator, ManualClock, SimConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_700_000_000_000
TIMEOUT = 10.0


def manual_config(**overrides: Any) -> SimConfig:
    """A simulator on a manual clock with two symbols; tests may send many control
    messages, so Binance's 5/s limit is relaxed except where it is the subject."""
    settings: dict[str, Any] = {
        "symbols": ("BTCUSDT", "ETHUSDT"),
        "seed": 7,
        "clock": ManualClock(START_MS),
        "max_control_messages_per_s": 1000,
    }
    settings.update(overrides)
    return SimConfig(**settings)


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    """A simulator on a manual clock: no data flows until the test advances it."""
    simulator = ExchangeSimulator(manual_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def live_sim() -> AsyncIterator[ExchangeSimulator]:
    """A simulator on the wall clock with fast intervals, for tests that just need data."""
    simulator = ExchangeSimulator(
        SimConfig(
            symbols=("BTCUSDT", "ETHUSDT", "XRPUSDT"),
            seed=3,
            ticker_interval_s=0.05,
            trade_interval_s=0.01,
            book_interval_s=0.01,
            max_control_messages_per_s=1000,
        )
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


def clock_of(sim: ExchangeSimulator) -> ManualClock:
    clock = sim.config.clock
    assert isinstance(clock, ManualClock)
    return clock


async def recv(ws: ClientConnection) -> Any:
    return msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def recv_text(ws: ClientConnection) -> str:
    """The next message as its text (the simulator, as Binance, sends text frames)."""
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(frame, str)
    return frame


async def recv_until(ws: ClientConnection, predicate: Callable[[Any], bool]) -> Any:
    """The first JSON message that satisfies ``predicate`` (others are skipped)."""
    while True:
        message = await recv(ws)
        if predicate(message):
            return message


async def request(ws: ClientConnection, payload: dict[str, Any]) -> Any:
    """Send a control message and return the reply with the same id."""
    await ws.send(msgspec.json.encode(payload).decode())
    return await recv_until(
        ws, lambda m: isinstance(m, dict) and m.get("id") == payload.get("id") and "e" not in m
    )


async def http_get(sim: ExchangeSimulator, target: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.rest_url, timeout=TIMEOUT) as client:
        return await client.get(target)


async def read_until_closed(ws: ClientConnection) -> list[Any]:
    """Every message until the server closes the connection (ws.close_code tells how)."""
    messages: list[Any] = []
    try:
        while True:
            messages.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
    except ConnectionClosed:
        return messages


async def advance_and_drain(
    sim: ExchangeSimulator, ws: ClientConnection, advance_ms: int, marker: int = 999_999
) -> list[Any]:
    """Move the manual clock, then every message the connection got for that period
    (decoded), up to a control reply sent after it (the reply is not included)."""
    left = advance_ms
    while left > 0:  # in steps: a jump beyond max_catch_up_s would be skipped, not played
        chunk = min(left, 10_000)
        await clock_of(sim).advance(chunk)
        await sim.caught_up()
        left -= chunk
    await ws.send(msgspec.json.encode({"method": "LIST_SUBSCRIPTIONS", "id": marker}).decode())
    messages: list[Any] = []
    while True:
        message = await recv(ws)
        if isinstance(message, dict) and message.get("id") == marker and "result" in message:
            return messages
        messages.append(message)


def data_of(message: Any) -> Any:
    """The payload of a raw or combined frame."""
    if isinstance(message, dict) and "stream" in message and "data" in message:
        return message["data"]
    return message


async def run_workspace(*args: str) -> tuple[int, bytes, bytes]:
    """``python -m workspace ARGS`` run to its end: its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workspace", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout, stderr
