"""Leases on what gateways hold of the market engine: a gateway killed with -9 no
longer leaves its symbols and books streaming there.  A real redis-server, a real
engine (a one-second lease) and two real gateways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.market_holds import holds_when
from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway
from workspace.bus.keys import BusKeys
from workspace.bus.local_redis import LocalRedis
from workspace.bus.rpc import CommandClient
from workspace.errors import WorkspaceError

pytestmark = pytest.mark.slow

SYMBOL = "ETHUSDT"


@pytest.fixture
async def bus(redis_server: LocalRedis) -> AsyncIterator[CommandClient]:
    client = CommandClient(redis_server.url, BusKeys(), "test-holds", timeout_s=10)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def bad_renewals_are_refused(bus: CommandClient) -> None:
    market = BusKeys().market_commands
    refused_args: tuple[dict[str, Any], ...] = (
        {"holds": {}},
        {"holder": "", "holds": {}},
        {"holder": "probe", "holds": {"symbol": "BTCUSDT"}},
        {"holder": "probe", "holds": {"candles": []}},
    )
    for args in refused_args:
        with pytest.raises(WorkspaceError) as refused:
            await bus.call(market, "renew_holds", args)
        assert refused.value.code == "INVALID_PARAMS", args
    reply = await bus.call(
        market, "renew_holds", {"holder": "probe", "holds": {"symbol": ["NOPEUSDT"]}}
    )
    assert reply["acquired"] == 0
    assert "NOPEUSDT" in reply["failed"][0]
    holds = await bus.call(market, "holds")
    assert holds["holders"]["probe"] == {"symbol": [], "book": []}


def gateways(reply: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return {k: v for k, v in reply["holders"].items() if k.startswith("gateway@")}


async def test_a_killed_gateway_loses_its_holds_and_the_live_one_keeps_them(
    redis_server: LocalRedis, tmp_path: Path, bus: CommandClient
) -> None:
    processes: list[Process] = []
    try:
        processes.append(
            await engine(redis_server.url, tmp_path / "j.sqlite", "--hold-ttl", "1").start()
        )
        doomed, survivor = await asyncio.gather(
            gateway(redis_server.url).start(), gateway(redis_server.url).start()
        )
        processes += [doomed, survivor]
        before = await bus.call(BusKeys().market_commands, "holds")
        assert before["ttl_s"] == 1.0
        assert SYMBOL not in before["streaming"]
        await bad_renewals_are_refused(bus)

        doomed_peer = await Peer.open(doomed.url)
        survivor_peer = await Peer.open(survivor.url)
        for peer in (doomed_peer, survivor_peer):
            await peer.snapshot()
            await peer.reply({"action": "subscribe_ticker", "symbol": SYMBOL})
        await doomed_peer.reply({"action": "subscribe_book", "symbol": SYMBOL})
        held = await holds_when(bus, lambda r: len(gateways(r)) == 2)
        assert SYMBOL in held["streaming"]
        assert sorted(v["book"] for v in gateways(held).values()) == [[], [SYMBOL]]
        assert all(v["symbol"] == [SYMBOL] for v in gateways(held).values())
        (doomed_holder,) = [k for k, v in gateways(held).items() if v["book"]]

        await doomed.kill()
        after = await holds_when(bus, lambda r: doomed_holder not in r["holders"])
        # the survivor renewed through the same lease periods: it keeps the symbol
        assert [v["symbol"] for v in gateways(after).values()] == [[SYMBOL]]
        assert SYMBOL in after["streaming"]
        tick = await survivor_peer.until(lambda m: m["type"] == "MARKET_UPDATE")
        assert tick["symbol"] == SYMBOL

        # the last client leaves: the survivor releases it, and nothing holds it now
        await survivor_peer.reply({"action": "unsubscribe_ticker", "symbol": SYMBOL})
        done = await holds_when(bus, lambda r: SYMBOL not in r["streaming"])
        assert all(v == {"symbol": [], "book": []} for v in gateways(done).values())
    finally:
        for process in processes:
            await process.kill()
