"""One writer per journal file: an exclusive ``flock`` on the database file itself,
held for as long as the journal is open.

Two workspaces appending to one file would both number orders ``order-1, order-2 ...``
from the same counters and interleave their events into a history neither account
can be rebuilt from.  ``BEGIN IMMEDIATE`` only serialises single transactions; the
lock keeps the second workspace from starting at all.

Why ``flock`` on the database file and not a lock file beside it: nothing is left
behind (no stale ``.lock`` file after a crash, nothing new in the user's folder), the
kernel releases the lock when the process dies however it dies, and ``flock`` locks
are independent of the POSIX record locks SQLite takes on the same file (Linux and the
BSDs keep the two kinds apart), so SQLite's own locking is untouched.  A second open in
the *same* process (a notebook cell run twice) conflicts too: ``flock`` belongs to the
open file, not to the process.  Readers (``journal check``) do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from workspace.journal.errors import JournalError, JournalLocked


class FileLock:
    """The exclusive lock of one journal file (``acquire`` creates the file if needed:
    an empty file is a valid empty SQLite database)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> FileLock:
        """Lock ``path`` or raise ``JournalLocked`` at once (never waits)."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot open journal {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise JournalLocked(_locked_message(path, holder)) from None
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"cannot lock journal {path}: {exc.strerror or exc}") from exc
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the open file drops its flock


def _locked_message(path: Path, holder: int | None) -> str:
    if holder == os.getpid():
        who = "another workspace in this process (stop it first: `await ws.stop()`)"
    elif holder is not None:
        who = f"another process (pid {holder}): stop it first"
    else:
        who = "another process: stop it first"
    return (
        f"journal {path} is in use by {who}, or give this one another journal file "
        "(--db / Workspace(db=...)); one journal has one writer"
    )


def _holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on ``fd``'s file, from ``/proc/locks`` (Linux; a
    hint for the message, ``None`` when unknown)."""
    try:
        inode = os.fstat(fd).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters have "->")
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        where = fields[5].rsplit(":", 1)
        if len(where) == 2 and where[1].isdigit() and int(where[1]) == inode:
            with contextlib.suppress(ValueError):
                return int(fields[4])
    return None
