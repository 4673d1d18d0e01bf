"""DirectConnection: messages straight to a handler, with bounded work per loop turn.

A burst is injected as one socket read (``data_received`` with many frames' bytes), the
way a read looks after the process was descheduled; the connection itself is real
(a websockets server on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode

from workspace.market.connection import DirectConnection

from .loop_turns import Turns


async def _idle(connection: ServerConnection) -> None:
    await connection.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[DirectConnection]:
    async with serve(_idle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connection = await connect(
            f"ws://127.0.0.1:{port}", create_connection=DirectConnection, compression=None
        )
        assert isinstance(connection, DirectConnection)
        try:
            yield connection
        finally:
            await connection.close()


def burst(count: int) -> tuple[list[bytes], bytes]:
    """``count`` text messages and the bytes of their (unmasked, server) frames."""
    messages = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * 100) for i in range(count)]
    wire = b"".join(Frame(Opcode.TEXT, m).serialize(mask=False) for m in messages)
    return messages, wire


async def test_a_large_read_is_delivered_over_several_loop_turns_in_order(
    client: DirectConnection,
) -> None:
    client.chunk_bytes = 1024
    client.turn_budget_s = 0.0  # exactly one chunk per turn
    received: list[tuple[bytes, int]] = []
    done = asyncio.Event()
    messages, wire = burst(200)
    turns = Turns()

    def handler(message: bytes) -> None:
        received.append((bytes(message), turns.count))
        if len(received) == len(messages):
            done.set()

    client.attach(handler)
    turns.start()
    try:
        client.data_received(wire)
        assert 0 < len(received) < len(messages)  # only the first chunk, at once
        assert client.backlog_bytes > 0
        await asyncio.wait_for(done.wait(), 10)
    finally:
        turns.stop()
    assert [m for m, _ in received] == messages
    assert len({turn for _, turn in received}) >= len(wire) // 1024
    assert client.backlog_bytes == 0


async def test_reading_is_paused_while_a_backlog_drains_and_resumed_after(
    client: DirectConnection,
) -> None:
    client.chunk_bytes = 1024
    client.turn_budget_s = 0.0
    done = asyncio.Event()
    messages, wire = burst(50)
    count = 0

    def handler(message: bytes) -> None:
        nonlocal count
        count += 1
        if count == len(messages):
            done.set()

    client.attach(handler)
    transport = client.transport
    assert transport.is_reading()
    client.data_received(wire)
    assert not transport.is_reading()
    await asyncio.wait_for(done.wait(), 10)
    assert transport.is_reading()


async def test_a_small_read_is_handled_at_once(client: DirectConnection) -> None:
    received: list[bytes] = []
    client.attach(received.append)
    messages, wire = burst(3)
    client.data_received(wire)
    assert received == messages
    assert client.transport.is_reading()


async def test_data_arriving_while_draining_queues_behind_the_backlog(
    client: DirectConnection,
) -> None:
    client.chunk_bytes = 1024
    client.turn_budget_s = 0.0
    received: list[bytes] = []
    done = asyncio.Event()
    first, first_wire = burst(40)
    second = [b"after-%d" % i for i in range(5)]
    second_wire = b"".join(Frame(Opcode.TEXT, m).serialize(mask=False) for m in second)

    def handler(message: bytes) -> None:
        received.append(bytes(message))
        if len(received) == len(first) + len(second):
            done.set()

    client.attach(handler)
    client.data_received(first_wire)
    client.data_received(second_wire)  # small, but must not overtake the backlog
    await asyncio.wait_for(done.wait(), 10)
    assert received == first + second


async def test_a_connection_lost_mid_backlog_still_delivers_what_was_read(
    client: DirectConnection,
) -> None:
    client.chunk_bytes = 1024
    client.turn_budget_s = 0.0
    received: list[bytes] = []
    client.attach(received.append)
    messages, wire = burst(100)
    client.data_received(wire)
    client.transport.abort()
    await asyncio.wait_for(client.wait_closed(), 10)
    assert received == messages
    assert client.backlog_bytes == 0


async def test_a_failing_handler_stops_delivery_and_sets_failure(
    client: DirectConnection,
) -> None:
    client.chunk_bytes = 1024
    client.turn_budget_s = 0.0
    calls = 0

    def handler(message: bytes) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("consumer bug")

    client.attach(handler)
    _, wire = burst(50)
    client.data_received(wire)
    with pytest.raises(RuntimeError, match="consumer bug"):
        await asyncio.wait_for(client.failure, 10)
    assert calls == 1
