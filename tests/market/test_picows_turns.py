"""PicowsConnection: bounded work per loop turn.

picows parses a whole socket read in one callback; after a deschedule that is hundreds
of frames.  The connection hands messages on inline only while the loop turn has
budget left; the rest wait, in order, for the next turns, with reading paused.  A real
websockets server on 127.0.0.1 writes a burst of frames in one write; the budget is set
to zero so that every message after the first of a turn waits.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode

from workspace.market.picows_connection import _CHECK_EVERY, PicowsConnection, open_picows

from .loop_turns import Turns

COUNT = 300
MESSAGES = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * 100) for i in range(COUNT)]
WIRE = b"".join(Frame(Opcode.TEXT, m).serialize(mask=False) for m in MESSAGES)


def burster(then_drop: bool) -> Callable[[ServerConnection], Awaitable[None]]:
    async def handler(connection: ServerConnection) -> None:
        await connection.recv()  # "go": the client is listening
        connection.transport.write(WIRE)  # every frame in one write
        if then_drop:
            connection.transport.abort()  # no close frame: the socket just ends
            return
        await connection.wait_closed()

    return handler


async def connected(then_drop: bool = False) -> AsyncIterator[PicowsConnection]:
    async with serve(burster(then_drop), "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        connection = await open_picows(f"ws://127.0.0.1:{port}", open_timeout=10, max_size=1 << 20)
        connection.turn_budget_s = 0.0
        try:
            yield connection
        finally:
            await connection.close()


@pytest.fixture
async def client() -> AsyncIterator[PicowsConnection]:
    async for connection in connected():
        yield connection


@pytest.fixture
async def dropping_client() -> AsyncIterator[PicowsConnection]:
    async for connection in connected(then_drop=True):
        yield connection


async def test_a_burst_is_handed_on_over_many_loop_turns_in_order_reading_paused(
    client: PicowsConnection,
) -> None:
    received: list[tuple[bytes, int]] = []
    reading_while_waiting: list[bool] = []
    done = asyncio.Event()
    turns = Turns()
    assert client.transport is not None
    underlying = client.transport.underlying_transport

    def handler(message: bytes) -> None:
        received.append((message, turns.count))
        if client.backlog_messages:
            reading_while_waiting.append(underlying.is_reading())
        if len(received) == COUNT:
            done.set()

    client.attach(handler)
    turns.start()
    try:
        await client.send("go")
        await asyncio.wait_for(done.wait(), 10)
    finally:
        turns.stop()
    assert [m for m, _ in received] == MESSAGES
    # the clock is read every _CHECK_EVERY messages: a turn hands on at most twice that
    # inline (before and after its first reading) and that again from the drain
    per_turn = Counter(turn for _, turn in received)
    assert max(per_turn.values()) <= 3 * _CHECK_EVERY
    assert len(per_turn) >= COUNT // (3 * _CHECK_EVERY)
    assert reading_while_waiting  # messages did wait ...
    assert not any(reading_while_waiting)  # ... with reading paused
    assert client.backlog_messages == 0
    assert underlying.is_reading()  # resumed once drained


async def test_a_connection_dropped_mid_backlog_still_hands_on_what_was_read(
    dropping_client: PicowsConnection,
) -> None:
    received: list[bytes] = []
    dropping_client.attach(received.append)
    await dropping_client.send("go")
    await asyncio.wait_for(dropping_client.wait_closed(), 10)
    assert received == MESSAGES


async def test_a_handler_that_raises_ends_the_handing_on(client: PicowsConnection) -> None:
    received: list[bytes] = []

    def handler(message: bytes) -> None:
        received.append(message)
        if len(received) == 5:
            raise RuntimeError("a bug in the consumer")

    client.attach(handler)
    await client.send("go")
    with pytest.raises(RuntimeError, match="a bug in the consumer"):
        await asyncio.wait_for(asyncio.shield(client.failure), 10)
    assert received == MESSAGES[:5]  # the drain stopped at the failure, and dropped the rest
    assert client.backlog_messages == 0
