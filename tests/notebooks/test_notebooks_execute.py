"""Every notebook in notebooks/ runs top to bottom in a fresh kernel without an error,
and is stored without outputs (so diffs stay readable and no stale state ships)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Live cells stream for this many seconds (each notebook reads WORKSPACE_NB_LIVE_SECONDS).
LIVE_SECONDS = "2"
CELL_TIMEOUT_S = 90


def test_the_three_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "strategy_lab.ipynb", "external_access.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has stored outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
async def test_notebook_runs_top_to_bottom(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a scratch copy: whatever the notebook writes (journals, exports) stays out of the repo
    workdir = tmp_path / "notebooks"
    shutil.copytree(path.parent, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    monkeypatch.setenv("WORKSPACE_NB_LIVE_SECONDS", LIVE_SECONDS)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's migration warning
    nb = nbformat.read(workdir / path.name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        allow_errors=True,  # collect every error below instead of stopping at the first
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    await client.async_execute()

    errors = [
        f"cell {index}: {out.get('ename')}: {out.get('evalue')}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "error"
    ]
    assert not errors, "\n".join(errors)
    # the demos place real orders: every one must be one the exchange accepts
    printed = [
        (index, str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", "")))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
    ]
    rejected = [
        f"cell {index}: {text.strip()[:300]}" for index, text in printed if "REJECTED" in text
    ]
    assert not rejected, "\n".join(rejected)
    unexecuted = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.execution_count is None
    ]
    assert not unexecuted, f"cells never ran: {unexecuted}"
    if path.name == "strategy_lab.ipynb":  # the backtest's equity/drawdown figure
        mimes = {
            m for cell in nb.cells for out in cell.get("outputs", []) for m in out.get("data", {})
        }
        # ThemedFigure: a widget view (drawn in the theme's colours by the browser)
        assert "application/vnd.jupyter.widget-view+json" in mimes, mimes


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_strategy_lab_away_from_its_data_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # copied out of notebooks/, it failed in its third cell with an IndexError
    shutil.copy(REPO / "notebooks" / "strategy_lab.ipynb", tmp_path)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    nb = nbformat.read(tmp_path / "strategy_lab.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    await client.async_execute()
    first = next(
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    )
    assert first["ename"] == "FileNotFoundError"
    assert first["evalue"].startswith(f"no BTCUSDT-1m-*.zip in {tmp_path / 'data' / 'klines'}:")
