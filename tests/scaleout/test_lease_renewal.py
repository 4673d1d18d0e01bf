"""A lease renewal holds the reader's lock while it waits for the market engine: with
no engine answering, it gives up after ``RENEW_TIMEOUT_S`` (not the client's own,
longer timeout), so the acquires waiting behind it are not held up for that long.
A real redis-server and no engine at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis
from workspace.bus.local_redis import LocalRedis
from workspace.bus.rpc import CommandClient
from workspace.errors import EngineUnavailable
from workspace.scaleout.hold_lease import RENEW_TIMEOUT_S, HoldLease


async def test_a_renewal_nobody_answers_gives_up_after_its_own_timeout(
    redis_server: LocalRedis,
) -> None:
    keys = BusKeys()
    client = CommandClient(redis_server.url, keys, "lease-probe", timeout_s=30)
    await client.start()
    lock = asyncio.Lock()
    lease = HoldLease(client, keys, "gateway", lambda: {"symbol": ["BTCUSDT"]}, lock)
    redis = open_redis(redis_server.url)
    try:
        assert lease.renew_timeout_s == RENEW_TIMEOUT_S < client.timeout_s
        # whole ms, as the command's deadline is written (truncated) on the wire
        sent_after_ms = int(time.time() * 1000)
        renewal = asyncio.create_task(lease.renew())
        # the command is on the market engine's stream with its deadline: its timeout
        read: Any = await redis.xread({keys.market_commands: "0-0"}, block=10_000, count=1)
        assert read, "the renewal never reached the bus"
        fields: dict[bytes, bytes] = read[0][1][0][1]
        assert fields[b"a"] == b"renew_holds"
        deadline_ms = int(fields[b"d"])
        assert sent_after_ms + RENEW_TIMEOUT_S * 1000 <= deadline_ms
        assert deadline_ms <= time.time() * 1000 + RENEW_TIMEOUT_S * 1000
        assert lock.locked()  # the renewal list is sent and answered under the lock
        with pytest.raises(EngineUnavailable, match="renew_holds was not executed"):
            await asyncio.wait_for(renewal, timeout=client.timeout_s / 2)
        assert not lock.locked()
        assert client.timeouts == 1
    finally:
        await redis.aclose()
        await client.stop()
