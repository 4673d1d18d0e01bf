"""The other streams: average price, rolling window tickers, market-wide arrays, and the
names Binance refuses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from workspace.sim import ExchangeSimulator

from .conftest import FIXTURES, START_MS, advance_and_drain, http_get, request


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def test_avg_price_stream_every_second_agrees_with_rest(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@avgPrice") as ws:
        events = await advance_and_drain(sim, ws, 3000)
        rest = (await http_get(sim, "/api/v3/avgPrice?symbol=BTCUSDT")).json()
    assert [e["E"] for e in events] == [START_MS + 1000 * i for i in (1, 2, 3)]
    assert set(events[0]) == set(fixture("avgPrice.raw.testnet-2025-01.json"))
    assert (events[-1]["i"], events[-1]["s"]) == ("5m", "BTCUSDT")
    assert events[-1]["w"] == rest["price"]
    assert events[-1]["T"] == rest["closeTime"]


@pytest.mark.parametrize("window", ["1h", "4h", "1d"])
async def test_rolling_window_ticker_streams(sim: ExchangeSimulator, window: str) -> None:
    async with connect(f"{sim.stream_url}/ws/ethusdt@ticker_{window}") as ws:
        events = await advance_and_drain(sim, ws, 2000)
        rest = (await http_get(sim, f"/api/v3/ticker?symbol=ETHUSDT&windowSize={window}")).json()
    assert len(events) == 2
    last = events[-1]
    assert last["e"] == f"{window}Ticker"
    assert set(last) == set(fixture("ticker_1h.raw.testnet-2025-01.json"))
    assert last["O"] % 60_000 == 0
    assert Decimal(last["p"]) == Decimal(last["c"]) - Decimal(last["o"])
    # The ticker comes on the symbol's own phase; REST answers later, with more trades.
    assert (last["O"], last["o"]) == (rest["openTime"], rest["openPrice"])
    assert last["F"] == rest["firstId"]
    assert last["L"] <= rest["lastId"]
    assert Decimal(last["v"]) <= Decimal(rest["volume"])


@pytest.mark.parametrize("name", ["!miniTicker@arr", "!miniTicker@arr@1000ms"])
async def test_all_market_mini_tickers_list_the_symbols_that_traded(
    sim: ExchangeSimulator, name: str
) -> None:
    async with connect(f"{sim.stream_url}/stream?streams={name}") as ws:
        frames = await advance_and_drain(sim, ws, 3000)
    assert frames
    assert all(f["stream"] == name for f in frames)
    keys = set(fixture("allMiniTickers-arr.raw.testnet-2025-01.json")[0])
    for frame in frames:
        assert isinstance(frame["data"], list)
        assert {t["s"] for t in frame["data"]} <= {"BTCUSDT", "ETHUSDT"}
        assert all(set(t) == keys for t in frame["data"])


async def test_all_market_window_tickers(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/!ticker_1h@arr") as ws:
        frames = await advance_and_drain(sim, ws, 2000)
    keys = set(fixture("allTickers_1h-arr.raw.testnet-2025-01.json")[0])
    assert frames
    assert all(set(t) == keys and t["e"] == "1hTicker" for frame in frames for t in frame)


@pytest.mark.parametrize(
    "stream",
    ["!ticker@arr", "!bookTicker", "btcusdt@ticker_2h", "btcusdt@depth7", "btcusdt@kline_2m"],
)
async def test_retired_and_unknown_streams_get_binances_error(
    sim: ExchangeSimulator, stream: str
) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": [stream], "id": 7})
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 8})
    assert reply == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 7}
    assert listed["result"] == []


async def test_documented_streams_without_data_here_are_accepted(sim: ExchangeSimulator) -> None:
    names = ["btcusdt@referencePrice", "btcusdt@blockTrade", "btcusdt@depth@1000ms"]
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": names, "id": 1})
    assert reply == {"result": None, "id": 1}


async def test_microsecond_time_unit_is_refused_clearly(sim: ExchangeSimulator) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.stream_url}/stream?streams=btcusdt@trade&timeUnit=MICROSECOND"):
            pass
    assert refused.value.response.status_code == 400
    assert b"timeUnit" in refused.value.response.body
    async with connect(f"{sim.stream_url}/ws/btcusdt@trade?timeUnit=millisecond") as ws:
        assert (await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}))["result"] == [
            "btcusdt@trade"
        ]
