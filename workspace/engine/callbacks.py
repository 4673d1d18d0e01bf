"""Strategy callbacks (``on_tick``, ``on_fill``, ``on_order``) and message listeners.

Live, each callback drains its own bounded queue in a task of its own, so a slow, sync
or async callback never delays the engine or another callback (ticks are conflated per
symbol for a callback that is behind; fills and orders never are).  In replay the
engine awaits the callbacks inline instead, in order, which is what makes a replay
deterministic.  An exception is caught, logged with its traceback (throttled) and kept
in ``errors``; a call over its time budget is counted and reported.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from workspace.engine.clock import Clock
from workspace.engine.log_throttle import LogThrottle
from workspace.engine.metrics import EngineMetrics
from workspace.engine.tasks import TaskSet
from workspace.protocol.conflation import ConflatingQueue, SubscriptionClosed

CallbackKind = Literal["tick", "fill", "order"]
StrategyFunction = Callable[[Any], object]

# When the tick that triggered the running callback arrived (monotonic seconds).  A
# context variable, not an attribute, because concurrent async callbacks interleave;
# the engine reads it to measure tick-to-order-event latency of orders a strategy places.
TICK_ORIGIN: ContextVar[float | None] = ContextVar("workspace_tick_origin", default=None)

TURN_BUDGET_S = 0.002
"""A queue drain yields to the loop after this much work: getting an item that is
already there does not suspend, so a backlog would otherwise run in one loop turn (and
hold the feed, the timers and everyone else)."""


@dataclass(frozen=True, slots=True)
class CallbackError:
    """A strategy callback raised; what the user is shown."""

    callback: str
    kind: str
    error: str
    traceback: str
    timestamp: int

    def __str__(self) -> str:
        return f"{self.kind} callback {self.callback} raised {self.error}"


@dataclass(eq=False, slots=True)
class Callback:
    function: StrategyFunction
    kind: CallbackKind
    symbols: frozenset[str] | None
    queue: ConflatingQueue[tuple[object, float | None]]
    name: str = field(default="")
    direct: bool = False  # called right away from dispatch, no queue or task

    def wants(self, symbol: str | None) -> bool:
        return self.symbols is None or symbol is None or symbol in self.symbols


class StrategyCallbacks:
    def __init__(
        self,
        *,
        metrics: EngineMetrics,
        clock: Clock,
        logger: logging.Logger,
        budget_s: float = 0.1,
        max_pending: int = 10_000,
        keep_errors: int = 100,
        direct_sync: bool = False,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._log = logger
        self._throttle = LogThrottle(logger, clock)
        self._budget_s = budget_s
        self._max_pending = max_pending
        self._direct_sync = direct_sync
        self._callbacks: list[Callback] = []
        self._tasks: TaskSet | None = None
        self.errors: deque[CallbackError] = deque(maxlen=keep_errors)

    # -- registration --------------------------------------------------------------
    def register(
        self,
        kind: CallbackKind,
        function: StrategyFunction,
        symbols: Collection[str] | None = None,
    ) -> Callback:
        if not callable(function):
            raise TypeError(f"{function!r} is not callable")
        callback = Callback(
            function=function,
            kind=kind,
            symbols=None if not symbols else frozenset(s.upper() for s in symbols),
            queue=ConflatingQueue(self._max_pending),
            name=getattr(function, "__qualname__", repr(function)),
            # Opt-in: a plain function may run straight from the feed's callback (lowest
            # latency); it then delays the feed while it runs, and is never conflated.
            direct=self._direct_sync and not inspect.iscoroutinefunction(function),
        )
        self._callbacks.append(callback)
        if self._tasks is not None:
            self._spawn(callback)
        return callback

    def unregister(self, callback: Callback) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)
            callback.queue.close()  # its drain task ends on its own

    def wants(self, kind: CallbackKind) -> bool:
        return any(callback.kind == kind for callback in self._callbacks)

    # -- live mode -----------------------------------------------------------------
    def start(self, tasks: TaskSet) -> None:
        self._tasks = tasks
        for callback in self._callbacks:
            self._spawn(callback)

    def stop(self) -> None:
        """Forget the task set; the tasks themselves are cancelled by their owner.
        Fresh queues let the same callbacks run again after a restart."""
        self._tasks = None
        for callback in self._callbacks:
            callback.queue.close()
            callback.queue = ConflatingQueue(self._max_pending)

    def dispatch(
        self,
        kind: CallbackKind,
        payload: object,
        symbol: str | None = None,
        origin: float | None = None,
    ) -> None:
        """Queue ``payload`` for every matching callback (live mode, never blocks)."""
        for callback in self._callbacks:
            if callback.kind == kind and callback.wants(symbol):
                if callback.direct:
                    self._call_now(callback, payload, origin)
                    continue
                # Ticks conflate per symbol: a strategy that is behind wants the latest.
                key = symbol if kind == "tick" else None
                if not callback.queue.put((payload, origin), key) and callback.queue.overflowed:
                    self._log.error(
                        "%s callback %s fell behind and was stopped", kind, callback.name
                    )

    def _spawn(self, callback: Callback) -> None:
        assert self._tasks is not None
        if callback.direct:
            return  # no queue to drain
        self._tasks.spawn(self._drain(callback), name=f"engine.callback.{callback.name}")

    async def _drain(self, callback: Callback) -> None:
        queue = callback.queue
        turn = Turn()
        while True:
            if not len(queue):
                turn.restart()  # get() suspends: a fresh loop turn starts after it
            try:
                payload, origin = await queue.get()
            except SubscriptionClosed:
                return
            await self._invoke(callback, payload, origin)
            await turn.maybe_yield()  # meanwhile, ticks conflate in the queue

    # -- replay mode ---------------------------------------------------------------
    async def run_inline(
        self,
        kind: CallbackKind,
        payload: object,
        symbol: str | None = None,
        origin: float | None = None,
    ) -> None:
        for callback in tuple(self._callbacks):
            if callback.kind == kind and callback.wants(symbol):
                await self._invoke(callback, payload, origin)

    # -- both ----------------------------------------------------------------------
    async def _invoke(self, callback: Callback, payload: object, origin: float | None) -> None:
        token = TICK_ORIGIN.set(origin)
        started = self._clock.monotonic()
        try:
            result = callback.function(payload)
            if inspect.isawaitable(result):
                await result
        except Exception as error:  # a strategy bug must not stop the engine
            self._report_error(callback, error)
        finally:
            TICK_ORIGIN.reset(token)
            self._timed(callback, started)

    def _call_now(self, callback: Callback, payload: object, origin: float | None) -> None:
        token = TICK_ORIGIN.set(origin)
        started = self._clock.monotonic()
        try:
            result = callback.function(payload)
            if inspect.isawaitable(result) and self._tasks is not None:
                # A plain function that returned an awaitable: finish it in a task.
                self._tasks.spawn(
                    self._finish(callback, result), name=f"engine.callback.{callback.name}"
                )
        except Exception as error:  # a strategy bug must not stop the engine
            self._report_error(callback, error)
        finally:
            TICK_ORIGIN.reset(token)
            self._timed(callback, started)

    async def _finish(self, callback: Callback, awaitable: Awaitable[object]) -> None:
        try:
            await awaitable
        except Exception as error:
            self._report_error(callback, error)

    def _timed(self, callback: Callback, started: float) -> None:
        elapsed = self._clock.monotonic() - started
        self._metrics.callback_ms.add(elapsed * 1000.0)
        if elapsed > self._budget_s:
            self._metrics.callback_overruns += 1
            self._throttle.log(
                logging.WARNING,
                ("overrun", callback.name),
                "%s callback %s took %.1f ms (budget %.1f ms)",
                callback.kind,
                callback.name,
                elapsed * 1000.0,
                self._budget_s * 1000.0,
            )

    def _report_error(self, callback: Callback, error: Exception) -> None:
        self._metrics.callback_errors += 1
        record = CallbackError(
            callback=callback.name,
            kind=callback.kind,
            error=f"{type(error).__name__}: {error}",
            traceback="".join(traceback.format_exception(error)),
            timestamp=self._clock.time_ms(),
        )
        self.errors.append(record)
        self._throttle.log(
            logging.ERROR,
            ("error", callback.name, type(error)),
            "%s callback %s raised %s; the engine keeps running",
            callback.kind,
            callback.name,
            record.error,
            exc_info=error,
        )

    def __len__(self) -> int:
        return len(self._callbacks)


class Turn:
    """Time spent in the current loop turn by one consumer; ``maybe_yield`` gives
    the loop back once it exceeds ``TURN_BUDGET_S``."""

    __slots__ = ("_started",)

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def restart(self) -> None:
        self._started = time.perf_counter()

    async def maybe_yield(self) -> None:
        if time.perf_counter() - self._started >= TURN_BUDGET_S:
            await asyncio.sleep(0)  # one loop turn: the feed and the timers run
            self._started = time.perf_counter()


async def drain_listener(
    subscription: Any,  # engine_api.Subscription; Any avoids an import cycle with hub
    listener: Callable[[Any], object],
    throttle: LogThrottle,
) -> None:
    """Feed a subscription into a plain or async listener until it is closed."""
    name = getattr(listener, "__qualname__", repr(listener))
    turn = Turn()
    while True:
        if not getattr(subscription, "pending", 1):
            turn.restart()  # the next get() suspends: a fresh loop turn starts after it
        try:
            message = await anext(subscription)
        except StopAsyncIteration:
            return
        try:
            result = listener(message)
            if inspect.isawaitable(result):
                await result
        except Exception as error:  # a broken panel must not stop the stream
            throttle.log(
                logging.ERROR, ("listener", name), "listener %s raised", name, exc_info=error
            )
        await turn.maybe_yield()
