"""Which notebook cell is running, and which run of it: JupyterLab (and Notebook 7)
name the cell in each execute request's metadata (``cellId``), and every request has
an id of its own.

``ws.dashboard()`` uses it so that a cell run again replaces the dashboard its earlier
run made instead of leaving that one live in the kernel, listening and sending its
updates to views that no longer exist (about 0.45 % of a core each, measured).
Outside a kernel, or in a front end that names no cell, there is no cell: nothing is
replaced.
"""

from __future__ import annotations

import weakref
from typing import Any


def current_run() -> tuple[str, str] | None:
    """(the cell's id, this run's request id), or ``None``."""
    try:
        from IPython import get_ipython
    except ImportError:  # (not in a notebook)
        return None
    get_parent = getattr(getattr(get_ipython(), "kernel", None), "get_parent", None)
    if get_parent is None:
        return None
    try:
        parent: Any = get_parent()
    except Exception:  # (a kernel of another make)
        return None
    if not isinstance(parent, dict):
        return None
    metadata, header = parent.get("metadata"), parent.get("header")
    cell = metadata.get("cellId") if isinstance(metadata, dict) else None
    run = header.get("msg_id") if isinstance(header, dict) else None
    if isinstance(cell, str) and cell and isinstance(run, str) and run:
        return cell, run
    return None


class Started:
    """The workspaces each notebook cell started, by cell (weakly: a workspace nobody
    holds any more is not kept alive for this)."""

    def __init__(self) -> None:
        self._by_cell: dict[str, tuple[str, weakref.ref[Any]]] = {}

    def earlier(self, started: Any) -> Any | None:
        """Note that the running cell started ``started``; the workspace an earlier run
        of the same cell started, if it still runs (``None`` outside a named cell)."""
        run = current_run()
        if run is None:
            return None
        cell, request = run
        found = self._by_cell.get(cell)
        self._by_cell[cell] = (request, weakref.ref(started))
        if found is None or found[0] == request:
            return None
        before = found[1]()
        if before is None or before is started or not getattr(before, "running", False):
            return None
        return before
