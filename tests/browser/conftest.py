"""One JupyterLab server for the whole test session (slow to start; the `lab`
fixture) and one Chromium per test module (`browser`); each test opens its own page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.browser.harness import LabServer, chromium, copy_notebooks

# Live cells in the notebooks stream for this many seconds, and the strategy lab
# replays this many minutes of klines (see notebooks/*.ipynb).
NOTEBOOK_ENV = {"WORKSPACE_NB_LIVE_SECONDS": "3", "WORKSPACE_NB_REPLAY_MINUTES": "240"}


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    root = copy_notebooks(tmp_path_factory.mktemp("lab") / "notebooks")
    server = LabServer(root, env=NOTEBOOK_ENV)
    server.start()
    yield server
    report = server.stop()
    assert report.graceful, f"JupyterLab did not shut down cleanly; killed {report.killed}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: while a sync playwright is alive, its thread has a
    # "running" event loop, which breaks pytest-asyncio for async tests in between.
    with chromium() as b:
        yield b
