"""A killed engine says nothing: the gateway tells its users.  A real redis-server, an
engine and a gateway; the engine is killed with -9.  Once its heartbeat lapses, the
connected client gets a STATUS ``feed: down`` naming the engine (its account's marks,
fills and triggers stopped), and when an engine runs again on the same journal, the
engine's own STATUS (``connected``) comes back on the same connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scaleout.peer import Peer
from tests.scaleout.processes import engine, gateway
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow

LAPSE_S = 40.0  # a heartbeat lapses 10 s after the last beat (every 3 s)


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

        node = await engine(redis_server.url, db).start()
        back = await client.until(
            lambda m: m["type"] == "STATUS" and m["feed"] == "connected", LAPSE_S
        )
        assert back["journal_id"] == first["STATUS"]["journal_id"]
        assert "engine is not running" not in back.get("reason", "")
    finally:
        if client is not None:
            await client.close()
        await door.kill()
        await node.kill()
