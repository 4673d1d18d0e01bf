"""Accounts split over two engines (``--shard i/N``) with one market: a real
redis-server, the engine of shard 1 owning the feed (``--feed sim``), the engine of
shard 0 taking that market from Redis (``--feed bus``, its default with N > 1) and a
gateway told ``--shards 2``.  Two users hashed to different shards both get prices and
fill orders on the owner's market (every fill price is a price the owner's feed
published), each order goes to the engine of its user's shard (the journal files say
where), and a second engine claiming the feed is refused with a clear message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.market_holds import holds_when
from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway
from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis, xrange
from workspace.bus.local_redis import LocalRedis
from workspace.bus.rpc import CommandClient
from workspace.scaleout import feed_records
from workspace.scaleout.shards import shard_of
from workspace.users import UsersFile

pytestmark = pytest.mark.slow

KEYS = BusKeys()


def user_on(shard: int, taken: set[str]) -> str:
    """A user name whose stable hash falls on ``shard`` of 2."""
    for n in range(100):
        name = f"user{n}"
        if name not in taken and shard_of(name, 2) == shard:
            return name
    raise AssertionError("no name hashes to that shard")


@pytest.fixture
async def shards(
    redis_server: LocalRedis, tmp_path: Path
) -> AsyncIterator[tuple[dict[str, Any], Process]]:
    file = UsersFile(tmp_path / "users.json")
    bus_user = user_on(0, set())
    owner_user = user_on(1, {bus_user})
    _, bus_token = file.add(bus_user, {"USDT": "10000"})
    _, owner_token = file.add(owner_user, {"USDT": "10000"})
    (tmp_path / "s0").mkdir()
    (tmp_path / "s1").mkdir()
    users = str(file.path)
    processes: list[Process] = []
    try:
        owner = engine(
            redis_server.url,
            tmp_path / "s1" / "team.sqlite",
            *("--users", users, "--shard", "1/2", "--feed", "sim", "--hold-ttl", "1"),
        )
        processes.append(await owner.start())
        assert "owns the market feed" in owner.ready_line
        follower = engine(
            redis_server.url, tmp_path / "s0" / "team.sqlite", "--users", users, "--shard", "0/2"
        )
        processes.append(await follower.start())
        assert "market from the bus" in follower.ready_line
        front = await gateway(redis_server.url, "--users", users, "--shards", "2").start()
        processes.append(front)
        yield (
            {
                "bus": (bus_user, bus_token),
                "owner": (owner_user, owner_token),
                "dir": tmp_path,
                "users": users,
                "follower": follower,
            },
            front,
        )
    finally:
        for process in processes:
            await process.kill()


async def buy_and_fill(peer: Peer) -> dict[str, Any]:
    placed = await peer.reply(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
         "quantity": 0.002}
    )  # fmt: skip
    assert placed["type"] == "ORDER_UPDATE", placed
    if placed["order"]["status"] == "FILLED":
        return placed
    order_id = placed["order"]["id"]
    return await peer.until(
        lambda m: (
            m["type"] == "ORDER_UPDATE"
            and m["order"]["id"] == order_id
            and m["order"]["status"] == "FILLED"
        )
    )


async def owner_prices(url: str, symbol: str) -> set[Decimal]:
    """Every price the owner's feed published for ``symbol`` (trades, tickers, book
    tickers, book levels)."""
    redis = open_redis(url)
    prices: set[Decimal] = set()
    try:
        low = "-"
        while page := await xrange(redis, KEYS.feed(symbol), low, "+", 1000):
            for _id, fields in page:
                record = feed_records.decode(fields[b"k"], fields[b"r"])
                for name in ("price", "last_price", "bid_price", "ask_price"):
                    value = getattr(record, name, None)
                    if value is not None:
                        prices.add(Decimal(value))
                for side in ("bid_levels", "ask_levels"):
                    prices.update(Decimal(level[0]) for level in getattr(record, side, ()))
            low = "(" + page[-1][0].decode()
    finally:
        await redis.aclose()
    return prices


async def test_two_shards_trade_on_one_market(
    shards: tuple[dict[str, Any], Process], redis_server: LocalRedis
) -> None:
    setup, front = shards
    bus_user, bus_token = setup["bus"]
    owner_user, owner_token = setup["owner"]
    on_bus = await Peer.open(front.url, bus_token)
    on_owner = await Peer.open(front.url, owner_token)
    first_bus, first_owner = await on_bus.snapshot(), await on_owner.snapshot()
    assert first_bus["STATUS"]["user"] == bus_user
    assert first_owner["STATUS"]["user"] == owner_user

    # both get prices
    for peer in (on_bus, on_owner):
        await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        await peer.until(lambda m: m["type"] == "MARKET_UPDATE")

    # both fill; the bus-fed shard's account waits for the owner's book, as an account
    # waits for an exchange's, then fills on it
    bus_fill, owner_fill = await asyncio.gather(buy_and_fill(on_bus), buy_and_fill(on_owner))
    published = await owner_prices(redis_server.url, "BTCUSDT")
    assert published, "the owner published no market records"
    for fill in (bus_fill, owner_fill):
        for part in fill["order"]["fills"]:
            assert Decimal(str(part["price"])) in published, (part, fill)
    # the accounts are marked on that market: each holds a position of BTCUSDT
    for peer in (on_bus, on_owner):
        positions = await peer.reply({"action": "get_positions"})
        assert [p["symbol"] for p in positions["positions"]] == ["BTCUSDT"], positions

    # each order went to the engine of its user's shard: the journals say where
    folder: Path = setup["dir"]
    assert (folder / "s0" / f"team.{bus_user}.sqlite").exists()
    assert not (folder / "s1" / f"team.{bus_user}.sqlite").exists()
    assert (folder / "s1" / f"team.{owner_user}.sqlite").exists()
    assert not (folder / "s0" / f"team.{owner_user}.sqlite").exists()
    for peer in (on_bus, on_owner):
        await peer.close()

    # the bus-fed engine holds its account's symbol on the owner, under a lease: killed
    # with -9, it loses it there
    bus = CommandClient(redis_server.url, KEYS, "test-holds", timeout_s=10)
    await bus.start()
    try:
        held = await holds_when(bus, lambda r: feeds_holding(r, "BTCUSDT"))
        (holder,) = feeds_holding(held, "BTCUSDT")
        await setup["follower"].kill()
        await holds_when(bus, lambda r: holder not in r["holders"])
    finally:
        await bus.stop()


def feeds_holding(reply: dict[str, Any], symbol: str) -> list[str]:
    """The bus-fed engines holding ``symbol`` on the market engine."""
    return [
        name
        for name, held in reply["holders"].items()
        if name.startswith("bus-feed@") and symbol in held["symbol"]
    ]


async def test_a_second_feed_owner_is_refused(
    shards: tuple[dict[str, Any], Process], redis_server: LocalRedis, tmp_path: Path
) -> None:
    setup, _ = shards
    (tmp_path / "other").mkdir()
    second = engine(
        redis_server.url,
        tmp_path / "other" / "team.sqlite",
        *("--users", setup["users"], "--shard", "0/2", "--feed", "sim"),
    )
    with pytest.raises(AssertionError, match="another engine owns the market feed"):
        await second.start()
