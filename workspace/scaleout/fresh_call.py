"""One call shared by everyone who asks while it is being made, never an older one.

A gateway answers each new connection with the engine's snapshot of the account, so
that the connection sees every order its user was already told about (an order
placed through another gateway a moment ago included).  Before, each connection sent
its own snapshot command: a reconnect storm of 300 connections of one user queued 300
snapshots on that user's engine.  :class:`FreshCall` keeps the guarantee with at most
two calls at a time, however many ask:

- a caller never gets the result of a call that started before it asked (that call
  may have been answered before the order the caller knows of existed);
- callers that ask while a call is in flight share the *next* call, made as soon as
  the one in flight ends; callers that ask before that next call starts join it.

So N callers arriving together cost two calls, not N.  The outcome (a result or an
exception) goes to every caller of that call.  A caller that is cancelled leaves the
call running for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FreshCall(Generic[T]):
    """``await fresh()``: the result of a call of ``call`` that started after this
    caller asked, shared with everyone who asked before it started."""

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self._running: asyncio.Task[T] | None = None
        self._next: asyncio.Task[T] | None = None
        self.calls = 0
        """Calls made (snapshot commands sent, for a gateway)."""
        self.asked = 0
        """Callers served (connections that wanted a snapshot)."""
        self.waiting = 0
        """Callers waiting now."""

    async def __call__(self) -> T:
        self.asked += 1
        task = self._next
        if task is None:
            task = asyncio.get_running_loop().create_task(self._after(self._running))
            task.add_done_callback(_observed)
            self._next = task
        self.waiting += 1
        try:
            return await asyncio.shield(task)
        finally:
            self.waiting -= 1

    async def _after(self, before: asyncio.Task[T] | None) -> T:
        if before is not None:
            await asyncio.wait([before])  # its outcome belongs to its own callers
        # from here on this call is in flight: whoever asks now waits for the next one
        me = asyncio.current_task()
        self._running, self._next = me, None
        try:
            self.calls += 1
            return await self._call()
        finally:
            if self._running is me:
                self._running = None

    def cancel(self) -> None:
        """Stop the calls in flight and queued (their callers get ``CancelledError``)."""
        for task in (self._running, self._next):
            if task is not None:
                task.cancel()
        self._running = self._next = None


def _observed(task: asyncio.Task[object]) -> None:
    # every caller may have been cancelled: the outcome is then nobody's, and asyncio
    # would log an exception "never retrieved"
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


__all__ = ["FreshCall"]
