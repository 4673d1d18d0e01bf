"""Real local order books for the fill-model tests: built from a depth snapshot and
changed with diff depth events, exactly as the feed keeps them."""

from __future__ import annotations

from collections.abc import Sequence

from workspace.market.book import OrderBook
from workspace.market.records import DepthSnapshot, DepthUpdate

SYMBOL = "BTCUSDT"

Levels = Sequence[tuple[str, str]]


def _wire(levels: Levels) -> tuple[tuple[str, str], ...]:
    return tuple((price, quantity) for price, quantity in levels)


def book_of(bids: Levels, asks: Levels, *, symbol: str = SYMBOL, update_id: int = 100) -> OrderBook:
    """A book from a REST snapshot: ``bids`` / ``asks`` as (price, quantity) strings."""
    snapshot = DepthSnapshot(
        symbol=symbol, last_update_id=update_id, bid_levels=_wire(bids), ask_levels=_wire(asks)
    )
    return OrderBook.from_snapshot(snapshot)


def change(
    book: OrderBook, *, bids: Levels = (), asks: Levels = (), event_ms: int = 0
) -> OrderBook:
    """Apply one diff event (levels at their new absolute quantity, "0" removes)."""
    next_id = book.last_update_id + 1
    update = DepthUpdate(
        event_type="depthUpdate",
        event_time=event_ms,
        symbol=book.symbol,
        first_update_id=next_id,
        final_update_id=next_id,
        bid_levels=_wire(bids),
        ask_levels=_wire(asks),
    )
    assert book.apply(update)
    return book
