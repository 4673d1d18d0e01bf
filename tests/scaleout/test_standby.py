"""A standby takes the market feed over when its owner is killed: a real redis-server,
the simulator as the exchange (its own server, named by ``WORKSPACE_BINANCE_URL`` like
any exchange), two engines started the same way (``--feed binance --standby``) on two
shards, and a gateway.  The first to start owns the feed; the other follows it from
Redis.  The owner is killed with -9: the follower's account reads the feed ``down``
once the owner's claim lapses, then the follower claims the feed, streams from the
exchange itself and serves the market, so its user gets prices again and fills on
the new owner's market; the old owner, restarted the same way, is not refused: it
follows the new one, and its user trades again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway
from tests.scaleout.sharded import buy_and_fill, fills_once_priced, owner_prices, user_on
from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis
from workspace.bus.local_redis import LocalRedis
from workspace.market.config import ENV_REST_URL, ENV_STREAM_URL
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.users import UsersFile

pytestmark = pytest.mark.slow

KEYS = BusKeys()
TAKEOVER_S = 40.0  # the claim lapses 10 s after the owner's last beat (every 3 s)


@pytest.fixture
async def exchange(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ExchangeSimulator]:
    sim = ExchangeSimulator(SimConfig(seed=11))
    await sim.start(host="127.0.0.1", port=0)
    monkeypatch.setenv(ENV_STREAM_URL, sim.stream_url)
    monkeypatch.setenv(ENV_REST_URL, sim.rest_url)
    try:
        yield sim
    finally:
        await sim.stop()


def standby_engine(bus: str, folder: Path, users: str, shard: str) -> Process:
    folder.mkdir(exist_ok=True)
    return engine(
        bus,
        folder / "team.sqlite",
        *("--users", users, "--shard", shard, "--feed", "binance", "--standby"),
        *("--hold-ttl", "2"),
    )


async def feed_owner(url: str) -> str | None:
    redis = open_redis(url)
    try:
        holder = await redis.get(KEYS.feed_owner)
    finally:
        await redis.aclose()
    return holder.decode() if isinstance(holder, bytes) else None


async def test_a_standby_takes_the_feed_over_when_its_owner_is_killed(
    redis_server: LocalRedis, exchange: ExchangeSimulator, tmp_path: Path
) -> None:
    file = UsersFile(tmp_path / "users.json")
    follower_user = user_on(0, set())
    owner_user = user_on(1, {follower_user})
    _, follower_token = file.add(follower_user, {"USDT": "10000"})
    _, owner_token = file.add(owner_user, {"USDT": "10000"})
    users = str(file.path)
    url = redis_server.url
    processes: list[Process] = []
    peers: list[Peer] = []
    try:
        owner = await standby_engine(url, tmp_path / "s1", users, "1/2").start()
        processes.append(owner)
        assert owner.ready_line.endswith("owns the market feed"), owner.ready_line
        follower = await standby_engine(url, tmp_path / "s0", users, "0/2").start()
        processes.append(follower)
        assert "market from the bus, standing by" in follower.ready_line
        front = await gateway(url, "--users", users, "--shards", "2").start()
        processes.append(front)

        peer = await Peer.open(front.url, follower_token)
        peers.append(peer)
        await peer.snapshot()
        await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
        before = await buy_and_fill(peer)  # on the owner's market, through Redis
        assert before["order"]["status"] == "FILLED"
        published_before = await owner_prices(url, "BTCUSDT")
        # prices reached the follower's account itself (a fill may come from the book's
        # snapshot alone): from then on, an outage is a gap
        await peer.until(
            lambda m: m["type"] == "STATUS" and m.get("last_price_ms") is not None, TAKEOVER_S
        )

        await owner.kill()
        # the account tells the truth: its feed is down once the owner's claim lapses
        await peer.until(
            lambda m: (
                m["type"] == "STATUS"
                and m.get("feed") == "down"
                and "the feed owner stopped" in m.get("reason", "")
            ),
            TAKEOVER_S,
        )
        line = await follower.printed("engine took the market feed over", TAKEOVER_S)
        assert "shard 0/2" in line
        assert (await feed_owner(url) or "").endswith("shard 0/2")

        # prices flow again, from the new owner's own feed, and orders fill on them
        # ... and the time without an owner is a closed gap in the account's journal
        status = await peer.until(
            lambda m: (
                m["type"] == "STATUS"
                and m.get("feed") == "connected"
                and (m.get("last_gap") or {}).get("end_ms") is not None
            ),
            TAKEOVER_S,
        )
        assert status["source"] == "binance", status  # no longer "bus"
        gap = status["last_gap"]
        assert "feed owner stopped" in gap["reason"], gap
        assert gap["symbol"] is None
        assert gap["start_ms"] <= gap["end_ms"], gap
        await peer.until(lambda m: m["type"] == "MARKET_UPDATE", TAKEOVER_S)
        after = await buy_and_fill(peer)
        published_after = await owner_prices(url, "BTCUSDT") - published_before
        assert published_after, "the new owner published no market records"
        # its book starts from the exchange's REST snapshot, whose levels are not feed
        # records: a fill may take one no diff has touched since, inside the market the
        # new owner's records span
        low, high = min(published_after), max(published_after)
        for part in after["order"]["fills"]:
            assert low <= Decimal(str(part["price"])) <= high, (part, low, high)

        # the old owner, restarted as it was started, follows the new one
        again = await standby_engine(url, tmp_path / "s1", users, "1/2").start()
        processes.append(again)
        assert "market from the bus, standing by" in again.ready_line
        other = await Peer.open(front.url, owner_token)
        peers.append(other)
        snapshot: dict[str, Any] = await other.snapshot()
        assert snapshot["STATUS"]["user"] == owner_user
        filled = await buy_and_fill(other)
        assert filled["order"]["status"] == "FILLED"
    finally:
        for each in peers:
            await each.close()
        for process in processes:
            await process.kill()


async def test_a_standby_with_no_user_yet_takes_the_feed_over_for_the_others(
    redis_server: LocalRedis, exchange: ExchangeSimulator, tmp_path: Path
) -> None:
    """The standby's shard has nobody on it: it takes the feed over all the same, and
    the other shard's user, back on its restarted engine, trades on its market."""
    file = UsersFile(tmp_path / "users.json")
    owner_user = user_on(1, set())
    _, owner_token = file.add(owner_user, {"USDT": "10000"})
    users = str(file.path)
    url = redis_server.url
    processes: list[Process] = []
    try:
        owner = await standby_engine(url, tmp_path / "s1", users, "1/2").start()
        processes.append(owner)
        standby = await standby_engine(url, tmp_path / "s0", users, "0/2").start()
        processes.append(standby)
        assert standby.ready_line.startswith("engine ready: shard 0/2, 0 accounts, market from")
        await owner.kill()
        await standby.printed("engine took the market feed over", TAKEOVER_S)

        again = await standby_engine(url, tmp_path / "s1", users, "1/2").start()
        processes.append(again)
        assert "market from the bus, standing by" in again.ready_line
        front = await gateway(url, "--users", users, "--shards", "2").start()
        processes.append(front)
        peer = await Peer.open(front.url, owner_token)
        try:
            await fills_once_priced(peer, TAKEOVER_S)
        finally:
            await peer.close()
    finally:
        for process in processes:
            await process.kill()


@pytest.mark.parametrize("flags", [("--feed", "sim", "--shard", "0/2"), ("--feed", "binance")])
def test_a_standby_needs_the_exchange_and_shards(tmp_path: Path, flags: tuple[str, ...]) -> None:
    """A standby of its own simulator would switch to another market; one without
    shards would be a second copy of the same accounts."""
    users = UsersFile(tmp_path / "users.json")
    users.add("alice", {"USDT": "100"})
    done = subprocess.run(
        [
            *(sys.executable, "-m", "workspace", "engine", "--bus", "redis://127.0.0.1:9"),
            *("--users", str(users.path), "--standby", *flags),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--standby takes the feed over from its owner on the same exchange" in done.stderr
    assert "Traceback" not in done.stderr
