"""Recent ticks in SQLite, beside the journal (its own file, so the journal stays a pure
record of account events): serves ``ws.ticks(symbol)`` and ``EngineApi.replay_ticks``.

Writes are buffered and flushed in one ``executemany`` per interval, so the hot path
only appends to a list; each symbol keeps its newest ``per_symbol`` rows.  The engine's
periodic flush uses ``flush_some``: a bounded step (a few thousand rows written, or
trimmed) per loop turn, so a burst of ticks or a trim never holds the loop for long.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from workspace.engine.ticks import Tick
from workspace.session import Message

if TYPE_CHECKING:
    import pandas as pd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ticks (
    id INTEGER PRIMARY KEY,
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,
    source TEXT NOT NULL,
    price REAL NOT NULL,
    bid REAL,
    ask REAL,
    quantity REAL,
    volume REAL,
    message BLOB,
    after_gap INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ticks_symbol_ts ON ticks (symbol, ts);
"""

_Num = float | None
_Row = tuple[str, int, str, float, _Num, _Num, _Num, _Num, bytes | None, int]
COLUMNS = (
    "symbol",
    "timestamp",
    "source",
    "price",
    "bid",
    "ask",
    "quantity",
    "volume",
    "after_gap",
)


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


class TickStore:
    def __init__(self, path: Path | str = ":memory:", per_symbol: int = 100_000) -> None:
        self.path = path
        self._per_symbol = per_symbol
        self._db = sqlite3.connect(str(path), isolation_level=None)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # A cache, not a ledger: never wait on fsync (a checkpoint fsync on a busy disk
            # would hold the event loop for tens of ms).
            self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(ticks)")}
        if "after_gap" not in columns:  # a store written before ticks were flagged
            self._db.execute("ALTER TABLE ticks ADD COLUMN after_gap INTEGER NOT NULL DEFAULT 0")
        self._pending: list[_Row] = []
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(dict[str, Any]).decode
        self._counts: Counter[str] = Counter(
            dict(self._db.execute("SELECT symbol, COUNT(*) FROM ticks GROUP BY symbol"))
        )
        self._trimming: set[str] = set()  # over the bound, being trimmed step by step

    def add(self, tick: Tick, message: Message | None = None) -> None:
        """Buffer ``tick``; ``message`` is its MARKET_UPDATE (tickers only)."""
        self._pending.append(
            (
                tick.symbol,
                tick.timestamp,
                tick.source,
                float(tick.price),
                _f(tick.bid),
                _f(tick.ask),
                _f(tick.quantity),
                _f(tick.volume),
                None if message is None else self._encode(message),
                1 if tick.after_gap else 0,
            )
        )

    def flush(self) -> int:
        """Write the buffered ticks in one transaction (and trim); returns how many."""
        rows, self._pending = self._pending, []
        if not rows:
            return 0
        with self._db:
            self._db.execute("BEGIN")
            self._insert(rows)
            for symbol in [s for s, n in self._counts.items() if n > self._bound]:
                self._trim(symbol, None)
        return len(rows)

    def flush_some(self, max_rows: int = 200) -> bool:
        """One bounded step: write up to ``max_rows`` buffered ticks, or else trim up to
        ``max_rows`` old rows of one symbol.  True while work is left."""
        if self._pending:
            rows = self._pending[:max_rows]
            del self._pending[:max_rows]
            with self._db:
                self._db.execute("BEGIN")
                self._insert(rows)
        elif self._trimming:
            symbol = next(iter(self._trimming))
            with self._db:
                self._db.execute("BEGIN")
                self._trim(symbol, max_rows)
        return bool(self._pending or self._trimming)

    @property
    def _bound(self) -> float:
        # 10 % slack, so trimming happens once in a while, not on every flush.
        return self._per_symbol * 1.1

    def _insert(self, rows: list[_Row]) -> None:
        self._db.executemany(
            "INSERT INTO ticks (symbol, ts, source, price, bid, ask, quantity, volume,"
            " message, after_gap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        counts, bound = self._counts, self._bound
        for row in rows:
            counts[row[0]] += 1
        self._trimming.update(s for s, n in counts.items() if n > bound)

    def _trim(self, symbol: str, max_rows: int | None) -> None:
        """Delete the oldest rows of ``symbol`` down to ``per_symbol`` (at most
        ``max_rows`` of them)."""
        excess = self._counts[symbol] - self._per_symbol
        if max_rows is not None:
            excess = min(excess, max_rows)
        if excess > 0:
            # Oldest by exchange time: walks the (symbol, ts) index; ORDER BY id would
            # sort all the symbol's rows first (hundreds of ms at 100,000 rows).
            self._db.execute(
                "DELETE FROM ticks WHERE id IN (SELECT id FROM ticks WHERE symbol = ?"
                " ORDER BY ts, id LIMIT ?)",
                (symbol, excess),
            )
            self._counts[symbol] -= excess
        if self._counts[symbol] <= self._per_symbol:
            self._trimming.discard(symbol)

    def frame(self, symbol: str, limit: int | None = None) -> pd.DataFrame:
        """The newest ``limit`` ticks of ``symbol`` (all kept ones by default), oldest
        first, indexed by exchange time."""
        import pandas as pd

        self.flush()
        rows = self._db.execute(
            "SELECT symbol, ts, source, price, bid, ask, quantity, volume, after_gap FROM ("
            " SELECT * FROM ticks WHERE symbol = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
            (symbol.upper(), -1 if limit is None else limit),
        ).fetchall()
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        frame["after_gap"] = frame["after_gap"].astype(bool)
        frame["time"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
        return frame.set_index("time")

    def market_updates(
        self, symbol: str, start_ms: int, end_ms: int, after_id: int = 0, limit: int = 500
    ) -> list[tuple[int, Message]]:
        """Stored MARKET_UPDATEs of ``symbol`` with ``start_ms <= timestamp <= end_ms``,
        in time order, after row ``after_id`` (pagination)."""
        rows = self._db.execute(
            "SELECT id, message FROM ticks WHERE symbol = ? AND message IS NOT NULL"
            " AND ts BETWEEN ? AND ? AND id > ? ORDER BY id LIMIT ?",
            (symbol.upper(), start_ms, end_ms, after_id, limit),
        ).fetchall()
        return [(row_id, self._decode(body)) for row_id, body in rows]

    def count(self, symbol: str) -> int:
        self.flush()
        row = self._db.execute(
            "SELECT COUNT(*) FROM ticks WHERE symbol = ?", (symbol.upper(),)
        ).fetchone()
        return int(row[0])

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()
