"""The coalescer: at most one flush per interval, latest state wins, errors reported."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from widgets.throttle import Coalescer


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """Records call_later requests; the test decides when time passes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[tuple[float, Callable[[], None], FakeHandle]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        self.calls.append((delay, callback, handle))
        return handle

    def run_due(self) -> None:
        delay, callback, handle = self.calls[-1]
        self.now += delay
        if not handle.cancelled:
            callback()


def make(flushes: list[float]) -> tuple[Coalescer, ManualScheduler]:
    scheduler = ManualScheduler()
    coalescer = Coalescer(
        lambda: flushes.append(scheduler.now), 0.1, scheduler=scheduler, clock=lambda: scheduler.now
    )
    return coalescer, scheduler


def test_first_mark_flushes_on_the_next_loop_iteration() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    coalescer.mark()
    assert scheduler.calls[0][0] == 0.0
    scheduler.run_due()
    assert flushes == [0.0]


def test_many_marks_before_a_flush_cost_one_flush() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    for _ in range(1000):
        coalescer.mark()
    assert len(scheduler.calls) == 1
    scheduler.run_due()
    assert len(flushes) == 1
    assert coalescer.marks == 1000


def test_a_mark_right_after_a_flush_waits_for_the_rest_of_the_interval() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    coalescer.mark()
    scheduler.run_due()
    scheduler.now += 0.03
    coalescer.mark()
    assert scheduler.calls[-1][0] == pytest.approx(0.07)
    scheduler.run_due()
    assert flushes == [0.0, pytest.approx(0.1)]


def test_flushes_never_exceed_ten_per_second_under_constant_marking() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    while scheduler.now < 10.0:
        coalescer.mark()
        scheduler.run_due()
        scheduler.now += 0.001  # a message every millisecond
    gaps = [b - a for a, b in itertools.pairwise(flushes)]
    assert min(gaps) >= 0.1 - 1e-9
    assert len(flushes) <= 101


def test_close_cancels_the_pending_flush_and_ignores_later_marks() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    coalescer.mark()
    coalescer.close()
    assert scheduler.calls[0][2].cancelled
    coalescer.mark()
    assert len(scheduler.calls) == 1
    assert flushes == []


def test_flush_now_runs_at_once_and_cancels_the_scheduled_one() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)
    coalescer.mark()
    coalescer.flush_now()
    assert flushes == [0.0]
    assert scheduler.calls[0][2].cancelled
    assert not coalescer.pending


def test_an_error_in_the_flush_goes_to_on_error() -> None:
    errors: list[BaseException] = []

    def broken() -> None:
        raise RuntimeError("boom")

    coalescer = Coalescer(broken, 0.1, scheduler=ManualScheduler(), on_error=errors.append)
    coalescer.flush_now()
    assert [str(e) for e in errors] == ["boom"]


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Coalescer(lambda: None, -1)


async def test_default_scheduler_uses_the_running_loop() -> None:
    done = asyncio.Event()
    coalescer = Coalescer(done.set, 0.1)
    coalescer.mark()
    await asyncio.wait_for(done.wait(), 5)
    assert coalescer.flushes == 1


def test_an_urgent_mark_comes_forward_to_the_short_interval() -> None:
    """A panel that flushes every 0.5 s (the ticket) still shows what the user waits
    for (the balance a fill moved) within 0.1 s of its last flush."""
    flushes: list[float] = []
    scheduler = ManualScheduler()
    coalescer = Coalescer(
        lambda: flushes.append(scheduler.now), 0.5, scheduler=scheduler, clock=lambda: scheduler.now
    )
    coalescer.mark()
    scheduler.run_due()  # the first flush, at once
    scheduler.now = 0.02
    coalescer.mark()  # a price: waits for the panel's own interval
    assert scheduler.calls[-1][0] == pytest.approx(0.48)
    coalescer.mark_urgent()  # the wallet: brought forward, the pending flush replaced
    assert scheduler.calls[-2][2].cancelled
    assert scheduler.calls[-1][0] == pytest.approx(0.08)
    coalescer.mark_urgent()  # already due that soon: nothing more scheduled
    coalescer.mark()
    assert len(scheduler.calls) == 3
    scheduler.run_due()
    assert flushes == [0.0, pytest.approx(0.1)]
    assert coalescer.flushes == 2


def test_an_urgent_mark_on_a_fast_panel_is_an_ordinary_mark() -> None:
    flushes: list[float] = []
    coalescer, scheduler = make(flushes)  # interval 0.1
    coalescer.mark()
    scheduler.run_due()
    scheduler.now = 0.03
    coalescer.mark_urgent()
    assert scheduler.calls[-1][0] == pytest.approx(0.07)
    coalescer.close()
    coalescer.mark_urgent()  # closed: nothing
    assert len(scheduler.calls) == 2
