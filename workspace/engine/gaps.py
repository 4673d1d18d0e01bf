"""The feed's gaps, as the engine shows them: in STATUS (``last_gap``), in the journal
(durable, ``ws.gaps``), in the ticks (``after_gap`` on a symbol's first tick after one)
and on the chart (``CANDLES.gaps``).

A gap is an interval of exchange time in which data was lost: the whole feed (a lost
connection, a stall: ``symbol`` is ``None``) or one symbol's order book (a sequence gap
in its diff depth stream, resynchronised from a snapshot).  The feed reports each one
once it is over (``on_gap``); while the whole feed is stalled or reconnecting, the
engine shows it as an *open* gap (``end_ms`` null) from its own feed status, so STATUS
tells the truth during the outage, not only after it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from workspace.engine.clock import Clock
from workspace.engine.feed_port import GapLike
from workspace.engine.log_throttle import LogThrottle
from workspace.journal import GapRow, Journal, JournalError
from workspace.session import Message

log = logging.getLogger("workspace.engine")

RECENT_GAPS = 500
"""Gaps kept in memory for STATUS and the chart (the journal keeps all of them)."""


def gap_message(gap: GapRow) -> Message:
    """The wire form (STATUS ``last_gap``, CANDLES ``gaps``): PROTOCOL v2's
    ``{start_ms, end_ms, reason}``, plus ``symbol`` (null: the whole feed)."""
    return {
        "start_ms": gap.start_ms,
        "end_ms": gap.end_ms,
        "reason": gap.reason,
        "symbol": gap.symbol,
    }


class GapLog:
    def __init__(self, journal: Journal, clock: Clock, keep: int = RECENT_GAPS) -> None:
        self._journal = journal
        self._clock = clock
        self._throttle = LogThrottle(log, clock)
        try:
            earlier = journal.gaps(limit=keep)
        except JournalError as error:
            log.error("cannot read the journal's gaps: %s", error)
            earlier = []
        self._recent: deque[GapRow] = deque(earlier, maxlen=keep)
        self._open: GapRow | None = None
        # First tick after a gap: a serial per whole-feed gap and per symbol, and the
        # serials each symbol's latest tick saw.
        self._feed_serial = 0
        self._symbol_serial: dict[str, int] = {}
        self._seen: dict[str, tuple[int, int]] = {}
        self.count = 0
        """Gaps recorded since the engine started."""

    # -- recording -----------------------------------------------------------------
    def open(self, start_ms: int | None, reason: str) -> bool:
        """The whole feed went quiet (stalled, reconnecting): shown as an open gap
        until the feed reports it complete.  False if one is open already."""
        if self._open is not None:
            return False
        self._open = GapRow(start_ms, None, reason, None, self._clock.time_ms())
        return True

    def complete(self, gap: GapLike) -> GapRow:
        """The feed's report of a finished gap: journaled, shown, and the next tick of
        the symbols it touched is flagged."""
        row = GapRow(
            gap.last_event_ms_before,
            gap.first_event_ms_after,
            str(gap.reason),
            gap.symbol,
            self._clock.time_ms(),
        )
        if row.symbol is None:
            self._open = None
            self._feed_serial += 1
        else:
            self._symbol_serial[row.symbol] = self._symbol_serial.get(row.symbol, 0) + 1
        self._recent.append(row)
        self.count += 1
        try:
            self._journal.record_gap(row)
        except JournalError as error:
            self._throttle.log(
                logging.ERROR, "gap-journal", "could not journal a feed gap: %s", error
            )
        return row

    # -- reading -------------------------------------------------------------------
    @property
    def open_gap(self) -> GapRow | None:
        return self._open

    @property
    def last(self) -> GapRow | None:
        """The open gap, else the latest recorded one."""
        if self._open is not None:
            return self._open
        return self._recent[-1] if self._recent else None

    def last_message(self) -> Message | None:
        last = self.last
        return None if last is None else gap_message(last)

    def recent(self) -> list[GapRow]:
        """The gaps in memory, oldest first, the open one last."""
        rows = list(self._recent)
        if self._open is not None:
            rows.append(self._open)
        return rows

    def touching(self, symbol: str, start_ms: int) -> list[Message]:
        """Wire gaps of the whole feed or of ``symbol`` that end at or after
        ``start_ms`` (open ones included), oldest first: what a chart from
        ``start_ms`` on needs to draw."""
        return [gap_message(g) for g in _touching(self.recent(), symbol, start_ms)]

    def watch(self, symbols: Iterable[str]) -> None:
        """These symbols stream from now on: a gap of the whole feed before their first
        tick is a gap in their data too (their first tick after it is flagged)."""
        current = self._feed_serial
        for symbol in symbols:
            if symbol not in self._seen:
                self._seen[symbol] = (current, self._symbol_serial.get(symbol, 0))

    def after_gap(self, symbol: str) -> bool:
        """True for ``symbol``'s first tick after a gap of the whole feed or of its
        book since it started streaming (``watch``) or since its first tick (the engine
        asks once per tick)."""
        current = (self._feed_serial, self._symbol_serial.get(symbol, 0))
        seen = self._seen.get(symbol)
        if seen == current:
            return False
        self._seen[symbol] = current
        return seen is not None


def _touching(rows: Iterable[GapRow], symbol: str, start_ms: int) -> Iterable[GapRow]:
    for gap in rows:
        if gap.symbol is not None and gap.symbol != symbol:
            continue
        if gap.end_ms is not None and gap.end_ms < start_ms:
            continue
        yield gap
