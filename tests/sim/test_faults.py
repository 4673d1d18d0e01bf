"""The fault hooks tests of the feed rely on, and restarting on the same port."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.market import ticker_phase_ms
from workspace.sim.server import GARBAGE_FRAME

from .conftest import (
    START_MS,
    TIMEOUT,
    clock_of,
    manual_config,
    read_until_closed,
    recv,
    recv_text,
    request,
)


async def test_drop_connections_cuts_every_client_without_a_close_frame(
    sim: ExchangeSimulator,
) -> None:
    async with (
        connect(f"{sim.stream_url}/ws/btcusdt@ticker") as first,
        connect(f"{sim.stream_url}/stream") as second,
    ):
        await request(first, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await request(second, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.drop_connections()
        await read_until_closed(first)
        await read_until_closed(second)
        assert first.close_code == 1006
        assert second.close_code == 1006
    assert sim.connections == 0


async def test_refused_handshakes_get_http_503_until_lifted(sim: ExchangeSimulator) -> None:
    await sim.refuse_connections(60)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.stream_url}/ws"):
            pass
    assert refused.value.response.status_code == 503
    await sim.refuse_connections(0)
    async with connect(f"{sim.stream_url}/ws") as ws:
        assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {
            "result": [],
            "id": 1,
        }


async def test_refusing_connections_leaves_existing_ones_alone(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        await sim.refuse_connections(60)
        reply = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
    assert reply == {"result": [], "id": 1}


async def test_server_shutdown_event_reaches_every_connection(sim: ExchangeSimulator) -> None:
    async with (
        connect(f"{sim.stream_url}/ws") as raw,
        connect(f"{sim.stream_url}/stream") as combined,
    ):
        await request(raw, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await request(combined, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.send_server_shutdown()
        events = [await recv(raw), await recv(combined)]
    now = clock_of(sim).time_ms()
    event = {"e": "serverShutdown", "E": now}
    # Binance wraps it on a combined connection like any stream's event
    assert events == [event, {"stream": "!serverShutdown", "data": event}]


async def test_garbage_frame_is_not_json_and_data_continues(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@ticker") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.send_garbage()
        garbage = await recv_text(ws)
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(garbage)
        await clock_of(sim).advance(1000)
        after = await recv(ws)
    assert garbage.encode() == GARBAGE_FRAME
    assert after["e"] == "24hrTicker"


async def test_stall_sends_no_data_but_keeps_the_connection(sim: ExchangeSimulator) -> None:
    clock = clock_of(sim)
    async with connect(f"{sim.stream_url}/ws/btcusdt@ticker") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.stall(600)
        await clock.advance(5000)
        await sim.caught_up()
        await sim.stall(0)
        await clock.advance(1000)
        first_after = await recv(ws)
        alive = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
    # The five tickers of the stalled period were never sent: the first one is the sixth.
    assert first_after["E"] == START_MS + ticker_phase_ms(7, "BTCUSDT", 1000) + 5 * 1000
    assert alive == {"result": ["btcusdt@ticker"], "id": 2}


async def test_stopping_and_restarting_on_the_same_port_works() -> None:
    first = ExchangeSimulator(manual_config())
    await first.start()
    port = first.port
    async with connect(f"{first.stream_url}/ws") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await first.stop()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    second = ExchangeSimulator(manual_config())
    await second.start(port=port)
    try:
        assert second.port == port
        async with connect(f"{second.stream_url}/ws") as ws:
            assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {
                "result": [],
                "id": 1,
            }
    finally:
        await second.stop()


class _PingSpy(ClientConnection):
    """A client connection that notes the server's ping frames."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinged = asyncio.Event()

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pinged.set()
        super().process_event(event)


async def test_server_sends_ping_frames_periodically() -> None:
    sim = ExchangeSimulator(manual_config(ping_interval_s=0.05))
    await sim.start()
    try:
        async with connect(
            f"{sim.stream_url}/ws", ping_interval=None, create_connection=_PingSpy
        ) as ws:
            assert isinstance(ws, _PingSpy)
            await asyncio.wait_for(ws.pinged.wait(), TIMEOUT)
    finally:
        await sim.stop()


# -- bad upstream records (issue 16) ---------------------------------------------------

BAD_CASES = [
    ("btcusdt@aggTrade", "negative_price", "p", "-5.00000000"),
    ("btcusdt@trade", "zero_price", "p", "0.00000000"),
    ("btcusdt@ticker", "huge_price", "c", "1e999999"),
    ("btcusdt@miniTicker", "nan_price", "c", "NaN"),
    ("btcusdt@bookTicker", "nan_price", "b", "NaN"),
    ("btcusdt@aggTrade", "negative_qty", "q", "-1.00000000"),
    ("btcusdt@bookTicker", "negative_qty", "A", "-1.00000000"),
]


@pytest.mark.parametrize(("stream", "kind", "field", "value"), BAD_CASES)
async def test_bad_records_carry_the_bad_value_in_binances_shape(
    sim: ExchangeSimulator, stream: str, kind: Any, field: str, value: str
) -> None:
    async with connect(f"{sim.stream_url}/stream?streams={stream}") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        assert await sim.send_bad_record(stream, kind) == 1
        frame = await recv(ws)
    assert frame["stream"] == stream
    assert frame["data"][field] == value
    assert frame["data"]["s"] == "BTCUSDT"


async def test_far_future_event_time_is_a_json_integer_above_2_64(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/ethusdt@trade") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.send_bad_record("ethusdt@trade", "future_time")
        raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    data = json.loads(raw)  # Python's json reads big integers exactly
    assert data["E"] == data["T"] == 2**64 + 1
    assert f'"E":{2**64 + 1}' in raw


async def test_crossed_book_puts_the_bid_above_the_ask(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@bookTicker") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await sim.send_bad_record("btcusdt@bookTicker", "crossed_book")
        data = await recv(ws)
    assert Decimal(data["b"]) > Decimal(data["a"])


async def test_bad_records_go_only_to_the_streams_subscribers(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/ethusdt@aggTrade") as other:
        await request(other, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        assert await sim.send_bad_record("btcusdt@aggTrade", "zero_price") == 0


async def test_a_fault_that_does_not_fit_the_stream_is_refused(sim: ExchangeSimulator) -> None:
    with pytest.raises(ValueError, match="crossed_book"):
        await sim.send_bad_record("btcusdt@aggTrade", "crossed_book")
    with pytest.raises(ValueError, match="no sample"):
        await sim.send_bad_record("btcusdt@depth", "zero_price")


_OWN_RANGES = {"seed", "firehose", "book_depth", "history_days"}


@pytest.mark.parametrize(
    "name",
    [
        f.name
        for f in dataclasses.fields(SimConfig)
        # the others have ranges of their own (seed: any; firehose >= 0; depth, days)
        if f.name.endswith("_s") or (f.type == "int" and f.name not in _OWN_RANGES)
    ],
)
@pytest.mark.parametrize("value", [math.nan, -1, 0])
def test_the_simulators_settings_refuse_nan_and_non_positive_values(
    name: str, value: float
) -> None:
    """A NaN interval passed ``x <= 0`` and failed deep in the simulator's start; the
    limits were not checked at all."""
    intervals = ("ticker_interval_s", "trade_interval_s", "book_interval_s")
    words = "ticker/trade/book intervals must be positive" if name in intervals else name
    with pytest.raises(ValueError, match=words):
        SimConfig(**{name: value})  # type: ignore[arg-type]
