"""Strategy callbacks: isolation, errors, time budget, replay inline mode."""

from __future__ import annotations

import asyncio
import logging

import pytest

from workspace.engine.callbacks import TICK_ORIGIN, StrategyCallbacks, drain_listener
from workspace.engine.clock import SystemClock
from workspace.engine.hub import Hub
from workspace.engine.log_throttle import LogThrottle
from workspace.engine.metrics import EngineMetrics
from workspace.engine.tasks import TaskSet

from .fakes import ManualClock

LOG = logging.getLogger("workspace.engine.test")


def make(clock: object | None = None, budget_s: float = 0.1) -> StrategyCallbacks:
    clk = clock or SystemClock()
    return StrategyCallbacks(
        metrics=EngineMetrics(clk),  # type: ignore[arg-type]
        clock=clk,  # type: ignore[arg-type]
        logger=LOG,
        budget_s=budget_s,
    )


async def test_sync_and_async_callbacks_both_receive_ticks() -> None:
    callbacks, tasks = make(), TaskSet(LOG)
    got_sync: list[object] = []
    got_async: asyncio.Queue[object] = asyncio.Queue()

    async def on_tick_async(tick: object) -> None:
        await got_async.put(tick)

    callbacks.register("tick", got_sync.append)
    callbacks.register("tick", on_tick_async)
    callbacks.start(tasks)
    callbacks.dispatch("tick", "t1", symbol="BTCUSDT")
    assert await asyncio.wait_for(got_async.get(), timeout=5) == "t1"
    assert got_sync == ["t1"]
    assert await tasks.cancel_all() == []


async def test_a_raising_callback_is_reported_and_keeps_receiving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    callbacks, tasks = make(), TaskSet(LOG)
    seen: asyncio.Queue[object] = asyncio.Queue()

    def strategy(tick: object) -> None:
        seen.put_nowait(tick)
        raise ZeroDivisionError("bad maths")

    callbacks.register("fill", strategy)
    callbacks.start(tasks)
    with caplog.at_level(logging.ERROR, logger=LOG.name):
        callbacks.dispatch("fill", "f1")
        callbacks.dispatch("fill", "f2")
        assert await asyncio.wait_for(seen.get(), timeout=5) == "f1"
        assert await asyncio.wait_for(seen.get(), timeout=5) == "f2"
    assert "ZeroDivisionError: bad maths" in callbacks.errors[0].error
    assert "Traceback" in callbacks.errors[0].traceback
    # Throttled: the first error is logged with its traceback, the repeat is not.
    logged = [r for r in caplog.records if "raised" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    await tasks.cancel_all()


async def test_ticks_conflate_per_symbol_for_a_callback_that_is_behind() -> None:
    callbacks, tasks = make(), TaskSet(LOG)
    got: list[object] = []
    done = asyncio.Event()

    def strategy(tick: object) -> None:
        got.append(tick)
        if tick == "eth2":
            done.set()

    callbacks.register("tick", strategy)
    callbacks.start(tasks)
    # All dispatched before the drain task runs once: it is "behind".
    for tick in ("btc1", "btc2", "btc3"):
        callbacks.dispatch("tick", tick, symbol="BTCUSDT")
    callbacks.dispatch("tick", "eth1", symbol="ETHUSDT")
    callbacks.dispatch("tick", "eth2", symbol="ETHUSDT")
    await asyncio.wait_for(done.wait(), timeout=5)
    assert got == ["btc3", "eth2"]
    await tasks.cancel_all()


async def test_fills_are_never_conflated() -> None:
    callbacks, tasks = make(), TaskSet(LOG)
    got: list[object] = []
    done = asyncio.Event()

    def on_fill(fill: object) -> None:
        got.append(fill)
        if len(got) == 50:
            done.set()

    callbacks.register("fill", on_fill)
    callbacks.start(tasks)
    for n in range(50):
        callbacks.dispatch("fill", n, symbol="BTCUSDT")
    await asyncio.wait_for(done.wait(), timeout=5)
    assert got == list(range(50))
    await tasks.cancel_all()


async def test_symbol_filter_limits_which_ticks_a_callback_sees() -> None:
    callbacks = make()
    got: list[object] = []
    callbacks.register("tick", got.append, symbols=["btcusdt"])
    await callbacks.run_inline("tick", "eth", symbol="ETHUSDT")
    await callbacks.run_inline("tick", "btc", symbol="BTCUSDT")
    assert got == ["btc"]


async def test_a_callback_over_its_time_budget_is_counted() -> None:
    clock = ManualClock()
    callbacks = make(clock, budget_s=0.05)

    def slow(_tick: object) -> None:
        clock.advance(0.2)

    callbacks.register("tick", slow)
    await callbacks.run_inline("tick", "t", symbol="BTCUSDT")
    assert callbacks._metrics.callback_overruns == 1


async def test_inline_mode_runs_callbacks_in_registration_order_and_awaits_them() -> None:
    callbacks = make()
    order: list[str] = []

    async def first(_: object) -> None:
        await asyncio.sleep(0)
        order.append("first")

    callbacks.register("order", first)
    callbacks.register("order", lambda _: order.append("second"))
    await callbacks.run_inline("order", {})
    assert order == ["first", "second"]


async def test_the_triggering_tick_time_is_visible_inside_the_callback() -> None:
    callbacks = make()
    seen: list[float | None] = []
    callbacks.register("tick", lambda _: seen.append(TICK_ORIGIN.get()))
    await callbacks.run_inline("tick", "t", symbol="X", origin=12.5)
    assert seen == [12.5]
    assert TICK_ORIGIN.get() is None


async def test_registering_a_non_callable_is_an_error() -> None:
    with pytest.raises(TypeError):
        make().register("tick", 42)  # type: ignore[arg-type]


async def test_a_listener_that_raises_keeps_receiving() -> None:
    hub = Hub()
    sub = hub.subscribe()
    got: list[int] = []

    def listener(message: dict[str, int]) -> None:
        got.append(message["n"])
        if message["n"] == 1:
            raise RuntimeError("broken panel")
        if message["n"] == 2:
            sub.close()

    task = asyncio.create_task(drain_listener(sub, listener, LogThrottle(LOG, SystemClock())))
    hub.publish({"type": "ALERT", "n": 1})
    hub.publish({"type": "ALERT", "n": 2})
    await asyncio.wait_for(task, timeout=5)
    assert got == [1, 2]


async def test_task_set_cancels_every_task_and_names_them() -> None:
    tasks = TaskSet(LOG)
    never = asyncio.Event()
    tasks.spawn(never.wait(), name="engine.test.one")
    tasks.spawn(never.wait(), name="engine.test.two")
    assert tasks.names == ["engine.test.one", "engine.test.two"]
    assert await tasks.cancel_all(grace_s=5) == []
    assert len(tasks) == 0


async def test_direct_mode_calls_plain_functions_at_once_and_async_ones_in_tasks() -> None:
    clk = SystemClock()
    callbacks = StrategyCallbacks(
        metrics=EngineMetrics(clk), clock=clk, logger=LOG, direct_sync=True
    )
    tasks = TaskSet(LOG)
    direct: list[object] = []
    queued: asyncio.Queue[object] = asyncio.Queue()

    async def later(tick: object) -> None:
        await queued.put(tick)

    def broken(_: object) -> None:
        raise ValueError("direct but contained")

    callbacks.register("tick", direct.append)
    callbacks.register("tick", broken)
    callbacks.register("tick", later)
    callbacks.start(tasks)
    callbacks.dispatch("tick", "t1", symbol="BTCUSDT")
    assert direct == ["t1"]  # before any task ran
    assert len(callbacks.errors) == 1
    assert await asyncio.wait_for(queued.get(), timeout=5) == "t1"
    await tasks.cancel_all()


class LoopTurns:
    """Counts event-loop turns with a callback that reschedules itself."""

    def __init__(self) -> None:
        self.count = 0
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


async def test_a_callback_backlog_is_drained_over_several_loop_turns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import workspace.engine.callbacks as module

    monkeypatch.setattr(module, "TURN_BUDGET_S", 0.0)  # yield after every call
    callbacks, tasks = make(), TaskSet(LOG)
    turns = LoopTurns()
    seen: list[tuple[str, int]] = []
    done = asyncio.Event()

    def on_tick(tick: object) -> None:
        seen.append((str(tick), turns.count))
        if len(seen) == 20:
            done.set()

    callbacks.register("tick", on_tick)
    callbacks.start(tasks)
    for n in range(20):  # distinct symbols: nothing conflates
        callbacks.dispatch("tick", f"t{n}", symbol=f"S{n}")
    await asyncio.wait_for(done.wait(), timeout=5)
    turns.stop()
    assert [tick for tick, _ in seen] == [f"t{n}" for n in range(20)]
    assert len({turn for _, turn in seen}) == 20
    assert await tasks.cancel_all() == []


async def test_a_listener_backlog_is_drained_over_several_loop_turns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import workspace.engine.callbacks as module

    monkeypatch.setattr(module, "TURN_BUDGET_S", 0.0)
    hub = Hub()
    subscription = hub.subscribe()
    for n in range(10):
        hub.publish({"type": "ORDER_UPDATE", "n": n})
    turns = LoopTurns()
    seen: list[tuple[object, int]] = []

    def listener(message: dict[str, object]) -> None:
        seen.append((message["n"], turns.count))
        if len(seen) == 10:
            subscription.close()

    await asyncio.wait_for(
        drain_listener(subscription, listener, LogThrottle(LOG, SystemClock())), timeout=5
    )
    turns.stop()
    assert [n for n, _ in seen] == list(range(10))
    assert len({turn for _, turn in seen}) == 10
