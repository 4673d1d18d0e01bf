"""Waiting for a symbol's first market data.  The exchange judges every order against
the market (PERCENT_PRICE, a market order's MIN_NOTIONAL, a stop's side of it), and a
MARKET order by its quote quantity is sized against it at once: an order on a symbol
the engine does not follow yet waits for the symbol's first price or book before it is
placed (``Engine.market_for``), and an awaited ``ws.subscribe`` returns once its symbols
have one (``Engine.first_prices``).  The engine wakes the waiters of a symbol whenever
data of it reaches the account; each waiter then asks its own question again (a price
may arrive that is still not enough, e.g. a ticker without the side it needs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class FirstMarket:
    """Per-symbol wake-ups for coroutines waiting until ``ready()`` holds."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._closed = False

    def __bool__(self) -> bool:
        """Anyone waiting (the engine's hot path checks this before :meth:`wake`)."""
        return bool(self._events)

    def wake(self, symbol: str) -> None:
        """Data of ``symbol`` reached the account: its waiters look again."""
        event = self._events.pop(symbol, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        """The engine stops: every waiter returns now, and later ones at once."""
        self._closed = True
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    async def wait(self, symbol: str, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``ready()``, ``timeout_s`` passed or :meth:`close`; returns
        ``ready()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not ready():
            left = deadline - loop.time()
            if left <= 0 or self._closed:
                return False
            event = self._events.setdefault(symbol, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)
        return True
