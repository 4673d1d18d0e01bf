"""Status panel (``tw-status``): feed state and source, age of the last message, feed
latency, server clients, and the UI latency the browser measures.

The browser computes "age of last message" itself from ``status.last_message_ms`` (a
timer in the page, no kernel traffic) and reports the render latencies it measured
for every panel back in the ``ui_latency`` trait (p50/p99, for notebooks and
benchmarks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, wall_ms
from widgets.state.status import StatusState
from workspace.session import Message, TradingSession

MetricsSource = Callable[[], Mapping[str, Any]]

STATUS_INTERVAL_S = 0.5
"""Status changes rarely; the message age is counted in the browser between flushes."""
METRICS_POLL_S = 1.0


def _metrics_source(session: TradingSession) -> MetricsSource | None:
    """``session.metrics`` if the session offers it (a dict, or a method returning one)."""
    metrics: object = getattr(session, "metrics", None)
    if callable(metrics):
        method: MetricsSource = metrics
        return method
    if isinstance(metrics, Mapping):

        def read() -> Mapping[str, Any]:
            # a property: read it afresh each poll
            current = getattr(session, "metrics", {})
            return current if isinstance(current, Mapping) else {}

        return read
    return None


class StatusPanel(Panel):
    css_class = "tw-status"
    _esm = panel_esm("status")
    _css = panel_css("status")

    status = traitlets.Dict().tag(sync=True)
    metrics = traitlets.Dict().tag(sync=True)
    ui_latency = traitlets.Dict().tag(sync=True)
    """Set by the browser: {"render_p50_ms", "render_p99_ms", "age_p50_ms", "age_p99_ms",
    "samples", "startup_backlog", "dom_updates_per_s"} over the renders of the last 10 s.
    Flushes sent before the last panel view came up (start-up backlog: they waited while
    the widget modules loaded) are counted in ``startup_backlog``, not in the figures."""

    def __init__(
        self,
        session: TradingSession,
        *,
        metrics: MetricsSource | None = None,
        interval: float = STATUS_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        self.state = StatusState()
        self._metrics = metrics if metrics is not None else _metrics_source(session)
        super().__init__(session, interval=interval, **kwargs)

    def start(self) -> None:
        # STATUS is pushed only on feed changes and every few seconds: an in-kernel
        # ProtocolSession exposes its engine, whose current STATUS shows at once
        engine = getattr(self.session, "engine", None)
        status_message = getattr(engine, "status_message", None)
        if callable(status_message):
            try:
                self.feed(status_message())
            except Exception as exc:
                self.show_error(exc, "status")
        self.poll_metrics()
        if self._metrics is not None:
            self.spawn(self._poll_forever(), "metrics")

    def poll_metrics(self) -> None:
        if self._metrics is None:
            return
        try:
            values = dict(self._metrics())
        except Exception as exc:
            self.show_error(exc, "metrics")
            return
        self.state.apply_metrics(values)
        self.changed()

    async def _poll_forever(self) -> None:
        # a periodic refresh, not a synchronisation: metrics have no change events
        while True:
            await asyncio.sleep(METRICS_POLL_S)
            self.poll_metrics()

    def apply(self, message: Message) -> bool:
        self.state.apply(message, wall_ms())
        # every message moves "last message" forward; the coalescer keeps it to 2 Hz
        return True

    def push(self) -> None:
        self.status = self.state.snapshot()
        self.metrics = dict(self.state.extra)
