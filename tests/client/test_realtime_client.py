"""RealtimeClient against a real server: TradingSession behaviour, reconnects,
resubscription and exactly-once order events across restarts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.client.listening import TIMEOUT, collector, until
from workspace import Workspace
from workspace.client import RealtimeClient
from workspace.engine.config import EngineConfig
from workspace.server import RealtimeServer
from workspace.session import Message, TradingSession

FAST = EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2, tick_flush_interval_s=0.1)


async def first(stream: AsyncIterator[Message], predicate: Callable[[Message], object]) -> Message:
    async def scan() -> Message:
        async for message in stream:
            if predicate(message):
                return message
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), TIMEOUT)


def order_events(received: list[Message]) -> list[int]:
    return [m["seq"] for m in received if m["type"] == "ORDER_UPDATE"]


async def test_client_is_a_trading_session_with_requests_matched_by_id(
    server: RealtimeServer,
) -> None:
    async with RealtimeClient(server.url) as client:
        assert isinstance(client, TradingSession)
        assert client.state == "connected"
        replies = await asyncio.gather(
            client.request({"action": "get_portfolio"}),
            client.request({"action": "get_positions", "id": "mine"}),
            client.request({"action": "ping"}),
        )
        assert [r["type"] for r in replies] == ["PORTFOLIO_UPDATE", "POSITION_UPDATE", "PONG"]
        assert replies[1]["id"] == "mine"
        error = await client.request({"action": "subscribe_ticker", "symbol": "??"})
        assert (error["type"], error["code"]) == ("ERROR", "INVALID_SYMBOL")


async def test_what_json_cannot_carry_is_an_error_reply_and_nothing_is_sent(
    server: RealtimeServer,
) -> None:
    """A NaN went out as ``null`` (the server then said "'quantity' is required"), and
    an object raised TypeError out of ``request``, which never raises for bad input."""
    async with RealtimeClient(server.url) as client:
        order = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
        for value, words in (
            (float("nan"), "'quantity' cannot be sent: JSON has no nan (no NaN or infinity)"),
            (Decimal("Infinity"), "'quantity' cannot be sent: JSON has no Infinity"),
            (object(), "'quantity' cannot be sent: object is not a JSON value"),
            ([object()], "cannot be sent: "),
        ):
            reply = await client.request({**order, "quantity": value})
            assert (reply["type"], reply["code"]) == ("ERROR", "INVALID_PARAMS")
            assert reply["message"].startswith(words)
        assert (await client.request({"action": "get_orders"}))["orders"] == []
        # not a command at all: it raised TypeError out of dict()
        reply = await client.request([("action", "ping")])  # type: ignore[arg-type]
        assert (reply["code"], reply["message"]) == (
            "INVALID_PARAMS",
            "a command is a dict, got list",
        )
        # a callback that cannot be called is refused when it is given, not logged as a
        # failure with every message afterwards
        for method in (client.listen, client.on_state, client.on_reset):
            with pytest.raises(TypeError, match=r"(listen|on_state|on_reset) takes a function"):
                method(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"ping_interval": math.nan}, "ping_interval must be seconds > 0 or None"),
        ({"request_timeout": 0}, "request_timeout must be seconds > 0"),
        ({"request_timeout": math.nan}, "request_timeout must be seconds > 0"),
        ({"max_retry": math.nan}, "first_s <= cap_s"),
        ({"max_pending": 0}, "max_pending must be a whole number >= 1"),
    ],
)
def test_nonsense_options_are_refused_at_construction(options: dict[str, Any], words: str) -> None:
    """A NaN request timeout failed every request at once (wait_for(nan) times out
    immediately) with DISCONNECTED, which blamed the link."""
    with pytest.raises(ValueError, match=words):
        RealtimeClient("ws://127.0.0.1:9/api/ws/realtime", **options)


async def test_a_command_too_big_for_the_server_says_so_and_the_client_reconnects(
    server: RealtimeServer,
) -> None:
    async with RealtimeClient(server.url, ping_interval=None) as client:
        reply = await client.request({"action": "ping", "padding": "x" * 100_000})
        assert (reply["type"], reply["code"]) == ("ERROR", "DISCONNECTED")
        assert "closed by the server: 1009" in reply["message"]
        assert (await client.request({"action": "ping"}))["type"] == "PONG"
        assert client.connections == 2


async def test_a_request_after_close_is_answered_at_once(server: RealtimeServer) -> None:
    """It waited the whole request_timeout (30 s) for a link that a closed client
    never makes again."""
    client = await RealtimeClient(server.url).connect()
    await client.close()
    reply = await asyncio.wait_for(client.request({"action": "ping"}), TIMEOUT)
    assert (reply["code"], reply["message"]) == ("DISCONNECTED", "no reply: the client is closed")


async def test_a_request_before_connect_is_answered_at_once(server: RealtimeServer) -> None:
    """It waited the whole request_timeout for a link nobody had asked for, then said
    "no reply: TimeoutError()"."""
    client = RealtimeClient(server.url)
    reply = await asyncio.wait_for(client.request({"action": "ping"}), TIMEOUT)
    assert (reply["code"], reply["message"]) == (
        "DISCONNECTED",
        "no reply: the client is not connected; `await client.connect()` first (or "
        "`async with RealtimeClient(...) as client:`)",
    )
    await client.connect()
    try:
        assert (await client.request({"action": "ping"}))["type"] == "PONG"
    finally:
        await client.close()


async def test_a_request_while_the_link_is_down_says_so(free_port: int) -> None:
    url = f"ws://127.0.0.1:{free_port}/api/ws/realtime"  # nothing listens there
    client = RealtimeClient(url, request_timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            await client.connect(within=0.5)
        reply = await client.request({"action": "ping"})
        assert reply["code"] == "DISCONNECTED"
        assert reply["message"].startswith(f"no reply within 0.5 s: not connected to {url}")
    finally:
        await client.close()


async def test_listen_and_async_for_both_receive_market_updates(server: RealtimeServer) -> None:
    async with RealtimeClient(server.url) as client:
        heard: asyncio.Queue[Message] = asyncio.Queue()
        stop = client.listen(heard.put_nowait)
        stream = client.stream()
        assert (await client.subscribe("btcusdt"))["type"] == "SUBSCRIBED"
        assert client.symbols == {"BTCUSDT"}
        streamed = await first(stream, lambda m: m["type"] == "MARKET_UPDATE")
        assert streamed["symbol"] == "BTCUSDT"
        while (await asyncio.wait_for(heard.get(), TIMEOUT))["type"] != "MARKET_UPDATE":
            pass
        stop()
        assert isinstance(stream, AsyncGenerator)  # stream() is an async generator
        await stream.aclose()


async def test_latency_is_measured_by_ping_pong(server: RealtimeServer) -> None:
    async with RealtimeClient(server.url, ping_interval=None) as client:
        assert client.latency_ms is None
        rtt = await client.ping()
        assert rtt is not None
        assert rtt > 0
        assert client.latency_ms == rtt


async def test_wrong_token_is_fatal_on_connect(workspace: Workspace) -> None:
    async with RealtimeServer(workspace.engine, port=0, token="right") as server:
        with pytest.raises(InvalidStatus):
            await RealtimeClient(server.url, token="wrong").connect()
        async with RealtimeClient(server.url, token="right") as client:
            assert client.connected


async def test_a_connect_that_times_out_says_where_and_why(free_port: int) -> None:
    """It raised a bare TimeoutError: a refused port and a server that never answers
    the handshake looked the same."""
    url = f"ws://127.0.0.1:{free_port}/api/ws/realtime"  # nothing listens there
    client = RealtimeClient(url)
    try:
        with pytest.raises(TimeoutError) as raised:
            await client.connect(within=0.5)
        words = str(raised.value)
        assert words.startswith(f"not connected to {url} within 0.5 s (the last attempt: ")
        assert "ConnectionRefusedError" in words
        assert client.state in ("connecting", "reconnecting")  # it keeps trying
    finally:
        await client.close()


async def test_reconnects_resubscribes_and_resumes_after_server_restart(
    workspace: Workspace, server: RealtimeServer, free_port: int
) -> None:
    states: list[str] = []
    async with RealtimeClient(server.url, first_retry=0.2) as client:
        client.on_state(states.append)
        received: list[Message] = []
        client.listen(received.append)
        stream = client.stream()
        await client.subscribe("ETHUSDT")
        placed = await client.place_order(
            symbol="ETHUSDT", side="BUY", type="LIMIT", quantity=0.01, price=1000
        )
        await server.stop()
        # While the server is away the engine keeps going: events the client misses.
        missed = workspace.engine.cancel_order(placed["order"]["id"])
        restarted = await RealtimeServer(workspace.engine, port=free_port).start()
        try:
            canceled = await first(
                stream, lambda m: m["type"] == "ORDER_UPDATE" and m["order"]["status"] == "CANCELED"
            )
            assert canceled["seq"] == missed["seq"]
            await first(stream, lambda m: m["type"] == "MARKET_UPDATE" and m["symbol"] == "ETHUSDT")
            assert "reconnecting" in states
            assert client.state == "connected"
            assert client.connections == 2
            seqs = order_events(received)
            assert seqs == sorted(set(seqs))
        finally:
            await restarted.stop()


async def fill_orders(workspace: Workspace, count: int) -> None:
    for _ in range(count):
        reply = await workspace.session.request(
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 0.0001}
        )
        assert reply["type"] == "ORDER_UPDATE", reply


async def test_no_order_event_lost_or_duplicated_when_the_engine_restarts_mid_stream(
    db: Path, free_port: int
) -> None:
    workspace = Workspace(feed="sim", db=db, engine=FAST)
    await workspace.start()
    server = await RealtimeServer(workspace.engine, port=free_port).start()
    async with RealtimeClient(server.url, first_retry=0.2) as client:
        received, woken = collector(client)
        stream = client.stream()
        await client.subscribe("BTCUSDT")
        await fill_orders(workspace, 3)
        # Stop server and engine right after placing: these orders fill on later
        # ticks, some before the stop and some after the restart.
        await fill_orders(workspace, 2)
        await server.stop()
        await workspace.stop()
        workspace = Workspace(feed="sim", db=db, engine=FAST)
        await workspace.start()
        try:
            await fill_orders(workspace, 2)  # journaled while no server runs
            server = await RealtimeServer(workspace.engine, port=free_port).start()
            await fill_orders(workspace, 2)
            last = workspace.engine.seq
            await first(stream, lambda m: m["type"] == "ORDER_UPDATE" and m["seq"] >= last)
            await until(lambda: any(s >= last for s in order_events(received)), woken)
            expected = [m["seq"] for m in workspace.engine.order_events_since(0)]
            seqs = order_events(received)
            assert len(seqs) == len(set(seqs)), "duplicated order events"
            # (the client's counters say whether a reset or extra reconnects came between)
            counters = {"resets": client.resets, "connections": client.connections}
            assert sorted(seqs) == expected, ("lost order events", counters)
        finally:
            await server.stop()
            await workspace.stop()


async def test_msgpack_client_speaks_the_binary_subprotocol(server: RealtimeServer) -> None:
    async with RealtimeClient(server.url, msgpack=True, ping_interval=None) as client:
        assert (await client.ping()) is not None  # the snapshot came before the PONG
        assert client.status is not None
        assert client.status["type"] == "STATUS"
        reply = await client.subscribe("BNBUSDT")
        assert (reply["type"], reply["symbol"]) == ("SUBSCRIBED", "BNBUSDT")
