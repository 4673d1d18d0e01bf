"""A client that stops reading, beside clients that read: it costs a bounded amount of
memory, the others are not held back, and when it reads again its order events and
fresh prices come after at most the few tens of KB its socket buffers held, not after
a backlog.  One that never reads again is closed with 1008 and a reason."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from tests.server.raw_client import Closed, RawClient
from tests.server.ws_peer import Peer, start_workspace
from workspace import Workspace
from workspace.server import RealtimeServer, ServerLimits
from workspace.server.connection import BATCH
from workspace.sim import SimConfig
from workspace.trading.requests import OrderRequest, OrderType, Side

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "LTCUSDT"]


@pytest.fixture
async def fast_workspace() -> AsyncIterator[Workspace]:
    """Every symbol's ticker every 20 ms: about 350 updates/s to a client of 7."""
    ws = await start_workspace(sim=SimConfig(ticker_interval_s=0.02, book_interval_s=0.05))
    yield ws
    await ws.stop()


async def subscribed_peer(server: RealtimeServer) -> Peer:
    peer = Peer(await connect(server.url, close_timeout=0.5))
    await peer.snapshot()
    for symbol in SYMBOLS:
        await peer.reply({"action": "subscribe_ticker", "symbol": symbol})
    return peer


async def subscribed_raw(server: RealtimeServer, receive_buffer: int) -> RawClient:
    client = await RawClient.connect(server.port, receive_buffer=receive_buffer)
    for n, symbol in enumerate(SYMBOLS):
        await client.send({"action": "subscribe_ticker", "symbol": symbol, "id": n})
    return client


async def updates(peer: Peer, count: int) -> None:
    for _ in range(count):
        await peer.until(lambda m: m["type"] == "MARKET_UPDATE")


def resting_buy(workspace: Workspace) -> OrderRequest:
    latest = workspace.engine.market_update("BTCUSDT")
    assert latest is not None
    price = Decimal(str(latest["price"])) * Decimal("0.9")
    return OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.0002"),
        price=price.quantize(Decimal("0.01")),
    )


async def test_a_reader_back_from_a_pause_gets_its_events_then_fresh_prices_not_a_backlog(
    fast_workspace: Workspace,
) -> None:
    limits = ServerLimits(stall_timeout_s=60, write_limit_bytes=8192, unsent_limit_bytes=8192)
    engine = fast_workspace.engine
    async with RealtimeServer(engine, port=0, limits=limits) as server:
        healthy = await subscribed_peer(server)
        slow = await subscribed_raw(server, receive_buffer=4096)
        # It reads nothing: its socket fills and the server stops writing to it.
        await server.wait_for(lambda: server.blocked == 1)
        (connection,) = [c for c in server.connections if c.blocked_since is not None]
        placed = engine.place_order(resting_buy(fast_workspace))
        # Prices move on while it does not read; the reading client is not held back.
        await updates(healthy, 5 * len(SYMBOLS))
        assert (await healthy.until(lambda m: m.get("seq") == placed["seq"]))["seq"]
        await updates(healthy, 5 * len(SYMBOLS))
        # Memory: the latest price per symbol, the latest state per type, its event.
        lanes = connection.outbox.lanes()
        assert lanes["market"] <= len(SYMBOLS), lanes
        assert lanes["state"] <= 3, lanes
        assert lanes["urgent"] <= 1, lanes
        assert connection.unsent_bytes() <= 64 * 1024

        latest = {s: engine.market_update(s)["timestamp"] for s in SYMBOLS}  # type: ignore[index]
        # What it can have to read before anything fresh: the buffers between it and
        # the outbox (its receive buffer, which bounds what is in flight; what the
        # server's kernel holds unsent; the server's write buffer; one batch written
        # past its high-water mark), at the smallest frame size.
        assert limits.unsent_limit_bytes is not None
        in_flight = (
            2 * slow.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            + limits.unsent_limit_bytes
            + limits.write_limit_bytes
            + BATCH * 400
        )
        bound = in_flight // 150 + len(SYMBOLS) + 20
        fresh: set[str] = set()
        got_event = False
        read = 0
        while not (got_event and len(fresh) == len(SYMBOLS)):
            message = await slow.recv()
            read += 1
            assert read <= bound, f"{read} messages and still no fresh state (bound {bound})"
            if message.get("seq") == placed["seq"] and message["type"] == "ORDER_UPDATE":
                got_event = True
            if (
                message["type"] == "MARKET_UPDATE"
                and message["timestamp"] >= latest[message["symbol"]]
            ):
                fresh.add(message["symbol"])
        slow.close()
        await healthy.ws.close()


async def test_a_client_that_never_reads_again_is_closed_with_1008_and_a_reason(
    fast_workspace: Workspace,
) -> None:
    limits = ServerLimits(stall_timeout_s=0.5, write_limit_bytes=8192, unsent_limit_bytes=8192)
    async with RealtimeServer(fast_workspace.engine, port=0, limits=limits) as server:
        healthy = await subscribed_peer(server)
        stalled = await subscribed_raw(server, receive_buffer=4096)
        await server.wait_for(lambda: any(c.close_reason == "stalled" for c in server.connections))
        # It reads now, within the grace period: what was in flight, then the close.
        with pytest.raises(Closed) as closed:  # noqa: PT012  (reads until the close)
            while True:
                await stalled.recv()
        assert closed.value.code == 1008
        assert "read nothing" in closed.value.reason
        await server.wait_clients(1)
        assert server.close_reasons == {"stalled": 1}
        await updates(healthy, 50)  # the other client's stream kept flowing
        stalled.close()
        await healthy.ws.close()


async def test_a_client_that_stops_reading_is_closed_without_slowing_others(
    fast_workspace: Workspace,
) -> None:
    limits = ServerLimits(stall_timeout_s=0.3, close_grace_s=0.2, unsent_limit_bytes=4096)
    async with RealtimeServer(fast_workspace.engine, port=0, limits=limits) as server:
        healthy = await subscribed_peer(server)
        stalled = [await subscribed_raw(server, receive_buffer=4096) for _ in range(3)]
        # Never read: cut off once the grace period for the closing frame is over.
        await server.wait_clients(1)
        assert server.close_reasons == {"stalled": 3}
        await updates(healthy, 50)
        for client in stalled:
            client.close()
        await healthy.ws.close()
