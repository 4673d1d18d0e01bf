"""Firehose mode: N pre-encoded valid frames on subscribe, then live data as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest
from websockets.asyncio.client import connect

from workspace.market.records import Ticker, Trade
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.config import DEFAULT_SYMBOLS
from workspace.sim.firehose import build_firehose

from .conftest import TIMEOUT, clock_of, manual_config, request

COUNT = 2000


@pytest.fixture
async def firehose_sim() -> AsyncIterator[ExchangeSimulator]:
    sim = ExchangeSimulator(manual_config(firehose=COUNT))
    await sim.start()
    yield sim
    await sim.stop()


async def test_subscriber_gets_n_valid_frames_of_its_streams_then_live_data(
    firehose_sim: ExchangeSimulator,
) -> None:
    streams = {"btcusdt@ticker", "btcusdt@aggTrade", "ethusdt@ticker"}
    async with connect(f"{firehose_sim.stream_url}/stream", max_queue=None) as ws:
        await request(ws, {"method": "SUBSCRIBE", "params": sorted(streams), "id": 1})
        frames = []
        for _ in range(COUNT):
            frames.append(msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        await clock_of(firehose_sim).advance(1000)
        live = msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert {f["stream"] for f in frames} == streams
    for frame in frames:
        encoded = msgspec.json.encode(frame["data"])
        if frame["data"]["e"] == "aggTrade":
            msgspec.json.decode(encoded, type=Trade)
        else:
            ticker = msgspec.json.decode(encoded, type=Ticker)
            assert ticker.price_change == ticker.last_price - ticker.open_price
            assert ticker.low_price <= ticker.last_price <= ticker.high_price
    assert live["stream"] in streams
    assert live["data"]["E"] > max(f["data"]["E"] for f in frames)


async def test_connection_without_ticker_or_trade_streams_gets_no_firehose(
    firehose_sim: ExchangeSimulator,
) -> None:
    async with connect(f"{firehose_sim.stream_url}/ws/btcusdt@bookTicker") as ws:
        await clock_of(firehose_sim).advance(100)
        first = msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert set(first) == {"u", "s", "b", "B", "a", "A"}


def test_firehose_frames_are_raw_or_combined_and_deterministic() -> None:
    specs = {s.symbol: s for s in DEFAULT_SYMBOLS}
    raw = build_firehose(specs, ["solusdt@aggTrade"], 50, combined=False, seed=1, start_ms=0)
    again = build_firehose(specs, ["solusdt@aggTrade"], 50, combined=False, seed=1, start_ms=0)
    wrapped = build_firehose(specs, ["solusdt@aggTrade"], 50, combined=True, seed=1, start_ms=0)
    assert raw == again
    assert [msgspec.json.decode(w)["data"] for w in wrapped] == [
        msgspec.json.decode(r) for r in raw
    ]
    trades = [msgspec.json.decode(r, type=Trade) for r in raw]
    assert [t.event_time for t in trades] == list(range(50))
    assert all(t.price % Decimal("0.01") == 0 for t in trades)


async def test_cli_style_config_accepts_firehose() -> None:
    assert SimConfig(firehose=10).firehose == 10
