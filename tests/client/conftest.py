"""Fixtures for the client tests: a real engine on the simulator and a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ports import quiet_port
from workspace import Workspace
from workspace.engine.config import EngineConfig
from workspace.server import RealtimeServer

FAST = EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2, tick_flush_interval_s=0.1)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
async def workspace(db: Path) -> AsyncIterator[Workspace]:
    ws = Workspace(feed="sim", db=db, engine=FAST)
    await ws.start()
    yield ws
    await ws.stop()


@pytest.fixture
def free_port() -> int:
    """A port that a restarted server can bind again (the tests restart servers)."""
    return quiet_port()


@pytest.fixture
async def server(workspace: Workspace, free_port: int) -> AsyncIterator[RealtimeServer]:
    running = RealtimeServer(workspace.engine, port=free_port)
    await running.start()
    yield running
    await running.stop()
