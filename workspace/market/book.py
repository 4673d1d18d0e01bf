"""A local order book, kept in step with Binance's diff depth stream.

Two parts, both pure (no I/O, no clock):

- :class:`OrderBook`: the data structure.  Each side is a dict ``price -> quantity``
  beside a sorted list of its prices (``bisect``): finding a level is O(log n), changing
  the quantity of an existing level (most updates) is O(1), inserting or removing one
  moves part of a list of pointers (a ``memmove``; measured faster than a
  ``sortedcontainers.SortedDict`` up to thousands of levels, see docs/feed.md), and
  the best levels are the ends of the lists.  Prices and quantities are the exchange's
  exact ``Decimal`` values.
- :class:`BookSync`: Binance's procedure "How to manage a local order book correctly"
  for one symbol: buffer the stream's events, ask for a REST snapshot, drop the
  buffered events with ``u <= lastUpdateId``, start from the first event that spans
  ``lastUpdateId + 1``, then apply each event whose ``U`` follows the book's update id;
  an event that skips ids is a gap: the book is discarded and rebuilt from a new
  snapshot.  The owner (the feed) does the I/O it asks for (:attr:`Step.need_snapshot`)
  and hands downstream the records it returns (:attr:`Step.records`).

::

    sync = BookSync("BTCUSDT")
    step = sync.on_update(update)          # buffered; step.need_snapshot is True
    step = sync.on_snapshot(snapshot)      # step.records: [snapshot]; step.replay: events
    for event in step.replay:
        sync.on_update(event)              # each applied in turn
    sync.book.best_bid()                   # (Decimal('104920.00'), Decimal('0.00263'))
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from workspace.market.records import DepthSnapshot, DepthUpdate, Level

__all__ = ["BookGapError", "BookSync", "OrderBook", "Step", "SyncState"]

_ZERO: Final = Decimal(0)


class BookGapError(ValueError):
    """A diff depth event does not continue the book (update ids were skipped)."""


class OrderBook:
    """Price levels of one symbol, best first on each side.

    Build one from a snapshot (:meth:`from_snapshot`) and :meth:`apply` the diff events
    that follow it; :meth:`apply` checks Binance's sequencing rule itself, so a book can
    never silently skip an event.
    """

    __slots__ = ("_ask_prices", "_asks", "_bid_prices", "_bids", "event_ms", "last_update_id",
                 "symbol")  # fmt: skip

    def __init__(self, symbol: str, last_update_id: int = 0) -> None:
        self.symbol = symbol
        self.last_update_id = last_update_id
        """Update id of the last snapshot or event applied."""
        self.event_ms: int | None = None
        """Exchange event time of the last event applied (``None``: only a snapshot)."""
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_prices: list[Decimal] = []  # ascending: the best bid is the last
        self._ask_prices: list[Decimal] = []  # ascending: the best ask is the first

    @classmethod
    def from_snapshot(cls, snapshot: DepthSnapshot) -> OrderBook:
        book = cls(snapshot.symbol, snapshot.last_update_id)
        book._load(snapshot.bids, snapshot.asks)
        return book

    def _load(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self._bids = {price: qty for price, qty in bids if qty}
        self._asks = {price: qty for price, qty in asks if qty}
        self._bid_prices = sorted(self._bids)
        self._ask_prices = sorted(self._asks)

    # -- changes -----------------------------------------------------------------------
    def apply(self, update: DepthUpdate) -> bool:
        """Apply one diff event; ``False`` if it is older than the book (ignored).

        Raises :class:`BookGapError` (and changes nothing) if the event starts after
        ``last_update_id + 1``: events were missed, the book must be rebuilt.
        """
        if update.final_update_id <= self.last_update_id:
            return False
        if update.first_update_id > self.last_update_id + 1:
            raise BookGapError(
                f"{self.symbol}: book at update id {self.last_update_id}, next event "
                f"starts at {update.first_update_id} (ids {self.last_update_id + 1}.."
                f"{update.first_update_id - 1} missed)"
            )
        # An event that overlaps ids already applied (U <= last < u) is applied whole:
        # its quantities are absolute as of u, so setting them again is harmless.
        self._set_levels(update.bids, self._bids, self._bid_prices)
        self._set_levels(update.asks, self._asks, self._ask_prices)
        self.last_update_id = update.final_update_id
        self.event_ms = update.event_time
        return True

    @staticmethod
    def _set_levels(
        levels: tuple[Level, ...], quantities: dict[Decimal, Decimal], prices: list[Decimal]
    ) -> None:
        for price, qty in levels:
            if qty:
                if price not in quantities:
                    insort(prices, price)
                quantities[price] = qty
            elif price in quantities:
                del quantities[price]
                del prices[bisect_left(prices, price)]

    # -- reading -----------------------------------------------------------------------
    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all if ``None``), highest price first."""
        prices = self._bid_prices
        chosen = prices[::-1] if n is None else prices[: -n - 1 : -1] if n > 0 else []
        quantities = self._bids
        return [(price, quantities[price]) for price in chosen]

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all if ``None``), lowest price first."""
        prices = self._ask_prices
        chosen = prices if n is None else prices[:n] if n > 0 else []
        quantities = self._asks
        return [(price, quantities[price]) for price in chosen]

    def best_bid(self) -> Level | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> Level | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def spread(self) -> Decimal | None:
        if not self._bid_prices or not self._ask_prices:
            return None
        return self._ask_prices[0] - self._bid_prices[-1]

    def mid(self) -> Decimal | None:
        if not self._bid_prices or not self._ask_prices:
            return None
        return (self._ask_prices[0] + self._bid_prices[-1]) / 2

    def bid_quantity(self, price: Decimal) -> Decimal:
        """The quantity bid at exactly ``price`` (zero if no such level)."""
        return self._bids.get(price, _ZERO)

    def ask_quantity(self, price: Decimal) -> Decimal:
        return self._asks.get(price, _ZERO)

    @property
    def bid_depth(self) -> int:
        """Number of bid levels."""
        return len(self._bid_prices)

    @property
    def ask_depth(self) -> int:
        return len(self._ask_prices)

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: a book that cannot be right."""
        return bool(self._bid_prices and self._ask_prices) and (
            self._bid_prices[-1] >= self._ask_prices[0]
        )

    def copy(self) -> OrderBook:
        other = OrderBook(self.symbol, self.last_update_id)
        other.event_ms = self.event_ms
        other._bids = dict(self._bids)
        other._asks = dict(self._asks)
        other._bid_prices = list(self._bid_prices)
        other._ask_prices = list(self._ask_prices)
        return other

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, last_update_id={self.last_update_id}, "
            f"best_bid={self.best_bid()}, best_ask={self.best_ask()}, "
            f"levels={self.bid_depth}/{self.ask_depth})"
        )


class SyncState(enum.StrEnum):
    WAITING = "waiting"
    """No event yet (just subscribed, or reset after a lost connection)."""
    BUFFERING = "buffering"
    """Events are buffered while a snapshot is fetched."""
    SYNCED = "synced"
    """The book is current: every event is applied as it arrives."""


@dataclass(slots=True)
class Step:
    """What one event or snapshot did, for the owner to act on."""

    records: list[DepthSnapshot | DepthUpdate] = field(default_factory=list)
    """Hand these downstream, in order: the snapshot a book was (re)built from, or the
    event just applied.  Events buffered, ignored or dropped are not here."""
    replay: list[DepthUpdate] = field(default_factory=list)
    """After a snapshot: the buffered events that continue it.  Pass each to
    :meth:`BookSync.on_update` in turn (it applies them), so that whoever reads the
    book while one is handed downstream sees the book as of that event."""
    need_snapshot: bool = False
    """Fetch a (new) snapshot and pass it to :meth:`BookSync.on_snapshot`."""
    gap: str | None = None
    """The synchronised book was discarded because events were missed (the reason)."""


class BookSync:
    """Binance's synchronisation procedure for one symbol's local book (sans-I/O)."""

    def __init__(self, symbol: str, *, max_buffered: int = 10_000) -> None:
        self.symbol = symbol
        self.max_buffered = max_buffered
        self.state = SyncState.WAITING
        self._book: OrderBook | None = None
        self._buffer: deque[DepthUpdate] = deque(maxlen=max_buffered)
        self.snapshots_applied = 0
        self.gaps = 0

    @property
    def book(self) -> OrderBook | None:
        """The synchronised book, or ``None`` while (re)synchronising."""
        return self._book if self.state is SyncState.SYNCED else None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the book and the buffer (the stream was interrupted)."""
        self.state = SyncState.WAITING
        self._book = None
        self._buffer.clear()

    def on_update(self, update: DepthUpdate) -> Step:
        if self.state is SyncState.SYNCED:
            book = self._book
            assert book is not None
            try:
                applied = book.apply(update)
            except BookGapError as gap:
                self.gaps += 1
                self._book = None
                self._buffer.clear()
                self._buffer.append(update)
                self.state = SyncState.BUFFERING
                return Step(need_snapshot=True, gap=str(gap))
            return Step(records=[update]) if applied else Step()
        buffer = self._buffer
        if buffer and update.final_update_id <= buffer[-1].final_update_id:
            return Step()  # a repeat of an event already buffered
        if buffer and update.first_update_id > buffer[-1].final_update_id + 1:
            # The buffer itself broke: what came before the break can never be used.
            buffer.clear()
        buffer.append(update)
        if self.state is SyncState.WAITING:
            self.state = SyncState.BUFFERING
            return Step(need_snapshot=True)
        return Step()

    def on_snapshot(self, snapshot: DepthSnapshot) -> Step:
        """Build the book from ``snapshot`` and the buffered events, if they join up.

        If the snapshot is older than every buffered event can continue (the first
        event left starts after ``lastUpdateId + 1``), it is refused and
        :attr:`Step.need_snapshot` asks for another, as Binance's procedure says.
        """
        if self.state is not SyncState.BUFFERING:
            return Step()  # reset (or already synced) while the snapshot was on its way
        last_id = snapshot.last_update_id
        buffer = self._buffer
        while buffer and buffer[0].final_update_id <= last_id:
            buffer.popleft()
        if buffer and buffer[0].first_update_id > last_id + 1:
            return Step(need_snapshot=True)  # the snapshot is too old: ask again
        self._book = OrderBook.from_snapshot(snapshot)
        self.state = SyncState.SYNCED
        self.snapshots_applied += 1
        replay = list(buffer)
        buffer.clear()
        return Step(records=[snapshot], replay=replay)
