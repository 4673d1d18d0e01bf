"""``FreshCall``: callers arriving together share a call, and no caller ever gets the
result of a call that started before it asked (a gateway's account snapshots)."""

from __future__ import annotations

import asyncio

import pytest

from workspace.scaleout.fresh_call import FreshCall

TIMEOUT_S = 10.0


class Engine:
    """A call whose end the test decides: each call records that it started (and
    after how many askers), then waits for its own go."""

    def __init__(self) -> None:
        self.asked = 0
        self.started: list[int] = []  # askers so far, at each call's start
        self.go: list[asyncio.Event] = []
        self.began = asyncio.Condition()
        self.fail: Exception | None = None
        self.arrived: asyncio.Queue[int] = asyncio.Queue()

    async def call(self) -> int:
        number = len(self.started)
        go = asyncio.Event()
        self.go.append(go)
        async with self.began:
            self.started.append(self.asked)
            self.began.notify_all()
        await go.wait()
        if self.fail is not None:
            raise self.fail
        return number

    async def until_started(self, calls: int) -> None:
        async with asyncio.timeout(TIMEOUT_S), self.began:
            await self.began.wait_for(lambda: len(self.started) >= calls)


async def ask(fresh: FreshCall[int], engine: Engine) -> tuple[int, int]:
    """(the asker's number, the call it got)"""
    engine.asked += 1
    number = engine.asked
    # nothing awaits between this and fresh() taking its place among the waiters
    engine.arrived.put_nowait(number)
    return number, await fresh()


async def arrivals(engine: Engine, count: int) -> None:
    """Until ``count`` more askers are waiting on the call."""
    async with asyncio.timeout(TIMEOUT_S):
        for _ in range(count):
            await engine.arrived.get()


async def test_one_caller_gets_its_own_call() -> None:
    engine = Engine()
    fresh = FreshCall(engine.call)
    task = asyncio.create_task(ask(fresh, engine))
    await engine.until_started(1)
    engine.go[0].set()
    assert await asyncio.wait_for(task, TIMEOUT_S) == (1, 0)
    assert (fresh.calls, fresh.asked, fresh.waiting) == (1, 1, 0)


async def test_callers_during_a_call_share_the_next_one_and_never_an_older_one() -> None:
    engine = Engine()
    fresh = FreshCall(engine.call)
    first = asyncio.create_task(ask(fresh, engine))
    await engine.until_started(1)  # call 0 is in flight
    rest = [asyncio.create_task(ask(fresh, engine)) for _ in range(30)]
    await arrivals(engine, 31)
    assert fresh.waiting == 31
    assert fresh.calls == 1  # the 30 wait: none of them may take call 0
    engine.go[0].set()
    await engine.until_started(2)
    late = asyncio.create_task(ask(fresh, engine))  # asked while call 1 is in flight
    await arrivals(engine, 1)
    engine.go[1].set()
    await engine.until_started(3)
    engine.go[2].set()
    results = await asyncio.wait_for(asyncio.gather(first, *rest, late), TIMEOUT_S)
    assert [call for _, call in results] == [0] + [1] * 30 + [2]
    # every asker got a call that started after it asked
    for asker, call in results:
        assert engine.started[call] >= asker
    assert (fresh.calls, fresh.asked, fresh.waiting) == (3, 32, 0)


async def test_a_failure_goes_to_every_caller_of_that_call_only() -> None:
    engine = Engine()
    fresh = FreshCall(engine.call)
    engine.fail = RuntimeError("engine unavailable")
    callers = [asyncio.create_task(ask(fresh, engine)) for _ in range(3)]
    await engine.until_started(1)
    engine.go[0].set()
    for caller in callers:
        with pytest.raises(RuntimeError, match="engine unavailable"):
            await asyncio.wait_for(caller, TIMEOUT_S)
    engine.fail = None
    after = asyncio.create_task(ask(fresh, engine))
    await engine.until_started(2)
    engine.go[1].set()
    assert await asyncio.wait_for(after, TIMEOUT_S) == (4, 1)


async def test_a_cancelled_caller_leaves_the_call_to_the_others() -> None:
    engine = Engine()
    fresh = FreshCall(engine.call)
    leaving = asyncio.create_task(ask(fresh, engine))
    staying = asyncio.create_task(ask(fresh, engine))
    await engine.until_started(1)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    engine.go[0].set()
    assert await asyncio.wait_for(staying, TIMEOUT_S) == (2, 0)
    assert fresh.waiting == 0


async def test_cancel_stops_the_calls_in_flight_and_queued() -> None:
    engine = Engine()
    fresh = FreshCall(engine.call)
    first = asyncio.create_task(ask(fresh, engine))
    await engine.until_started(1)
    queued = asyncio.create_task(ask(fresh, engine))
    await arrivals(engine, 2)
    assert fresh.waiting == 2
    fresh.cancel()
    for caller in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, TIMEOUT_S)
    assert len(engine.started) == 1  # the queued call never went out
