"""Commands over Redis Streams between a gateway (``CommandClient``) and an engine
(``CommandConsumer``), on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from workspace.bus.keys import BusKeys
from workspace.bus.local_redis import LocalRedis
from workspace.bus.rpc import (
    BusCommand,
    CommandClient,
    CommandConsumer,
    Handler,
    Reply,
    heartbeat,
)
from workspace.bus.tail import StreamTail
from workspace.errors import EngineUnavailable, NotFound, WorkspaceError

KEYS = BusKeys("t")


async def echo(command: BusCommand) -> Reply:
    if command.action == "missing":
        raise NotFound("no such thing")
    return Reply({"action": command.action, "args": command.args, "user": command.user})


@contextlib.asynccontextmanager
async def serving(
    redis_server: LocalRedis,
    handler: Handler,
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[tuple[CommandClient, CommandConsumer]]:
    """A started gateway client and an engine consumer answering shard 0 with
    ``handler`` (``clock``: the engine's), both stopped afterwards."""
    consumer = CommandConsumer(
        redis_server.url, KEYS, [KEYS.commands(0)], "shard-0", handler, clock=clock
    )
    client = CommandClient(redis_server.url, KEYS, "gw1", timeout_s=timeout_s)
    consumer.start()
    await client.start()
    try:
        yield client, consumer
    finally:
        await consumer.close()
        await client.stop()


async def test_a_command_gets_its_reply_and_engine_errors_keep_their_code(
    redis_server: LocalRedis,
) -> None:
    async with serving(redis_server, echo, timeout_s=5) as (client, _):
        reply = await client.call(KEYS.commands(0), "ping", {"x": 1}, user="alice")
        assert reply == {"action": "ping", "args": {"x": 1}, "user": "alice"}
        with pytest.raises(WorkspaceError) as caught:
            await client.call(KEYS.commands(0), "missing")
        assert caught.value.code == "NOT_FOUND"
        assert str(caught.value) == "no such thing"
        replies = await asyncio.gather(*(client.call(KEYS.commands(0), f"n{i}") for i in range(50)))
        assert [r["action"] for r in replies] == [f"n{i}" for i in range(50)]


@pytest.mark.parametrize("engine_clock_s", [0, -60], ids=["same clocks", "engine 60 s behind"])
async def test_no_engine_is_a_clear_error_and_the_late_command_is_never_executed(
    redis_server: LocalRedis, engine_clock_s: float
) -> None:
    """An engine whose clock is behind the gateway's ran the late command all the same:
    its deadline was the gateway's clock.  It is Redis's now."""
    client = CommandClient(redis_server.url, KEYS, "gw1", timeout_s=0.3)
    await client.start()
    executed: list[str] = []

    async def record(command: BusCommand) -> Reply:
        executed.append(command.action)
        return Reply("done")

    try:
        with pytest.raises(EngineUnavailable, match="no engine serves '0'"):
            await client.call(KEYS.commands(0), "place_order")
        # an engine that comes later drops it (its deadline passed), then serves new ones
        consumer = CommandConsumer(
            redis_server.url,
            KEYS,
            [KEYS.commands(0)],
            "shard-0",
            record,
            clock=lambda: time.time() + engine_clock_s,
        )
        consumer.start()
        client.timeout_s = 5
        assert await client.call(KEYS.commands(0), "after") == "done"
        assert executed == ["after"]
        assert consumer.expired == 1
        await consumer.close()
    finally:
        await client.stop()


async def test_an_engine_whose_clock_is_ahead_of_the_gateways_still_answers(
    redis_server: LocalRedis,
) -> None:
    """It dropped every command as expired (the gateway's deadline read on its clock)."""
    ahead = serving(redis_server, echo, timeout_s=5, clock=lambda: time.time() + 60)
    async with ahead as (client, consumer):
        reply = await client.call(KEYS.commands(0), "ping", user="alice")
        assert reply == {"action": "ping", "args": {}, "user": "alice"}
        assert consumer.expired == 0


async def test_a_waiting_command_holds_up_its_own_users_next_command_only(
    redis_server: LocalRedis,
) -> None:
    """Account commands ran one at a time for every user of a shard: an order waiting
    for its symbol's first price would have held up everyone.  Now each user's commands
    keep their order and other users' run meanwhile."""
    release = asyncio.Event()
    started = asyncio.Event()
    log: list[str] = []

    async def handler(command: BusCommand) -> Reply:
        log.append(f"{command.user}:{command.action}")
        if command.action == "wait":
            started.set()
            await release.wait()
            log.append("alice:waited")
        return Reply(command.action)

    client = CommandClient(redis_server.url, KEYS, "gw1", timeout_s=10)
    await client.start()
    stream = KEYS.commands(0)

    async def in_stream(count: int) -> None:
        async with asyncio.timeout(5):
            while await client._redis.xlen(stream) < count:
                pass  # each look is a round trip to redis-server

    waiting = asyncio.create_task(client.call(stream, "wait", user="alice"))
    await in_stream(1)
    after = asyncio.create_task(client.call(stream, "after", user="alice"))
    await in_stream(2)  # both are in the stream before the engine reads either
    consumer = CommandConsumer(redis_server.url, KEYS, [stream], "shard-0", handler)
    consumer.start()
    try:
        await asyncio.wait_for(started.wait(), 5)
        assert await client.call(stream, "other", user="bob") == "other"
        assert log == ["alice:wait", "bob:other"]  # alice's next command waits its turn
        release.set()
        assert list(await asyncio.wait_for(asyncio.gather(waiting, after), 5)) == ["wait", "after"]
        assert log == ["alice:wait", "bob:other", "alice:waited", "alice:after"]
    finally:
        await consumer.close()
        await client.stop()


async def test_a_command_under_way_is_not_started_again_when_the_consumer_reads_anew(
    redis_server: LocalRedis,
) -> None:
    """Redis restarts while a command waits: the consumer reconnects and first reads
    its pending commands again, the waiting one among them.  It must not run twice (an
    order placed twice)."""
    release = asyncio.Event()
    started = asyncio.Event()
    seen: list[tuple[str, bool]] = []

    async def handler(command: BusCommand) -> Reply:
        seen.append((command.action, command.redelivered))
        if command.action == "wait":
            started.set()
            await release.wait()
        return Reply(command.action)

    stream = KEYS.commands(0)
    async with serving(redis_server, handler, timeout_s=30) as (client, _):
        waiting = asyncio.create_task(client.call(stream, "wait", user="alice"))
        await asyncio.wait_for(started.wait(), 5)
        await redis_server.stop()
        await redis_server.start()  # the append-only file keeps the pending command
        # answered: the consumer is reading again, its pending commands read first
        assert await client.call(stream, "other", user="bob") == "other"
        release.set()
        assert await asyncio.wait_for(waiting, 10) == "wait"
        assert seen == [("wait", False), ("other", False)]


async def test_a_command_whose_reply_was_lost_is_read_again_and_answered(
    redis_server: LocalRedis,
) -> None:
    """The engine's writing connection fails as it writes a reply (its reader goes on):
    the command stays pending.  Read again at once, it is answered as a redelivered
    command (the journal's note keeps an order once); without that it waited for the
    engine's next restart, and the gateway gave up.  (The failure is injected in the
    one write: a real connection dropping between a reply's commands cannot be timed.)"""
    release = asyncio.Event()
    started = asyncio.Event()
    seen: list[bool] = []

    async def handler(command: BusCommand) -> Reply:
        seen.append(command.redelivered)
        if not command.redelivered:
            started.set()
            await release.wait()
        return Reply("redelivered" if command.redelivered else "first")

    stream = KEYS.commands(0)
    async with serving(redis_server, handler, timeout_s=20) as (client, consumer):
        written = consumer._answer
        lost = [RedisConnectionError("Connection closed by server.")]

        async def answer_once_lost(command: BusCommand, reply: Reply) -> None:
            if lost:
                raise lost.pop()
            await written(command, reply)

        consumer._answer = answer_once_lost  # type: ignore[method-assign]
        call = asyncio.create_task(client.call(stream, "order", user="alice"))
        await asyncio.wait_for(started.wait(), 5)
        release.set()
        assert await asyncio.wait_for(call, 20) == "redelivered"
        assert seen == [False, True]


async def test_a_command_taken_by_an_engine_that_died_is_read_again_by_its_successor(
    redis_server: LocalRedis,
) -> None:
    started = asyncio.Event()

    async def stuck(command: BusCommand) -> Reply:
        started.set()
        await asyncio.Event().wait()  # dies before answering
        raise AssertionError

    seen: list[tuple[str, bool]] = []

    async def answer(command: BusCommand) -> Reply:
        seen.append((command.action, command.redelivered))
        return Reply("ok")

    client = CommandClient(redis_server.url, KEYS, "gw1", timeout_s=10)
    await client.start()
    first = CommandConsumer(redis_server.url, KEYS, [KEYS.commands(0)], "shard-0", stuck)
    first_task = first.start()
    call = asyncio.create_task(client.call(KEYS.commands(0), "place_order"))
    await asyncio.wait_for(started.wait(), 5)
    first_task.cancel()  # the engine dies in the middle of the command
    await asyncio.gather(first_task, return_exceptions=True)
    second = CommandConsumer(redis_server.url, KEYS, [KEYS.commands(0)], "shard-0", answer)
    second.start()
    try:
        assert await asyncio.wait_for(call, 10) == "ok"
        assert seen == [("place_order", True)]
    finally:
        await second.close()
        await first.close()
        await client.stop()


async def test_the_tail_reads_new_streams_at_once_and_goes_on_after_redis_restarts(
    redis_server: LocalRedis,
) -> None:
    tail = StreamTail(redis_server.url)
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    def handler(key: str, items: Any) -> None:
        for _id, fields in items:
            got.put_nowait((key, fields[b"v"]))

    writer = CommandClient(redis_server.url, KEYS, "w")  # only its connection is used
    redis = writer._redis
    await tail.start()
    try:
        await tail.follow("t:a", handler)
        await redis.xadd("t:a", {"v": "1"})
        assert await asyncio.wait_for(got.get(), 5) == ("t:a", b"1")
        await tail.follow("t:b", handler)  # interrupts the blocked read
        await redis.xadd("t:b", {"v": "2"})
        assert await asyncio.wait_for(got.get(), 5) == ("t:b", b"2")
        await redis_server.stop()
        await redis_server.start()  # the append-only file brings both streams back
        await redis.xadd("t:a", {"v": "3"})
        assert await asyncio.wait_for(got.get(), 10) == ("t:a", b"3")
        await tail.leave("t:a")
        await redis.xadd("t:a", {"v": "4"})
        await redis.xadd("t:b", {"v": "5"})
        assert await asyncio.wait_for(got.get(), 5) == ("t:b", b"5")
    finally:
        await tail.stop()
        await writer.stop()


async def test_a_heartbeat_stops_when_its_cancellation_was_swallowed_mid_write() -> None:
    """redis-py can finish a command although the task was cancelled in mid-command (the
    real case: tests/scaleout/test_shards.py, an engine that refused to start never
    ended).  The heartbeat then slept and wrote again, for good."""

    class SwallowingRedis:
        """A first ``set`` that, cancelled in flight, completes anyway; later ones wait
        (and end when cancelled)."""

        def __init__(self) -> None:
            self.writes = 0
            self.writing = asyncio.Event()

        async def set(self, *_: Any, **__: Any) -> bool:
            self.writes += 1
            self.writing.set()
            if self.writes > 1:
                await asyncio.Event().wait()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
            return True

    redis = SwallowingRedis()
    beat = asyncio.create_task(heartbeat(redis, "k", b"v", every_s=0.01))  # type: ignore[arg-type]
    await asyncio.wait_for(redis.writing.wait(), 10)
    beat.cancel()
    done, _ = await asyncio.wait({beat}, timeout=10)  # (wait_for would wait on for good)
    assert beat in done, "the heartbeat went on after it was cancelled"
    assert beat.cancelled()
    assert redis.writes == 1
