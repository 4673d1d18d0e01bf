"""What the feed reports about itself: its state, its status changes, gaps and counters."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["FeedState", "FeedStats", "FeedStatus", "Gap"]


class FeedState(enum.StrEnum):
    CONNECTED = "connected"
    STALLED = "stalled"
    """Connected, but nothing the feed expects has arrived for a few seconds."""
    RECONNECTING = "reconnecting"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One state change: ``on_status(FeedStatus("reconnecting", "stalled", 1700000000000))``."""

    state: FeedState
    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """One outage: the last exchange event time seen before it, the first one after.

    Either is ``None`` when unknown (no event before the first outage; the feed stopped
    before data came back).  ``symbol`` is ``None`` for an outage of the whole feed (a
    lost connection, a stall) and names the symbol when only its order book lost
    events (a sequence gap in its diff depth stream, resynchronised from a snapshot).
    """

    last_event_ms_before: int | None
    first_event_ms_after: int | None
    reason: str
    symbol: str | None = None


@dataclass(slots=True)
class FeedStats:
    """Live counters (the same object is updated in place)."""

    messages: int = 0
    """Frames received, of any kind."""
    records: int = 0
    """Records handed to ``on_record``."""
    parse_errors: int = 0
    """Frames that could not be decoded (logged, skipped)."""
    callback_errors: int = 0
    """Exceptions raised by ``on_record`` (logged, the feed carries on)."""
    skipped: int = 0
    """Frames recognised but not normalised (avgPrice, a book event for a symbol
    whose book is no longer wanted ...)."""
    reconnects: int = 0
    last_message_monotonic: float | None = None
    book_snapshots: int = 0
    """Local books (re)built from a REST snapshot."""
    book_gaps: int = 0
    """Sequence gaps in diff depth streams (each one discarded and rebuilt a book)."""
    snapshot_errors: int = 0
    """Depth snapshots that could not be fetched or read (retried)."""
    bad_records: int = 0
    """Records too wrong to hand on (a price <= 0 or not a number, a negative quantity,
    a bid above the ask, an event time from the future ...): logged, dropped."""
    last_bad_record: str | None = None
    """Why the latest bad record was dropped."""
    stalls: int = 0
    """Times the feed went ``stalled`` (every stream it can judge silent)."""
    handovers: int = 0
    """Planned replacements made before the old connection was closed."""
