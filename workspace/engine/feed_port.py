"""What the engine needs from a market feed (``BinanceFeed`` fits it), so the engine
can be driven by the real feed client, or by nothing at all in replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from workspace.market.book import OrderBook
from workspace.market.records import FeedRecord, Kline

RecordCallback = Callable[[FeedRecord], None]
"""Tickers, trades and book tickers for every streamed symbol; diff depth records
(``DepthSnapshot`` then ``DepthUpdate``) for the symbols whose book is kept; ``Kline``
records for the kline streams the engine asked for."""


class FeedStatusLike(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str: ...


StatusCallback = Callable[[FeedStatusLike], None]


class GapLike(Protocol):
    """A completed outage (``workspace.market.status.Gap``): exchange event times of
    the last record before it and the first after it (either may be unknown), why, and
    the symbol when only that symbol's order book lost events."""

    @property
    def last_event_ms_before(self) -> int | None: ...

    @property
    def first_event_ms_after(self) -> int | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def symbol(self) -> str | None: ...


GapCallback = Callable[[GapLike], None]


@dataclass(frozen=True, slots=True)
class FeedCallbacks:
    """The engine's callbacks, handed to the feed it builds."""

    on_record: RecordCallback
    on_status: StatusCallback
    on_gap: GapCallback


class FeedPort(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def subscribed(self) -> frozenset[str]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, *symbols: str) -> None: ...

    async def unsubscribe(self, *symbols: str) -> None: ...

    # -- order books ---------------------------------------------------------------
    @property
    def books(self) -> frozenset[str]:
        """Symbols whose local order book the feed keeps."""
        ...

    def book(self, symbol: str) -> OrderBook | None:
        """The synchronised book of ``symbol`` (updated in place), ``None`` while it is
        (re)built or not kept."""
        ...

    async def subscribe_book(self, *symbols: str) -> None: ...

    async def unsubscribe_book(self, *symbols: str) -> None: ...

    # -- klines --------------------------------------------------------------------
    async def subscribe_klines(self, symbol: str, *intervals: str) -> None: ...

    async def unsubscribe_klines(self, symbol: str, *intervals: str) -> None: ...

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Kline]: ...


FeedFactory = Callable[[FeedCallbacks], FeedPort]
"""Builds the feed with the engine's callbacks (the engine owns the feed)."""
