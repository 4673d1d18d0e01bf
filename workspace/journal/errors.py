"""The journal's one exception."""

from __future__ import annotations

from workspace.errors import WorkspaceError


class JournalError(WorkspaceError):
    """The journal cannot be used as it is: a newer schema, a damaged or foreign file,
    a config that does not match the stored one.  Never a silent reset."""
