"""The SQLite layout of a journal, versioned with ``PRAGMA user_version``.

``events.seq`` is the row id and PROTOCOL.md's ``seq``: strictly increasing, never
reused (rows are never deleted).  ``kind`` and ``order_id`` are copies of fields of
the encoded ``body`` so that ``resume`` and the pandas views can filter in SQL.
"""

from __future__ import annotations

SCHEMA_VERSION = 3
"""1: the first version.  2: the spot account (issue 10): events gained fields (orders'
``reason_code``, reservations by asset, executions; fills' ``fee_asset``; the
``valuation`` event), which version 1 code would misread.  A version 1 file is upgraded
in place when opened: its events read as they are, only the version changes.
3: the ``gaps`` table (issue 13): the market data feed's outages, beside the events
(they are not account events: rebuilding the account never reads them)."""

GAPS = (
    "CREATE TABLE gaps ("
    " id INTEGER PRIMARY KEY,"
    " start_ms INTEGER,"  # exchange time of the last record before; NULL: unknown
    " end_ms INTEGER,"  # of the first record after; NULL: the feed stopped before data came
    " reason TEXT NOT NULL,"
    " symbol TEXT,"  # NULL: the whole feed; a symbol: only its order book lost events
    " recorded_ms INTEGER NOT NULL)",  # the engine's clock (a replay: data time)
)
"""Version 3: the feed's gaps, one row per completed outage."""

CREATE = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " order_id TEXT,"
    " body BLOB NOT NULL)",
    "CREATE INDEX events_kind_seq ON events (kind, seq)",
    *GAPS,
)

UPGRADES: dict[int, tuple[str, ...]] = {
    1: (),  # the new event fields have defaults: version 1 bodies decode unchanged
    2: GAPS,
}
"""Statements that take a journal from version N to N + 1."""

INSERT_GAP = (
    "INSERT INTO gaps (start_ms, end_ms, reason, symbol, recorded_ms) VALUES (?, ?, ?, ?, ?)"
)
INSERT_EVENT = "INSERT INTO events (seq, ts_ms, kind, order_id, body) VALUES (?, ?, ?, ?, ?)"
