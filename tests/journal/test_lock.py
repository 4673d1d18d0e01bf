"""One writer per journal file (issue 16): a second workspace on the same file stops at
once with a clear message (JournalLocked), in this process or in another; the lock
goes with its holder, however that holder ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from workspace.journal import Journal, JournalError, JournalLocked
from workspace.notebook.workspace import Workspace

STARTUP_TIMEOUT = 60.0
RECORDING = (
    Path(__file__).parents[1] / "fixtures/binance/replay/session.combined.mainnet-2021-08-14.jsonl"
)
HOLD = (
    "import sys; from workspace.journal import Journal\n"
    "j = Journal.open(sys.argv[1]); print('held', flush=True); sys.stdin.read()\n"
)


async def _serve(db: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSPACE_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "serve",
        "--feed",
        "sim",
        "--port",
        "0",
        "--db",
        str(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def test_a_second_open_in_this_process_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path):
        with pytest.raises(JournalLocked, match="another workspace in this process"):
            Journal.open(path)
        # readers do not need the lock (journal check beside a running server)
        with Journal.open(path, read_only=True) as reader:
            assert reader.verify().ok
            with pytest.raises(JournalError, match="read-only"):
                reader.append([reader.rebuild().mark(1)])
    with Journal.open(path):  # closed: free again
        pass


async def test_a_second_workspace_on_the_same_file_does_not_start(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    first = Workspace(feed=f"replay:{RECORDING}", db=db)
    await first.start()
    try:
        second = Workspace(feed=f"replay:{RECORDING}", db=db)
        with pytest.raises(JournalLocked, match="in use by another workspace in this process"):
            await second.start()
        assert not second.running
    finally:
        await first.stop()


async def test_a_second_serve_on_the_same_journal_exits_at_once_and_the_first_keeps_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    first = await _serve(db)
    try:
        assert first.stdout is not None
        ready = await asyncio.wait_for(first.stdout.readline(), STARTUP_TIMEOUT)
        assert ready.startswith(b"serving ws://"), ready
        second = await _serve(db)
        out, err = await asyncio.wait_for(second.communicate(), STARTUP_TIMEOUT)
        assert second.returncode == 1
        assert b"serving" not in out
        message = err.decode()
        assert f"journal {db} is in use by another process (pid {first.pid})" in message
        assert "INTERNAL" not in message
        assert "UNIQUE" not in message
        assert "Traceback" not in message
        assert first.returncode is None  # the first one never noticed
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), STARTUP_TIMEOUT)
    assert first.returncode == 0
    with Journal.open(db) as journal:  # released on a clean stop
        assert journal.verify().ok


async def test_the_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD,
        str(db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), STARTUP_TIMEOUT) == b"held\n"
        with pytest.raises(JournalLocked, match=f"another process \\(pid {holder.pid}\\)"):
            Journal.open(db)
    finally:
        holder.kill()
        await holder.wait()
    with Journal.open(db) as journal:
        assert journal.last_seq == 0
