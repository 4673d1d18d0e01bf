"""Engine health figures, as the status panel and ``ws.metrics`` show them.

Samples live in bounded windows (the last ``window`` values), so percentiles describe
recent behaviour and memory stays flat however long the kernel runs.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from workspace.engine.clock import Clock


class LatencyWindow:
    """The last ``size`` samples in milliseconds, with percentiles on demand."""

    def __init__(self, size: int = 10_000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.count = 0
        # The sorted samples, reused until a new sample arrives: panels read the
        # metrics several times a second and sorting 10,000 floats is not free.
        self._sorted: list[float] = []
        self._sorted_at = -1

    def add(self, ms: float) -> None:
        self._samples.append(ms)
        self.count += 1

    def percentile(self, p: float) -> float | None:
        if not self._samples:
            return None
        if self._sorted_at != self.count:
            self._sorted = sorted(self._samples)
            self._sorted_at = self.count
        ordered = self._sorted
        # Nearest-rank: the smallest sample with at least p % of samples at or below it.
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def last(self) -> float | None:
        return self._samples[-1] if self._samples else None

    def clear(self) -> None:
        self._samples.clear()
        self._sorted_at = -1


class RateMeter:
    """Events per second over roughly the last ``window_s`` seconds.

    ``add`` is one integer addition (it runs for every record on the hot path); the
    rate is worked out when read, from (time, total) samples taken at reads."""

    def __init__(self, clock: Clock, window_s: float = 5.0) -> None:
        self._clock = clock
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque([(clock.monotonic(), 0)])
        self.total = 0

    def add(self, n: int = 1) -> None:
        self.total += n

    def per_second(self) -> float:
        now = self._clock.monotonic()
        samples = self._samples
        # Keep one sample older than the window as the baseline of the rate.
        while len(samples) > 1 and samples[1][0] <= now - self._window_s:
            samples.popleft()
        then, total_then = samples[0]
        if now - samples[-1][0] >= 0.5 or len(samples) == 1:
            samples.append((now, self.total))
        span = now - then
        return (self.total - total_then) / span if span > 0 else 0.0


class EngineMetrics:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.feed_latency_ms = LatencyWindow()
        self.order_event_ms = LatencyWindow()  # fills/triggers/trailing moves a tick caused
        self.strategy_order_ms = LatencyWindow()  # orders strategies placed from on_tick
        self.loop_lag_ms = LatencyWindow()
        self.callback_ms = LatencyWindow()
        self.messages = RateMeter(clock)
        self.ticks = RateMeter(clock)
        self.order_events = 0
        self.callback_errors = 0
        self.callback_overruns = 0
        self.bad_records = 0
        self.journal_failures = 0  # times the journal went degraded

    def record_feed_latency(self, event_ms: int) -> None:
        self.feed_latency_ms.add(float(self._clock.time_ms() - event_ms))

    def snapshot(self) -> dict[str, float | int | None]:
        """A plain dict (JSON-ready): latencies in ms, rates per second."""
        return {
            "feed_latency_ms": _round(self.feed_latency_ms.last),
            "feed_latency_p50_ms": _round(self.feed_latency_ms.percentile(50)),
            "feed_latency_p99_ms": _round(self.feed_latency_ms.percentile(99)),
            "order_event_p50_ms": _round(self.order_event_ms.percentile(50)),
            "order_event_p99_ms": _round(self.order_event_ms.percentile(99)),
            "strategy_order_p50_ms": _round(self.strategy_order_ms.percentile(50)),
            "strategy_order_p99_ms": _round(self.strategy_order_ms.percentile(99)),
            "loop_lag_ms": _round(self.loop_lag_ms.last),
            "loop_lag_p99_ms": _round(self.loop_lag_ms.percentile(99)),
            "callback_p99_ms": _round(self.callback_ms.percentile(99)),
            "messages_per_s": round(self.messages.per_second(), 1),
            "ticks_per_s": round(self.ticks.per_second(), 1),
            "messages_total": self.messages.total,
            "order_events": self.order_events,
            "callback_errors": self.callback_errors,
            "callback_overruns": self.callback_overruns,
            "bad_records": self.bad_records,
            "journal_failures": self.journal_failures,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def watch_loop_lag(
    metrics: EngineMetrics, clock: Clock, interval_s: float, samples: int | None = None
) -> None:
    """Sleep ``interval_s`` repeatedly (forever, or ``samples`` times); the overshoot is
    how long the loop was busy with something else."""
    taken = 0
    while samples is None or taken < samples:
        taken += 1
        started = clock.monotonic()
        await asyncio.sleep(interval_s)
        lag_ms = (clock.monotonic() - started - interval_s) * 1000.0
        metrics.loop_lag_ms.add(max(0.0, lag_ms))
