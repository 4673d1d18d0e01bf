"""A reconnect storm costs the engine two snapshots at most, not one per connection: a real
redis-server, engine and gateway.  The engine is paused (SIGSTOP) while 25 connections
of one user open on the gateway, so they all arrive while its snapshot command is
unanswered; once it runs again, every connection gets the account with the order
placed before the storm, and the gateway's ``/health`` shows one or two snapshot
commands sent for the 25 connections."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.scaleout.peer import Peer, below
from tests.scaleout.processes import engine, gateway
from tests.server.ws_peer import http_get
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow

STORM = 25
TIMEOUT_S = 30.0


async def snapshot_usage(url: str) -> dict[str, int]:
    """The ``snapshots`` of the gateway's ``/health`` detail."""
    port = urlsplit(url).port
    assert port is not None
    _, _, body = await http_get(port, "/health")
    usage: dict[str, int] = json.loads(body)["snapshots"]
    return usage


async def until_waiting(url: str, count: int) -> dict[str, int]:
    """Until ``count`` connections wait for a snapshot (asked of the gateway itself,
    one ``/health`` after another)."""
    async with asyncio.timeout(TIMEOUT_S):
        while (usage := await snapshot_usage(url))["waiting"] < count:
            pass
    return usage


async def test_a_reconnect_storm_shares_at_most_two_snapshots(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    account = await engine(redis_server.url, tmp_path / "journal.sqlite").start()
    # commands wait for the paused engine longer than the storm takes
    door = await gateway(redis_server.url, "--timeout", str(TIMEOUT_S)).start()
    peers: list[Peer] = []
    try:
        trader = await Peer.open(door.url)
        peers.append(trader)
        await trader.snapshot()
        subscribed = await trader.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        tick = await trader.until(lambda m: m["type"] == "MARKET_UPDATE")
        price = below(tick["price"], subscribed["symbol_info"]["tick_size"])
        placed = await trader.reply(
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
             "quantity": 0.001, "price": price}
        )  # fmt: skip
        assert placed["type"] == "ORDER_UPDATE", placed
        before = await snapshot_usage(door.url)

        assert account.process is not None
        pid = account.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            opening = [asyncio.create_task(Peer.open(door.url)) for _ in range(STORM)]
            storm = await until_waiting(door.url, STORM)
        finally:
            os.kill(pid, signal.SIGCONT)
        # one in flight; the connections that asked after it started queue behind it
        assert storm["sent"] - before["sent"] == 1
        peers += await asyncio.wait_for(asyncio.gather(*opening), TIMEOUT_S)
        snapshots = await asyncio.wait_for(
            asyncio.gather(*(peer.snapshot() for peer in peers[1:])), TIMEOUT_S
        )
        after = await snapshot_usage(door.url)
        # the queued ones share one more; none if every connection asked before the
        # first command started (they arrive together: seen in a full-suite run)
        assert 1 <= after["sent"] - before["sent"] <= 2
        assert after["served"] - before["served"] == STORM
        assert after["waiting"] == 0
        for snapshot in snapshots:
            orders = snapshot["ORDERS"]
            assert [o["id"] for o in orders["orders"]] == [placed["order"]["id"]]
            assert orders["seq"] >= placed["seq"]
    finally:
        for peer in peers:
            await peer.close()
        await door.kill()
        await account.kill()
