"""``Outage``: the gap a feed that follows the feed owner reports itself.

The owner's own feed reports its gaps to its own engines only; a follower reads the
owner's state (and the owner's death) from Redis, and the engine opens a gap when that
state turns unhealthy.  Nothing would ever close it: this does, with the last event
time the follower delivered before the outage and the first one after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workspace.engine.feed_port import GapCallback, RecordCallback
from workspace.market.records import FeedRecord
from workspace.market.status import Gap

Batches = Callable[[FeedRecord | tuple[FeedRecord, ...]], None]


class Outage:
    def __init__(self, on_gap: GapCallback) -> None:
        self._on_gap = on_gap
        self.last_event_ms: int | None = None
        self.reason: str | None = None
        """Why the open outage began; ``None`` while none is open."""

    def began(self, reason: str) -> None:
        """The feed's state turned unhealthy (the first reason is kept).  Nothing is
        open before any data flowed: the engine opens no gap then either."""
        if self.reason is None and self.last_event_ms is not None:
            self.reason = reason

    def delivered(self, record: FeedRecord) -> None:
        """A record was handed to the engine: the first with an event time after an
        outage closes it."""
        event_ms = getattr(record, "event_time", None)
        if not isinstance(event_ms, int):
            return
        if self.reason is not None:
            reason, self.reason = self.reason, None
            self._on_gap(Gap(self.last_event_ms, event_ms, reason))
        self.last_event_ms = event_ms

    def passing(self, on_record: RecordCallback) -> Batches:
        """``on_record`` that notes what it hands on (a feed may hand a tuple, which the
        engine's callback takes too)."""
        hand_on: Callable[[Any], None] = on_record

        def deliver(record: FeedRecord | tuple[FeedRecord, ...]) -> None:
            if isinstance(record, tuple):
                for item in record:
                    self.delivered(item)
            else:
                self.delivered(record)
            hand_on(record)

        return deliver


__all__ = ["Outage"]
