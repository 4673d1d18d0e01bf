"""A Jupyter-native, real-time paper-trading workspace.

``from workspace import Workspace`` is the notebook entry point (docs/engine.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workspace.notebook.workspace import Workspace

__all__ = ["Workspace"]


def __getattr__(name: str) -> Any:
    # Lazy: `python -m workspace sim` and the feed tests should not import pandas,
    # the journal and the engine just because the package was imported.
    if name == "Workspace":
        from workspace.notebook.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'workspace' has no attribute {name!r}")
