"""What the engine needs from a market feed (``BinanceFeed`` fits it), so the engine
can be driven by the real feed client, or by nothing at all in replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from workspace.market.records import MarketRecord

RecordCallback = Callable[[MarketRecord], None]


class FeedStatusLike(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str: ...


StatusCallback = Callable[[FeedStatusLike], None]


class FeedPort(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def subscribed(self) -> frozenset[str]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, *symbols: str) -> None: ...

    async def unsubscribe(self, *symbols: str) -> None: ...


FeedFactory = Callable[[RecordCallback, StatusCallback], FeedPort]
"""Builds the feed with the engine's two callbacks (the engine owns the feed)."""
