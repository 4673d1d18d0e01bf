"""``StreamTail``: one reader that follows many streams (a gateway's market streams and
the event and state streams of its users) with a single blocking ``XREAD``.

Each followed stream has a position (the id of the last entry handed on) and a handler
that takes the new entries of one read, synchronously and in order.  Following or
leaving a stream while the read is blocked interrupts it (``CLIENT UNBLOCK`` from a
second connection), so a new stream is read at once, not after the block ends.  After
Redis comes back from an outage the reader goes on from each stream's position: nothing
in between is skipped (what Redis itself lost is the writers' to publish again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from workspace.bus.link import (
    BLOCK_MS,
    Entry,
    Redis,
    close_quietly,
    last_entry,
    no_retry,
    open_redis,
    run_forever,
    stop_loop,
    xread,
)

_log = logging.getLogger("workspace.bus")

EntryHandler = Callable[[str, Sequence[Entry]], None]
READ_COUNT = 512


class StreamTail:
    def __init__(self, url: str, *, name: str = "stream tail") -> None:
        self.url = url
        self.name = name
        self._control: Redis = open_redis(url)
        self._reader: Redis = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            retry=no_retry(),
            single_connection_client=True,  # CLIENT UNBLOCK names this connection
            socket_connect_timeout=2.0,
            socket_timeout=BLOCK_MS / 1000 + 5.0,
            socket_keepalive=True,
        )
        self._positions: dict[str, bytes] = {}
        self._handlers: dict[str, EntryHandler] = {}
        self._reader_id: int | None = None
        self._blocked = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.read_entries = 0

    # -- following -----------------------------------------------------------------
    async def follow(
        self, key: str, handler: EntryHandler, after: bytes | str | None = None
    ) -> None:
        """Hand ``handler`` the entries of ``key`` after id ``after`` (``None``: after the
        last one now in the stream)."""
        if after is None:
            last = await last_entry(self._control, key)
            after = last[0] if last is not None else b"0-0"
        self._positions[key] = after.encode() if isinstance(after, str) else after
        self._handlers[key] = handler
        await self._wake()

    async def leave(self, key: str) -> None:
        self._positions.pop(key, None)
        self._handlers.pop(key, None)
        await self._wake()

    def following(self, key: str) -> bool:
        return key in self._handlers

    def position(self, key: str) -> bytes | None:
        return self._positions.get(key)

    async def _wake(self) -> None:
        self._changed.set()
        if self._blocked and self._reader_id is not None:
            try:
                await self._control.client_unblock(self._reader_id)
            except Exception as error:  # the read ends by itself within BLOCK_MS
                _log.debug("could not unblock the tail's read: %s", error)

    # -- running -------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                run_forever(
                    self.name,
                    self.url,
                    self._run,
                    on_reconnect=self._reconnected,
                    stopping=lambda: self._stopping,
                ),
                name="bus.tail",
            )

    async def stop(self) -> None:
        self._stopping = True
        self._changed.set()
        task, self._task = self._task, None
        await stop_loop(task, self._reader)
        await close_quietly(self._control)

    async def _reconnected(self) -> None:
        self._reader_id = None

    async def _run(self) -> None:
        while not self._stopping:
            if not self._positions:
                self._changed.clear()
                await self._changed.wait()
                continue
            if self._reader_id is None:
                self._reader_id = int(await self._reader.client_id())
            self._changed.clear()
            streams = dict(self._positions)
            self._blocked = True
            try:
                found = await xread(self._reader, streams, count=READ_COUNT, block=BLOCK_MS)
            finally:
                self._blocked = False
            for stream, items in found:
                key = stream.decode()
                handler = self._handlers.get(key)
                if handler is None or not items:
                    continue  # left while the read was under way
                self._positions[key] = items[-1][0]
                self.read_entries += len(items)
                try:
                    handler(key, items)
                except Exception:
                    _log.exception("a stream handler failed on %s", key)
