"""The connection's rate budget: commands, and the bulk work of resumes and replays
paid from the same bucket (pure, on a given clock), and over a real socket."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from tests.server.test_security import journal_orders
from tests.server.ws_peer import Peer
from workspace import Workspace
from workspace.server import RealtimeServer, ServerLimits
from workspace.server.limits import CommandGate, TokenBucket


def test_a_bucket_refills_with_time_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=20, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(30)) == 20
    assert bucket.take(0.05) is False  # half a token
    assert bucket.take(0.1) is True
    assert bucket.level(100.0) == 20  # never beyond the burst


def test_bulk_work_is_paid_from_the_command_budget_above_a_reserve() -> None:
    limits = ServerLimits(commands_per_s=10, command_burst=20, bulk_messages_per_command=100)
    gate = CommandGate(limits, now=0.0)
    assert gate.bulk(1000, 0.0) == 0.0  # 10 commands' worth: 20 -> 10, the reserve
    wait = gate.bulk(100, 0.0)  # one more would dip into the reserve: wait for a refill
    assert wait == pytest.approx(0.1)
    assert gate.bulk(100, 0.1) == 0.0
    # The reserve stays for commands.
    assert sum(gate.admit(0.1) for _ in range(12)) == 10


def test_a_stream_bigger_than_the_budget_waits_a_full_refill_and_then_goes() -> None:
    limits = ServerLimits(commands_per_s=10, command_burst=20, bulk_messages_per_command=1)
    gate = CommandGate(limits, now=0.0)
    assert gate.bulk(500, 0.0) == pytest.approx(0.0)  # capped at what can ever be paid
    assert gate.bulk(500, 0.0) == pytest.approx(1.0)


def test_repeated_bulk_work_is_held_to_the_rate() -> None:
    """However often a client asks, it streams at most commands_per_s * per_command
    messages a second."""
    limits = ServerLimits(commands_per_s=10, command_burst=20, bulk_messages_per_command=100)
    gate = CommandGate(limits, now=0.0)
    now, sent = 0.0, 0
    while now < 10.0:
        wait = gate.bulk(100, now)
        if wait:
            now += wait
        else:
            sent += 100
    assert sent <= 10 * 100 * 10 + 1000  # the rate, plus the burst above the reserve


async def test_a_resume_on_connect_spends_the_connections_command_budget(
    workspace: Workspace,
) -> None:
    limits = ServerLimits(
        commands_per_s=0.5,
        command_burst=10,
        bulk_messages_per_command=10,
        resume_page_size=10,
    )
    async with RealtimeServer(workspace.engine, port=0, limits=limits) as server:
        async with connect(server.url) as watcher:
            peer = Peer(watcher)
            await peer.snapshot()
            await peer.send({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
            await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
        journal_orders(workspace, 25)  # 50 order events: 5 commands' worth
        async with connect(server.url + "?since=0") as websocket:
            client = Peer(websocket)
            await client.until(lambda m: m["type"] == "RESUMED")
            for n in range(8):
                await client.send(json.dumps({"action": "ping", "id": n}))
            answers = [await client.until(lambda m: "id" in m) for _ in range(8)]
        kinds = [a["type"] if a["type"] == "PONG" else a["code"] for a in answers]
        # 10 commands of burst, 5 spent by the resume: pings beyond 5 are refused.
        assert kinds[:5] == ["PONG"] * 5
        assert "RATE_LIMITED" in kinds[5:]


async def test_a_replay_paid_from_the_budget_runs_to_its_end(workspace: Workspace) -> None:
    """A replay's ticks are charged a chunk ahead (here: more than the whole budget
    above the reserve, so it waits for the refill once) and it still sends them all."""
    limits = ServerLimits(commands_per_s=50, command_burst=10, bulk_messages_per_command=20)
    async with RealtimeServer(workspace.engine, port=0, limits=limits) as server:
        async with connect(server.url) as ws:
            peer = Peer(ws)
            await peer.snapshot()
            await peer.send({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
            first = await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
            await peer.until(lambda m: m["type"] == "MARKET_UPDATE" and m is not first)
            end = workspace.engine.clock.time_ms()
            command = {"action": "replay", "symbol": "BTCUSDT", "start": 0, "end": end}
            done = await peer.reply({**command, "speed": 0, "id": "replay"})
        assert done["type"] == "REPLAY_DONE", done
        replayed = [m for m in peer.seen if m.get("replay")]
        assert done["count"] == len(replayed) >= 1
