"""Fixtures for the engine tests: a workspace on the embedded simulator, fast cadences."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workspace.engine.config import EngineConfig
from workspace.notebook.workspace import Workspace
from workspace.sim import SimConfig

FAST_SIM = SimConfig(
    symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    seed=7,
    ticker_interval_s=0.02,
    trade_interval_s=0.01,
    book_interval_s=0.01,
)
FAST_ENGINE = EngineConfig(
    positions_interval_s=0.05,
    portfolio_interval_s=0.1,
    status_interval_s=0.2,
    loop_lag_interval_s=0.01,
    tick_flush_interval_s=0.05,
)


def make_workspace(db: Path | None, **options: object) -> Workspace:
    options.setdefault("sim", FAST_SIM)
    options.setdefault("engine", FAST_ENGINE)
    return Workspace(feed="sim", db=db, **options)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def started(db: Path | None, **options: object) -> AsyncIterator[Workspace]:
    """``make_workspace(db, **options)``, started, and stopped afterwards."""
    workspace = make_workspace(db, **options)
    await workspace.start()
    try:
        yield workspace
    finally:
        await workspace.stop()


@pytest.fixture
async def ws(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with started(tmp_path / "journal.sqlite") as workspace:
        yield workspace
