"""Resuming loses nothing and keeps ``seq`` order, whatever the client's latency: live
order events flow while the client reconnects through a link that delays what it
sends by 300 ms, and it drops that link again and again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.server.netem import UplinkDelay
from tests.server.trader import trading
from tests.server.ws_peer import TIMEOUT, Peer, PeerFactory
from workspace import Workspace
from workspace.server import RealtimeServer

DELAY_S = 0.3
DROPS = 5
EVENTS_PER_LINK = 25


async def until_seq(engine: Any, seq: int) -> None:
    """Wait (on the engine's own stream) until its journal passed ``seq``."""
    outbox = engine.subscribe_messages(())
    try:
        while engine.seq < seq:
            await asyncio.wait_for(outbox.get(), TIMEOUT)
    finally:
        outbox.close()


def journal_order_seqs(workspace: Workspace, after: int, upto: int) -> list[int]:
    return [
        event["seq"] for event in workspace.engine.order_events_since(after) if event["seq"] <= upto
    ]


async def test_resume_on_connect_under_uplink_delay_is_complete_and_in_seq_order(
    workspace: Workspace, server: RealtimeServer
) -> None:
    """The client rule of PROTOCOL.md: keep the highest ``seq`` seen, reconnect with
    ``?since=`` it; every event arrives once, in ``seq`` order, across every drop."""
    seen: list[int] = []
    async with UplinkDelay(server.port, DELAY_S) as link, trading(workspace.engine):
        since: int | None = None
        journal_id = ""
        first = 0
        for _ in range(DROPS):
            query = "" if since is None else f"?since={since}&journal_id={journal_id}"
            websocket = await connect(link.url() + query, open_timeout=TIMEOUT, close_timeout=0.2)
            peer = Peer(websocket)
            status, _, _, orders = await peer.snapshot()
            assert (status["type"], orders["type"]) == ("STATUS", "ORDERS")
            assert status["journal_id"] == orders["journal_id"]
            if since is None:
                first = since = orders["seq"]
                journal_id = orders["journal_id"]
            else:
                # The missed events, in order, then RESUMED, before any live one.
                while (message := await peer.recv())["type"] != "RESUMED":
                    if message["type"] == "ORDER_UPDATE":
                        assert message["seq"] > since, (message["seq"], since)
                        since = message["seq"]
                        seen.append(since)
                assert message["seq"] >= since
            target = len(seen) + EVENTS_PER_LINK
            while len(seen) < target:
                message = await peer.recv()
                if message["type"] == "ORDER_UPDATE":
                    assert message["seq"] > since, (message["seq"], since)
                    since = message["seq"]
                    seen.append(since)
            link.cut()
            await websocket.close()
    assert seen == journal_order_seqs(workspace, first, seen[-1])


async def test_resume_command_under_uplink_delay_loses_nothing_with_the_protocols_rule(
    workspace: Workspace, server: RealtimeServer
) -> None:
    """A client that cannot set a URL resumes by command; live events may arrive before
    ``RESUMED`` and do not move its resume point until then."""
    seen: set[int] = set()
    async with UplinkDelay(server.port, DELAY_S) as link, trading(workspace.engine):
        resume_point: int | None = None
        first = 0
        for _ in range(DROPS):
            websocket = await connect(link.url(), open_timeout=TIMEOUT, close_timeout=0.2)
            peer = Peer(websocket)
            orders = (await peer.snapshot())[3]
            highest = orders["seq"]
            if resume_point is None:
                first = resume_point = orders["seq"]
            else:
                await peer.send({"action": "resume", "since": resume_point, "id": "r"})
                while (message := await peer.recv()).get("id") != "r":
                    if message["type"] == "ORDER_UPDATE":
                        seen.add(message["seq"])
                        highest = max(highest, message["seq"])
                assert message["type"] == "RESUMED"
                resume_point = max(highest, message["seq"])
            after_resumed: list[int] = []
            while len(after_resumed) < EVENTS_PER_LINK:
                message = await peer.recv()
                if message["type"] == "ORDER_UPDATE":
                    after_resumed.append(message["seq"])
            assert after_resumed == sorted(after_resumed)
            assert after_resumed[0] > resume_point
            seen.update(after_resumed)
            resume_point = after_resumed[-1]
            link.cut()
            await websocket.close()
    assert sorted(seen) == journal_order_seqs(workspace, first, max(seen))


async def test_live_events_wait_behind_the_events_a_resume_command_replays(
    workspace: Workspace, peer: PeerFactory
) -> None:
    engine = workspace.engine
    async with trading(engine):
        await until_seq(engine, 60)  # a history to resume from
        client = await peer()
        baseline = client.seen[3]["seq"]
        await client.until(lambda m: m["type"] == "ORDER_UPDATE")
        await client.send({"action": "resume", "since": baseline - 20, "id": "r"})
        before = len(client.seen)
        resumed = await client.until(lambda m: m.get("id") == "r")
    answer = [m["seq"] for m in client.seen[before:] if m["type"] == "ORDER_UPDATE"]
    # Live events written before the command arrived come first; from the first
    # replayed one on, everything is in seq order: replayed, then the live ones queued.
    start = next(n for n, seq in enumerate(answer) if seq <= baseline)
    block = answer[start:]
    assert block == sorted(block)
    assert [seq for seq in block if seq <= baseline] == journal_order_seqs(
        workspace, baseline - 20, baseline
    )
    assert resumed["count"] == len(block)


async def test_another_journal_or_a_since_beyond_seq_is_a_reset_then_a_fresh_snapshot(
    workspace: Workspace, server: RealtimeServer, peer: PeerFactory
) -> None:
    seq = workspace.engine.seq
    journal_id = workspace.engine.journal_id
    for query in (f"?since={seq + 5}", f"?since=0&journal_id=not-{journal_id}"):
        async with connect(server.url + query, open_timeout=TIMEOUT) as websocket:
            client = Peer(websocket)
            reset = await client.recv()
            assert (reset["type"], reset["code"]) == ("ERROR", "RESUME_RESET")
            assert (reset["journal_id"], reset["seq"]) == (journal_id, workspace.engine.seq)
            kinds = [m["type"] for m in await client.snapshot()]
            assert kinds == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    client = await peer()
    for command in (
        {"action": "resume", "since": workspace.engine.seq + 1, "id": 1},
        {"action": "resume", "since": 0, "journal_id": "another", "id": 2},
    ):
        reply = await client.reply(command)
        assert (reply["code"], reply["id"], reply["journal_id"]) == (
            "RESUME_RESET",
            command["id"],
            journal_id,
        )
        kinds = [m["type"] for m in await client.snapshot()]
        assert kinds == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    same = await client.reply({"action": "resume", "since": 0, "journal_id": journal_id})
    assert same["type"] == "RESUMED"


async def test_a_malformed_resume_point_is_refused_at_the_handshake(
    server: RealtimeServer,
) -> None:
    for query in ("?since=-1", "?since=abc", "?since=1&since=2", "?journal_id=x"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url + query, open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 400
