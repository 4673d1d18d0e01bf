"""Status panel state: feed state and source, last message time, engine metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from widgets.state.numbers import as_float

FEED_STATES = ("connected", "reconnecting", "down")

# ws.metrics / STATUS extras use a few spellings; the first one present wins
_FEED_LATENCY_KEYS = ("feed_latency_ms", "feed_latency_p50_ms", "feed_latency")
_CLIENT_KEYS = ("clients", "server_clients")


class StatusState:
    def __init__(self) -> None:
        self.feed = "unknown"
        self.source = ""
        self.reason = ""
        self.last_message_ms = 0
        """Wall clock (ms) at which the kernel last received any message."""
        self.last_event_ms = 0
        """Engine/exchange timestamp carried by that message."""
        self.feed_latency_ms: float | None = None
        self.clients: int | None = None
        self.messages = 0
        self.extra: dict[str, Any] = {}

    def apply(self, message: Mapping[str, Any], received_ms: int) -> bool:
        """Every message counts for "age of last message"; STATUS also sets feed state."""
        self.messages += 1
        self.last_message_ms = received_ms
        timestamp = message.get("timestamp")
        if isinstance(timestamp, int):
            self.last_event_ms = timestamp
        if message.get("type") != "STATUS":
            return False
        feed = message.get("feed")
        if isinstance(feed, str):
            self.feed = feed
        source = message.get("source")
        if isinstance(source, str):
            self.source = source
        self.reason = str(message.get("reason") or "")
        # the engine's STATUS nests its metrics and puts the server client count on top
        nested = message.get("metrics")
        metrics = dict(nested) if isinstance(nested, Mapping) else {}
        if "clients" in message:
            metrics["clients"] = message["clients"]
        self.apply_metrics(metrics)
        return True

    def apply_metrics(self, metrics: Mapping[str, Any]) -> bool:
        """Pick the numbers the panel shows out of ``ws.metrics`` or STATUS extras."""
        before = (self.feed_latency_ms, self.clients, self.extra)
        for key in _FEED_LATENCY_KEYS:
            value = as_float(metrics.get(key))
            if value is not None:
                self.feed_latency_ms = value
                break
        for key in _CLIENT_KEYS:
            value = as_float(metrics.get(key))
            if value is not None:
                self.clients = int(value)
                break
        state = metrics.get("feed_state") or metrics.get("feed")
        if isinstance(state, str) and state in FEED_STATES:
            self.feed = state
        source = metrics.get("source") or metrics.get("feed_source")
        if isinstance(source, str) and source:
            self.source = source
        self.extra = {
            key: value
            for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        return (self.feed_latency_ms, self.clients, self.extra) != before

    def snapshot(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "source": self.source,
            "reason": self.reason,
            "last_message_ms": self.last_message_ms,
            "last_event_ms": self.last_event_ms,
            "feed_latency_ms": self.feed_latency_ms,
            "clients": self.clients,
            "messages": self.messages,
        }
