"""``ws.subscribe(...)`` works with and without ``await``: it returns this handle to a
task already running on the loop.  Awaited, it raises like a coroutine would; not
awaited, a failure is logged (so a typo in a symbol is never silent) instead of
surfacing as asyncio's "exception was never retrieved"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PendingCall(Generic[T]):
    def __init__(self, task: asyncio.Task[T], description: str, logger: logging.Logger) -> None:
        self._task = task
        self._description = description
        self._log = logger
        self._awaited = False
        task.add_done_callback(self._finished)

    def __await__(self) -> Generator[Any, None, T]:
        self._awaited = True
        return self._task.__await__()

    def _finished(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            return
        error = task.exception()  # marks it retrieved either way
        if error is not None and not self._awaited:
            self._log.error("%s failed: %s", self._description, error)

    def done(self) -> bool:
        return self._task.done()

    def result(self) -> T:
        return self._task.result()

    @property
    def task(self) -> asyncio.Task[T]:
        return self._task

    def __repr__(self) -> str:
        if not self._task.done():
            state = "pending"
        elif self._task.cancelled():
            state = "cancelled"
        elif self._task.exception() is not None:
            state = f"failed: {self._task.exception()}"
        else:
            state = f"done: {self._task.result()!r}"
        return f"<{self._description}: {state}>"
