"""Entries that something else writes into an account's event stream (another workspace
on the same Redis with the same bus prefix, a hand-typed ``XADD``) lose nothing: a real
redis-server, engine and gateway.

Before, Redis refused every later event as "not above the last", and the engine took each
refusal for an event it had published already: orders were journaled and filled, and no
client ever heard of them, with no word in any log.  The gateway had also taken the
foreign entry's id for its last ``seq``, and skipped every real event after it."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.scaleout.peer import Peer
from tests.scaleout.processes import engine, gateway
from workspace.bus.keys import BusKeys
from workspace.bus.link import xrange
from workspace.bus.local_redis import LocalRedis
from workspace.scaleout.shards import SINGLE_USER

pytestmark = pytest.mark.slow

EVENTS = BusKeys().events(SINGLE_USER)
STATE = BusKeys().state(SINGLE_USER)
BUY = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}


async def filled(peer: Peer, quantity: str) -> tuple[int, int]:
    """Place a market buy; the ``seq`` of its NEW reply and of its FILLED update."""
    new = await peer.reply({**BUY, "quantity": quantity})
    assert new["type"] == "ORDER_UPDATE", new
    order_id = new["order"]["id"]
    done = await peer.until(
        lambda m: (
            m["type"] == "ORDER_UPDATE"
            and m["order"]["id"] == order_id
            and m["order"]["status"] == "FILLED"
        )
    )
    return new["seq"], done["seq"]


async def test_foreign_entries_are_removed_and_every_event_still_reaches_the_clients(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    url = redis_server.url
    account = await engine(url, tmp_path / "journal.sqlite").start()
    door = await gateway(url).start()
    redis = aioredis.from_url(url)
    peers: list[Peer] = []
    try:
        trader = await Peer.open(door.url)
        peers.append(trader)
        await trader.snapshot()
        await trader.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        await trader.until(lambda m: m["type"] == "MARKET_UPDATE")
        first = await filled(trader, "0.001")

        await redis.xadd(EVENTS, {"v": "not an event"})  # an id far above any seq
        await redis.xadd(EVENTS, {"x": "1"})
        await redis.xadd(STATE, {"m": "not json"})
        await door.printed("ERROR workspace.scaleout: ws:events:default: entry ")

        second = await filled(trader, "0.002")  # it waited forever before
        assert second[0] > first[1]
        line = await account.printed("ERROR workspace.scaleout: ws:events:default held 2 entries")
        assert "not this journal's events" in line
        third = await filled(trader, "0.003")
        assert third[0] > second[1]
        ids = [entry_id for entry_id, _ in await xrange(redis, EVENTS, "-", "+", 100)]
        assert ids[-1] == f"{third[1]}-0".encode()  # nothing foreign is left on top

        # a client resuming from the start gets every order event once, in order
        late = await Peer.open(door.url, query="since=0")
        peers.append(late)
        seqs: list[int] = []
        while len(seqs) < 6:
            message = await late.until(lambda m: m["type"] == "ORDER_UPDATE")
            seqs.append(message["seq"])
        assert seqs == [*first, *second, *third]
        assert "Traceback" not in "\n".join(account.output + door.output)
    finally:
        for peer in peers:
            await peer.close()
        await redis.aclose()
        await door.kill()
        await account.kill()
