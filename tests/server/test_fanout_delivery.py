"""Delivery of routed bursts: each connection is handed a burst once, in order, and
written directly when its writer is idle; every encoding and compression choice
still gets the stream the protocol promises (SUBSCRIBED first, then the symbol's
updates, each stamped with the engine's receipt time)."""

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
from ws_peer import TIMEOUT, PeerFactory

from workspace import Workspace
from workspace.protocol.conflation import ConflatingQueue
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL
from workspace.server import RealtimeServer
from workspace.server.connection import DIRECT_BATCH
from workspace.server.fanout import ConnectionFeed, SymbolRouter
from workspace.session import Message
from workspace.trading.requests import OrderRequest, OrderType, Side


def market(symbol: str, price: float) -> Message:
    return {"type": "MARKET_UPDATE", "symbol": symbol, "price": price, "timestamp": 1}


def order(seq: int) -> Message:
    return {"type": "ORDER_UPDATE", "seq": seq, "timestamp": 1}


def drain(feed: ConnectionFeed) -> list[Message]:
    out: list[Message] = []
    while True:
        try:
            out.append(feed.get_nowait())
        except asyncio.QueueEmpty:
            return out


class ReadyHook:
    """Stands in for a connection's ``flush_ready``: drains what is ready and records
    each hand-over; ``accept=False`` plays a connection whose writer must do it."""

    def __init__(self, feed: ConnectionFeed, accept: bool = True) -> None:
        self.feed = feed
        self.accept = accept
        self.bursts: list[list[Message]] = []
        feed.on_ready = self

    def __call__(self) -> bool:
        if self.accept:
            self.bursts.append(drain(self.feed))
        return self.accept


async def test_a_burst_is_handed_to_each_connection_once_in_order(workspace: Workspace) -> None:
    router = SymbolRouter(workspace.engine)
    btc, eth = router.subscribe(), router.subscribe()
    btc.symbols, eth.symbols = {"BTCUSDT"}, {"ETHUSDT"}
    btc_hook, eth_hook = ReadyHook(btc), ReadyHook(eth)
    router._route_batch(
        [market("BTCUSDT", 1), market("ETHUSDT", 1), market("BTCUSDT", 2), order(7)]
    )
    assert btc_hook.bursts == [[market("BTCUSDT", 2), order(7)]]  # latest price, first slot
    assert eth_hook.bursts == [[market("ETHUSDT", 1), order(7)]]
    await router.stop()


async def test_a_connection_that_gets_nothing_from_a_burst_is_not_disturbed(
    workspace: Workspace,
) -> None:
    router = SymbolRouter(workspace.engine)
    btc, xrp = router.subscribe(), router.subscribe()
    btc.symbols, xrp.symbols = {"BTCUSDT"}, {"XRPUSDT"}
    btc_hook, xrp_hook = ReadyHook(btc), ReadyHook(xrp)
    router._route_batch([market("BTCUSDT", 1), market("ETHUSDT", 1)])
    assert btc_hook.bursts == [[market("BTCUSDT", 1)]]
    assert xrp_hook.bursts == []
    await router.stop()


@pytest.mark.parametrize("hooked", [False, True], ids=["no-hook", "hook-declines"])
async def test_a_burst_the_connection_cannot_take_wakes_its_waiting_writer(
    workspace: Workspace, hooked: bool
) -> None:
    router = SymbolRouter(workspace.engine)
    feed = router.subscribe()
    feed.symbols = {"BTCUSDT"}
    if hooked:
        ReadyHook(feed, accept=False)
    writer = asyncio.create_task(feed.get())
    await asyncio.sleep(0)  # let the writer park in get(): the state under test
    router._route_batch([market("BTCUSDT", 1), order(1)])
    assert await asyncio.wait_for(writer, TIMEOUT) == market("BTCUSDT", 1)
    assert drain(feed) == [order(1)]
    await router.stop()


async def test_quiet_puts_keep_order_and_conflation_until_the_consumer_is_woken() -> None:
    queue: ConflatingQueue[str] = ConflatingQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # parked in get()
    queue.put("a1", "a", wake=False)
    queue.put("event", None, wake=False)
    queue.put("a2", "a", wake=False)
    queue.wake()
    assert await asyncio.wait_for(getter, TIMEOUT) == "a2"
    assert queue.get_nowait() == "event"
    assert queue.conflated == 1


def test_waking_an_empty_queue_with_no_consumer_does_nothing() -> None:
    queue: ConflatingQueue[str] = ConflatingQueue()
    queue.wake()
    queue.put("x", wake=False)
    queue.wake()
    assert queue.get_nowait() == "x"


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
        decode = msgspec.msgpack.decode if msgpack else msgspec.json.decode
        for _ in range(4):  # the snapshot
            await asyncio.wait_for(websocket.recv(), TIMEOUT)
        started_ms = time.time() * 1000
        await websocket.send(json.dumps({"action": "subscribe_ticker", "symbol": "BTCUSDT"}))
        while (
            first := decode(await asyncio.wait_for(websocket.recv(), TIMEOUT), type=Update)
        ).type != "SUBSCRIBED":
            assert first.type != "MARKET_UPDATE"  # periodic broadcasts may come first
        updates: list[Update] = []
        while len(updates) < 5:
            message = decode(await asyncio.wait_for(websocket.recv(), TIMEOUT), type=Update)
            if message.type == "MARKET_UPDATE":
                assert message.symbol == "BTCUSDT"
                updates.append(message)
        arrived_ms = time.time() * 1000
    # The first is the latest update at the time of subscribing; the live ones after it
    # reached the engine after the subscription, and before they reached us.
    for update in updates[1:]:
        assert update.received_ms is not None
        assert started_ms <= update.received_ms <= arrived_ms
    stamps = [update.received_ms for update in updates[1:]]
    assert stamps == sorted(stamps)


async def test_a_resume_of_more_events_than_a_direct_write_takes_arrives_whole(
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
    placed = [workspace.engine.place_order(resting) for _ in range(DIRECT_BATCH + 44)]
    seqs = [message["seq"] for message in placed]
    client = await peer()
    # Market bursts keep coming to this connection while its resume is delivered.
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await client.send({"action": "resume", "since": seqs[0] - 1, "id": "r"})
    resumed = await client.until(lambda m: m["type"] == "RESUMED")
    assert resumed["count"] == len(seqs)
    assert [m["seq"] for m in client.seen if m["type"] == "ORDER_UPDATE"] == seqs
    await client.until(lambda m: m["type"] == "MARKET_UPDATE")  # the stream goes on
