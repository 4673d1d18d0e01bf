"""A local order book, kept in step with Binance's diff depth stream.

Two parts, both pure (no I/O, no clock):

- :class:`OrderBook`: the data structure.  Each side is a dict ``price -> quantity``
  beside a sorted list of its prices (``bisect``): finding a level is O(log n), changing
  the quantity of an existing level (most updates) is O(1), inserting or removing one
  moves part of a list of pointers (a ``memmove``; measured faster than a
  ``sortedcontainers.SortedDict`` up to thousands of levels, see docs/feed.md), and
  the best levels are the ends of the lists.  Prices are keyed as integers of 1e-8
  (Binance's own fixed point: hashing and comparing them is far cheaper than
  ``Decimal``) and the exchange's strings are kept, so every level reads back as the
  exact ``Decimal`` the exchange sent.
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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from workspace.market.records import DepthSnapshot, DepthUpdate, Level, WireLevel

__all__ = ["BadLevelError", "BookGapError", "BookSync", "OrderBook", "Step", "SyncState", "units"]

_ZERO: Final = Decimal(0)


class BookGapError(ValueError):
    """A diff depth event does not continue the book (update ids were skipped)."""


class BadLevelError(ValueError):
    """A level whose price or quantity is not a number the exchange can send."""


SCALE: Final = 100_000_000
"""Levels are keyed by price in units of 1e-8: Binance's own fixed point."""
MAX_UNITS: Final = 2**63 - 1
"""Binance keeps prices and quantities as 64-bit integers of 1e-8 units."""


def units(text: str) -> int:
    """``"104920.01000000"`` -> ``10492001000000``: an exact decimal string in 1e-8 units.

    Raises :class:`BadLevelError` for anything else (not a number, a sign, an exponent,
    more than 8 decimals, beyond 64 bits).
    """
    digits = text.replace(".", "", 1)
    if len(text) > 9 and text[-9] == "." and digits.isascii() and digits.isdigit():
        value = int(digits)  # the exchange's usual 8 decimals: the fast path
    else:
        whole, _, fraction = text.partition(".")
        if (
            not whole.isascii()
            or not whole.isdigit()
            or len(fraction) > 8
            or (fraction and not (fraction.isascii() and fraction.isdigit()))
        ):
            raise BadLevelError(f"{text!r} is not a decimal number with up to 8 decimals")
        value = int(whole) * SCALE + (int(fraction.ljust(8, "0")) if fraction else 0)
    if value > MAX_UNITS:
        raise BadLevelError(f"{text} is beyond what the exchange can represent")
    return value


_Change = tuple[int, str, str, int]  # key, price text, quantity text, quantity units


def _parse(levels: tuple[WireLevel, ...], side: str) -> list[_Change]:
    """Every level in 1e-8 units, checked; the usual 8-decimal strings take an inline
    fast path (this runs for every level of every diff event)."""
    changes = []
    for price, qty in levels:
        digits = price.replace(".", "", 1)
        if len(price) > 9 and price[-9] == "." and digits.isascii() and digits.isdigit():
            key = int(digits)
            if key > MAX_UNITS:
                raise BadLevelError(f"{price} is beyond what the exchange can represent")
        else:
            key = units(price)
        if key == 0:
            raise BadLevelError(f"{side} level price {price} is not positive")
        digits = qty.replace(".", "", 1)
        if len(qty) > 9 and qty[-9] == "." and digits.isascii() and digits.isdigit():
            amount = int(digits)
            if amount > MAX_UNITS:
                raise BadLevelError(f"{qty} is beyond what the exchange can represent")
        else:
            amount = units(qty)
        changes.append((key, price, qty, amount))
    return changes


class _Side:
    """One side of a book: quantity and price texts by price key, the sorted keys, and
    the levels already read as Decimals (dropped when a level changes)."""

    __slots__ = ("keys", "levels", "qty", "text")

    def __init__(self) -> None:
        self.qty: dict[int, str] = {}
        self.text: dict[int, str] = {}
        self.keys: list[int] = []  # ascending
        self.levels: dict[int, Level] = {}

    def apply(self, changes: list[_Change]) -> None:
        qty, text, keys, levels = self.qty, self.text, self.keys, self.levels
        for key, price, quantity, amount in changes:
            if amount:
                if key not in qty:
                    insort(keys, key)
                    text[key] = price
                qty[key] = quantity
                levels.pop(key, None)
            elif key in qty:
                del qty[key]
                del text[key]
                levels.pop(key, None)
                del keys[bisect_left(keys, key)]

    def level(self, key: int) -> Level:
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = (Decimal(self.text[key]), Decimal(self.qty[key]))
        return level

    def copy(self) -> _Side:
        other = _Side()
        other.qty = dict(self.qty)
        other.text = dict(self.text)
        other.keys = list(self.keys)
        other.levels = dict(self.levels)
        return other


class OrderBook:
    """Price levels of one symbol, best first on each side.

    Build one from a snapshot (:meth:`from_snapshot`) and :meth:`apply` the diff events
    that follow it; :meth:`apply` checks Binance's sequencing rule itself, so a book can
    never silently skip an event.  Levels are kept as the exchange wrote them and read
    as exact ``Decimal`` values.
    """

    __slots__ = ("_asks", "_bids", "event_ms", "last_update_id", "symbol")

    def __init__(self, symbol: str, last_update_id: int = 0) -> None:
        self.symbol = symbol
        self.last_update_id = last_update_id
        """Update id of the last snapshot or event applied."""
        self.event_ms: int | None = None
        """Exchange event time of the last event applied (``None``: only a snapshot)."""
        self._bids = _Side()
        self._asks = _Side()

    @classmethod
    def from_snapshot(cls, snapshot: DepthSnapshot) -> OrderBook:
        """Raises :class:`BadLevelError` for a level that is not a number."""
        book = cls(snapshot.symbol, snapshot.last_update_id)
        book._bids.apply(_parse(snapshot.bid_levels, "bid"))
        book._asks.apply(_parse(snapshot.ask_levels, "ask"))
        return book

    # -- changes -----------------------------------------------------------------------
    def apply(self, update: DepthUpdate) -> bool:
        """Apply one diff event; ``False`` if it is older than the book (ignored).

        Raises :class:`BookGapError` (and changes nothing) if the event starts after
        ``last_update_id + 1``: events were missed, the book must be rebuilt; and
        :class:`BadLevelError` (changing nothing) if a level is not a number.
        """
        if update.final_update_id <= self.last_update_id:
            return False
        if update.first_update_id > self.last_update_id + 1:
            raise BookGapError(
                f"{self.symbol}: book at update id {self.last_update_id}, next event "
                f"starts at {update.first_update_id} (ids {self.last_update_id + 1}.."
                f"{update.first_update_id - 1} missed)"
            )
        bids = _parse(update.bid_levels, "bid")  # every level checked before any change
        asks = _parse(update.ask_levels, "ask")
        # An event that overlaps ids already applied (U <= last < u) is applied whole:
        # its quantities are absolute as of u, so setting them again is harmless.
        self._bids.apply(bids)
        self._asks.apply(asks)
        self.last_update_id = update.final_update_id
        self.event_ms = update.event_time
        return True

    # -- reading -----------------------------------------------------------------------
    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all if ``None``), highest price first."""
        keys = self._bids.keys
        chosen = keys[::-1] if n is None else keys[: -n - 1 : -1] if n > 0 else []
        level = self._bids.level
        return [level(key) for key in chosen]

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all if ``None``), lowest price first."""
        keys = self._asks.keys
        chosen = keys if n is None else keys[:n] if n > 0 else []
        level = self._asks.level
        return [level(key) for key in chosen]

    def best_bid(self) -> Level | None:
        keys = self._bids.keys
        return self._bids.level(keys[-1]) if keys else None

    def best_ask(self) -> Level | None:
        keys = self._asks.keys
        return self._asks.level(keys[0]) if keys else None

    def spread(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask[0] - bid[0]

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else (ask[0] + bid[0]) / 2

    def bid_quantity(self, price: Decimal) -> Decimal:
        """The quantity bid at exactly ``price`` (zero if no such level)."""
        return self._quantity(self._bids, price)

    def ask_quantity(self, price: Decimal) -> Decimal:
        return self._quantity(self._asks, price)

    @staticmethod
    def _quantity(side: _Side, price: Decimal) -> Decimal:
        scaled = price * SCALE
        if scaled != scaled.to_integral_value():
            return _ZERO  # finer than 1e-8: no such level
        text = side.qty.get(int(scaled))
        return Decimal(text) if text is not None else _ZERO

    @property
    def bid_depth(self) -> int:
        """Number of bid levels."""
        return len(self._bids.keys)

    @property
    def ask_depth(self) -> int:
        return len(self._asks.keys)

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: a book that cannot be right."""
        bids, asks = self._bids.keys, self._asks.keys
        return bool(bids and asks) and bids[-1] >= asks[0]

    def copy(self) -> OrderBook:
        other = OrderBook(self.symbol, self.last_update_id)
        other.event_ms = self.event_ms
        other._bids = self._bids.copy()
        other._asks = self._asks.copy()
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
    bad: str | None = None
    """The event had a level that is not a number: it was dropped (the next event then
    finds ids missing, and the book is rebuilt)."""


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
            except BadLevelError as bad:
                return Step(bad=str(bad))
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
        try:
            self._book = OrderBook.from_snapshot(snapshot)
        except BadLevelError as bad:
            return Step(need_snapshot=True, bad=str(bad))
        self.state = SyncState.SYNCED
        self.snapshots_applied += 1
        replay = list(buffer)
        buffer.clear()
        return Step(records=[snapshot], replay=replay)
