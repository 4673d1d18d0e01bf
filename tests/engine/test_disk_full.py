"""The fault-injection run of issue 16, as a test: a served workspace whose journal's
disk fills up (a real tmpfs, mounted in a mount namespace of the child's own), driven
by a real WebSocket client.

- Orders are taken until the disk is full; then every place and cancel is refused with
  ``JOURNAL_UNAVAILABLE`` (never ``INTERNAL``), STATUS says ``journal: "degraded"``,
  reads and market data go on.
- No order the client was not told about exists, in memory or in the journal.
- When space returns the engine writes again by itself (STATUS ``ok``) and takes orders.
- A copy of the journal on a roomy disk, and a restart on the same file, open to
  exactly the orders the client was told about.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from workspace.journal import Journal

CHILD = Path(__file__).with_name("diskfull_child.py")
TIMEOUT = 30.0

pytestmark = pytest.mark.slow


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        assert raw, "the child ended"
        return raw.decode().strip()

    async def command(self, text: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.line()


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.n = 0

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if wanted(message):
                    return message

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        command["id"] = self.n
        await self.ws.send(json.dumps(command))
        return await self.until(lambda m: m.get("id") == command["id"])


@pytest.fixture
async def child(tmp_path: Path) -> AsyncIterator[Child]:
    mount = tmp_path / "disk"
    mount.mkdir()
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is part of every Debian system"
    process = await asyncio.create_subprocess_exec(
        unshare,
        "--user",
        "--map-root-user",
        "--mount",
        sys.executable,
        str(CHILD),
        str(mount),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield Child(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def limit_buy(price: Decimal, n: int) -> dict[str, Any]:
    return {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": 0.0002,
        "price": float(price - n % 50),
    }


async def test_a_full_disk_refuses_orders_loses_nothing_told_and_recovers(
    child: Child, tmp_path: Path
) -> None:
    serving = await child.line()
    assert serving.startswith("serving ws://"), serving
    told: set[str] = set()
    async with connect(serving.split()[1], max_size=None) as ws:
        client = Client(ws)
        subscribed = await client.ask({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        assert subscribed["type"] == "SUBSCRIBED"
        update = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        below = (Decimal(str(update["price"])) * Decimal("0.9")).quantize(Decimal(1))
        for n in range(5):
            reply = await client.ask(limit_buy(below, n))
            assert reply["type"] == "ORDER_UPDATE", reply
            told.add(reply["order"]["id"])

        full = await child.command("fill")
        assert full.startswith("full ")
        refused = None
        for n in range(5, 5000):  # the journal's WAL still has room for a few
            reply = await client.ask(limit_buy(below, n))
            if reply["type"] == "ERROR":
                refused = reply
                break
            assert reply["order"]["status"] == "NEW", reply
            told.add(reply["order"]["id"])
        assert refused is not None
        assert refused["code"] == "JOURNAL_UNAVAILABLE", refused
        assert "full" in refused["message"]
        status = await client.until(lambda m: m["type"] == "STATUS")
        assert status["journal"] == "degraded"
        cancel = await client.ask({"action": "cancel_order", "order_id": sorted(told)[0]})
        assert cancel["code"] == "JOURNAL_UNAVAILABLE"
        again = await client.ask(limit_buy(below, 1))
        assert again["code"] == "JOURNAL_UNAVAILABLE"
        # reads and market data go on; nothing exists that the client was not told about
        orders = await client.ask({"action": "get_orders"})
        assert {o["id"] for o in orders["orders"]} == told
        await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        assert (await client.ask({"action": "get_portfolio"}))["type"] == "PORTFOLIO_UPDATE"

        assert await child.command("free") == "freed"
        await client.until(lambda m: m["type"] == "STATUS" and m["journal"] == "ok")
        after = await client.ask(limit_buy(below, 7))
        assert after["type"] == "ORDER_UPDATE", after
        told.add(after["order"]["id"])

    roomy = tmp_path / "copy.sqlite"
    assert await child.command(f"copy {roomy}") == "copied"
    with Journal.open(roomy) as journal:
        assert journal.verify().ok
        assert {o.id for o in journal.rebuild().open_orders} == told

    restarted = await child.command("restart")
    assert restarted.startswith("serving ws://")
    async with connect(restarted.split()[1], max_size=None) as ws:
        client = Client(ws)
        snapshot = await client.until(lambda m: m["type"] == "ORDERS")
        assert {o["id"] for o in snapshot["orders"]} == told
    assert await child.command("stop") == "stopped"
