"""Connections come and go without leaving anything behind: tasks, engine
subscriptions, symbol references, memory."""

from __future__ import annotations

import asyncio
import gc
import json

import psutil
import pytest
from websockets.asyncio.client import connect

from tests.server.ws_peer import TIMEOUT
from workspace import Workspace
from workspace.server import RealtimeServer


async def one_cycle(url: str, n: int) -> None:
    async with connect(url, compression=None, close_timeout=1, proxy=None) as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"
        if n % 10 == 0:  # some clients hold a symbol and an alert when they leave
            await websocket.send(json.dumps({"action": "subscribe_ticker", "symbol": "BTCUSDT"}))
            await websocket.send(
                json.dumps({"action": "set_alert", "symbol": "ETHUSDT", "above": 10**9, "id": 1})
            )
            while json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT)).get("id") != 1:
                pass


async def test_1000_connect_disconnect_cycles_leave_no_tasks_subscriptions_or_memory(
    server: RealtimeServer, workspace: Workspace
) -> None:
    engine = workspace.engine
    process = psutil.Process()
    # The notebook holds the symbols, so the cycles measure the server, not the
    # feed's paced SUBSCRIBE/UNSUBSCRIBE round trips.
    await workspace.subscribe("BTCUSDT", "ETHUSDT")
    for n in range(100):  # warm up: caches, lazily created objects
        await one_cycle(server.url, n)
    await asyncio.wait_for(server.wait_clients(0), TIMEOUT)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    subscribers_before = engine.hub.subscribers
    symbols_before = engine.symbols
    rss_before = process.memory_info().rss

    for n in range(1000):
        await one_cycle(server.url, n)

    await asyncio.wait_for(server.wait_clients(0), TIMEOUT)
    gc.collect()
    assert server.accepted == 1100
    tasks_after = len(asyncio.all_tasks())
    assert tasks_after <= tasks_before, sorted(t.get_name() for t in asyncio.all_tasks())
    assert engine.hub.subscribers == subscribers_before
    assert server.connections == ()
    assert engine.symbols == symbols_before
    growth_mib = (process.memory_info().rss - rss_before) / 2**20
    assert growth_mib < 16, f"RSS grew {growth_mib:.1f} MiB over 1000 connections"


async def test_a_server_that_cannot_listen_leaves_no_task_behind(workspace: Workspace) -> None:
    """Its sweeper of stalled clients started first and ran on, for a server that never
    listened (a port taken, say)."""
    async with RealtimeServer(workspace.engine, port=0) as holder:
        taken = RealtimeServer(workspace.engine, port=holder.port)
        with pytest.raises(OSError, match="address already in use"):
            await taken.start()
    left = [
        task
        for task in asyncio.all_tasks()
        if task.get_name() == "server.sweeper" and not task.done() and not task.cancelling()
    ]
    assert left == []
