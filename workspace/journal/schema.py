"""The SQLite layout of a journal, versioned with ``PRAGMA user_version``.

``events.seq`` is the row id and PROTOCOL.md's ``seq``: strictly increasing, never
reused (rows are never deleted).  ``kind`` and ``order_id`` are copies of fields of
the encoded ``body`` so that ``resume`` and the pandas views can filter in SQL.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
"""1: the first version.  2: the spot account (issue 10): events gained fields (orders'
``reason_code``, reservations by asset, executions; fills' ``fee_asset``; the
``valuation`` event), which version 1 code would misread.  A version 1 file is upgraded
in place when opened: its events read as they are, only the version changes."""

CREATE = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " order_id TEXT,"
    " body BLOB NOT NULL)",
    "CREATE INDEX events_kind_seq ON events (kind, seq)",
)

UPGRADES: dict[int, tuple[str, ...]] = {
    1: (),  # the new event fields have defaults: version 1 bodies decode unchanged
}
"""Statements that take a journal from version N to N + 1."""

INSERT_EVENT = "INSERT INTO events (seq, ts_ms, kind, order_id, body) VALUES (?, ?, ?, ?, ?)"
