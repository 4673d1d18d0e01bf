"""What a gateway serves from further back than it holds, and replay: a real
redis-server, an engine and two gateways that keep only the last 20 order events of a
view in memory (``--held-events 20``).  A client that reconnects to the other gateway
after 60 order events resumes exactly (on connect and by the ``resume`` command: the
older events are read from the user's event stream, a page at a time); ``replay``
through a gateway streams the market engine's recorded ticks, then ``REPLAY_DONE``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scaleout.peer import Peer, below
from tests.scaleout.processes import Process, engine, gateway
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow

HELD = 20
TRADERS, ROUNDS = 4, 8  # two order events a round: 64, three times what a gateway holds
# (several connections: each may send 40 commands at once, then 20 a second)


@pytest.fixture
async def cluster(
    redis_server: LocalRedis, tmp_path: Path
) -> AsyncIterator[tuple[Process, Process]]:
    processes: list[Process] = []
    try:
        processes.append(await engine(redis_server.url, tmp_path / "journal.sqlite").start())
        first, second = await asyncio.gather(
            gateway(redis_server.url, "--held-events", str(HELD)).start(),
            gateway(redis_server.url, "--held-events", str(HELD)).start(),
        )
        processes += [first, second]
        yield first, second
    finally:
        for process in processes:
            await process.kill()


def order_seqs(messages: list[dict[str, object]]) -> list[int]:
    return [int(str(m["seq"])) for m in messages if m["type"] == "ORDER_UPDATE"]


async def until_resumed(peer: Peer) -> tuple[dict[str, object], list[int]]:
    start = len(peer.seen)
    resumed = await peer.until(lambda m: m["type"] == "RESUMED")
    return resumed, order_seqs(peer.seen[start:])


async def test_a_client_resumes_exactly_on_another_gateway_from_beyond_its_window(
    cluster: tuple[Process, Process],
) -> None:
    first, second = cluster
    # a connection on the second gateway from the start: its view holds the last 20
    watcher = await Peer.open(second.url)
    trader = await Peer.open(first.url)
    start = await trader.snapshot()
    await watcher.snapshot()
    journal_id, since = start["ORDERS"]["journal_id"], start["ORDERS"]["seq"]
    subscribed = await trader.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    tick = await trader.until(lambda m: m["type"] == "MARKET_UPDATE")
    price = below(tick["price"], subscribed["symbol_info"]["tick_size"])
    traders = [trader] + [await Peer.open(first.url) for _ in range(TRADERS - 1)]
    live: list[int] = []
    for peer in traders:
        for _ in range(ROUNDS):
            new = await peer.reply(
                {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                 "quantity": 0.001, "price": price}
            )  # fmt: skip
            gone = await peer.reply({"action": "cancel_order", "order_id": new["order"]["id"]})
            assert (new["type"], gone["type"]) == ("ORDER_UPDATE", "ORDER_UPDATE"), (new, gone)
            live += [new["seq"], gone["seq"]]
    # the watcher's gateway has seen them all go by (it holds the last 20)
    await watcher.until(lambda m: m["type"] == "ORDER_UPDATE" and m["seq"] == live[-1])
    assert len(live) > 2 * HELD

    # on connect, to the other gateway
    back = await Peer.open(second.url, query=f"since={since}&journal_id={journal_id}")
    await back.snapshot()
    resumed, seqs = await until_resumed(back)
    assert seqs == live, "every missed order event, once, in order"
    assert (resumed["since"], resumed["count"]) == (since, len(live))

    # by command (a client that cannot set a URL), on both gateways
    fresh: list[Peer] = []
    for door, point in ((second, since), (first, since), (second, live[-5])):
        peer = await Peer.open(door.url)
        fresh.append(peer)
        await peer.snapshot()
        start_at = len(peer.seen)
        reply = await peer.reply({"action": "resume", "since": point})
        assert reply["type"] == "RESUMED", reply
        expected = [seq for seq in live if seq > point]
        assert order_seqs(peer.seen[start_at:]) == expected
        assert reply["count"] == len(expected)
    for peer in (watcher, back, *traders, *fresh):
        await peer.close()


async def test_replay_through_a_gateway_streams_the_recorded_ticks(
    cluster: tuple[Process, Process],
) -> None:
    _, second = cluster
    peer = await Peer.open(second.url)
    await peer.snapshot()
    await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    seen = [
        (await peer.until(lambda m: m["type"] == "MARKET_UPDATE" and not m.get("replay")))[
            "timestamp"
        ]
        for _ in range(3)
    ]
    await peer.reply({"action": "unsubscribe_ticker", "symbol": "BTCUSDT"})
    start, end = min(seen), max(seen)
    await peer.send(
        {"action": "replay", "symbol": "btcusdt", "start": start, "end": end, "speed": 0,
         "id": "r1"}
    )  # fmt: skip
    done = await peer.until(lambda m: m["type"] == "REPLAY_DONE")
    replayed = [m for m in peer.seen if m.get("replay")]
    assert done["id"] == "r1"
    assert done["count"] == len(replayed) >= 1
    stamps = [m["timestamp"] for m in replayed]
    assert all(start <= stamp <= end for stamp in stamps), stamps
    assert stamps == sorted(stamps)
    assert set(seen) <= set(stamps), "every tick the client saw live was recorded"
    bad = await peer.reply(
        {"action": "replay", "symbol": "BTCUSDT", "start": end, "end": start, "speed": 0}
    )
    assert bad["code"] == "INVALID_PARAMS", bad
    await peer.close()
