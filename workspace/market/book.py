"""A local order book, kept in step with Binance's diff depth stream.

Two parts, both pure (no I/O, no clock):

- :class:`OrderBook`: the data structure.  Each side is a dict ``price -> quantity``
  keyed by the price as the exchange spells it (``"97000.01000000"``), beside a sorted
  list of the prices in 1e-8 units (Binance's own fixed point; ``bisect``).  Changing the
  quantity of an existing level, most of a diff stream, is one dict write with the
  strings the frame brought: no number is parsed.  A removed price stays in the sorted
  list (dead, skipped when read) until the dead outnumber the live, so a level that goes
  and comes back, as levels near the touch do all the time, moves no list entries.  The
  levels of an event are checked in one quick pass (:meth:`_Side.e8`); anything the pass
  cannot vouch for (another spelling of a number, a sign, garbage) takes the exact path
  (:func:`units`, ``Decimal``), which keys prices by their canonical spelling, so
  ``"97000.5"`` and ``"97000.50000000"`` are one level.  Every level reads back as the
  exact ``Decimal`` the exchange sent (a price as first spelled), built on first read
  by :meth:`OrderBook.asks` / :meth:`OrderBook.bids` and kept until the level changes;
  a taker's walk (:meth:`OrderBook.taker_levels`) parses levels one by one as it
  reaches them and does not keep them.
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
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from workspace.market.book_ingest import apply_e8, taker_levels, written_e8
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


_EXPONENT_E8: Final = -8
_MAX_QUANTITY: Final = Decimal(MAX_UNITS).scaleb(_EXPONENT_E8)


def _canonical(key: int) -> str:
    """The exchange's own spelling of ``key`` units: ``"104920.01000000"``."""
    return f"{key // SCALE}.{key % SCALE:08d}"


def _gone(text: str, side: str, price: str) -> bool:
    """Check a quantity string exactly; ``True`` if it is zero (the level goes).

    Any string ``Decimal`` reads as a finite number from 0 to ``MAX_UNITS`` units with
    at most 8 decimals (the exchange's 64-bit integers of 1e-8).
    """
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = None
    if (
        value is None
        or not value.is_finite()
        or value < 0
        or value > _MAX_QUANTITY
        or value.as_tuple().exponent < _EXPONENT_E8  # type: ignore[operator]
    ):
        raise BadLevelError(f"{side} level quantity {text!r} at {price} is not a quantity")
    return not value


_Change = tuple[str, str, str, bool]
"""A level change read the slow way: canonical price, price as sent, quantity, gone."""


def _parse(levels: tuple[WireLevel, ...], side: str) -> list[_Change]:
    """Every level checked exactly, before any change (the slow path: the fast one is
    :meth:`_Side.apply_e8`).  Prices are read in 1e-8 units (:func:`units`) and keyed by
    their canonical spelling, so ``"97000.5"`` and ``"97000.50000000"`` are one level."""
    changes = []
    for price, qty in levels:
        key = units(price)
        if key == 0:
            raise BadLevelError(f"{side} level price {price} is not positive")
        changes.append((_canonical(key), price, qty, _gone(qty, side, price)))
    return changes


class _Side:
    """One side of a book.

    Levels are keyed by the price as the exchange spells it (8 decimals, no leading
    zeros: ``"97000.01000000"``), so the usual change, a new quantity for a level that
    exists, is one dict write with the string the frame brought; no number is parsed.
    Order comes from a sorted list of prices in 1e-8 units (``bisect``), which holds
    every price the side has listed: a removed level stays listed (a *dead* key, skipped
    when the side is read) until the dead outnumber the live, so a level that goes and
    comes back costs no list insertion.  Except at the best end (the lowest asks, the
    highest bids), where every read and every taker's walk starts and would step over
    them one by one: in a moving market dead keys pile up there (the simulator's books
    held 35-340 of them after a few seconds, and ``best_ask()`` cost 10-160 us instead
    of 1 us), so a read or a walk first unlists the dead keys at that end
    (:meth:`trim_best`: once, then the next reads find a live best level).  Not each
    change: a level at the touch goes and comes back many times between two reads, and
    unlisting it every time cost the diff stream 10 % of its throughput.
    """

    __slots__ = ("dead", "keys", "levels", "listed", "prices", "qty", "sent")

    def __init__(self) -> None:
        self.qty: dict[str, str] = {}  # live levels: price -> quantity, as sent
        self.listed: dict[str, int] = {}  # every price in ``keys`` -> its units
        self.keys: list[int] = []  # ascending units of the listed prices, dead or alive
        self.prices: list[str] = []  # the same prices, spelled, in the same order
        self.sent: dict[str, str] = {}  # price -> as first sent, where it was not canonical
        self.levels: dict[str, tuple[str, Level]] = {}  # read as Decimals: (quantity, level)
        self.dead = 0

    def e8(self, levels: tuple[WireLevel, ...]) -> bool:
        """Are these levels written the exchange's way (``book_ingest.written_e8``)?"""
        return written_e8(self.listed, levels)

    def apply_e8(self, levels: tuple[WireLevel, ...]) -> None:
        """Apply levels :meth:`e8` accepted (``book_ingest.apply_e8``)."""
        self.dead += apply_e8(self.qty, self.listed, self.keys, self.prices, levels)
        if self.dead > 64 and self.dead > len(self.qty):
            self._compact()

    def apply(self, changes: list[_Change]) -> None:
        """Apply changes read by :func:`_parse`."""
        qty, listed, sent = self.qty, self.listed, self.sent
        for price, as_sent, quantity, gone in changes:
            if not gone:
                if price not in qty:
                    if price in listed:
                        self.dead -= 1
                    else:
                        self._list(price, int(price.replace(".", "")))
                    if as_sent != price:
                        sent[price] = as_sent
                qty[price] = quantity
            elif price in qty:
                del qty[price]
                sent.pop(price, None)
                self.dead += 1
        if self.dead > 64 and self.dead > len(qty):
            self._compact()

    def trim_best(self, descending: bool) -> None:
        """Unlist the dead keys at the best end (the end of the list for bids, the start
        for asks; see the class), before a read or a walk starts there."""
        qty, prices = self.qty, self.prices
        if not prices:
            return
        if descending:
            if prices[-1] not in qty:
                start = len(prices) - 1
                while start > 0 and prices[start - 1] not in qty:
                    start -= 1
                self._drop(start, len(prices))
        elif prices[0] not in qty:
            end = 1
            while end < len(prices) and prices[end] not in qty:
                end += 1
            self._drop(0, end)

    def _drop(self, start: int, end: int) -> None:
        """Unlist the dead keys ``prices[start:end]``."""
        listed, levels = self.listed, self.levels
        for price in self.prices[start:end]:
            del listed[price]
            levels.pop(price, None)
        del self.prices[start:end]
        del self.keys[start:end]
        self.dead -= end - start

    def _list(self, price: str, key: int) -> None:
        keys = self.keys
        at = bisect_left(keys, key)
        keys.insert(at, key)
        self.prices.insert(at, price)
        self.listed[price] = key

    def _compact(self) -> None:
        """Drop the dead keys (amortised: at most once per as many removals as levels)."""
        qty, listed = self.qty, self.listed
        self.prices = [price for price in self.prices if price in qty]
        self.keys = [listed[price] for price in self.prices]
        self.listed = {price: listed[price] for price in self.prices}
        self.levels = {price: cached for price, cached in self.levels.items() if price in qty}
        self.dead = 0

    def level(self, price: str) -> Level:
        quantity = self.qty[price]
        cached = self.levels.get(price)
        if cached is not None and cached[0] is quantity:
            return cached[1]
        level = (Decimal(self.sent.get(price, price)), Decimal(quantity))
        self.levels[price] = (quantity, level)
        return level

    def taker(self, descending: bool) -> Iterator[tuple[int, Level]]:
        """The live levels best first, each as (its price in 1e-8 units, the level),
        read one by one as a walk asks for them: a taker that needs twenty levels parses
        twenty, however deep the side is.  Consume it before the side changes.

        A level already read as Decimals (:meth:`read`) is reused; one parsed here is
        not kept: a walk reads each level once (the fill model keeps the walk itself),
        and storing twenty fresh levels cost as much as parsing them.  (The loop is
        ``book_ingest.taker_levels``, compiled.)"""
        return taker_levels(self.keys, self.prices, self.qty, self.levels, self.sent, descending)

    def read(self, count: int | None, descending: bool) -> list[Level]:
        """The best ``count`` levels (all if ``None``), best first, as Decimals."""
        qty, levels, level = self.qty, self.levels, self.level
        return [
            cached[1]
            if (cached := levels.get(price)) is not None and cached[0] is qty[price]
            else level(price)
            for price in self.best(count, descending)
        ]

    def best(self, count: int | None, descending: bool) -> list[str]:
        """The prices of the best ``count`` live levels (all if ``None``).

        Reads a window of listed keys from the best end and drops the dead ones; a
        window with too few live levels is widened (dead keys are at most as many as
        live ones)."""
        self.trim_best(descending)
        qty, prices_listed = self.qty, self.prices
        limit = len(qty) if count is None else min(count, len(qty))
        if limit <= 0:
            return []
        size = limit + (limit >> 1) + 4  # room for a few dead keys among the best
        while True:
            window = prices_listed[: -size - 1 : -1] if descending else prices_listed[:size]
            prices = [price for price in window if price in qty]
            if len(prices) >= limit or size >= len(prices_listed):
                return prices[:limit]
            size = min(len(prices_listed), size + 2 * (limit - len(prices)) + 8)

    def copy(self) -> _Side:
        other = _Side()
        other.qty = dict(self.qty)
        other.listed = dict(self.listed)
        other.prices = list(self.prices)
        other.keys = list(self.keys)
        other.sent = dict(self.sent)
        other.levels = dict(self.levels)
        other.dead = self.dead
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
        book._change(snapshot.bid_levels, snapshot.ask_levels)
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
        # An event that overlaps ids already applied (U <= last < u) is applied whole:
        # its quantities are absolute as of u, so setting them again is harmless.
        bids, asks = update.bid_levels, update.ask_levels
        bid_side, ask_side = self._bids, self._asks
        if bid_side.e8(bids) and ask_side.e8(asks):  # (self._change, written out: hot)
            bid_side.apply_e8(bids)
            ask_side.apply_e8(asks)
        else:
            self._change(bids, asks)
        self.last_update_id = update.final_update_id
        self.event_ms = update.event_time
        return True

    def _change(self, bids: tuple[WireLevel, ...], asks: tuple[WireLevel, ...]) -> None:
        """Every level of both sides checked before any change."""
        bid_side, ask_side = self._bids, self._asks
        if bid_side.e8(bids) and ask_side.e8(asks):
            bid_side.apply_e8(bids)
            ask_side.apply_e8(asks)
        else:
            bid_changes = _parse(bids, "bid")
            ask_changes = _parse(asks, "ask")
            bid_side.apply(bid_changes)
            ask_side.apply(ask_changes)

    # -- reading -----------------------------------------------------------------------
    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all if ``None``), highest price first."""
        return self._bids.read(n, descending=True)

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all if ``None``), lowest price first."""
        return self._asks.read(n, descending=False)

    def taker_levels(self, buy: bool) -> Iterator[tuple[int, Level]]:
        """The levels a taker meets, best first (the asks for a buy), each with its
        price in 1e-8 units (``int(price * 10**8)``, without the arithmetic): parsed
        only as far as it is read.  Consume it before the book changes."""
        side = self._asks if buy else self._bids
        side.trim_best(not buy)  # now, not when the walk starts reading
        return side.taker(not buy)

    def best_bid(self) -> Level | None:
        side = self._bids
        best = side.best(1, descending=True)
        return side.level(best[0]) if best else None

    def best_ask(self) -> Level | None:
        side = self._asks
        best = side.best(1, descending=False)
        return side.level(best[0]) if best else None

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
        if not scaled.is_finite() or scaled != scaled.to_integral_value() or scaled <= 0:
            return _ZERO  # finer than 1e-8 (or not a price): no such level
        text = side.qty.get(_canonical(int(scaled)))
        return Decimal(text) if text is not None else _ZERO

    @property
    def bid_depth(self) -> int:
        """Number of bid levels."""
        return len(self._bids.qty)

    @property
    def ask_depth(self) -> int:
        return len(self._asks.qty)

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: a book that cannot be right."""
        bid, ask = self._bids.best(1, descending=True), self._asks.best(1, descending=False)
        return bool(bid and ask) and self._bids.listed[bid[0]] >= self._asks.listed[ask[0]]

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
