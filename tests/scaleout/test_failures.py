"""The scale-out across crashes, with real processes: the engine killed with -9 and
restarted on its journal comes back with the identical account and the event stream
resumes exactly; Redis killed with -9 and restarted on its append-only file loses
nothing that was acknowledged, and the engine and gateways carry on by themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.peer import Peer, below
from tests.scaleout.processes import ROOT, Process, engine, gateway, refused_start
from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow

KEYS = BusKeys()


def order_seqs(peer: Peer) -> list[int]:
    return [m["seq"] for m in peer.seen if m["type"] == "ORDER_UPDATE"]


def account_state(snapshot: dict[str, dict[str, Any]]) -> dict[str, Any]:
    portfolio = snapshot["PORTFOLIO_UPDATE"]["portfolio"]
    return {
        "journal_id": snapshot["ORDERS"]["journal_id"],
        "seq": snapshot["ORDERS"]["seq"],
        "open": sorted((o["id"], o["status"], o["price"]) for o in snapshot["ORDERS"]["orders"]),
        "balances": portfolio["balances"],
        "realized": portfolio["realized_pnl"],
        "fees": portfolio["fees_paid"],
        "positions": sorted(
            (p["id"], p["quantity"]) for p in snapshot["POSITION_UPDATE"]["positions"]
        ),
    }


async def trade(peer: Peer, price: str, rounds: int) -> list[dict[str, Any]]:
    """A filled market buy, then ``rounds`` limit orders left open: acknowledged replies."""
    replies = [
        await peer.reply(
            {
                "action": "place_order",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": 0.002,
            }
        )
    ]
    for _ in range(rounds):
        replies.append(
            await peer.reply(
                {
                    "action": "place_order",
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "quantity": 0.001,
                    "price": price,
                }
            )
        )
    for reply in replies:
        assert reply["type"] == "ORDER_UPDATE", reply
    return replies


async def resume_all(url: str, since: int, journal_id: str) -> Peer:
    peer = await Peer.open(url, query=f"since={since}&journal_id={journal_id}")
    await peer.snapshot()
    await peer.until(lambda m: m["type"] == "RESUMED")
    return peer


async def test_engine_killed_and_restarted_then_redis_killed_and_restarted(
    tmp_path: Path,
) -> None:
    redis = LocalRedis(tmp_path / "redis", appendfsync="always")
    await redis.start()
    db = tmp_path / "journal.sqlite"
    node = await engine(redis.url, db).start()
    door = await gateway(redis.url).start()
    try:
        client = await Peer.open(door.url)
        await client.snapshot()
        subscribed = await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        tick = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        price = below(tick["price"], subscribed["symbol_info"]["tick_size"])
        await trade(client, price, 3)
        await client.reply({"action": "get_positions"})  # after the fill's events
        before = account_state(await (await Peer.open(door.url)).snapshot())
        assert len(before["open"]) == 3

        # kill -9 the engine; a new one on the same journal: the identical account
        await node.kill()
        node = await engine(redis.url, db).start()
        fresh_gateway = await gateway(redis.url).start()
        try:
            after = account_state(await (await Peer.open(fresh_gateway.url)).snapshot())
        finally:
            await fresh_gateway.kill()
        assert after == before
        # the old gateway goes on: prices again, orders get the next seqs, resume exact
        await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        more = await trade(client, price, 2)
        assert more[0]["seq"] > before["seq"]
        last = more[-1]["seq"]
        exact = await resume_all(door.url, before["seq"], before["journal_id"])
        resumed = order_seqs(exact)
        assert resumed == sorted(set(resumed))
        assert resumed[0] > before["seq"]
        assert resumed[-1] >= last
        assert {r["seq"] for r in more} <= set(resumed)
        acknowledged = await client.reply({"action": "get_orders", "status": "ALL"})
        everything = await resume_all(door.url, 0, before["journal_id"])
        assert order_seqs(everything)[-1] == acknowledged["seq"]

        # kill -9 Redis, restart it on its append-only file
        await redis.kill()
        await redis.start()
        # the engine and the gateway reconnect by themselves: prices, then orders
        await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        late = await trade(client, price, 1)
        after_redis = await resume_all(door.url, 0, before["journal_id"])
        seqs = order_seqs(after_redis)
        assert seqs[: len(order_seqs(everything))] == order_seqs(everything), "nothing lost"
        assert seqs == sorted(set(seqs))
        assert seqs[-1] >= late[-1]["seq"]
    finally:
        await door.kill()
        await node.kill()
        await redis.kill()


async def test_a_command_the_journal_took_before_a_crash_is_answered_engine_restarted(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    """The engine dies between journalling an order command and acknowledging it (the
    gateway still holds its client, waiting): the engine restarted on its journal gets
    the command again (pending in the consumer group), does not execute it twice, and
    answers ``ENGINE_RESTARTED``; the order's event reaches the client from the stream,
    once."""
    db = tmp_path / "journal.sqlite"
    crashing = Process(
        "crashing engine",
        ["--bus", redis_server.url, "--db", str(db)],
        "engine ready",
        program=[str(ROOT / "tests" / "scaleout" / "crash_engine.py")],
    )
    await crashing.start()
    door = await gateway(redis_server.url, "--timeout", "60").start()
    node: Process | None = None
    try:
        client = await Peer.open(door.url)
        start = await client.snapshot()
        journal_id, since = start["ORDERS"]["journal_id"], start["ORDERS"]["seq"]
        subscribed = await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        tick = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
        await client.send(
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
             "quantity": 0.001, "id": "o1",
             "price": below(tick["price"], subscribed["symbol_info"]["tick_size"])}
        )  # fmt: skip
        assert await crashing.exited() == 137
        assert "crashing after the journal took the command" in crashing.output

        node = await engine(redis_server.url, db).start()
        answer = await client.until(lambda m: m.get("id") == "o1", timeout_s=60)
        assert (answer["type"], answer["code"]) == ("ERROR", "ENGINE_RESTARTED"), answer
        event = next(
            (m for m in client.seen if m["type"] == "ORDER_UPDATE"), None
        ) or await client.until(lambda m: m["type"] == "ORDER_UPDATE")
        assert event["order"]["status"] == "NEW"
        assert "id" not in event  # a live event: its command's reply was the error

        # executed once: one open order; the journal's events, exactly once
        orders = await client.reply({"action": "get_orders"})
        assert [o["id"] for o in orders["orders"]] == [event["order"]["id"]]
        resumed = await resume_all(door.url, since, journal_id)
        assert order_seqs(resumed) == [event["seq"]]
        assert order_seqs(client) == [event["seq"]]
    finally:
        await door.kill()
        await crashing.kill()
        if node is not None:
            await node.kill()


@pytest.mark.parametrize(
    ("key", "what"), [(KEYS.engine(0), "shard 0/1"), (KEYS.feed_owner, "the market feed")]
)
async def test_an_engine_whose_claim_another_took_stops(
    redis_server: LocalRedis, tmp_path: Path, key: str, what: str
) -> None:
    """An engine cut off from Redis for longer than its claim lives may find, back, that
    another engine claimed its shard (or the feed) meanwhile.  Its heartbeat set the key
    again regardless, and both ran on.  Now its beat renews only its own claim: finding
    another holder, it stops (exit status 1) and says why."""
    node = await engine(redis_server.url, tmp_path / "journal.sqlite", "--feed", "sim").start()
    try:
        assert not any("no --db" in line for line in node.output), node.output
        redis = open_redis(redis_server.url)
        try:
            await redis.set(key, b"elsewhere:/srv/journal.sqlite")  # (another engine's claim)
        finally:
            await redis.aclose()
        line = await node.printed("engine: ")
        assert line.startswith(f"engine: {what} was claimed by another engine "), line
        assert "(elsewhere:/srv/journal.sqlite)" in line, line
        assert await node.exited() == 1
    finally:
        await node.kill()


async def test_an_engine_without_a_journal_file_says_its_accounts_are_temporary(
    redis_server: LocalRedis,
) -> None:
    memory = Process(
        "engine", ["engine", "--bus", redis_server.url, "--feed", "sim"], "engine ready"
    )
    await memory.start()
    try:
        warning = (
            "WARNING workspace: no --db: the journal is a temporary file, so orders, positions "
            "and balances are lost when this engine stops (give --db FILE to keep them)"
        )
        assert warning in memory.output, memory.output
    finally:
        await memory.kill()


async def test_two_engines_with_temporary_journals_are_two_and_a_clean_stop_frees_the_shard(
    redis_server: LocalRedis,
) -> None:
    """Without --db both claimed the same name ("this machine, in memory") and both
    ran the one shard.  A clean stop now also frees the shard at once for the next
    engine (a killed one's claim lapses in 10 s)."""
    argv = ["engine", "--bus", redis_server.url, "--feed", "sim"]
    first = await Process("engine", argv, "engine ready").start()
    try:
        second = Process("engine", argv, "engine ready")
        assert "another engine runs shard 0/1" in await refused_start(second)
        assert await first.stop() == 0
        again = await Process("engine", argv, "engine ready").start()
        await again.kill()
    finally:
        await first.kill()
