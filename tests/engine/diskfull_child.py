"""Child of the disk-full test: a workspace whose journal lives on a small tmpfs.

Run inside ``unshare --user --map-root-user --mount`` (a mount namespace of its own,
where an unprivileged user may mount): ``python diskfull_child.py DIR`` mounts an 8 MB
tmpfs on DIR, starts a workspace on the simulator with its journal there, serves it on
127.0.0.1, prints ``serving URL`` and obeys one command per stdin line:

- ``fill``: write a file on the tmpfs until the disk says ENOSPC; prints ``full N``;
- ``free``: delete that file; prints ``freed``;
- ``copy DEST``: a consistent copy of the journal (SQLite's backup API) to DEST, which
  is outside the tmpfs; prints ``copied``;
- ``restart``: stop the workspace and start a new one on the same journal; prints
  ``serving URL``;
- ``stop``: stop and exit.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from workspace import Workspace
from workspace.engine.config import EngineConfig
from workspace.sim import SimConfig

SIM = SimConfig(symbols=("BTCUSDT",), seed=3, ticker_interval_s=0.05, trade_interval_s=0.05)
ENGINE = EngineConfig(journal_probe_s=0.05, status_interval_s=0.5)


async def start(db: Path) -> tuple[Workspace, str]:
    workspace = Workspace(feed="sim", db=db, sim=SIM, engine=ENGINE)
    await workspace.start()
    server = await workspace.serve(port=0)
    return workspace, f"ws://127.0.0.1:{server.port}/api/ws/realtime"


def fill(path: Path) -> int:
    written = 0
    chunk = b"\0" * 65536
    with path.open("wb") as out:
        while True:
            try:
                out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
            written += len(chunk)
    # leave nothing a single small write could still squeeze into
    while True:
        try:
            with path.open("ab") as out:
                out.write(b"\0" * 512)
            written += 512
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            return written


def copy(db: Path, dest: Path) -> None:
    source = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


async def main(mount: Path) -> None:
    db = mount / "journal.sqlite"
    filler = mount / "filler"
    workspace, url = await start(db)
    print("serving", url, flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        command, _, argument = line.partition(" ")
        if command == "fill":
            print("full", fill(filler), flush=True)
        elif command == "free":
            filler.unlink()
            print("freed", flush=True)
        elif command == "copy":
            copy(db, Path(argument))
            print("copied", flush=True)
        elif command == "restart":
            await workspace.stop()
            workspace, url = await start(db)
            print("serving", url, flush=True)
        else:
            await workspace.stop()
            print("stopped", flush=True)
            return


if __name__ == "__main__":
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", sys.argv[1]], check=True)
    asyncio.run(main(Path(sys.argv[1])))
