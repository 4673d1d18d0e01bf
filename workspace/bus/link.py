"""Connections to Redis and the loops that must survive it going away.

``open_redis`` makes a ``redis.asyncio`` client (bytes in, bytes out).  ``run_forever``
runs one reading loop and, when Redis drops or restarts, opens it again after a short
backoff (``workspace.reconnect``'s full jitter, capped at ``cap_s``): a process of the
scale-out never dies because Redis restarted, and says so in its log once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workspace.bus.url import shown
from workspace.reconnect import ReconnectPolicy

_log = logging.getLogger("workspace.bus")

Redis = aioredis.Redis
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
BLOCK_MS = 2_000
"""How long one blocking read waits before it is issued again (a liveness bound, not a
poll: data wakes it at once)."""


def open_redis(url: str) -> Redis:
    """A client for ``url``: bytes replies, TCP keepalive, a socket timeout longer than
    a blocking read."""
    client: Redis = aioredis.Redis.from_url(
        url,
        decode_responses=False,
        retry=no_retry(),
        socket_connect_timeout=2.0,
        socket_timeout=BLOCK_MS / 1000 + 5.0,
        socket_keepalive=True,
        health_check_interval=15,
    )
    return client


async def run_forever(
    name: str,
    url: str,
    body: Callable[[], Awaitable[None]],
    *,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    stopping: Callable[[], bool] = lambda: False,
    cap_s: float = 2.0,
) -> None:
    """Run ``body`` until it returns; when it fails because Redis is unreachable, wait
    (backoff) and run ``on_reconnect`` then ``body`` again.  Other exceptions end it.

    To stop it, make ``stopping()`` true and close the client ``body`` reads with
    (``stop_loop``): its read fails, and the loop ends instead of retrying.  Not by
    cancelling: redis-py can swallow a cancellation that arrives in mid-read and read
    on."""
    policy = ReconnectPolicy(first_s=0.05, factor=2.0, cap_s=cap_s, healthy_after_s=5.0)
    backoff = policy.backoff()
    loop = asyncio.get_running_loop()
    outage = False
    first = True
    while True:
        try:
            if not first and on_reconnect is not None:
                await on_reconnect()
            first = False
            backoff.connected(loop.time())
            if outage:
                _log.warning("%s: Redis at %s is back", name, shown(url))
                outage = False
            await body()
            return
        except TRANSIENT as error:
            if stopping():
                return
            if not outage:
                _log.warning(
                    "%s: Redis at %s is unreachable (%s); retrying", name, shown(url), error
                )
                outage = True
            first = False
            await asyncio.sleep(backoff.lost(loop.time()))
            if stopping():
                return


async def stop_loop(task: asyncio.Task[Any] | None, *clients: Redis, grace_s: float = 5.0) -> None:
    """End a ``run_forever`` task whose ``stopping()`` is already true: close its
    clients (a blocked read fails at once) and wait for it; cancel it only if it
    does not end within ``grace_s``."""
    for client in clients:
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await client.connection_pool.disconnect()
    if task is not None and not task.done():
        _, pending = await asyncio.wait({task}, timeout=grace_s)
        for late in pending:
            late.cancel()
    for client in clients:
        await close_quietly(client)


def no_retry() -> Retry:
    """redis-py's own retries off: every loop here has its own backoff, and a retry
    inside redis-py can swallow the cancellation of a blocked read."""
    return Retry(NoBackoff(), 0)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


def raise_if_cancelled(error: BaseException | None = None) -> None:
    """Raise ``CancelledError`` when the running task was asked to stop: redis-py can
    swallow a cancellation that arrives in mid-command, finishing the command or turning
    it into another error (a timeout, a lost connection).  A loop around redis calls
    must call this after each (and first thing in its ``except``), or it goes on for
    ever: an engine whose start failed while its heartbeat's first write was in flight
    never stopped, SIGTERM included."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from error


async def close_quietly(client: Any) -> None:
    with contextlib.suppress(RedisError, OSError, RuntimeError):
        await client.aclose()


# -- typed calls (redis-py's own annotations are too loose for mypy --strict) ---------
Entry = tuple[bytes, dict[bytes, bytes]]
StreamBatch = list[tuple[bytes, list[Entry]]]
FieldValue = bytes | str | int | float


async def xread(
    client: Redis, streams: Mapping[str, bytes | str], *, count: int, block: int | None
) -> StreamBatch:
    found = await client.xread(dict(streams), count=count, block=block)  # type: ignore[arg-type]
    return cast(StreamBatch, found or [])


async def xreadgroup(
    client: Redis,
    group: str,
    consumer: str,
    streams: Mapping[str, str],
    *,
    count: int,
    block: int | None,
) -> StreamBatch:
    wanted: dict[Any, Any] = dict(streams)
    found = await client.xreadgroup(group, consumer, wanted, count=count, block=block)
    return cast(StreamBatch, found or [])


async def xrange(client: Redis, key: str, low: str, high: str, count: int) -> list[Entry]:
    found = await client.xrange(key, low, high, count=count)
    return cast(list[Entry], found or [])


async def last_entry(client: Redis, key: str) -> Entry | None:
    found = cast(list[Entry], await client.xrevrange(key, count=1) or [])
    return found[0] if found else None


def fields_of(values: Mapping[str, FieldValue]) -> dict[Any, Any]:
    """``values`` as redis-py's ``xadd`` takes them."""
    return dict(values)
