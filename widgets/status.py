"""Status panel (``tw-status``): what a trader needs to trust the screen (feed state,
including stalled and stopped; the age of the last price; the last gap in the data;
the journal when it is degraded), and, folded away, the developer's figures (feed
latency, kernel-to-screen latency, server clients, last message).

The browser computes the ages itself from ``status.last_price_ms`` and
``status.last_message_ms`` (a timer in the page, no kernel traffic), notices a dead
kernel by itself, and reports the render latencies it measured for every panel back in
the ``ui_latency`` trait (p50/p99, for notebooks and benchmarks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, listen_link, wall_ms
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
    # (a class default: ipywidgets' __del__ closes a panel whose __init__ refused its
    # arguments before this was set)
    _unlink: Callable[[], None] | None = None
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
        if metrics is not None and not callable(metrics):
            raise TypeError(
                "metrics must be a function returning a dict, or None; got "
                f"{type(metrics).__name__}"
            )
        self.state = StatusState()
        self._metrics = metrics if metrics is not None else _metrics_source(session)
        self._poller: asyncio.Task[Any] | None = None
        self._unlink: Callable[[], None] | None = None
        super().__init__(session, interval=interval, **kwargs)

    def start(self) -> None:
        self._unlink = listen_link(self.session, self._on_link)
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
        if self._metrics is not None and not self.state.stopped:
            self._poller = self.spawn(self._poll_forever(), "metrics")

    def _on_link(self, state: str) -> None:
        if self.state.apply_link(state):
            self.changed()

    def poll_metrics(self) -> None:
        if self._metrics is None or self.state.stopped:
            return
        try:
            values = dict(self._metrics())
        except Exception as exc:
            self.show_error(exc, "metrics")
            return
        self.state.apply_metrics(values)
        self.changed()
        if self.state.stopped and self._poller is not None:
            self._poller.cancel()  # a stopped workspace has nothing more to say

    async def _poll_forever(self) -> None:
        # a periodic refresh, not a synchronisation: metrics have no change events
        while True:
            await asyncio.sleep(METRICS_POLL_S)
            self.poll_metrics()

    def apply(self, message: Message) -> bool:
        self.state.apply(message, wall_ms())
        if self.state.stopped and self._poller is not None:
            self._poller.cancel()
        # every message moves "last message" forward; the coalescer keeps it to 2 Hz
        return True

    def push(self) -> None:
        self.status = self.state.snapshot()
        self.metrics = dict(self.state.extra)

    def close(self) -> None:
        if self._unlink is not None:
            self._unlink()
            self._unlink = None
        super().close()
