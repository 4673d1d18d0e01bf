"""A killed engine says nothing: the gateway tells its users.  A real redis-server, an
engine and a gateway; the engine is killed with -9.  Once its heartbeat lapses, the
connected client gets a STATUS ``feed: down`` naming the engine (its account's marks,
fills and triggers stopped), and when an engine runs again on the same journal, the
engine's own STATUS (``connected``) comes back on the same connection.  The gateway's
``/health`` says the same: 503 with the market engine down and ``engines_down: [0]``,
then 200 again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway
from tests.server.ws_peer import http_get
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow

LAPSE_S = 40.0  # a heartbeat lapses 10 s after the last beat (every 3 s)


async def health_when(
    door: Process, condition: Callable[[int, dict[str, Any]], bool], within: float = LAPSE_S
) -> tuple[int, dict[str, Any]]:
    """The gateway's ``/health`` (code, detail) once ``condition`` accepts it (asked
    again after each answer): the engine's two heartbeats, its own and the market's,
    lapse a moment apart."""
    port = urlsplit(door.url).port
    assert port is not None
    async with asyncio.timeout(within):
        while True:
            code, _, body = await http_get(port, "/health")  # no token: with the detail
            detail: dict[str, Any] = json.loads(body)
            if condition(code, detail):
                return code, detail


async def test_a_killed_engine_is_down_for_its_users_until_it_runs_again(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    db = tmp_path / "journal.sqlite"
    node = await engine(redis_server.url, db).start()
    door = await gateway(redis_server.url).start()
    client: Peer | None = None
    try:
        client = await Peer.open(door.url)
        first = await client.snapshot()
        assert first["STATUS"]["feed"] in ("connected", "down")
        await client.until(lambda m: m["type"] == "STATUS" and m["feed"] == "connected", LAPSE_S)

        await node.kill()
        down = await client.until(lambda m: m["type"] == "STATUS" and m["feed"] == "down", LAPSE_S)
        assert "engine is not running" in down["reason"], down
        assert "ENGINE_UNAVAILABLE" in down["reason"]
        assert down["journal_id"] == first["STATUS"]["journal_id"]  # the same account
        _, detail = await health_when(door, lambda code, d: code == 503 and d["feed"] == "down")
        assert detail["engines_down"] == [0]
        assert detail["problems"] == [
            "feed down: the market engine is not running (its heartbeat lapsed): no market data"
        ]

        node = await engine(redis_server.url, db).start()
        back = await client.until(
            lambda m: m["type"] == "STATUS" and m["feed"] == "connected", LAPSE_S
        )
        assert back["journal_id"] == first["STATUS"]["journal_id"]
        assert "engine is not running" not in back.get("reason", "")
        await health_when(door, lambda code, d: code == 200 and d["engines_down"] == [])
    finally:
        if client is not None:
            await client.close()
        await door.kill()
        await node.kill()
