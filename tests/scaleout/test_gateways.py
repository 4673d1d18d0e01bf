"""The scale-out as it runs: a real redis-server (append-only file on), a real engine
process and two real gateway processes on free ports.  Prices reach both gateways; an
order placed through one is seen on the other; a gateway killed with -9 while orders
fire loses its client nothing: the client resumes on the other gateway and gets every
order event once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.scaleout.peer import Peer, below
from tests.scaleout.processes import Process, engine, gateway
from workspace.bus.local_redis import LocalRedis
from workspace.users import UsersFile

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(
    redis_server: LocalRedis, tmp_path: Path
) -> AsyncIterator[tuple[Process, Process, Process]]:
    processes: list[Process] = []
    try:
        processes.append(await engine(redis_server.url, tmp_path / "journal.sqlite").start())
        first, second = await asyncio.gather(
            gateway(redis_server.url).start(), gateway(redis_server.url).start()
        )
        processes += [first, second]
        yield processes[0], first, second
    finally:
        for process in processes:
            await process.kill()


def order_seqs(peer: Peer) -> list[int]:
    return [m["seq"] for m in peer.seen if m["type"] == "ORDER_UPDATE"]


ROUNDS_PER_S = 8.0
"""A round is two commands: 16 a second stays inside the gateway's budget of 20 (after a
burst of 40).  Unpaced, a round trip fast enough spent the budget while the killed
gateway's connection drained, and the next order came back RATE_LIMITED (a fresh
clone's run failed so)."""


async def fire_orders(peer: Peer, price: str, stop: asyncio.Event, placed: list[str]) -> None:
    """Place and cancel limit orders until ``stop`` (two order events per round), at
    most ``ROUNDS_PER_S`` rounds a second."""
    loop = asyncio.get_running_loop()
    next_round = loop.time()
    while not stop.is_set():
        # pacing a load, not waiting for an event: the budget is per second
        next_round += 1 / ROUNDS_PER_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_round - loop.time()))
        if stop.is_set():
            return
        new = await peer.reply(
            {
                "action": "place_order",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": 0.001,
                "price": price,
            }
        )
        assert new["type"] == "ORDER_UPDATE", new
        placed.append(new["order"]["id"])
        canceled = await peer.reply({"action": "cancel_order", "order_id": new["order"]["id"]})
        assert canceled["order"]["status"] == "CANCELED", canceled


async def test_prices_and_orders_reach_every_gateway_and_a_killed_gateway_loses_nothing(
    cluster: tuple[Process, Process, Process],
) -> None:
    _, first, second = cluster
    trader = await Peer.open(second.url)
    watcher = await Peer.open(first.url)
    await trader.snapshot()
    start = await watcher.snapshot()
    journal_id, since = start["ORDERS"]["journal_id"], start["ORDERS"]["seq"]
    assert start["STATUS"]["journal_id"] == journal_id

    # prices on both gateways
    subscribed = await trader.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await watcher.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    tick = await trader.until(lambda m: m["type"] == "MARKET_UPDATE")
    await watcher.until(lambda m: m["type"] == "MARKET_UPDATE")
    assert subscribed["symbol_info"]["base_asset"] == "BTC"

    # an order through one gateway is seen on the other, with the same seq
    price = below(tick["price"], subscribed["symbol_info"]["tick_size"])
    placed = await trader.reply(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": 0.001,
            "price": price,
        }
    )
    seen = await watcher.until(
        lambda m: m["type"] == "ORDER_UPDATE" and m["order"]["id"] == placed["order"]["id"]
    )
    assert (seen["seq"], seen["order"]["status"]) == (placed["seq"], "NEW")
    assert "id" not in seen  # the reply (with the command's id) went to the trader alone
    orders = await watcher.reply({"action": "get_orders"})
    assert [o["id"] for o in orders["orders"]] == [placed["order"]["id"]]

    # kill -9 the watcher's gateway while orders fire through the other one
    stop = asyncio.Event()
    ids: list[str] = []
    firing = asyncio.create_task(fire_orders(trader, price, stop, ids))
    try:
        await watcher.until(lambda m: m["type"] == "ORDER_UPDATE" and m["seq"] > placed["seq"] + 6)
        await first.kill()
        with contextlib.suppress(Exception):
            while True:  # whatever the dead gateway had already sent
                await watcher.recv()
        last = max(order_seqs(watcher))
        resumed = await Peer.open(second.url, query=f"since={last}&journal_id={journal_id}")
        await resumed.snapshot()
        await resumed.until(lambda m: m["type"] == "RESUMED")
        # more orders after the resume: live events follow the missed ones
        target = len(ids) + 3
        while len(ids) < target:
            await resumed.until(lambda m: m["type"] == "ORDER_UPDATE")
    finally:
        stop.set()
        await firing
    final = (await trader.reply({"action": "get_orders", "status": "CANCELED"}))["seq"]
    while max(order_seqs(resumed)) < final:  # it may have come in the loop above
        await resumed.until(lambda m: m["type"] == "ORDER_UPDATE")

    # the truth: every order event of the journal, from a fresh resume
    truth_peer = await Peer.open(second.url, query=f"since={since}&journal_id={journal_id}")
    await truth_peer.snapshot()
    await truth_peer.until(lambda m: m["type"] == "RESUMED")
    truth = order_seqs(truth_peer)
    assert truth == sorted(set(truth))
    assert truth[-1] == final

    delivered = order_seqs(watcher) + order_seqs(resumed)
    assert sorted(delivered) == truth, "every order event once: none lost, none doubled"
    assert order_seqs(resumed) == sorted(order_seqs(resumed))
    for peer in (trader, resumed, truth_peer):
        await peer.close()


async def test_users_through_gateways_see_only_their_own_account(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    users = UsersFile(tmp_path / "users.json")
    _, alice_token = users.add("alice", {"USDT": "5000"})
    _, bob_token = users.add("bob", {"USDT": "7000"})
    file = str(users.path)
    node = await engine(redis_server.url, tmp_path / "team.sqlite", "--users", file).start()
    doors = await asyncio.gather(
        gateway(redis_server.url, "--users", file).start(),
        gateway(redis_server.url, "--users", file).start(),
    )
    try:
        alice = await Peer.open(doors[0].url, alice_token)
        bob = await Peer.open(doors[1].url, bob_token)
        alice_elsewhere = await Peer.open(doors[1].url, alice_token)
        a0, b0 = await alice.snapshot(), await bob.snapshot()
        await alice_elsewhere.snapshot()
        assert (a0["STATUS"]["user"], b0["STATUS"]["user"]) == ("alice", "bob")
        assert a0["ORDERS"]["journal_id"] != b0["ORDERS"]["journal_id"]
        assert a0["PORTFOLIO_UPDATE"]["portfolio"]["initial_balance"] == 5000
        assert b0["PORTFOLIO_UPDATE"]["portfolio"]["initial_balance"] == 7000
        for peer in (alice, bob):
            await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
            await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
        placed = await alice.reply(
            {
                "action": "place_order",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": 0.001,
            }
        )
        # alice's other connection (through the other gateway) sees it; bob does not
        await alice_elsewhere.until(
            lambda m: m["type"] == "ORDER_UPDATE" and m["seq"] == placed["seq"]
        )
        assert (await bob.reply({"action": "get_orders", "status": "ALL"}))["orders"] == []
        cancel = await bob.reply({"action": "cancel_order", "order_id": placed["order"]["id"]})
        assert cancel["code"] == "NOT_FOUND"
        portfolio = (await bob.reply({"action": "get_portfolio"}))["portfolio"]
        assert portfolio["balance"] == 7000
        assert all(m["type"] != "ORDER_UPDATE" for m in bob.seen)
        assert all(m.get("user", "bob") == "bob" for m in bob.seen)
        with pytest.raises(InvalidStatus):
            await Peer.open(doors[0].url, "wrong.token")
        # a user added while everything runs trades at once: the engine opens the
        # account when a gateway first asks for it (it answered "unknown user" until
        # the engine restarted: only the gateways read the changed file)
        _, carol_token = users.add("carol", {"USDT": "3000"})
        carol = await Peer.open(doors[1].url, carol_token)
        c0 = await carol.snapshot()
        assert c0["STATUS"]["user"] == "carol"
        assert c0["PORTFOLIO_UPDATE"]["portfolio"]["initial_balance"] == 3000
        await carol.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        await carol.until(lambda m: m["type"] == "MARKET_UPDATE")
        bought = await carol.reply(
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
             "quantity": 0.001}
        )  # fmt: skip
        assert bought["order"]["status"] == "NEW", bought
        await carol.close()
        # a rotated token loses the connections it opened, on every gateway
        users.rotate("alice")
        for peer in (alice, alice_elsewhere):
            error, code, _ = await peer.closed_after_error()
            assert error["message"].startswith("access revoked: alice's token was replaced")
            assert code == 1008
        assert (await bob.reply({"action": "ping"}))["type"] == "PONG"
        await bob.close()
    finally:
        for process in (*doors, node):
            await process.kill()
