"""Status panel: feed state and source from STATUS, metrics, server clients."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from tests.widgets.panel_session import ScriptedSession, market
from widgets import StatusPanel
from widgets.state import StatusState


def status(feed: str = "connected", **extra: Any) -> dict[str, Any]:
    return {"type": "STATUS", "feed": feed, "source": "sim", "timestamp": 5, **extra}


def test_status_message_sets_feed_state_and_source() -> None:
    state = StatusState()
    assert state.apply(status("reconnecting", reason="closed 1006"), received_ms=1_000)
    assert (state.feed, state.source, state.reason) == ("reconnecting", "sim", "closed 1006")


def test_engine_status_metrics_and_client_count_are_read() -> None:
    state = StatusState()
    state.apply(status(clients=3, metrics={"feed_latency_ms": 12.5, "loop_lag_ms": 0.4}), 1)
    assert state.feed_latency_ms == 12.5
    assert state.clients == 3
    assert state.extra["loop_lag_ms"] == 0.4


def test_any_message_moves_the_last_message_time() -> None:
    state = StatusState()
    assert not state.apply(market("BTCUSDT", 1.0, 777), received_ms=2_000)
    assert (state.last_message_ms, state.last_event_ms, state.messages) == (2_000, 777, 1)


def test_metrics_dict_from_the_workspace_fills_feed_state_too() -> None:
    state = StatusState()
    state.apply_metrics({"feed_state": "down", "feed_latency_p50_ms": 3.0, "server_clients": 0})
    assert (state.feed, state.feed_latency_ms, state.clients) == ("down", 3.0, 0)


async def test_panel_polls_the_given_metrics_source_at_start() -> None:
    panel = StatusPanel(ScriptedSession(), metrics=lambda: {"feed_latency_ms": 4.0, "clients": 2})
    panel.flush()
    assert panel.status["feed_latency_ms"] == 4.0
    assert panel.status["clients"] == 2
    panel.close()


async def test_panel_shows_status_pushed_by_the_session() -> None:
    session = ScriptedSession()
    panel = StatusPanel(session)
    session.emit(status("down", reason="refused"))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.status["feed"] == "down"
    assert panel.status["reason"] == "refused"
    assert panel.status["last_message_ms"] > 0
    panel.close()


async def test_a_broken_metrics_source_is_shown_not_raised() -> None:
    def broken() -> dict[str, Any]:
        raise KeyError("feed")

    panel = StatusPanel(ScriptedSession(), metrics=broken)
    assert panel.error.startswith("metrics: KeyError")
    panel.close()


async def test_session_metrics_property_is_used_when_present() -> None:
    class WithMetrics(ScriptedSession):
        metrics: ClassVar[dict[str, float]] = {"feed_latency_ms": 9.0}

    panel = StatusPanel(WithMetrics())
    panel.flush()
    assert panel.status["feed_latency_ms"] == 9.0
    panel.close()
