"""Commands from gateways to engines over Redis Streams, and their replies.

A gateway (``CommandClient``) appends a command to the commands stream of the engine
that owns it (``P:commands:{shard}`` for an account, ``P:commands:market`` for the
market side) and waits, at most ``timeout_s``, for the reply on its own replies
stream (``P:replies:{gateway}``) or, for an order command, for the order event the
command caused on the user's event stream (the gateway's event tail resolves it, in
its place among the user's events: ``resolve_tag``).

An engine (``CommandConsumer``) reads its commands streams as the consumer group
``engine``: each command is acknowledged (``XACK``) only after its reply was written,
so a command taken by an engine that crashed stays pending and is read again when the
engine comes back (the same consumer name: it first reads its own pending entries).
A command whose deadline has passed is acknowledged and dropped unexecuted: its gateway
has already answered ``ENGINE_UNAVAILABLE``, and the client must not find it executed
later.  The deadline is Redis's clock, not the gateway's: the command's stream id (the
time Redis took it) plus the gateway's timeout, which the engine reads against its own
clock corrected by Redis's (``TIME``), so machines whose clocks disagree by seconds
neither drop every command nor run one their gateway gave up on.  Executing a
redelivered command twice is the engine's to prevent (it records the last command each
account's journal took; see ``workspace.scaleout.engine_node``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from workspace.bus import entries
from workspace.bus.errors import EngineUnavailable, RemoteError
from workspace.bus.keys import ENGINE_GROUP, BusKeys
from workspace.bus.link import (
    BLOCK_MS,
    Redis,
    close_quietly,
    fields_of,
    is_transient,
    open_redis,
    raise_if_cancelled,
    run_forever,
    stop_loop,
    xread,
    xreadgroup,
)
from workspace.errors import WorkspaceError

_log = logging.getLogger("workspace.bus")

COMMANDS_MAXLEN = 100_000
REPLIES_MAXLEN = 10_000
REPLIES_TTL_S = 120
HEARTBEAT_TTL_MS = 10_000
READ_COUNT = 256
IN_FLIGHT = 1024
"""Commands a consumer runs at once, at most (the rest wait in the stream)."""
OFFSET_EVERY_S = 30.0
"""How often a consumer measures Redis's clock against its own (clocks drift)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What an engine answers: a value, an error, or nothing (the reply travels as a
    tagged event on the user's event stream)."""

    value: Any = None
    error: tuple[str, str] | None = None
    via_event: bool = False


@dataclass(frozen=True, slots=True)
class BusCommand:
    stream: str
    entry_id: str
    gateway: str
    request: int
    action: str
    user: str | None
    deadline_ms: int
    """When the gateway gives up, in this process's clock (ms since the epoch)."""
    args: dict[str, Any]
    redelivered: bool

    @property
    def tag(self) -> str:
        """What an event that answers this command carries (``r``)."""
        return f"{self.gateway}/{self.request}"


class CommandClient:
    """A gateway's side: ``await call(stream, action, args, user=...)``."""

    def __init__(self, url: str, keys: BusKeys, gateway_id: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.keys = keys
        self.gateway_id = gateway_id
        self.timeout_s = timeout_s
        self._redis: Redis = open_redis(url)
        self._reader: Redis = open_redis(url)
        self._numbers = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_id = b"0-0"
        self._stopping = False
        self.sent = 0
        self.timeouts = 0

    @property
    def replies_key(self) -> str:
        return self.keys.replies(self.gateway_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                run_forever(
                    "gateway replies",
                    self.url,
                    self._read_replies,
                    stopping=lambda: self._stopping,
                ),
                name="bus.replies",
            )

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        await stop_loop(task, self._reader)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineUnavailable("the gateway is stopping"))
        self._pending.clear()
        try:
            await self._redis.delete(self.replies_key)
        except Exception as error:  # best effort: the key expires anyway
            _log.debug("could not delete %s: %s", self.replies_key, error)
        await close_quietly(self._redis)

    async def call(
        self,
        stream: str,
        action: str,
        args: dict[str, Any] | None = None,
        *,
        user: str | None = None,
        timeout_s: float | None = None,
        on_tag: Callable[[str], None] | None = None,
    ) -> Any:
        """Send one command and return the engine's reply value.  Raises the engine's
        error (a ``WorkspaceError`` with its code), or ``EngineUnavailable`` when no
        engine answers within the timeout.  ``on_tag`` learns the command's tag before
        it is sent (the tag an event answering it will carry)."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        if on_tag is not None:
            on_tag(f"{self.gateway_id}/{number}")
        fields: dict[str, Any] = {
            "g": self.gateway_id,
            "q": number,
            "a": action,
            "d": int(time.time() * 1000 + timeout * 1000),  # (read by older engines)
            "t": int(timeout * 1000),
            "c": entries.dumps(args or {}),
        }
        if user is not None:
            fields["u"] = user
        try:
            try:
                await self._redis.xadd(
                    stream, fields_of(fields), maxlen=COMMANDS_MAXLEN, approximate=True
                )
            except Exception as error:
                if is_transient(error):
                    raise EngineUnavailable(f"the bus (Redis) is unreachable: {error}") from None
                raise
            self.sent += 1
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                self.timeouts += 1
                raise EngineUnavailable(await self._why_silent(stream, action, timeout)) from None
        finally:
            self._pending.pop(number, None)

    async def _why_silent(self, stream: str, action: str, waited_s: float) -> str:
        shard = stream.rsplit(":", 1)[-1]
        try:
            alive = await self._redis.exists(self.keys.engine(shard))
        except Exception:
            return f"no answer to {action} within {waited_s:g} s: the bus (Redis) is unreachable"
        if not alive:
            return f"no engine serves {shard!r}: {action} was not executed"
        return f"the engine did not answer {action} within {waited_s:g} s: it was not executed"

    def resolve_tag(self, tag: str, value: Any) -> bool:
        """An event tagged ``tag`` (``{gateway}/{request}``) arrived: if it answers a
        command of this gateway that still waits, that command returns ``value``."""
        gateway, _, number = tag.partition("/")
        if gateway != self.gateway_id or not number.isdigit():
            return False
        future = self._pending.get(int(number))
        if future is None or future.done():
            return False
        future.set_result(value)
        return True

    def waiting(self, tag: str) -> bool:
        gateway, _, number = tag.partition("/")
        if gateway != self.gateway_id or not number.isdigit():
            return False
        future = self._pending.get(int(number))
        return future is not None and not future.done()

    async def _read_replies(self) -> None:
        key = self.replies_key
        while True:
            found = await xread(
                self._reader, {key: self._last_id}, count=READ_COUNT, block=BLOCK_MS
            )
            for _stream, items in found:
                for entry_id, fields in items:
                    self._last_id = entry_id
                    self._deliver(fields)

    def _deliver(self, fields: dict[bytes, bytes]) -> None:
        try:
            number = int(fields[b"q"])
        except (KeyError, ValueError):
            return
        future = self._pending.get(number)
        if future is None or future.done():
            return  # answered too late: the client was already told
        error = fields.get(b"x")
        if error is not None:
            detail = entries.loads(error)
            future.set_exception(
                RemoteError(str(detail.get("code", "INTERNAL")), str(detail.get("message", "")))
            )
        else:
            data = fields.get(b"m")
            future.set_result(None if data is None else entries.loads(data))


Handler = Callable[[BusCommand], Awaitable[Reply]]


class CommandConsumer:
    """An engine's side: reads ``streams`` as consumer ``consumer`` of the group
    ``engine`` and answers each command with ``handler``'s reply.

    ``sequential``: each user's commands run one after the other, in the order they
    were sent (account commands: a cancel must not overtake its place), and different
    users' side by side (an order waiting for its symbol's first price holds up its own
    user's next commands only); otherwise every command runs as soon as it is read
    (market-side commands: a slow SUBSCRIBE must not hold up the others).  At most
    ``IN_FLIGHT`` commands run at once: the consumer reads more as they finish."""

    def __init__(
        self,
        url: str,
        keys: BusKeys,
        streams: Sequence[str],
        consumer: str,
        handler: Handler,
        *,
        sequential: bool = True,
        name: str = "engine commands",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: this machine's wall clock (seconds), corrected by Redis's for
        deadlines."""
        self.url = url
        self.keys = keys
        self.streams = list(streams)
        self.consumer = consumer
        self.handler = handler
        self.sequential = sequential
        self.name = name
        self._redis: Redis = open_redis(url)
        self._reader: Redis = open_redis(url)
        self._tasks: set[asyncio.Task[None]] = set()
        # each user's last command under way: the next one runs after it
        self._last_of: dict[str | None, asyncio.Task[None]] = {}
        # (stream, entry id) of the commands under way: a read of the pending entries
        # (after a lost connection, a reply not written) must not start them again
        self._in_flight: set[tuple[str, str]] = set()
        self._read_pending_again = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.executed = 0
        self.expired = 0
        self._clock = clock
        self._offset_ms = 0.0  # Redis's clock minus ours
        self._offset_at = -math.inf  # when it was measured (our clock, s)

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                run_forever(self.name, self.url, self._consume, stopping=lambda: self._stopping),
                name=f"bus.{self.consumer}",
            )
        return self._task

    async def close(self) -> None:
        """Stop reading; commands under way finish (their replies are written), for 5 s:
        one still waiting then (an order waiting for a first price) is cancelled
        unanswered and unacknowledged, so it is read again, or dropped once its
        deadline has passed, when the engine comes back."""
        self._stopping = True
        task, self._task = self._task, None
        await stop_loop(task, self._reader)
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=5)
            for waiting in late:
                waiting.cancel()
            if late:
                await asyncio.wait(late)
        await close_quietly(self._redis)

    async def _consume(self) -> None:
        try:
            await self._consume_streams()
        except asyncio.CancelledError:
            # stopped abruptly (not by ``close``): its commands end with it, unanswered
            # and unacknowledged, as when the engine dies
            for task in self._tasks:
                task.cancel()
            raise

    async def _consume_streams(self) -> None:
        for stream in self.streams:
            try:
                await self._redis.xgroup_create(stream, ENGINE_GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
        await self._measure_offset()
        # Commands this consumer took before a crash (or a lost connection) first.
        await self._read({stream: "0" for stream in self.streams}, redelivered=True)
        while not self._stopping:
            if self._clock() - self._offset_at > OFFSET_EVERY_S:
                await self._measure_offset()
            if self._read_pending_again:
                self._read_pending_again = False
                await self._read({stream: "0" for stream in self.streams}, redelivered=True)
            await self._read({stream: ">" for stream in self.streams}, redelivered=False)

    async def _measure_offset(self) -> None:
        """How far Redis's clock is ahead of ours (to half a round trip)."""
        before = self._clock()
        seconds, micros = await self._redis.time()
        after = self._clock()
        self._offset_ms = seconds * 1000 + micros / 1000 - (before + after) * 500
        self._offset_at = after

    async def _read(self, ids: dict[str, str], *, redelivered: bool) -> None:
        while True:
            found = await xreadgroup(
                self._reader,
                ENGINE_GROUP,
                self.consumer,
                ids,
                count=READ_COUNT,
                block=None if redelivered else BLOCK_MS,
            )
            items = [
                (stream.decode(), entry_id, fields)
                for stream, batch in found
                for entry_id, fields in batch
            ]
            if not items:
                return
            for stream, entry_id, fields in items:
                if redelivered:
                    ids[stream] = entry_id.decode()
                    if (stream, entry_id.decode()) in self._in_flight:
                        continue
                if not fields:  # trimmed away while pending
                    await self._redis.xack(stream, ENGINE_GROUP, entry_id)
                    continue
                command = _command(stream, entry_id.decode(), fields, redelivered, self._offset_ms)
                if command is None:
                    await self._redis.xack(stream, ENGINE_GROUP, entry_id)
                    continue
                while len(self._tasks) >= IN_FLIGHT:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                self._start(command)
            if not redelivered:
                return

    def _start(self, command: BusCommand) -> None:
        user, entry = command.user, (command.stream, command.entry_id)
        before = self._last_of.get(user) if self.sequential else None
        task = asyncio.get_running_loop().create_task(
            self._execute_after(before, command), name=f"bus.command.{command.action}"
        )
        self._tasks.add(task)
        self._in_flight.add(entry)
        if self.sequential:
            self._last_of[user] = task

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._in_flight.discard(entry)
            if self._last_of.get(user) is done:
                del self._last_of[user]

        task.add_done_callback(finished)

    async def _execute_after(self, before: asyncio.Task[None] | None, command: BusCommand) -> None:
        if before is not None:
            await asyncio.wait((before,))  # its outcome is its own: it answered already
        try:
            await self._execute(command)
        except Exception as error:
            raise_if_cancelled(error)
            # the reply was not written (Redis went away): the command is still pending,
            # and is read again (redelivered: the journal's note keeps an order once)
            _log.warning("the reply to %s was not written: %s", command.action, error)
            self._read_pending_again = True

    async def _execute(self, command: BusCommand) -> None:
        if command.deadline_ms < self._clock() * 1000:
            self.expired += 1
            _log.info(
                "dropped %s from gateway %s unexecuted: its deadline passed",
                command.action,
                command.gateway,
            )
            await self._redis.xack(command.stream, ENGINE_GROUP, command.entry_id)
            return
        try:
            reply = await self.handler(command)
        except WorkspaceError as error:
            reply = Reply(error=(error.code, str(error) or error.code))
        except Exception as error:
            _log.exception("command %s failed", command.action)
            reply = Reply(error=("INTERNAL", f"internal error: {type(error).__name__}"))
        self.executed += 1
        await self.answer(command, reply)

    async def answer(self, command: BusCommand, reply: Reply) -> None:
        """Write the reply (unless it travels as an event) and acknowledge, in one
        transaction; shielded: a consumer being stopped finishes the write it started
        (redis-py's pipeline, cancelled half-way, can leave its connection hanging)."""
        await asyncio.shield(self._answer(command, reply))

    async def _answer(self, command: BusCommand, reply: Reply) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            if not reply.via_event:
                fields: dict[str, Any] = {"q": command.request}
                if reply.error is not None:
                    code, message = reply.error
                    fields["x"] = entries.dumps({"code": code, "message": message})
                else:
                    fields["m"] = entries.dumps(reply.value)
                key = self.keys.replies(command.gateway)
                pipe.xadd(key, fields_of(fields), maxlen=REPLIES_MAXLEN, approximate=True)
                pipe.expire(key, REPLIES_TTL_S)
            pipe.xack(command.stream, ENGINE_GROUP, command.entry_id)
            await pipe.execute()


def _command(
    stream: str, entry_id: str, fields: dict[bytes, bytes], redelivered: bool, offset_ms: float
) -> BusCommand | None:
    """``offset_ms``: how far Redis's clock is ahead of this process's."""
    try:
        args = entries.loads(fields[b"c"])
        user = fields.get(b"u")
        timeout = fields.get(b"t")
        if timeout is not None:  # Redis took it at its id's time: the gateway's wait
            taken_ms = entries.stream_id_key(entry_id)[0]
            deadline_ms = int(taken_ms + int(timeout) - offset_ms)
        else:  # an older gateway's: its own clock
            deadline_ms = int(fields[b"d"])
        return BusCommand(
            stream=stream,
            entry_id=entry_id,
            gateway=fields[b"g"].decode(),
            request=int(fields[b"q"]),
            action=fields[b"a"].decode(),
            user=None if user is None else user.decode(),
            deadline_ms=deadline_ms,
            args=args if isinstance(args, dict) else {},
            redelivered=redelivered,
        )
    except (KeyError, ValueError, UnicodeDecodeError) as error:
        _log.error("dropped a malformed command %s on %s: %s", entry_id, stream, error)
        return None


async def beating(redis: Redis, key: str) -> bool | None:
    """Whether ``key``'s heartbeat (``heartbeat``) is alive: a killed process leaves it
    to lapse.  ``None`` while Redis itself is unreachable (nothing can be told then)."""
    try:
        found = bool(await redis.exists(key))
    except Exception as error:
        raise_if_cancelled(error)
        if not is_transient(error):
            raise
        return None
    raise_if_cancelled()
    return found


async def heartbeat(redis: Redis, key: str, value: bytes, every_s: float = 3.0) -> None:
    """Keep ``key`` alive while this runs (gateways read it to tell "no engine" from
    "a slow engine")."""
    while True:
        try:
            await redis.set(key, value, px=HEARTBEAT_TTL_MS)
        except Exception as error:
            raise_if_cancelled(error)
            if not is_transient(error):
                raise
        raise_if_cancelled()
        await asyncio.sleep(every_s)
