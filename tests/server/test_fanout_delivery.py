"""Delivery through the outbox and the connection's writer: every encoding and
compression choice gets the stream the protocol promises (SUBSCRIBED first, then the
symbol's updates, each stamped with the engine's receipt time), and a resume larger
than one write arrives whole and in order."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.server.ws_peer import TIMEOUT, PeerFactory
from workspace import Workspace
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL
from workspace.server import RealtimeServer
from workspace.server.connection import BATCH
from workspace.trading.requests import OrderRequest, OrderType, Side


class Update(msgspec.Struct):
    type: str
    symbol: str = ""
    timestamp: int = 0
    received_ms: float | None = None
    id: Any = None


@pytest.mark.parametrize(
    ("compression", "msgpack"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["json-raw", "json-deflate", "msgpack-raw", "msgpack-deflate"],
)
async def test_subscribed_comes_first_then_updates_stamped_with_the_engines_receipt_time(
    workspace: Workspace, compression: bool, msgpack: bool
) -> None:
    server = RealtimeServer(workspace.engine, port=0, compression=compression)
    options: dict[str, Any] = {"close_timeout": 0.5}
    if msgpack:
        options["subprotocols"] = [Subprotocol(MSGPACK_SUBPROTOCOL)]
    if not compression:
        options["compression"] = None
    async with server, connect(server.url, **options) as websocket:

        def decode(frame: str | bytes) -> Update:
            if msgpack:
                assert isinstance(frame, bytes)  # the msgpack subprotocol: binary frames
                return msgspec.msgpack.decode(frame, type=Update)
            return msgspec.json.decode(frame, type=Update)

        for _ in range(4):  # the snapshot
            await asyncio.wait_for(websocket.recv(), TIMEOUT)
        started_ms = time.time() * 1000
        await websocket.send(json.dumps({"action": "subscribe_ticker", "symbol": "BTCUSDT"}))
        while (
            first := decode(await asyncio.wait_for(websocket.recv(), TIMEOUT))
        ).type != "SUBSCRIBED":
            assert first.type != "MARKET_UPDATE"  # periodic broadcasts may come first
        updates: list[Update] = []
        while len(updates) < 5:
            message = decode(await asyncio.wait_for(websocket.recv(), TIMEOUT))
            if message.type == "MARKET_UPDATE":
                assert message.symbol == "BTCUSDT"
                updates.append(message)
        arrived_ms = time.time() * 1000
    # The first is the latest update at the time of subscribing; the live ones after it
    # reached the engine after the subscription, and before they reached us.
    stamps: list[float] = []
    for update in updates[1:]:
        assert update.received_ms is not None
        assert started_ms <= update.received_ms <= arrived_ms
        stamps.append(update.received_ms)
    assert stamps == sorted(stamps)


async def test_a_resume_of_more_events_than_one_write_takes_arrives_whole(
    workspace: Workspace, peer: PeerFactory
) -> None:
    resting = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("1000"),
    )
    await workspace.engine.acquire_symbol("BTCUSDT")
    placed = [workspace.engine.place_order(resting) for _ in range(4 * BATCH + 44)]
    seqs = [message["seq"] for message in placed]
    client = await peer()
    # Market bursts keep coming to this connection while its resume is delivered.
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await client.send({"action": "resume", "since": seqs[0] - 1, "id": "r"})
    resumed = await client.until(lambda m: m["type"] == "RESUMED")
    assert resumed["count"] == len(seqs)
    assert [m["seq"] for m in client.seen if m["type"] == "ORDER_UPDATE"] == seqs
    await client.until(lambda m: m["type"] == "MARKET_UPDATE")  # the stream goes on
