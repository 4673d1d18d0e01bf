"""Real scale-out processes for the tests: ``python -m workspace engine`` and
``gateway`` as subprocesses, ready when they print their ready line (never after a
guessed sleep), killed (``-9``) or stopped (SIGTERM) on demand, never left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

READY_TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]


class Process:
    def __init__(
        self, name: str, argv: list[str], ready: str, program: list[str] | None = None
    ) -> None:
        """``program``: what runs ``argv`` (default ``python -m workspace``)."""
        self.name = name
        self.argv = argv
        self.program = program or ["-m", "workspace"]
        self.ready = ready
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self.ready_line = ""
        self._drain: asyncio.Task[None] | None = None
        self._printed = asyncio.Condition()

    async def start(self) -> Process:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.program,
            *self.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        try:
            await asyncio.wait_for(self._wait_ready(), READY_TIMEOUT_S)
        except BaseException:
            await self.kill()
            raise AssertionError(
                f"{self.name} did not start: " + " | ".join(self.output[-8:])
            ) from None
        self._drain = asyncio.get_running_loop().create_task(self._read_rest())
        return self

    async def _wait_ready(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise AssertionError(f"{self.name} exited")
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            if text.startswith(self.ready):
                self.ready_line = text
                return

    async def _read_rest(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.output.append(line.decode(errors="replace").rstrip())
            async with self._printed:
                self._printed.notify_all()

    async def printed(self, prefix: str, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until the process prints a line starting with ``prefix``: that line."""

        def found() -> str | None:
            return next((line for line in self.output if line.startswith(prefix)), None)

        async with self._printed:
            try:
                await asyncio.wait_for(self._printed.wait_for(found), timeout_s)
            except TimeoutError:
                raise AssertionError(
                    f"{self.name} did not print {prefix!r}: " + " | ".join(self.output[-8:])
                ) from None
        line = found()
        assert line is not None
        return line

    @property
    def url(self) -> str:
        """The ``ws://`` URL a gateway printed."""
        return self.ready_line.split()[1]

    async def exited(self, timeout_s: float = READY_TIMEOUT_S) -> int:
        """Wait until the process ends by itself: its exit code."""
        process, self.process = self.process, None
        assert process is not None
        code = await asyncio.wait_for(process.wait(), timeout_s)
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._drain, 5)
            self._drain = None
        return code

    async def kill(self) -> None:
        """``kill -9``."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM, and its exit code."""
        return await self._end(signal.SIGTERM)

    async def _end(self, signum: int) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        try:
            code = await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            code = await process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._drain, 5)
            self._drain = None
        return code


async def refused_start(process: Process) -> str:
    """Start ``process`` expecting it to refuse: what it said.  One that starts after
    all is killed before the test fails (a failing test left such engines running)."""
    try:
        await process.start()
    except AssertionError as refusal:
        return str(refusal)
    await process.kill()
    raise AssertionError(f"{process.name} started: {process.ready_line}")


def engine(bus: str, db: Path, *extra: str) -> Process:
    return Process("engine", ["engine", "--bus", bus, "--db", str(db), *extra], "engine ready")


def gateway(bus: str, *extra: str) -> Process:
    return Process("gateway", ["gateway", "--bus", bus, "--port", "0", *extra], "serving ")
