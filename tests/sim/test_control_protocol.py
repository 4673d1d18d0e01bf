"""SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / properties, and bad input, on a live socket."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from workspace.sim import ExchangeSimulator

from .conftest import (
    TIMEOUT,
    clock_of,
    manual_config,
    read_until_closed,
    recv,
    recv_until,
    request,
)


async def test_subscribe_replies_result_null_with_the_request_id(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@ticker"], "id": 1})
    assert reply == {"result": None, "id": 1}


async def test_list_subscriptions_returns_streams_in_subscription_order(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/stream") as ws:
        await request(
            ws,
            {"method": "SUBSCRIBE", "params": ["btcusdt@ticker", "ethusdt@aggTrade"], "id": 1},
        )
        await request(ws, {"method": "UNSUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 2})
        reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
    assert reply == {"result": ["btcusdt@ticker"], "id": 3}


async def test_url_streams_are_listed_as_subscriptions(sim: ExchangeSimulator) -> None:
    url = f"{sim.stream_url}/stream?streams=btcusdt@bookTicker/ethusdt@ticker"
    async with connect(url) as ws:
        reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": "abc"})
    assert reply == {"result": ["btcusdt@bookTicker", "ethusdt@ticker"], "id": "abc"}


async def test_invalid_stream_name_is_error_code_2_and_subscribes_nothing(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(
            ws, {"method": "SUBSCRIBE", "params": ["btcusdt@ticker", "btcusdt@nonsense"], "id": 5}
        )
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 6})
    assert reply == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 5}
    assert listed == {"result": [], "id": 6}


@pytest.mark.parametrize("name", ["BTCUSDT@ticker", "btcusdt", "@ticker", "btcusdt@kline_7m", 42])
async def test_malformed_stream_names_are_rejected(sim: ExchangeSimulator, name: object) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": [name], "id": 1})
    assert reply["error"]["code"] == 2


async def test_invalid_json_gets_code_3_and_the_connection_stays_usable(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        await ws.send("{not json")
        error = await recv(ws)
        reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
    assert error["error"]["code"] == 3
    assert error["error"]["msg"].startswith("Invalid JSON")
    assert error["id"] is None
    assert reply == {"result": [], "id": 2}


async def test_unknown_method_gets_code_2_unknown_variant(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "FROBNICATE", "params": [], "id": 9})
    assert reply["id"] == 9
    assert reply["error"]["code"] == 2
    assert reply["error"]["msg"].startswith("Invalid request: unknown variant `FROBNICATE`")


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        ('{"params":["btcusdt@ticker"],"id":1}', 2, "missing field `method`"),
        ('{"method":"SUBSCRIBE","params":["btcusdt@ticker"],"id":1.5}', 2, "request ID"),
        ('{"method":"SUBSCRIBE","params":"btcusdt@ticker","id":1}', 2, "params"),
        ("[1,2,3]", 2, "Invalid request"),
        ('{"method":"SET_PROPERTY","params":["colour",true],"id":1}', 0, "Unknown property"),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}', 1, "expected Boolean"),
    ],
)
async def test_malformed_requests_get_binance_error_shapes(
    sim: ExchangeSimulator, message: str, code: int, fragment: str
) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        await ws.send(message)
        reply = await recv(ws)
    assert set(reply) == {"error", "id"}
    assert reply["error"]["code"] == code
    assert fragment in reply["error"]["msg"]


async def test_set_property_combined_switches_to_the_combined_envelope(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@aggTrade") as ws:
        before = await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 1})
        await request(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2})
        after = await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
        await clock_of(sim).advance(1000)
        frame = await recv(ws)
    assert (before["result"], after["result"]) == (False, True)
    assert frame["stream"] == "btcusdt@aggTrade"
    assert frame["data"]["e"] == "aggTrade"


async def test_subscribing_to_an_unlisted_symbol_succeeds_then_stays_silent(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/stream") as ws:
        reply = await request(
            ws, {"method": "SUBSCRIBE", "params": ["foousdt@ticker", "btcusdt@ticker"], "id": 1}
        )
        await clock_of(sim).advance(5000)
        streams = [(await recv(ws))["stream"] for _ in range(5)]
    assert reply == {"result": None, "id": 1}
    assert streams == ["btcusdt@ticker"] * 5


async def test_well_formed_streams_the_simulator_does_not_fill_are_accepted(
    sim: ExchangeSimulator,
) -> None:
    streams = ["btcusdt@depth@100ms", "btcusdt@kline_1m", "!miniTicker@arr", "btcusdt@depth5"]
    async with connect(f"{sim.stream_url}/ws") as ws:
        reply = await request(ws, {"method": "SUBSCRIBE", "params": streams, "id": 1})
    assert reply == {"result": None, "id": 1}


async def test_more_than_1024_streams_on_a_connection_is_refused(sim: ExchangeSimulator) -> None:
    names = [f"sym{i}usdt@ticker" for i in range(1024)]
    async with connect(f"{sim.stream_url}/ws") as ws:
        full = await request(ws, {"method": "SUBSCRIBE", "params": names, "id": 1})
        over = await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@ticker"], "id": 2})
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
    assert full == {"result": None, "id": 1}
    assert over["error"]["code"] == 2
    assert len(listed["result"]) == 1024


async def test_oversized_control_message_gets_an_error_reply(sim: ExchangeSimulator) -> None:
    padding = "x" * 70_000
    async with connect(f"{sim.stream_url}/ws") as ws:
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1,"pad":"' + padding + '"}')
        reply = await recv(ws)
        still = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
    assert reply["error"]["code"] == 2
    assert still == {"result": [], "id": 2}


async def test_huge_frame_closes_that_connection_with_1009_and_the_server_lives_on(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/ws", max_size=None) as ws:
        await ws.send("x" * (2 * 1024 * 1024))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert ws.close_code == 1009
    async with connect(f"{sim.stream_url}/ws") as ws:
        assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {
            "result": [],
            "id": 1,
        }


async def test_more_than_five_control_messages_per_second_closes_the_connection() -> None:
    sim = ExchangeSimulator(manual_config(max_control_messages_per_s=5))
    await sim.start()
    try:
        async with connect(f"{sim.stream_url}/ws") as ws:
            for i in range(10):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            await read_until_closed(ws)
            assert ws.close_code == 1008
            assert ws.close_reason == "Too many requests"
    finally:
        await sim.stop()


async def test_binary_control_frames_are_read_as_utf8_json(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        await ws.send(b'{"method":"LIST_SUBSCRIPTIONS","id":4}')
        reply = await recv_until(ws, lambda m: m.get("id") == 4)
    assert reply == {"result": [], "id": 4}
