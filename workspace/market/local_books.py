"""The feed's local order books: one :class:`~workspace.market.book.BookSync` per symbol
whose book is wanted, the REST snapshots they ask for, and their gaps.

The feed hands every diff depth event of a wanted symbol to :meth:`LocalBooks.on_update`
(synchronously, from the socket callback); what a book applies goes downstream through
``deliver`` (a :class:`~workspace.market.records.DepthSnapshot` each time a book is
(re)built, then the :class:`~workspace.market.records.DepthUpdate` records that continue
it).  Snapshots are fetched by one task per symbol, retried with a growing delay (or the
``Retry-After`` Binance asks for) while they fail or come back older than the buffered
events.  A sequence gap discards the book, is recorded as a :class:`Gap` for the symbol,
and closes when the rebuilt book applies its first event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from workspace.market.book import (
    BadLevelError,
    BookGapError,
    BookSync,
    OrderBook,
    Step,
    SyncState,
)
from workspace.market.decode import FrameError
from workspace.market.errors import RestError
from workspace.market.records import DepthSnapshot, DepthUpdate, FeedRecord
from workspace.market.status import FeedStats, Gap

log = logging.getLogger("workspace.market.feed")

_MAX_RETRY_S: Final = 10.0
_LOGGED_ERRORS: Final = 10

FetchSnapshot = Callable[[str], Awaitable[DepthSnapshot]]


class LocalBooks:
    def __init__(
        self,
        *,
        fetch_snapshot: FetchSnapshot,
        deliver: Callable[[FeedRecord], None],
        record_gap: Callable[[Gap], None],
        stats: FeedStats,
        on_bad: Callable[[str, object], None] | None = None,
        buffer_limit: int = 10_000,
        retry_s: float = 0.5,
    ) -> None:
        self._fetch = fetch_snapshot
        self._deliver = deliver
        self._record_gap = record_gap
        self._stats = stats
        self._on_bad = on_bad
        self._buffer_limit = buffer_limit
        self._retry_s = retry_s
        self._syncs: dict[str, BookSync] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._last_ms: dict[str, int] = {}
        self._open_gaps: dict[str, tuple[int | None, str]] = {}
        self.handing_over = False
        """Two connections deliver (a make-before-break handover): an event that starts
        after the book's next id is the newer connection running ahead, not a gap; the
        older connection brings the ids in between."""

    # -- which books ---------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._syncs)

    def want(self, symbol: str) -> None:
        if symbol not in self._syncs:
            self._syncs[symbol] = BookSync(symbol, max_buffered=self._buffer_limit)
            self._ready[symbol] = asyncio.Event()

    def drop(self, symbol: str) -> None:
        self._syncs.pop(symbol, None)
        self._ready.pop(symbol, None)
        self._last_ms.pop(symbol, None)
        gap = self._open_gaps.pop(symbol, None)
        if gap is not None:
            self._record_gap(Gap(gap[0], None, gap[1], symbol))
        task = self._tasks.pop(symbol, None)
        if task is not None:
            task.cancel()

    def book(self, symbol: str) -> OrderBook | None:
        sync = self._syncs.get(symbol)
        return sync.book if sync is not None else None

    def state(self, symbol: str) -> SyncState | None:
        sync = self._syncs.get(symbol)
        return sync.state if sync is not None else None

    async def wait_synced(self, symbol: str) -> OrderBook:
        """Return the book once it is synchronised (raises ``KeyError`` if not wanted)."""
        while True:
            book = self.book(symbol)
            if book is not None:
                return book
            await self._ready[symbol].wait()

    def reset_all(self) -> None:
        """The stream was interrupted: every book starts over on the next connection
        (the outage itself is the feed's gap, not one per book)."""
        for symbol, sync in self._syncs.items():
            sync.reset()
            self._ready[symbol].clear()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for symbol, (before, reason) in self._open_gaps.items():
            self._record_gap(Gap(before, None, reason, symbol))
        self._open_gaps.clear()

    # -- events --------------------------------------------------------------------------
    def on_update(self, update: DepthUpdate) -> bool:
        """Take one diff event; ``False`` if no book of its symbol is wanted."""
        sync = self._syncs.get(update.symbol)
        if sync is None:
            return False
        book = sync.book
        if book is not None:
            first, last = update.first_update_id, book.last_update_id + 1
            if self.handing_over and first > last:
                return True
            if first <= last <= update.final_update_id:  # (self._apply, written out: hot)
                try:
                    book.apply(update)
                except (BadLevelError, BookGapError):
                    pass  # the full path says what happened
                else:
                    self._applied(update)
                    return True
        self._act(sync, sync.on_update(update))
        return True

    def _apply(self, sync: BookSync, update: DepthUpdate) -> None:
        book = sync.book
        # The common case, without a Step: a synchronised book takes the next event.
        if book is not None and (
            update.first_update_id <= book.last_update_id + 1 <= update.final_update_id
        ):
            try:
                book.apply(update)
            except (BadLevelError, BookGapError):
                pass  # the full path below says what happened
            else:
                self._applied(update)
                return
        self._act(sync, sync.on_update(update))

    def _applied(self, update: DepthUpdate) -> None:
        symbol = update.symbol
        self._last_ms[symbol] = update.event_time
        if symbol in self._open_gaps:
            before, reason = self._open_gaps.pop(symbol)
            self._record_gap(Gap(before, update.event_time, reason, symbol))
        self._deliver(update)

    def _act(self, sync: BookSync, step: Step) -> None:
        symbol = sync.symbol
        if step.bad is not None and self._on_bad is not None:
            self._on_bad(f"{symbol} book level: {step.bad}", symbol)
        if step.gap is not None:
            self._stats.book_gaps += 1
            self._ready[symbol].clear()
            if symbol not in self._open_gaps:
                self._open_gaps[symbol] = (self._last_ms.get(symbol), f"depth gap: {step.gap}")
            log.warning("order book %s resynchronising: %s", symbol, step.gap)
        for record in step.records:
            if type(record) is DepthUpdate:
                event_ms = record.event_time
                self._last_ms[symbol] = event_ms
                if symbol in self._open_gaps:
                    before, reason = self._open_gaps.pop(symbol)
                    self._record_gap(Gap(before, event_ms, reason, symbol))
            else:
                self._stats.book_snapshots += 1
                self._ready[symbol].set()
            self._deliver(record)
        for update in step.replay:
            self._apply(sync, update)
        if step.need_snapshot:
            task = self._tasks.get(symbol)
            if task is None or task.done():
                self._tasks[symbol] = asyncio.get_running_loop().create_task(
                    self._synchronise(sync), name=f"binance-feed-book-{symbol}"
                )

    async def _synchronise(self, sync: BookSync) -> None:
        """Fetch snapshots until the book is built (or no longer wanted)."""
        symbol = sync.symbol
        delay = self._retry_s
        while self._syncs.get(symbol) is sync and sync.state is SyncState.BUFFERING:
            wait: float | None = None
            try:
                snapshot = await self._fetch(symbol)
            except (RestError, FrameError) as exc:
                self._stats.snapshot_errors += 1
                count = self._stats.snapshot_errors
                if count <= _LOGGED_ERRORS or count % 100 == 0:
                    log.warning("depth snapshot for %s failed (#%d): %s", symbol, count, exc)
                retry_after = getattr(exc, "retry_after_s", None)
                wait = retry_after if retry_after is not None else delay
            else:
                if self._syncs.get(symbol) is not sync:
                    return
                step = sync.on_snapshot(snapshot)
                self._act(sync, step)
                if not step.need_snapshot:
                    return
                wait = delay  # older than the buffered events: ask again, a little later
            await asyncio.sleep(wait)
            delay = min(_MAX_RETRY_S, delay * 2)
