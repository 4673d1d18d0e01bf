"""The SQLite layout of a journal, versioned with ``PRAGMA user_version``.

``events.seq`` is the row id and PROTOCOL.md's ``seq``: strictly increasing, never
reused (rows are never deleted).  ``kind`` and ``order_id`` are copies of fields of
the encoded ``body`` so that ``resume`` and the pandas views can filter in SQL.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

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

INSERT_EVENT = "INSERT INTO events (seq, ts_ms, kind, order_id, body) VALUES (?, ?, ?, ?, ?)"
