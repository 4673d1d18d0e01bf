"""Engine metrics: latency windows, rates, the snapshot dict."""

from __future__ import annotations

import asyncio

from workspace.engine.clock import DataClock
from workspace.engine.metrics import EngineMetrics, LatencyWindow, RateMeter, watch_loop_lag

from .fakes import ManualClock


def test_percentiles_use_nearest_rank() -> None:
    window = LatencyWindow()
    for ms in range(1, 101):
        window.add(float(ms))
    assert window.percentile(50) == 50.0
    assert window.percentile(99) == 99.0
    assert window.percentile(100) == 100.0


def test_latency_window_is_bounded() -> None:
    window = LatencyWindow(size=10)
    for ms in range(1000):
        window.add(float(ms))
    assert window.percentile(0.1) == 990.0
    assert window.count == 1000


def test_empty_window_has_no_percentile() -> None:
    assert LatencyWindow().percentile(99) is None


def test_rate_is_events_per_second_over_the_recent_window() -> None:
    clock = ManualClock(mono=100.0)
    meter = RateMeter(clock, window_s=5)
    for _second in range(4):
        meter.add(10)
        clock.advance(1.0)
        meter.per_second()  # reads take the samples
    assert meter.per_second() == 10.0
    clock.advance(30.0)
    meter.per_second()
    clock.advance(1.0)
    assert meter.per_second() == 0.0
    assert meter.total == 40


def test_feed_latency_is_now_minus_exchange_event_time() -> None:
    clock = ManualClock(now_ms=10_250)
    metrics = EngineMetrics(clock)
    metrics.record_feed_latency(10_000)
    assert metrics.snapshot()["feed_latency_ms"] == 250.0


def test_snapshot_names_every_figure_the_status_panel_shows() -> None:
    snapshot = EngineMetrics(ManualClock()).snapshot()
    for key in ("feed_latency_ms", "order_event_p99_ms", "loop_lag_p99_ms", "messages_per_s"):
        assert key in snapshot


def test_data_clock_only_moves_forward() -> None:
    clock = DataClock()
    clock.advance(50)
    clock.advance(20)
    assert clock.time_ms() == 50


async def test_loop_lag_watcher_records_samples() -> None:
    metrics = EngineMetrics(ManualClock())
    clock = DataClock()
    await asyncio.wait_for(watch_loop_lag(metrics, clock, 0.001, samples=3), timeout=5)
    assert metrics.loop_lag_ms.count == 3
    assert metrics.loop_lag_ms.percentile(50) is not None
