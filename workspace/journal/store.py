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
- One writer: ``open`` takes an exclusive lock on the file (``lock.FileLock``) for as
  long as the journal is open; a second workspace gets ``JournalLocked`` at once.
  ``open(..., read_only=True)`` (``journal check``) reads without the lock.
- A failed append leaves the file as it was (SQLite's transaction) and the journal's
  seqs where they were; the caller (the account, through the engine) takes its step
  back.  When SQLite cannot say whether a failed COMMIT was written, the next append
  first looks.  Only when steps already reported as appended are lost (a batch's
  open transaction) does the journal refuse every later append: the account in
  memory then holds steps the file does not, and must be rebuilt (reopen).
- Reads for ``resume`` come in pages (``order_event_pages``), one bounded query each,
  so a server can send a long history in chunks and let its loop breathe between them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import msgspec

from workspace.journal.codec import EventCodec
from workspace.journal.errors import JournalError
from workspace.journal.lock import FileLock
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
from workspace.trading.order_state import IllegalTransition, OrderStatus
from workspace.trading.orders import Order
from workspace.trading.reasons import plain

_log = logging.getLogger("workspace.journal")

NOTE_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"

PAGE_SIZE = 500
"""Order events per page of ``order_event_pages`` (and rows per read of the views)."""

REBUILD_ERRORS = (IllegalTransition, KeyError, ValueError, ArithmeticError, AssertionError)
"""What applying a stored event may raise when the history is inconsistent."""


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
    def __init__(
        self,
        path: Path,
        con: sqlite3.Connection,
        config: AccountConfig,
        lock: FileLock | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.config = config
        self._con = con
        self._lock = lock
        self._codec = EventCodec()
        row = con.execute("SELECT max(seq) FROM events").fetchone()
        self._last_seq: int = row[0] or 0
        self._journal_id: str | None = None
        self._committed_seq = self._last_seq
        self._batch_depth = 0  # > 0 inside ``batch()``
        self._batch_limit = 0  # appends per transaction in the current batch
        self._batch_pending = 0  # appends in the open batch transaction
        self._closed = False
        self._unverified = False  # a failed COMMIT SQLite could not confirm either way
        self._broken: str | None = None  # why appends are refused for good
        self.read_only = read_only
        # Called with (seqs, events) after each append is written (scale-out: the
        # engine's bus publisher copies every event to Redis, journal first).
        self.listeners: list[Callable[[list[int], Sequence[AccountEvent]], None]] = []
        # A note written in the same transaction as the next append (``note``).
        self._note: tuple[str, bytes] | None = None

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | Path, config: AccountConfig | None = None, *, read_only: bool = False
    ) -> Journal:
        """Open (or create) the journal at ``path`` and lock it for this writer.
        Raises ``JournalLocked`` when another workspace has it open, ``JournalError``
        for anything else.  ``read_only``: read an existing journal (no lock, no
        upgrade, no writes; ``journal check`` reads a journal a server is writing)."""
        path = Path(path)
        lock: FileLock | None = None
        if read_only:
            if not path.is_file():
                raise JournalError(f"no journal at {path}")
            target: str | Path = f"{path.resolve().as_uri()}?mode=ro"
        elif str(path) == ":memory:":  # SQLite's private database: nothing to share
            target = path
        else:
            lock = FileLock.acquire(path)
            target = path
        try:
            con = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, uri=read_only
            )
        except sqlite3.Error as exc:
            if lock is not None:
                lock.release()
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            stored = cls._prepare(con, path, config, read_only=read_only)
        except sqlite3.DatabaseError as exc:
            con.close()
            if lock is not None:
                lock.release()
            raise JournalError(f"journal {path} is damaged or not a journal: {exc}") from exc
        except JournalError:
            con.close()
            if lock is not None:
                lock.release()
            raise
        return cls(path, con, stored, lock, read_only=read_only)

    @staticmethod
    def _prepare(
        con: sqlite3.Connection,
        path: Path,
        config: AccountConfig | None,
        *,
        read_only: bool = False,
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
        if version == 0 and read_only:
            raise JournalError(f"{path} is not a journal (empty)")
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
                    f"journal {path} was created with {_settings(chosen, config)}; it cannot "
                    f"be reopened with {_settings(config, chosen)}: give none of the account "
                    "settings to use the stored ones (--balance, --allow-short; in Python "
                    "config=None), or another journal file"
                )
            if read_only:
                return chosen  # an older version reads as it is: its events decode
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

    @property
    def broken(self) -> str | None:
        """Why this journal refuses every append until it is reopened, or ``None``."""
        return self._broken

    def append(self, events: Sequence[AccountEvent]) -> list[int]:
        """Append ``events`` in one transaction; returns their seqs (in order).  When
        this returns, the events are durable against a crash of the process; inside
        ``batch()``, when the batch commits.  Raises ``JournalError`` when they could
        not be written: then nothing of them is in the file, and the seqs stay where
        they were (the caller takes its step back)."""
        if not events:
            return []
        if self._broken is not None:
            raise JournalError(self._broken)
        if self.read_only:
            raise JournalError(f"journal {self.path} is open read-only")
        if self._unverified:
            self._verify()
        start = self._last_seq + 1
        encode = self._codec.encode
        rows = [
            (start + i, event.ts_ms, event.kind, _order_id(event), encode(event))
            for i, event in enumerate(events)
        ]
        end = start + len(rows) - 1
        con = self._con
        note, self._note = self._note, None
        try:
            if self._batch_depth:
                self._append_batched(rows)
            else:
                con.execute("BEGIN IMMEDIATE")
                con.executemany(INSERT_EVENT, rows)
                if note is not None:
                    con.execute(NOTE_META, note)
                con.execute("COMMIT")
                self._committed_seq = end
        except sqlite3.Error as exc:
            lost = self._last_seq - self._committed_seq  # an open batch's earlier appends
            self._abandon()
            # the open batch transaction (and its earlier appends) went with the rollback
            self._last_seq = self._committed_seq
            self._batch_pending = 0
            if lost:
                self._broken = (
                    f"journal {self.path}: a failed write took back {lost} event(s) already "
                    f"counted as appended ({exc}); the account in memory holds steps the file "
                    "does not: reopen the journal (restart the workspace) to continue"
                )
            elif not self._batch_depth and self._written(end):
                # the COMMIT reported an error yet went through: the events are durable
                self._committed_seq = self._last_seq = end
                return self._appended(start, end, events)
            raise JournalError(f"cannot append to journal {self.path}: {exc}") from exc
        self._last_seq = end
        return self._appended(start, end, events)

    def _appended(self, start: int, end: int, events: Sequence[AccountEvent]) -> list[int]:
        seqs = list(range(start, end + 1))
        for listener in self.listeners:
            try:
                listener(seqs, events)
            except Exception:  # a listener must never undo a durable append
                _log.exception("a journal listener failed")
        return seqs

    def note(self, key: str, value: str) -> None:
        """Write ``meta[key] = value`` in the transaction of the next append (scale-out:
        the last bus command whose step this journal took, so a command redelivered
        after a crash is recognised as done).  Dropped if no append follows before
        ``clear_note``."""
        self._note = (key, value.encode())

    def clear_note(self) -> None:
        self._note = None

    def meta(self, key: str) -> str | None:
        """A value of the journal's ``meta`` table, if set."""
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = row[0]
        return value.decode() if isinstance(value, bytes) else str(value)

    def _abandon(self) -> None:
        """Roll back whatever transaction a failure left open (SQLite may already have
        rolled it back itself: SQLITE_FULL, SQLITE_IOERR)."""
        con = self._con
        if con.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")

    def _written(self, end: int) -> bool:
        """After a failed COMMIT: are rows up to ``end`` in the file after all?  When
        even this read fails, the next append looks again before writing anything."""
        try:
            stored = self._stored_last_seq()
        except sqlite3.Error:
            self._unverified = True
            return False
        return stored == end

    def _stored_last_seq(self) -> int:
        row = self._con.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def _verify(self) -> None:
        """Make sure the file ends where this journal thinks it does before writing
        after a failure that could not be confirmed."""
        try:
            stored = self._stored_last_seq()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read journal {self.path}: {exc}") from exc
        self._unverified = False
        if stored != self._committed_seq:
            self._broken = (
                f"journal {self.path} holds events up to seq {stored} but the account in "
                f"memory only up to {self._committed_seq} (a write reported as failed went "
                "through): reopen the journal (restart the workspace) to continue"
            )
            raise JournalError(self._broken)

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
            lost = self._last_seq - self._committed_seq
            self._abandon()
            self._last_seq = self._committed_seq
            if lost:
                self._broken = (
                    f"journal {self.path}: committing a batch failed ({exc}) and took back "
                    f"{lost} event(s) already counted as appended: reopen the journal "
                    "(restart the workspace) to continue"
                )
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
        try:
            rows = self._con.execute(
                "SELECT start_ms, end_ms, reason, symbol, recorded_ms FROM ("
                " SELECT * FROM gaps ORDER BY id DESC LIMIT ?) ORDER BY id",
                (-1 if limit is None else limit,),
            ).fetchall()
        except sqlite3.Error as exc:  # e.g. an older journal opened read-only
            raise JournalError(f"cannot read the gaps of journal {self.path}: {exc}") from exc
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
        """The order events with ``seq`` > ``seq`` (the protocol's ``resume``), all at
        once; ``order_event_pages`` gives them in bounded pages."""
        return [item for page in self.order_event_pages(seq) for item in page]

    def order_event_pages(
        self, since: int, page_size: int = PAGE_SIZE, until: int | None = None
    ) -> Iterator[list[tuple[int, OrderEvent]]]:
        """The order events with ``since`` < seq (<= ``until``), in order, as pages of
        at most ``page_size``.  Each page is one query of its own (keyset: seq > the
        last one sent), so nothing stays open between pages: a server can await
        between them, appends may happen meanwhile (``until``: stop at the seq the
        snapshot was taken at), and memory stays bounded by the page."""
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        after = since
        while True:
            page = self.order_events_page(after, page_size, until)
            if not page:
                return
            yield page
            if len(page) < page_size:
                return
            after = page[-1][0]

    def order_events_page(
        self, after: int, limit: int, until: int | None = None
    ) -> list[tuple[int, OrderEvent]]:
        """At most ``limit`` order events with ``after`` < seq (<= ``until``), in order."""
        bound = self._last_seq if until is None else until
        rows = self._con.execute(
            "SELECT seq, body FROM events WHERE kind = 'order' AND seq > ? AND seq <= ? "
            "ORDER BY seq LIMIT ?",
            (after, bound, limit),
        ).fetchall()
        found: list[tuple[int, OrderEvent]] = []
        for row_seq, body in rows:
            event = self._decode(row_seq, body)
            if not isinstance(event, OrderEvent):
                raise JournalError(f"journal {self.path}: event {row_seq} is not an order event")
            found.append((row_seq, event))
        return found

    def latest_orders(
        self, statuses: Collection[OrderStatus] | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Order]:
        """Every top-level order in its latest journaled state, in placement order
        (``statuses``: only those); read in pages.  The views of orders that left the
        account's memory (``Account.retain``) read them here."""
        latest = [
            seq
            for (seq,) in self._con.execute(
                "SELECT max(seq) FROM events WHERE kind = 'order' GROUP BY order_id "
                "ORDER BY min(seq)"
            )
        ]
        for start in range(0, len(latest), page_size):
            chunk = latest[start : start + page_size]
            marks = ",".join("?" * len(chunk))
            bodies = dict(
                self._con.execute(
                    f"SELECT seq, body FROM events WHERE seq IN ({marks})", chunk
                ).fetchall()
            )
            for seq in chunk:
                event = self._decode(seq, bodies[seq])
                if isinstance(event, OrderEvent) and (
                    statuses is None or event.order.status in statuses
                ):
                    yield event.order

    def latest_order(self, order_id: str) -> Order | None:
        """An order (or a leg) in its latest journaled state, or ``None``.  A scan of
        the order events (there is no index by order id: see ``last_order_seq``), for
        orders that left the account's memory."""
        row = self._con.execute(
            "SELECT seq, body FROM events WHERE kind = 'order' AND order_id = ? "
            "ORDER BY seq DESC LIMIT 1",
            (order_id,),
        ).fetchone()
        if row is not None:
            event = self._decode(row[0], row[1])
            return event.order if isinstance(event, OrderEvent) else None
        # a leg: its events are its group's; the encoded id (length-prefixed, so
        # order-1 does not match order-12) narrows the scan to the groups that name it
        needle = msgspec.msgpack.encode(order_id)
        for seq, body in self._con.execute(
            "SELECT seq, body FROM events WHERE kind = 'order' AND instr(body, ?) > 0 "
            "ORDER BY seq DESC",
            (needle,),
        ):
            event = self._decode(seq, body)
            if isinstance(event, OrderEvent):
                for leg in event.order.legs:
                    if leg.id == order_id:
                        return leg
        return None

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
        *,
        retain: int | None = None,
    ) -> Account:
        """A fresh account in exactly the state the stored events describe: the wallet,
        positions, open orders (trailing peaks included), id counters, and the last
        price seen per symbol (from marks and position updates; restored prices are
        never fresh: nothing fills against them and they mark positions as stale).
        ``retain``: the account's bound on final orders in memory (``Account.retain``),
        kept while it is rebuilt.  Raises ``JournalError`` naming the first event that
        does not apply (``journal check`` reports the same)."""
        account = Account(self.config, symbols=symbols, rules=rules)
        account.retain(retain)
        failure = self._replay(account)
        if failure is not None:
            raise JournalError(f"journal {self.path}: {failure[1]}")
        return account

    def _replay(
        self, account: Account, progress: Callable[[int], None] | None = None
    ) -> tuple[int, str] | None:
        """Apply every stored event to ``account``; ``(seq, why)`` of the first that
        does not decode or apply (the account then holds the events before it)."""
        prices: dict[str, Decimal] = {}
        cursor = self._con.execute("SELECT seq, body FROM events ORDER BY seq")
        expected = 1
        for n, (seq, body) in enumerate(cursor, 1):
            if seq != expected:
                return seq, f"event {seq} follows event {expected - 1}: events are missing"
            expected = seq + 1
            try:
                event = self._codec.decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return seq, f"event {seq} is damaged: {exc}"
            try:
                account.apply(event)
            except REBUILD_ERRORS as exc:
                return seq, f"event {seq} does not apply: {exc}"
            if isinstance(event, PositionEvent):
                prices[event.position.symbol] = event.position.current_price
            elif isinstance(event, MarkEvent):
                prices.update(event.prices)
            if n % 1000 == 0:
                account.trim()
                if progress is not None:
                    progress(seq)
        account.trim()
        account.restore_prices(prices)
        return None

    def verify(self, progress: Callable[[int], None] | None = None) -> Verification:
        """Check that every stored event decodes and applies, in order, from the stored
        config (what a reopen does, without keeping the account): the first that does
        not, and what the account holds up to it."""
        account = Account(self.config)
        account.retain(PAGE_SIZE)
        failure = self._replay(account, progress)
        events = self._stored_last_seq()
        return Verification(
            path=self.path,
            events=events,
            applied=failure[0] - 1 if failure is not None else events,
            first_bad_seq=failure[0] if failure is not None else None,
            reason=failure[1] if failure is not None else None,
            open_orders=len(account.open_orders),
            positions=len(account.positions),
            fills=account.fill_count,
            # without the trailing zeros of the account's arithmetic (5145.85370300000)
            balances={a: plain(b.total) for a, b in account.balances().items()},
        )

    def copy_valid_prefix(self, target: str | Path) -> Verification:
        """Write the events before the first one that does not apply into a new journal
        at ``target`` (same config, same seqs; the file must not exist), for the
        recovery path of ``journal salvage``; returns what was checked."""
        found = self.verify()
        target = Path(target)
        if target.exists():
            raise JournalError(f"{target} exists: salvage writes a new file")
        with Journal.open(target, config=self.config) as copy, copy.batch():
            cursor = self._con.execute(
                "SELECT seq, body FROM events WHERE seq <= ? ORDER BY seq", (found.applied,)
            )
            for seq, body in cursor:
                copy._append_raw(seq, body)
        return found

    def _append_raw(self, seq: int, body: bytes) -> None:
        """Copy one stored row (``copy_valid_prefix``): re-encoded from its event so
        the copy holds what this code writes."""
        event = self._codec.decode(body)
        if seq != self._last_seq + 1:
            raise JournalError(f"journal {self.path}: seq {seq} does not follow {self._last_seq}")
        self.append([event])

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the file (an open batch's appends are committed first) and release
        its lock."""
        if self._closed:
            return
        try:
            if self._con.in_transaction:
                self._commit_batch()
        finally:
            self._closed = True
            self._con.close()
            if self._lock is not None:
                self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """What ``Journal.verify`` found (``journal check`` prints it)."""

    path: Path
    events: int  # the last seq stored
    applied: int  # events that applied, in order, from the first
    first_bad_seq: int | None  # the first event that does not decode or apply
    reason: str | None
    open_orders: int
    positions: int
    fills: int
    balances: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def _settings(config: AccountConfig, other: AccountConfig) -> str:
    """The settings of ``config`` that differ from ``other``'s, as ``name value``: the
    whole of both, repr'd, buried the one that differed among nine that did not."""
    parts = []
    for name in config.__struct_fields__:
        value, theirs = getattr(config, name), getattr(other, name)
        if value != theirs:
            shown = {k: str(v) for k, v in value.items()} if isinstance(value, dict) else value
            parts.append(f"{name} {shown}")
    return ", ".join(parts)
