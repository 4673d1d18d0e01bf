"""``EventPublisher``: every account event, journal first, then Redis.

The journal calls ``on_append`` after each append is durable; the events are queued in
order and a writer task copies them to the user's event stream ``P:events:{user}``
with the entry id ``{seq}-0`` (``XADD`` with an explicit id: Redis refuses an id that
is not above the stream's last, so publishing the same event twice is harmless).  An
order event that is the direct reply to a bus command carries the command's tag
(``r``) so that the gateway waiting for it answers in the event's place.

When Redis was unreachable or restarted (``resync``), the writer asks each stream for
its last id and publishes again, from the journal, everything after it (at most the
stream's length bound): nothing a client was told about is missing from Redis once it
is back.  A stream that belongs to another journal (a wiped or replaced journal file:
another ``journal_id``) is dropped and rebuilt.

Entries that are not this journal's events, written to the stream by something else
(another workspace on the same Redis with the same ``--bus-prefix``, a hand-typed
``XADD``), would have made Redis refuse every later event as "not above the last" and
the publisher take each refusal for a republished event: the events were journaled and
never delivered, with no word anywhere.  Such entries are removed (logged as an error),
the stream's last id is set back to the last event, the refused events are written,
and ``EVENTS_REPAIRED`` on the user's state stream tells the gateways to read again
from their last event (a gateway that read the foreign entry is past those ids).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import ResponseError

from workspace.bus import entries
from workspace.bus.keys import BusKeys
from workspace.bus.link import Redis, fields_of, last_entry, xrange
from workspace.engine import account_messages
from workspace.journal import Journal
from workspace.journal.codec import EventCodec
from workspace.trading.events import AccountEvent, OrderEvent

_log = logging.getLogger("workspace.scaleout")

EVENTS_MAXLEN = 100_000
WRITE_BATCH = 500
REPAIRED = "EVENTS_REPAIRED"
"""The message on ``P:state:{user}`` after foreign entries left the event stream."""
STATE_MAXLEN = 20
"""Entries kept in ``P:state:{user}`` (its latest few state messages)."""


class EventPublisher:
    def __init__(
        self,
        redis: Redis,
        keys: BusKeys,
        journals: Mapping[str, Journal],
        *,
        maxlen: int = EVENTS_MAXLEN,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.journals = dict(journals)
        self.maxlen = maxlen
        self._codec = EventCodec()
        self._queue: deque[tuple[str, int, dict[str, Any]]] = deque()
        self._queued: dict[tuple[str, int], dict[str, Any]] = {}
        self._ready = asyncio.Event()
        self.published = 0
        self._written: dict[str, int] = {}  # user -> highest seq known to be in Redis
        self._progress = asyncio.Event()
        for user, journal in self.journals.items():
            self.attach(user, journal)

    def attach(self, user: str, journal: Journal) -> None:
        self.journals[user] = journal

        def on_append(seqs: list[int], events: Sequence[AccountEvent]) -> None:
            self._enqueue(user, seqs, events)

        journal.listeners.append(on_append)

    def _enqueue(self, user: str, seqs: Sequence[int], events: Sequence[AccountEvent]) -> None:
        for seq, event in zip(seqs, events, strict=True):
            fields = self._fields(seq, event)
            self._queue.append((user, seq, fields))
            self._queued[(user, seq)] = fields
        self._ready.set()

    def _fields(self, seq: int, event: AccountEvent) -> dict[str, Any]:
        fields: dict[str, Any] = {"k": event.kind, "e": self._codec.encode(event)}
        if isinstance(event, OrderEvent):
            fields["m"] = entries.dumps(
                account_messages.order_update(event.order, seq, event.ts_ms)
            )
        return fields

    def tag(self, user: str, seq: int, tag: str) -> bool:
        """Mark event ``seq`` of ``user`` as the reply to the command ``tag``; False when
        it is no longer queued (then the reply must travel on its own)."""
        fields = self._queued.get((user, seq))
        if fields is None:
            return False
        fields["r"] = tag
        return True

    @property
    def backlog(self) -> int:
        return len(self._queue)

    # -- writing ---------------------------------------------------------------------
    async def run(self) -> None:
        """Write queued events until cancelled; raises on a Redis failure (the caller
        reconnects and calls ``resync``)."""
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            batch = [self._queue[i] for i in range(min(WRITE_BATCH, len(self._queue)))]
            await self._write(batch)
            for _ in batch:
                user, seq, _fields = self._queue.popleft()
                self._queued.pop((user, seq), None)

    async def _write(
        self, batch: Sequence[tuple[str, int, dict[str, Any]]], *, repairing: bool = True
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, seq, fields in batch:
                pipe.xadd(
                    self.keys.events(user),
                    fields_of(fields),
                    id=entries.event_id(seq),
                    maxlen=self.maxlen,
                    approximate=True,
                )
            results = await pipe.execute(raise_on_error=False)
        foreign: set[str] = set()
        for (user, seq, _fields), result in zip(batch, results, strict=True):
            if isinstance(result, ResponseError):
                if "equal or smaller" not in str(result):
                    raise result
                if seq > self._written.get(user, 0):
                    foreign.add(user)  # not ours above our last event
                continue  # else already there (published again after a restart)
            if isinstance(result, Exception):
                raise result
        if foreign:
            if not repairing:
                raise RuntimeError(f"the event streams of {sorted(foreign)} refuse new events")
            for user in sorted(foreign):
                await self._remove_foreign(user)
            await self._write([item for item in batch if item[0] in foreign], repairing=False)
            for user in sorted(foreign):
                await self._tell_repaired(user)
        self.published += len(batch)
        for user, seq, _fields in batch:
            if seq > self._written.get(user, 0):
                self._written[user] = seq
        self._progress.set()
        self._progress = asyncio.Event()

    async def _remove_foreign(self, user: str) -> None:
        """Remove what follows ``user``'s last published event in its stream (none of it
        is ours), and set the stream's last id back to that event."""
        stream = self.keys.events(user)
        good = self._written.get(user, 0)
        removed: list[bytes] = []
        while page := await xrange(self.redis, stream, f"{good}-1", "+", WRITE_BATCH):
            ids = [entry_id for entry_id, _fields in page]
            await self.redis.xdel(stream, *ids)
            removed += ids
        _log.error(
            "%s held %d entries after event %d that are not this journal's events (the "
            "first: %s): something else writes to this key (another workspace with the "
            "bus prefix %r?); removed them, and the events after %d go out now",
            stream,
            len(removed),
            good,
            removed[0].decode() if removed else "?",
            self.keys.prefix,
            good,
        )
        # (redis-py has no xsetid; Redis 5+ has the command)
        await self.redis.execute_command("XSETID", stream, entries.event_id(good))  # type: ignore[no-untyped-call]

    async def _tell_repaired(self, user: str) -> None:
        message = {"type": REPAIRED, "seq": self._written.get(user, 0)}
        await self.redis.xadd(
            self.keys.state(user),
            fields_of({"m": entries.dumps(message)}),
            maxlen=STATE_MAXLEN,
            approximate=True,
        )

    async def wait_published(self, user: str, seq: int, timeout_s: float = 5.0) -> None:
        """Return once ``user``'s events up to ``seq`` are in Redis (a snapshot at
        ``seq`` is answered only then: a gateway resuming from it finds every event
        before it in the stream).  ``TimeoutError`` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while self._written.get(user, 0) < seq:
                await self._progress.wait()

    async def resync(self) -> None:
        """Make every user's stream hold what its journal holds (up to ``maxlen`` back),
        then go on with what is queued.  Called at start and after Redis came back."""
        self._queue.clear()
        self._queued.clear()
        for user, journal in self.journals.items():
            await self.resync_user(user, journal)

    async def resync_user(self, user: str, journal: Journal) -> None:
        stream = self.keys.events(user)
        journal_key = self.keys.journal(user)
        stored = await self.redis.get(journal_key)
        top = await last_entry(self.redis, stream)
        published = entries.seq_of(top[0]) if top is not None else 0
        if stored != journal.journal_id.encode() or published > journal.last_seq:
            if top is not None:
                _log.warning(
                    "%s holds events of another journal: rebuilding it from %s",
                    stream,
                    journal.path,
                )
            await self.redis.delete(stream)
            await self.redis.set(journal_key, journal.journal_id)
            published = 0
        until = journal.last_seq  # later events reach the queue through the listener
        after = max(published, until - self.maxlen)
        self._written[user] = max(self._written.get(user, 0), after)
        while after < until:
            # one bounded query per page: appends go on between them
            page = list(itertools.islice(journal.events(after), WRITE_BATCH))
            batch = [(user, seq, self._fields(seq, event)) for seq, event in page if seq <= until]
            if not batch:
                break
            await self._write(batch)
            after = batch[-1][1]
        self._written[user] = max(self._written.get(user, 0), until)
        self._progress.set()
        self._progress = asyncio.Event()
