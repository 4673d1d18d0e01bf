"""RealtimeClient cannot skip an order event: its watermark passes the gaps in
``seq``, it resumes in the handshake through a slow uplink in ``seq`` order, a server
restarted without ``--db`` is reported as a reset (never dropped as duplicates), and
its backoff keeps growing against a server that accepts and drops."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from tests.client.listening import TIMEOUT, collector, until
from tests.server.netem import UplinkDelay
from tests.server.trader import trading
from workspace import Workspace
from workspace.client import RealtimeClient
from workspace.engine.config import EngineConfig
from workspace.server import RealtimeServer
from workspace.session import Message

FAST = EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2, tick_flush_interval_s=0.1)


def order_seqs(received: list[Message]) -> list[int]:
    return [m["seq"] for m in received if m["type"] == "ORDER_UPDATE"]


async def test_last_seq_passes_the_gaps_between_order_events(
    workspace: Workspace, server: RealtimeServer
) -> None:
    async with RealtimeClient(server.url) as client:
        received, woken = collector(client)
        await client.subscribe("BTCUSDT")
        await until(lambda: any(m["type"] == "MARKET_UPDATE" for m in received), woken)
        for _ in range(3):  # a market order: NEW, its fill, FILLED, the position: gaps
            reply = await client.place_order(symbol="BTCUSDT", side="BUY", quantity=0.0002)
            assert reply["type"] == "ORDER_UPDATE"
        last = workspace.engine.order_events_since(0)[-1]["seq"]
        await until(lambda: client.last_seq >= last, woken)
        seqs = order_seqs(received)
        assert client.last_seq == seqs[-1] == last
        assert len(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)) > 0  # there were gaps


async def test_resume_through_a_slow_uplink_delivers_every_event_once_in_seq_order(
    workspace: Workspace, server: RealtimeServer
) -> None:
    engine = workspace.engine
    async with (
        UplinkDelay(server.port, 0.3) as link,
        trading(engine),
        RealtimeClient(link.url(), ping_interval=None, first_retry=0.05, max_retry=0.3) as client,
    ):
        received, woken = collector(client)
        first = client.last_seq
        for drop in range(5):
            target = engine.seq + 25

            def caught_up(target: int = target) -> bool:
                return client.last_seq >= target

            await until(caught_up, woken)
            assert client.connections == drop + 1
            link.cut()

            def reconnected(drop: int = drop) -> bool:
                return client.connections == drop + 2

            await until(reconnected, woken)
        last = client.last_seq
    seqs = order_seqs(received)
    assert seqs == sorted(set(seqs)), "an event twice or out of order"
    expected = [e["seq"] for e in engine.order_events_since(first) if e["seq"] <= last]
    assert seqs == expected, f"{len(set(expected) - set(seqs))} events skipped"


async def test_a_server_restarted_without_db_is_reported_as_a_reset_and_nothing_after_is_lost(
    free_port: int,
) -> None:
    first = Workspace(feed="sim", engine=FAST)  # no db: a new journal on every run
    await first.start()
    server = await RealtimeServer(first.engine, port=free_port).start()
    resets: list[Message] = []
    async with RealtimeClient(server.url) as client:
        client.on_reset(resets.append)
        received, woken = collector(client)
        for _ in range(3):
            await client.place_order(symbol="ETHUSDT", side="BUY", quantity=0.01)
        old_journal = client.journal_id
        await until(lambda: client.last_seq >= first.engine.seq - 2, woken)
        assert client.last_seq > 0
        await server.stop()
        await first.stop()

        second = Workspace(feed="sim", engine=FAST)
        await second.start()
        server = await RealtimeServer(second.engine, port=free_port).start()
        try:
            await until(lambda: len(resets) == 1, woken)
            assert resets[0]["journal_id"] == second.engine.journal_id != old_journal
            assert any(m.get("code") == "RESUME_RESET" for m in received)  # listeners too
            await until(lambda: client.journal_id == second.engine.journal_id, woken)
            mark = len(received)
            for _ in range(2):  # seq starts again at 1 on the new journal
                reply = await client.place_order(symbol="ETHUSDT", side="BUY", quantity=0.01)
                assert reply["type"] == "ORDER_UPDATE"
            last = second.engine.order_events_since(0)[-1]["seq"]
            await until(lambda: client.last_seq >= last, woken)
            after = order_seqs(received[mark:])
            assert after == [e["seq"] for e in second.engine.order_events_since(0)]
            assert client.resets == 1
        finally:
            await server.stop()
            await second.stop()


async def test_the_backoff_keeps_growing_against_a_server_that_accepts_and_drops() -> None:
    accepted: asyncio.Queue[None] = asyncio.Queue()

    async def accept_and_drop(websocket: ServerConnection) -> None:
        accepted.put_nowait(None)
        await websocket.close()

    async with serve(accept_and_drop, "127.0.0.1", 0) as dropper:
        port = dropper.sockets[0].getsockname()[1]
        client = RealtimeClient(
            f"ws://127.0.0.1:{port}/api/ws/realtime",
            first_retry=0.01,
            max_retry=0.08,
            healthy_after=60,
        )
        connecting = asyncio.create_task(client.connect(within=None))
        try:
            for _ in range(6):
                await asyncio.wait_for(accepted.get(), TIMEOUT)
            # Each accepted-then-dropped connection counted as a failure: the delays
            # went on growing instead of starting again at the first retry.
            assert client.backoff.attempts >= 5
        finally:
            connecting.cancel()
            await client.close()


async def test_reset_listeners_and_the_resume_url(server: RealtimeServer) -> None:
    client = RealtimeClient(server.url + "?token=abc")
    assert client._resume_url() == server.url + "?token=abc"  # no watermark yet
    async with client:
        received: list[Any] = []
        stop = client.on_reset(received.append)
        stop()
        url = client._resume_url()
        assert f"since={client.last_seq}" in url
        assert f"journal_id={client.journal_id}" in url
        assert "token=abc" in url


async def test_a_bug_in_the_clients_handling_stops_it_instead_of_reconnecting_forever(
    server: RealtimeServer,
) -> None:
    client = RealtimeClient(server.url, ping_interval=None)
    states: list[str] = []
    client.on_state(states.append)
    await client.connect()

    def broken(message: Message) -> None:
        raise TypeError("a bug")

    client._dispatch = broken  # type: ignore[method-assign]
    await client.request({"action": "ping"})  # its reply reaches the broken handler
    await asyncio.wait_for(client._runner, TIMEOUT)  # type: ignore[arg-type]
    assert client.state == "closed"
    assert isinstance(client.last_error, TypeError)
    assert client.connections == 1
    assert "reconnecting" not in states
    await client.close()
