"""Which notebook cell is running, and which run of it: JupyterLab (and Notebook 7)
name the cell in each execute request's metadata (``cellId``), and every request has
an id of its own.

``ws.dashboard()`` uses it so that a cell run again replaces the dashboard its earlier
run made instead of leaving that one live in the kernel, listening and sending its
updates to views that no longer exist (about 0.45 % of a core each, measured); and
``ws.start()`` to say when the workspace an earlier run started still runs.
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


class CellRuns:
    """What each run of a notebook cell made, by cell (weakly: nothing is kept alive
    for this)."""

    def __init__(self) -> None:
        self._by_cell: dict[str, tuple[str, list[weakref.ref[Any]]]] = {}

    def made(self, thing: Any) -> list[Any]:
        """Note that the running cell made ``thing``; what an earlier run of the same
        cell made (still alive), which this run replaces.  ``[]`` outside a named cell
        and for more things made by the same run."""
        run = current_run()
        if run is None:
            return []
        cell, request = run
        made_by, refs = self._by_cell.get(cell, (request, []))
        earlier: list[Any] = []
        if made_by != request:  # the cell run again
            earlier = [each for ref in refs if (each := ref()) is not None and each is not thing]
            refs = []
        self._by_cell[cell] = (request, [*refs, weakref.ref(thing)])
        return earlier
