"""Status panel state: feed state and source, the last gap, the time of the last price,
the journal, engine metrics, and the connection to a remote server.

The feed's states (PROTOCOL v2 ``STATUS.feed``): ``connected``, ``stalled`` (connected,
but no data for too long), ``reconnecting``, ``down``, and ``stopped`` (the engine's last
STATUS: the workspace stopped; nothing follows).  A remote session adds its own link
state (``RealtimeClient.on_state``): while it is not connected, what the engine said
last is history, so ``feed`` reads ``disconnected`` (or ``stopped`` once closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from widgets.state.numbers import as_float

FEED_STATES = ("connected", "stalled", "reconnecting", "down", "stopped")

# ws.metrics / STATUS extras use a few spellings; the first one present wins
_FEED_LATENCY_KEYS = ("feed_latency_ms", "feed_latency_p50_ms", "feed_latency")
_CLIENT_KEYS = ("clients", "server_clients")


def _gap(value: Any) -> dict[str, Any] | None:
    """``{"start_ms", "end_ms", "reason"}`` from STATUS.last_gap (``end_ms`` may be null
    while the gap is still open)."""
    if not isinstance(value, Mapping):
        return None
    start = as_float(value.get("start_ms"))
    if start is None:
        return None
    end = as_float(value.get("end_ms"))
    return {
        "start_ms": int(start),
        "end_ms": None if end is None else int(end),
        "reason": str(value.get("reason") or ""),
    }


class StatusState:
    def __init__(self) -> None:
        self.feed = "unknown"
        self.source = ""
        self.reason = ""
        self.last_message_ms = 0
        """Wall clock (ms) at which the kernel last received any message."""
        self.last_event_ms = 0
        """Engine/exchange timestamp carried by that message."""
        self.last_price_ms: int | None = None
        """Exchange time of the newest market record (STATUS.last_price_ms, or the
        newest MARKET_UPDATE's timestamp when the engine does not say)."""
        self.last_gap: dict[str, Any] | None = None
        self.journal = ""
        self.fill_model = ""
        self.user = ""
        self.link = ""
        """A remote session's connection state ("" in the kernel: no link to lose)."""
        self.feed_latency_ms: float | None = None
        self.clients: int | None = None
        self.messages = 0
        self.extra: dict[str, Any] = {}

    @property
    def stopped(self) -> bool:
        return self.feed == "stopped" or self.link == "closed"

    def apply(self, message: Mapping[str, Any], received_ms: int) -> bool:
        """Every message counts for "age of last message"; STATUS also sets feed state."""
        self.messages += 1
        self.last_message_ms = received_ms
        timestamp = message.get("timestamp")
        if isinstance(timestamp, int):
            self.last_event_ms = timestamp
        kind = message.get("type")
        if kind == "MARKET_UPDATE" and isinstance(timestamp, int):
            if self.last_price_ms is None or timestamp > self.last_price_ms:
                self.last_price_ms = timestamp
            return False
        if kind != "STATUS":
            return False
        if self.feed == "stopped":
            return False  # the engine's last word: a late periodic STATUS cannot undo it
        feed = message.get("feed")
        if isinstance(feed, str):
            self.feed = feed
        source = message.get("source")
        if isinstance(source, str):
            self.source = source
        self.reason = str(message.get("reason") or "")
        if "last_gap" in message:
            self.last_gap = _gap(message.get("last_gap"))
        price_ms = as_float(message.get("last_price_ms"))
        if price_ms is not None and (self.last_price_ms is None or price_ms > self.last_price_ms):
            self.last_price_ms = int(price_ms)
        for name in ("journal", "fill_model", "user"):
            value = message.get(name)
            if isinstance(value, str):
                setattr(self, name, value)
        # the engine's STATUS nests its metrics and puts the server client count on top
        nested = message.get("metrics")
        metrics = dict(nested) if isinstance(nested, Mapping) else {}
        if "clients" in message:
            metrics["clients"] = message["clients"]
        self.apply_metrics(metrics)
        return True

    def apply_link(self, state: str) -> bool:
        """A remote session's connection changed (``connected``, ``reconnecting``,
        ``closed``...)."""
        if state == self.link:
            return False
        self.link = state
        return True

    def apply_metrics(self, metrics: Mapping[str, Any]) -> bool:
        """Pick the numbers the panel shows out of ``ws.metrics`` or STATUS extras."""
        before = (self.feed, self.feed_latency_ms, self.clients, self.extra)
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
        if isinstance(state, str) and state in FEED_STATES and self.feed != "stopped":
            self.feed = state
        source = metrics.get("source") or metrics.get("feed_source")
        if isinstance(source, str) and source:
            self.source = source
        self.extra = {
            key: value
            for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        return (self.feed, self.feed_latency_ms, self.clients, self.extra) != before

    def shown_feed(self) -> str:
        """The feed state to show: a remote session that lost its server cannot vouch
        for the engine's last STATUS."""
        if self.link == "closed":
            return "stopped"
        if self.link and self.link != "connected":
            return "disconnected"
        return self.feed

    def snapshot(self) -> dict[str, Any]:
        return {
            "feed": self.shown_feed(),
            "engine_feed": self.feed,
            "link": self.link,
            "source": self.source,
            "reason": self.reason,
            "last_message_ms": self.last_message_ms,
            "last_event_ms": self.last_event_ms,
            "last_price_ms": self.last_price_ms,
            "last_gap": self.last_gap,
            "journal": self.journal,
            "fill_model": self.fill_model,
            "user": self.user,
            "feed_latency_ms": self.feed_latency_ms,
            "clients": self.clients,
            "messages": self.messages,
        }
