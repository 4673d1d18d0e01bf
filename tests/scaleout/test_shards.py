"""Accounts split over two engines (``--shard i/N``) with one market: a real
redis-server, the engine of shard 1 owning the feed (``--feed sim``), the engine of
shard 0 taking that market from Redis (``--feed bus``, its default with N > 1) and a
gateway told ``--shards 2``.  Two users hashed to different shards both get prices and
fill orders on the owner's market (every fill price is a price the owner's feed
published), each order goes to the engine of its user's shard (the journal files say
where), a second engine claiming the feed is refused with a clear message, and the
owner's restart is a closed gap in the other shard's account."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.scaleout.first_price import placed_on_first_prices
from tests.scaleout.market_holds import holds_when
from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway, refused_start
from tests.scaleout.sharded import buy_and_fill, fills_once_priced, owner_prices, user_on
from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis
from workspace.bus.local_redis import LocalRedis
from workspace.bus.rpc import CommandClient
from workspace.scaleout.shards import shard_of
from workspace.users import UsersFile

pytestmark = pytest.mark.slow

KEYS = BusKeys()


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
                "owner_process": owner,
            },
            front,
        )
    finally:
        for process in processes:
            await process.kill()


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


async def test_an_account_on_the_bus_fed_shard_places_orders_on_a_symbols_first_price(
    shards: tuple[dict[str, Any], Process],
) -> None:
    """Its engine follows the symbol from the owner (a hold) for the order's wait."""
    setup, front = shards
    _, bus_token = setup["bus"]
    trader = await Peer.open(front.url, bus_token)
    await trader.snapshot()
    await placed_on_first_prices(trader)
    await trader.close()


async def test_a_follower_keeps_the_owners_restart_as_a_gap(
    shards: tuple[dict[str, Any], Process],
) -> None:
    """What the exchange sent while the owner was away is lost to the other shards: the
    follower's account journals it as a gap, closed by the first record after."""
    setup, front = shards
    _, bus_token = setup["bus"]
    peer = await Peer.open(front.url, bus_token)
    try:
        await peer.snapshot()
        await buy_and_fill(peer)  # the follower's account now follows BTCUSDT
        await peer.until(lambda m: m["type"] == "STATUS" and m.get("last_price_ms") is not None, 30)
        owner: Process = setup["owner_process"]
        await owner.kill()
        await owner.start()  # in place: it takes its claim back at once
        status = await peer.until(
            lambda m: (
                m["type"] == "STATUS"
                and "feed owner" in ((m.get("last_gap") or {}).get("reason") or "")
                and m["last_gap"]["end_ms"] is not None
            ),
            40,
        )
        gap = status["last_gap"]
        assert gap["symbol"] is None
        assert gap["start_ms"] <= gap["end_ms"], gap
    finally:
        await peer.close()


@contextlib.asynccontextmanager
async def key_events(url: str, key: str) -> AsyncIterator[Callable[[], Awaitable[list[str]]]]:
    """What commands touch ``key`` meanwhile (Redis keyspace events): the yielded call
    returns those seen so far, every one delivered (a marker key's event closes them)."""
    redis = open_redis(url)
    await redis.config_set("notify-keyspace-events", "Kg$")
    pubsub = redis.pubsub()
    marker = f"{key}:marker"
    await pubsub.subscribe(f"__keyspace@0__:{key}", f"__keyspace@0__:{marker}")

    async def seen() -> list[str]:
        await redis.set(marker, b"1")
        events: list[str] = []
        async with asyncio.timeout(10):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is None:
                    continue
                if message["channel"].decode().endswith(marker):
                    return events
                events.append(message["data"].decode())

    try:
        yield seen
    finally:
        await pubsub.aclose()
        await redis.aclose()


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
    assert "another engine owns the market feed" in await refused_start(second)


async def test_a_second_engine_for_a_shard_is_refused(
    shards: tuple[dict[str, Any], Process], redis_server: LocalRedis, tmp_path: Path
) -> None:
    """Two engines on one shard (another machine, or another journal on this one) both
    ran: each took some of the shard's commands into an account of its own.  Now the
    second is refused while the first beats; the first, restarted in its place (its
    own journal), is not."""
    setup, _ = shards
    users = setup["users"]
    (tmp_path / "elsewhere").mkdir()
    twin = engine(
        redis_server.url, tmp_path / "elsewhere" / "team.sqlite", "--users", users, "--shard", "0/2"
    )
    assert re.search(r"another engine runs shard 0/2 \(.*s0", await refused_start(twin))
    # the owner's twin (this machine, its shard, another journal) is refused too, and
    # leaves the owner's claim on the feed alone: it shares the claim's name (machine
    # and shard), and deleted it on its way out, for a standby to take
    async with key_events(redis_server.url, KEYS.feed_owner) as events:
        owner_twin = engine(
            redis_server.url,
            tmp_path / "elsewhere" / "owner.sqlite",
            *("--users", users, "--shard", "1/2", "--feed", "sim"),
        )
        said = await refused_start(owner_twin)
        assert re.search(r"another engine runs shard 1/2 \(.*s1", said), said
        assert "del" not in await events(), "the refused twin deleted the owner's claim"
    await setup["follower"].kill()  # -9: its claim stays behind until it lapses
    again = engine(
        redis_server.url, setup["dir"] / "s0" / "team.sqlite", "--users", users, "--shard", "0/2"
    )
    await again.start()
    try:
        assert again.ready_line.startswith("engine ready: shard 0/2, 1 accounts"), again.ready_line
    finally:
        await again.kill()


async def test_an_engine_that_cannot_start_says_so_and_exits(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    """A start that fails after the feed owner's heartbeat began (here: a damaged
    users file).  It once refused, then never ended: the heartbeat's first write was in
    flight when the failed start cancelled it, redis-py swallowed the cancellation, and
    the heartbeat went on for good (SIGTERM could not stop the process either)."""
    damaged = tmp_path / "users.json"
    damaged.write_text("{not json")
    damaged.chmod(0o600)
    failing = Process(
        "engine",
        [
            *("engine", "--bus", redis_server.url, "--db", str(tmp_path / "team.sqlite")),
            *("--users", str(damaged), "--shard", "0/2", "--feed", "sim"),
        ],
        "engine: ",
    )
    await failing.start()
    assert "is damaged" in failing.ready_line, failing.ready_line
    assert await failing.exited() == 1


async def test_an_engine_whose_shard_has_no_user_yet_serves_the_market_and_waits(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    """The feed owner's shard has nobody on it at start (3 users on 3 shards leave one
    empty 7 times in 9).  Before, that engine refused to start (its market roles ran on
    an account's engine), so the other shards had no market at all.  Now it runs the
    market on an engine of nobody's: the other shard's user gets prices and fills on
    it, and a user added to its shard later gets an account there and fills too."""
    users = UsersFile(tmp_path / "users.json")
    other = user_on(1, set())
    _, other_token = users.add(other, {"USDT": "10000"})
    processes: list[Process] = []
    try:
        lonely = engine(
            redis_server.url,
            tmp_path / "team.sqlite",
            *("--users", str(users.path), "--shard", "0/2", "--feed", "sim"),
        )
        processes.append(await lonely.start())
        assert lonely.ready_line.startswith("engine ready: shard 0/2, 0 accounts"), (
            lonely.ready_line
        )
        (tmp_path / "s1").mkdir()
        follower = engine(
            redis_server.url,
            tmp_path / "s1" / "team.sqlite",
            *("--users", str(users.path), "--shard", "1/2"),
        )
        processes.append(await follower.start())
        front = await gateway(redis_server.url, "--users", str(users.path), "--shards", "2").start()
        processes.append(front)

        peer = await Peer.open(front.url, other_token)
        await fills_once_priced(peer)
        await peer.close()

        newcomer = user_on(0, {other})
        _, newcomer_token = users.add(newcomer, {"USDT": "10000"})
        peer = await Peer.open(front.url, newcomer_token)
        assert (await peer.snapshot())["STATUS"]["user"] == newcomer
        assert (await buy_and_fill(peer))["order"]["status"] == "FILLED"
        await peer.close()
        assert (tmp_path / f"team.{newcomer}.sqlite").exists()
    finally:
        for process in processes:
            await process.kill()


def named(rule: Callable[[str], bool]) -> str:
    """A user name the stable hash places by ``rule``."""
    return next(name for n in range(1000) if rule(name := f"user{n}"))


async def refused(url: str, token: str) -> tuple[int | None, str]:
    """The close a connection of ``token`` gets before any message."""
    peer = await Peer.open(url, token)
    with pytest.raises(ConnectionClosed):
        await peer.recv(timeout_s=30)
    return peer.ws.close_code, peer.ws.close_reason or ""


async def test_a_user_the_gateway_cannot_serve_now_is_not_told_unknown_user(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    """Both were closed 1008 "unknown user", which reads as a bad token and which a
    client should not retry: a user whose shard has no engine running (a restart), and
    one a gateway sent to the wrong engine (its --shards differs from the engines')."""
    users = UsersFile(tmp_path / "users.json")
    # one engine, of 2 shards; the gateway is told 3
    waiting = named(lambda u: shard_of(u, 3) == 2)
    misrouted = named(lambda u: shard_of(u, 3) == 0 and shard_of(u, 2) == 1)
    _, waiting_token = users.add(waiting, {"USDT": "100"})
    _, misrouted_token = users.add(misrouted, {"USDT": "100"})
    processes: list[Process] = []
    try:
        processes.append(
            await engine(
                redis_server.url,
                tmp_path / "team.sqlite",
                *("--users", str(users.path), "--shard", "0/2", "--feed", "sim"),
            ).start()
        )
        front = await gateway(redis_server.url, "--users", str(users.path), "--shards", "3").start()
        processes.append(front)

        assert await refused(front.url, waiting_token) == (
            1013,
            "the account's engine is unavailable: try again",
        )
        assert await refused(front.url, misrouted_token) == (
            1011,
            "the account could not be opened: try again",
        )
        line = await front.printed(
            f"WARNING workspace.server: refusing a connection of {misrouted}:"
        )
        assert f"{misrouted!r} is on shard 1/2, not on engine-0's 0/2" in line, line
        assert "another --shards than the engines' (2)" in line, line
    finally:
        for process in processes:
            await process.kill()
