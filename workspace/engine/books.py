"""The engine's order books: which ones it keeps, what it tells the account, and the
``BOOK_UPDATE`` messages it publishes.

Two sources, one behaviour:

- **live**: the feed keeps each book (``workspace.market.local_books``, Binance's
  synchronisation procedure) and hands the engine a ``DepthSnapshot`` each time a book
  is (re)built, then every ``DepthUpdate`` right after applying it; the engine reads
  the feed's own ``OrderBook`` (no second copy).  A book the feed discarded for a
  sequence gap is noticed on the symbol's next record (``lost``).
- **replay**: :class:`RecordedBooks` rebuilds each book from the recording's
  ``DepthSnapshot`` and ``DepthUpdate`` records with the same ``BookSync`` code, event
  by event, so the same recording gives the same books (and gaps) every time.

Each change is one :class:`BookChange` ``(symbol, book or None, event time)``: the
engine hands it to the account (``Account.on_book``) and to :class:`BookMessages`,
which builds ``BOOK_UPDATE`` (PROTOCOL v2: bids descending, asks ascending, the top
20 levels) for the books someone holds, at most ``interval_s`` apart per symbol.
Each ``BOOK_UPDATE`` also carries the symbol's last trade (``last_price``,
``last_time``; an extension): the ladder's middle row shows it, and the 24 h ticker's
last price, a second old at worst, would sit outside the spread it is drawn between.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from workspace.errors import WorkspaceError
from workspace.market.book import BookSync, OrderBook, Step
from workspace.market.records import DepthSnapshot, DepthUpdate
from workspace.market.status import Gap
from workspace.session import Message

BOOK_LEVELS: Final = 20
"""Levels a side in a ``BOOK_UPDATE`` (PROTOCOL v2: ``depth`` 5, 10 or 20)."""
BOOK_INTERVAL_S: Final = 0.1
"""At most 10 ``BOOK_UPDATE``s a second per symbol (PROTOCOL v2)."""


class BookUnavailable(WorkspaceError):
    """No order book for that symbol (not kept, or being synchronised)."""

    code = "NO_MARKET_DATA"


@dataclass(frozen=True, slots=True)
class BookChange:
    symbol: str
    book: OrderBook | None
    """The book as of this change; ``None``: it was lost (a sequence gap) and is being
    rebuilt."""
    event_ms: int | None


LastTrade = tuple[Decimal, int]
"""A symbol's last trade: (price, trade time in ms, the exchange's)."""


def book_message(
    book: OrderBook, levels: int = BOOK_LEVELS, now_ms: int = 0, last: LastTrade | None = None
) -> Message:
    """``BOOK_UPDATE`` of ``book``'s top ``levels`` a side (prices and sizes as JSON
    numbers, like every wire number); ``timestamp`` is the exchange time of the last
    event applied (``now_ms`` for a book that is only a snapshot); ``last``: the
    symbol's last trade, as ``last_price`` / ``last_time`` (left out when none was
    seen)."""
    message: Message = {
        "type": "BOOK_UPDATE",
        "symbol": book.symbol,
        "bids": [[float(price), float(qty)] for price, qty in book.bids(levels)],
        "asks": [[float(price), float(qty)] for price, qty in book.asks(levels)],
        "lastUpdateId": book.last_update_id,
        "timestamp": book.event_ms if book.event_ms is not None else now_ms,
    }
    if last is not None:
        message["last_price"] = float(last[0])
        message["last_time"] = last[1]
    return message


class RecordedBooks:
    """Replay: books rebuilt from recorded depth records (sans-I/O, deterministic).

    A recording made by ``python -m workspace record`` holds the diff depth frames and,
    where the recorder asked for them, the REST snapshots (``DepthSnapshot``) in the
    order they arrived; ``BookSync`` buffers the events until a snapshot continues
    them, exactly as live.  A sequence gap in the recording loses the book until the
    next recorded snapshot, and is reported like the feed reports one (``on_gap``).
    """

    def __init__(self, on_gap: Callable[[Gap], None]) -> None:
        self._on_gap = on_gap
        self._syncs: dict[str, BookSync] = {}
        self._last_ms: dict[str, int] = {}
        self._open_gaps: dict[str, tuple[int | None, str]] = {}

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._syncs)

    def book(self, symbol: str) -> OrderBook | None:
        sync = self._syncs.get(symbol)
        return None if sync is None else sync.book

    def on_record(self, record: DepthSnapshot | DepthUpdate) -> list[BookChange]:
        sync = self._syncs.get(record.symbol)
        if sync is None:
            sync = self._syncs[record.symbol] = BookSync(record.symbol)
        if isinstance(record, DepthSnapshot):
            step = sync.on_snapshot(record)
        else:
            step = sync.on_update(record)
        changes: list[BookChange] = []
        self._act(sync, step, changes)
        return changes

    def _act(self, sync: BookSync, step: Step, changes: list[BookChange]) -> None:
        symbol = sync.symbol
        if step.gap is not None:
            if symbol not in self._open_gaps:
                self._open_gaps[symbol] = (self._last_ms.get(symbol), f"depth gap: {step.gap}")
            changes.append(BookChange(symbol, None, None))
        for record in step.records:
            event_ms = record.event_time if isinstance(record, DepthUpdate) else None
            if event_ms is not None:
                self._last_ms[symbol] = event_ms
                gap = self._open_gaps.pop(symbol, None)
                if gap is not None:
                    self._on_gap(Gap(gap[0], event_ms, gap[1], symbol))
            changes.append(BookChange(symbol, sync.book, event_ms))
        for update in step.replay:
            self._act(sync, sync.on_update(update), changes)

    def close(self) -> list[Gap]:
        """The gaps still open at the end of the recording (never closed)."""
        gaps = [
            Gap(before, None, reason, symbol)
            for symbol, (before, reason) in self._open_gaps.items()
        ]
        self._open_gaps.clear()
        return gaps


class BookMessages:
    """``BOOK_UPDATE``s of the books someone holds (``acquire``/``release``, reference
    counted), built at most once per ``interval_s`` per symbol: a change within the
    interval is sent when it ends (live, a timer), or with the next change that is
    due (replay, on data time), so the latest book always goes out."""

    def __init__(
        self,
        publish: Callable[[Message], None],
        now_s: Callable[[], float],
        *,
        timers: bool,
        interval_s: float = BOOK_INTERVAL_S,
        levels: int = BOOK_LEVELS,
        wall_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        self._publish = publish
        self._now_s = now_s
        self._timers = timers
        self._interval_s = interval_s
        self._levels = levels
        self._wall_ms = wall_ms
        self._refs: Counter[str] = Counter()
        self._books: dict[str, OrderBook] = {}
        self._latest: dict[str, Message] = {}
        self._last_trade: dict[str, LastTrade] = {}
        self._sent_at: dict[str, float] = {}
        self._pending: dict[str, asyncio.TimerHandle | None] = {}
        self.built = 0

    @property
    def held(self) -> frozenset[str]:
        return frozenset(s for s, n in self._refs.items() if n > 0)

    def acquire(self, symbol: str) -> None:
        self._refs[symbol] += 1

    def release(self, symbol: str) -> bool:
        """True when nobody holds the book any more."""
        if self._refs[symbol] <= 0:
            return False
        self._refs[symbol] -= 1
        if self._refs[symbol] > 0:
            return False
        del self._refs[symbol]
        self._latest.pop(symbol, None)
        self._sent_at.pop(symbol, None)
        timer = self._pending.pop(symbol, None)
        if timer is not None:
            timer.cancel()
        return True

    def on_trade(self, symbol: str, price: Decimal, trade_ms: int) -> None:
        """A trade printed: the next ``BOOK_UPDATE`` of ``symbol`` carries it (trades
        come with changes of the book, which send it)."""
        self._last_trade[symbol] = (price, trade_ms)
        self._latest.pop(symbol, None)  # its last trade is stale now

    def changed(self, change: BookChange) -> None:
        symbol = change.symbol
        if change.book is None:
            self._books.pop(symbol, None)
            self._latest.pop(symbol, None)
            return
        self._books[symbol] = change.book
        self._latest.pop(symbol, None)  # stale now
        if self._refs[symbol] <= 0:
            return
        if self._timers and symbol in self._pending:
            return  # a send is due at the end of the interval: it takes the latest book
        now = self._now_s()
        due = self._sent_at.get(symbol, float("-inf")) + self._interval_s
        if now >= due:
            self._send(symbol)
        elif self._timers:
            loop = asyncio.get_running_loop()
            self._pending[symbol] = loop.call_later(due - now, self._send, symbol)
        else:
            self._pending[symbol] = None  # sent with the next change that is due

    def _send(self, symbol: str) -> None:
        self._pending.pop(symbol, None)
        book = self._books.get(symbol)
        if book is None or self._refs[symbol] <= 0:
            return
        message = self._build(symbol, book)
        self._sent_at[symbol] = self._now_s()
        self._publish(message)

    def _build(self, symbol: str, book: OrderBook) -> Message:
        message = book_message(book, self._levels, self._wall_ms(), self._last_trade.get(symbol))
        self._latest[symbol] = message
        self.built += 1
        return message

    def latest(self, symbol: str) -> Message | None:
        """The current ``BOOK_UPDATE`` of ``symbol`` (built now if the book changed
        since the last one), or ``None`` without a book."""
        message = self._latest.get(symbol)
        if message is not None:
            return message
        book = self._books.get(symbol)
        return None if book is None else self._build(symbol, book)

    def forget(self, symbol: str) -> None:
        """The book is no longer kept (its symbol stopped streaming)."""
        self._books.pop(symbol, None)
        self._latest.pop(symbol, None)
        self._last_trade.pop(symbol, None)

    def close(self) -> None:
        for timer in self._pending.values():
            if timer is not None:
                timer.cancel()
        self._pending.clear()
