"""Notices fade after NOTICE_TTL_S, timed by the panel's flush clock; errors stay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.widgets.panel_session import ScriptedSession, market
from widgets.panel import NOTICE_TTL_S
from widgets.tickers import TickersPanel


class FakeTime:
    """An injected clock and scheduler: timers run only when the test advances time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[list[Any]] = []  # [due, callback, cancelled]

    def clock(self) -> float:
        return self.now

    def scheduler(self, delay: float, callback: Callable[[], None]) -> Any:
        timer = [self.now + delay, callback, False]
        self.timers.append(timer)

        class Handle:
            def cancel(self) -> None:
                timer[2] = True

        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [t for t in self.timers if not t[2] and t[0] <= self.now]:
            for timer in due:
                timer[2] = True
                timer[1]()


def subscribed(command: dict[str, Any]) -> dict[str, Any]:
    return {"type": "SUBSCRIBED", "symbol": command["symbol"]}


async def test_a_notice_clears_after_a_few_seconds_but_an_error_stays() -> None:
    fake = FakeTime()
    session = ScriptedSession({"subscribe_ticker": subscribed})
    panel = TickersPanel(session, clock=fake.clock, scheduler=fake.scheduler)
    await asyncio.wait_for(panel.add("SOLUSDT"), 10)
    assert panel.notice == "subscribed SOLUSDT"
    panel.error = "remove: boom"

    fake.advance(NOTICE_TTL_S / 2)
    session.emit(market("SOLUSDT", 150.25, 1_000))  # a flush before the notice is due
    fake.advance(0)
    assert panel.notice == "subscribed SOLUSDT"

    fake.advance(NOTICE_TTL_S / 2)  # no market traffic needed: the panel's own timer
    assert panel.notice == ""
    assert panel.error == "remove: boom"
    panel.close()


async def test_a_new_notice_restarts_the_countdown() -> None:
    fake = FakeTime()
    session = ScriptedSession({"subscribe_ticker": subscribed})
    panel = TickersPanel(session, clock=fake.clock, scheduler=fake.scheduler)
    await asyncio.wait_for(panel.add("SOLUSDT"), 10)
    fake.advance(NOTICE_TTL_S - 1)
    await asyncio.wait_for(panel.add("BNBUSDT"), 10)
    fake.advance(1.5)
    assert panel.notice == "subscribed BNBUSDT"
    fake.advance(NOTICE_TTL_S)
    assert panel.notice == ""
    panel.close()
