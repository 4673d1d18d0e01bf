"""``LocalRedis``: a private ``redis-server`` in a folder of its own, on a free port of
127.0.0.1, with the append-only file on (tests, benchmarks, trying the scale-out on
one machine).  Debian's ``redis-server`` (``scripts/bootstrap.sh`` installs it).

Started in the foreground (``--daemonize no``) and watched through its log on stdout:
``start()`` returns when the server says it accepts connections, never after a guessed
sleep.  ``kill()`` is a crash (SIGKILL: what reached the append-only file survives);
``start()`` again restarts it on the same folder and port, reloading that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path

READY = b"Ready to accept connections"


class LocalRedisError(RuntimeError):
    pass


class LocalRedis:
    def __init__(self, folder: str | Path, *, port: int = 0, appendfsync: str = "everysec") -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.log: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self, timeout_s: float = 20.0) -> LocalRedis:
        if self._process is not None:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise LocalRedisError(
                "redis-server is not installed (bash scripts/bootstrap.sh installs Debian's)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
            "--protected-mode", "yes",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._process = process
        try:
            await asyncio.wait_for(self._wait_ready(process), timeout_s)
        except BaseException:
            await self.kill()
            raise
        self._drain = asyncio.get_running_loop().create_task(
            self._read_log(process), name="local-redis.log"
        )
        return self

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise LocalRedisError("redis-server exited: " + " | ".join(self.log[-5:]))
            self.log.append(line.decode(errors="replace").rstrip())
            if READY in line:
                return

    async def _read_log(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.log.append(line.decode(errors="replace").rstrip())
            del self.log[:-200]

    async def stop(self) -> None:
        """A clean shutdown (SIGTERM: redis-server flushes its append-only file)."""
        await self._end(kill=False)

    async def kill(self) -> None:
        """A crash: SIGKILL."""
        await self._end(kill=True)

    async def _end(self, *, kill: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if kill:
                process.kill()
            else:
                process.terminate()
        await process.wait()
        drain, self._drain = self._drain, None
        if drain is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def __aenter__(self) -> LocalRedis:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
