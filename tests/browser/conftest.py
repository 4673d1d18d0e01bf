"""One JupyterLab server and one Chromium for the whole test session (both are slow
to start); each test opens its own page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import LabServer, chromium, copy_notebooks
from playwright.sync_api import Browser

# Live cells in the notebooks stream for this many seconds (see notebooks/*.ipynb).
LIVE_SECONDS = "3"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    root = copy_notebooks(tmp_path_factory.mktemp("lab") / "notebooks")
    server = LabServer(root, env={"WORKSPACE_NB_LIVE_SECONDS": LIVE_SECONDS})
    server.start()
    yield server
    report = server.stop()
    assert report.graceful, f"JupyterLab did not shut down cleanly; killed {report.killed}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def lab_root(lab: LabServer) -> Path:
    return lab.root
