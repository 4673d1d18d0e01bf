"""The journal: every account event, appended to one SQLite file before anyone sees it.

- WAL mode with ``synchronous=NORMAL``: a committed append survives a crash of the
  process (not necessarily a power cut, which would need ``FULL``).
- One transaction per ``append`` (the engine calls it once per step), one cached
  prepared statement, ``executemany``.  Inside ``with journal.batch():`` (a replay)
  appends share transactions instead: written at once (readers on this connection
  see them), durable when the batch commits (every ``max_appends`` and at its end).
  Seqs are assigned here (``last_seq + 1 ...``) so an append needs no read back;
  ``BEGIN IMMEDIATE`` makes a second writer fail loudly instead of interleaving.
- Opening checks the schema version, the file's integrity and the stored config; any
  problem is a ``JournalError``, never a silent reset.  A file of an older version is
  upgraded in place (``schema.UPGRADES``, one transaction; ``meta`` keeps
  ``upgraded_from``); a newer one is refused.
- Config rule: a new journal stores the config it is opened with (or the default);
  an existing one keeps its stored config.  Passing ``config=None`` means "use the
  stored one"; passing a config that differs from the stored one is a ``JournalError``
  (a reopen must not silently trade with different fees or balance).
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import msgspec

from workspace.journal.codec import EventCodec
from workspace.journal.errors import JournalError
from workspace.journal.schema import CREATE, INSERT_EVENT, INSERT_GAP, SCHEMA_VERSION, UPGRADES
from workspace.market.exchange_info import SymbolInfo
from workspace.trading.account import Account
from workspace.trading.config import AccountConfig
from workspace.trading.events import (
    AccountEvent,
    FillEvent,
    MarkEvent,
    OrderEvent,
    PositionEvent,
)
from workspace.trading.order_state import IllegalTransition


class GapRow(NamedTuple):
    """One outage of the market data feed (exchange times, ms; ``None`` when unknown):
    ``symbol`` is ``None`` for the whole feed, or the symbol whose order book lost
    events; ``recorded_ms`` is the engine's clock when it was recorded."""

    start_ms: int | None
    end_ms: int | None
    reason: str
    symbol: str | None
    recorded_ms: int


def _order_id(event: AccountEvent) -> str | None:
    if isinstance(event, OrderEvent):
        return event.order.id
    if isinstance(event, FillEvent):
        return event.fill.order_id
    return None


class Journal:
    def __init__(self, path: Path, con: sqlite3.Connection, config: AccountConfig) -> None:
        self.path = path
        self.config = config
        self._con = con
        self._codec = EventCodec()
        row = con.execute("SELECT max(seq) FROM events").fetchone()
        self._last_seq: int = row[0] or 0
        self._journal_id: str | None = None
        self._committed_seq = self._last_seq
        self._batch_depth = 0  # > 0 inside ``batch()``
        self._batch_limit = 0  # appends per transaction in the current batch
        self._batch_pending = 0  # appends in the open batch transaction
        self._closed = False

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, config: AccountConfig | None = None) -> Journal:
        """Open (or create) the journal at ``path``.  Raises ``JournalError``."""
        path = Path(path)
        try:
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            stored = cls._prepare(con, path, config)
        except sqlite3.DatabaseError as exc:
            con.close()
            raise JournalError(f"journal {path} is damaged or not a journal: {exc}") from exc
        except JournalError:
            con.close()
            raise
        return cls(path, con, stored)

    @staticmethod
    def _prepare(
        con: sqlite3.Connection, path: Path, config: AccountConfig | None
    ) -> AccountConfig:
        codec = EventCodec()
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {path} has schema version {version}; this code reads up to "
                f"{SCHEMA_VERSION}: upgrade the workspace to open it"
            )
        if version == 0 and tables:
            raise JournalError(f"{path} is an SQLite file but not a journal")
        if version == 0:
            chosen = config if config is not None else AccountConfig()
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")
            for statement in CREATE:
                con.execute(statement)
            con.execute(
                "INSERT INTO meta (key, value) VALUES ('config', ?)",
                (codec.encode_config(chosen),),
            )
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        else:
            if {"meta", "events"} - tables:
                raise JournalError(f"journal {path} is missing tables: damaged")
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise JournalError(f"journal {path} failed its integrity check: {check}")
            row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            if row is None:
                raise JournalError(f"journal {path} has no stored config: damaged")
            try:
                chosen = codec.decode_config(row[0])
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                raise JournalError(f"journal {path} has a damaged config: {exc}") from exc
            if config is not None and config != chosen:
                raise JournalError(
                    f"journal {path} was created with {chosen!r}; it cannot be reopened "
                    f"with {config!r} (pass config=None to use the stored one)"
                )
            con.execute("PRAGMA journal_mode=WAL")
            if version < SCHEMA_VERSION:
                Journal._upgrade(con, version)
        con.execute("PRAGMA synchronous=NORMAL")
        return chosen

    @staticmethod
    def _upgrade(con: sqlite3.Connection, version: int) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version, SCHEMA_VERSION):
                for statement in UPGRADES[step]:
                    con.execute(statement)
            con.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('upgraded_from', ?)",
                (str(version).encode(),),
            )
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except sqlite3.Error:
            con.execute("ROLLBACK")
            raise

    # -- writing -----------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def journal_id(self) -> str:
        """This journal's identity, made once per file: a client resuming by ``seq``
        learns from it that it talks to another journal (another file, a wiped one, a
        new in-memory one) and must start over instead of skipping events.

        Stored the first time it is asked for (a client connecting), so a replay that
        nobody watches writes nothing more and stays byte-for-byte reproducible.  If
        it cannot be stored, this process keeps one of its own: after a restart the
        clients start over, which is safe."""
        if self._journal_id is None:
            made = uuid.uuid4().hex
            with contextlib.suppress(sqlite3.Error):
                con = self._con
                row = con.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
                if row is not None:
                    made = str(row[0])
                else:
                    con.execute("INSERT INTO meta (key, value) VALUES ('journal_id', ?)", (made,))
            self._journal_id = made
        return self._journal_id

    @property
    def committed_seq(self) -> int:
        """The last seq that is durable (``last_seq`` minus an open batch's appends)."""
        return self._committed_seq

    def append(self, events: Sequence[AccountEvent]) -> list[int]:
        """Append ``events`` in one transaction; returns their seqs (in order).  When
        this returns, the events are durable against a crash of the process; inside
        ``batch()``, when the batch commits."""
        if not events:
            return []
        start = self._last_seq + 1
        encode = self._codec.encode
        rows = [
            (start + i, event.ts_ms, event.kind, _order_id(event), encode(event))
            for i, event in enumerate(events)
        ]
        con = self._con
        try:
            if self._batch_depth:
                self._append_batched(rows)
            else:
                con.execute("BEGIN IMMEDIATE")
                con.executemany(INSERT_EVENT, rows)
                con.execute("COMMIT")
                self._committed_seq = start + len(rows) - 1
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            # an open batch's earlier appends went with the rollback
            self._last_seq = self._committed_seq
            self._batch_pending = 0
            raise JournalError(f"cannot append to journal {self.path}: {exc}") from exc
        self._last_seq = start + len(rows) - 1
        return list(range(start, self._last_seq + 1))

    def append_steps(self, steps: Sequence[Sequence[AccountEvent]]) -> list[list[int]]:
        """Append several steps (each a list of events, as ``append`` takes) in one
        transaction; returns each step's seqs.  Durable when this returns."""
        with self.batch(max_appends=max(1, len(steps))):
            return [self.append(step) for step in steps]

    @contextmanager
    def batch(self, max_appends: int = 1000) -> Iterator[Journal]:
        """Let the appends made inside share transactions: one per ``max_appends``
        appends, and the last one committed when the block ends (also when it ends
        with an exception: those steps are whole and already applied to the
        account, so keeping them keeps the journal and the account in step).

        For a replay, where one transaction per step (one per trailing-stop move)
        is what bounds the speed.  A crash inside a batch loses its uncommitted
        steps, never part of a step.  The live path does not use it: there each
        step is durable before it is published.  Nested batches join the outer one.
        """
        if max_appends < 1:
            raise ValueError("max_appends must be >= 1")
        outer = self._batch_depth == 0
        if outer:
            self._batch_limit = max_appends
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if outer and not self._closed:  # close() commits on its own
                self._commit_batch()

    def _append_batched(self, rows: list[tuple[int, int, str, str | None, bytes]]) -> None:
        con = self._con
        if not con.in_transaction:
            con.execute("BEGIN IMMEDIATE")
        con.executemany(INSERT_EVENT, rows)
        self._batch_pending += 1
        if self._batch_pending >= self._batch_limit:
            con.execute("COMMIT")
            self._batch_pending = 0
            self._committed_seq = rows[-1][0]

    def _commit_batch(self) -> None:
        con = self._con
        self._batch_pending = 0
        if not con.in_transaction:
            return
        try:
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            con.execute("ROLLBACK")
            self._last_seq = self._committed_seq
            raise JournalError(f"cannot commit to journal {self.path}: {exc}") from exc
        self._committed_seq = self._last_seq

    def record_gap(self, gap: GapRow) -> None:
        """Keep one of the feed's gaps.  Not an account event (no ``seq``): it joins an
        open ``batch()`` transaction, else it is written on its own at once."""
        try:
            self._con.execute(
                INSERT_GAP, (gap.start_ms, gap.end_ms, gap.reason, gap.symbol, gap.recorded_ms)
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot record a gap in journal {self.path}: {exc}") from exc

    def gaps(self, limit: int | None = None) -> list[GapRow]:
        """The recorded gaps, oldest first (the newest ``limit`` of them)."""
        rows = self._con.execute(
            "SELECT start_ms, end_ms, reason, symbol, recorded_ms FROM ("
            " SELECT * FROM gaps ORDER BY id DESC LIMIT ?) ORDER BY id",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [GapRow(*row) for row in rows]

    # -- reading -----------------------------------------------------------------------
    def events(self, since: int = 0) -> Iterator[tuple[int, AccountEvent]]:
        """Every stored event with ``seq > since``, in order."""
        cursor = self._con.execute(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (since,)
        )
        for seq, body in cursor:
            yield seq, self._decode(seq, body)

    def order_events_since(self, seq: int) -> list[tuple[int, OrderEvent]]:
        """The order events with ``seq`` > ``seq`` (the protocol's ``resume``)."""
        cursor = self._con.execute(
            "SELECT seq, body FROM events WHERE kind = 'order' AND seq > ? ORDER BY seq",
            (seq,),
        )
        found: list[tuple[int, OrderEvent]] = []
        for row_seq, body in cursor:
            event = self._decode(row_seq, body)
            if not isinstance(event, OrderEvent):
                raise JournalError(f"journal {self.path}: event {row_seq} is not an order event")
            found.append((row_seq, event))
        return found

    def last_order_seq(self, order_id: str) -> int | None:
        """The ``seq`` of the latest event of order ``order_id`` (its current state).
        A scan of the order events (no index of its own: an index per order id cost
        every append a quarter more CPU, for a lookup only an idempotent repeat after a
        restart needs; the engine remembers the seqs of the orders it saw)."""
        row = self._con.execute(
            "SELECT max(seq) FROM events WHERE order_id = ? AND kind = 'order'", (order_id,)
        ).fetchone()
        return row[0] if row is not None else None

    def _decode(self, seq: int, body: bytes) -> AccountEvent:
        try:
            return self._codec.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise JournalError(f"journal {self.path}: event {seq} is damaged: {exc}") from exc

    def rebuild(
        self,
        symbols: Collection[str] | None = None,
        rules: Mapping[str, SymbolInfo] | None = None,
    ) -> Account:
        """A fresh account in exactly the state the stored events describe: the wallet,
        positions, open orders (trailing peaks included), id counters, and the last
        price seen per symbol (from marks and position updates; restored prices are
        never fresh: nothing fills against them and they mark positions as stale)."""
        account = Account(self.config, symbols=symbols, rules=rules)
        prices: dict[str, Decimal] = {}
        for seq, event in self.events():
            try:
                account.apply(event)
            except (IllegalTransition, KeyError, ValueError, ArithmeticError) as exc:
                raise JournalError(
                    f"journal {self.path}: event {seq} does not apply: {exc}"
                ) from exc
            if isinstance(event, PositionEvent):
                prices[event.position.symbol] = event.position.current_price
            elif isinstance(event, MarkEvent):
                prices.update(event.prices)
        account.restore_prices(prices)
        return account

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the file; an open batch's appends are committed first."""
        if self._closed:
            return
        if self._con.in_transaction:
            self._commit_batch()
        self._closed = True
        self._con.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
