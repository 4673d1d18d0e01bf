"""Fixtures of the scale-out tests: a real ``redis-server`` of their own (a free port,
a temporary folder, the append-only file on), started and stopped around each test
that asks for it.  Never a mock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workspace.bus.local_redis import LocalRedis


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[LocalRedis]:
    server = LocalRedis(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
