"""The engine's background tasks: each one named, owned here, and cancelled with a
timeout on stop, so ``stop()`` provably leaves nothing running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, coro: Coroutine[Any, Any, T], name: str, *, report_errors: bool = True
    ) -> asyncio.Task[T]:
        """Run ``coro`` as a named task owned here.  ``report_errors=False`` when the
        caller hands the task to someone who will see its outcome."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished if report_errors else self._tasks.discard)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # A background task must never die silently.
            self._log.error("task %s failed", task.get_name(), exc_info=error)

    async def cancel_all(self, grace_s: float = 5.0) -> list[str]:
        """Cancel every task and wait up to ``grace_s``; returns the names of the tasks
        that did not finish in time (empty when all is clean)."""
        # Not the caller itself (e.g. stop() awaited from a strategy callback's task).
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        _done, pending = await asyncio.wait(tasks, timeout=grace_s)
        stuck = sorted(task.get_name() for task in pending)
        if stuck:
            self._log.error("tasks did not stop within %.1f s: %s", grace_s, ", ".join(stuck))
        return stuck

    @property
    def names(self) -> list[str]:
        return sorted(task.get_name() for task in self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
