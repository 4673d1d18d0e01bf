"""The journal's exceptions."""

from __future__ import annotations

from workspace.errors import WorkspaceError


class JournalError(WorkspaceError):
    """The journal cannot be used as it is: a newer schema, a damaged or foreign file,
    a config that does not match the stored one, a write that failed.  Never a silent
    reset."""


class JournalLocked(JournalError):
    """Another workspace (this process or another) has the journal file open: one file
    has one writer, or two accounts would hand out the same order ids."""
