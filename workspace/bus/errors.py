"""Errors of the scale-out transport."""

from __future__ import annotations

from workspace.errors import EngineUnavailable, WorkspaceError

__all__ = ["EngineUnavailable", "RemoteError"]


class RemoteError(WorkspaceError):
    """An error the engine answered a command with, carrying the engine's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
