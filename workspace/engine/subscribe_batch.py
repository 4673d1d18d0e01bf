"""Coalesce concurrent symbol subscriptions into one SUBSCRIBE.

Binance allows 5 control messages per second per connection.  Server clients and
panels subscribe one symbol per command, so ten clients asking for ten symbols within
the same moment would queue ten SUBSCRIBEs (two seconds).  Requests that arrive while
one is being sent join the next batch instead: one SUBSCRIBE per batch, and an
unlisted symbol fails only its own callers (the listing is checked first), not the
batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from workspace.engine.feed_port import FeedPort
from workspace.engine.tasks import TaskSet
from workspace.market.errors import UnknownSymbolError


class SubscribeBatcher:
    def __init__(self, feed: FeedPort, lock: asyncio.Lock, tasks: TaskSet) -> None:
        self._feed = feed
        self._lock = lock  # shared with unsubscribes, so the two never interleave
        self._tasks = tasks
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._flusher: asyncio.Task[None] | None = None

    @property
    def streaming(self) -> frozenset[str]:
        return self._feed.subscribed

    async def subscribe(self, names: Collection[str]) -> None:
        """Return once every name is streaming; raises the first failure."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for name in dict.fromkeys(names):
            future = self._pending.get(name)
            if future is None:
                future = self._pending[name] = loop.create_future()
            futures.append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = self._tasks.spawn(
                self._flush(), name="engine.subscribe-batch", report_errors=False
            )
        # shield: one caller giving up must not cancel the others' shared future.
        results = await asyncio.gather(*map(asyncio.shield, futures), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the requests of this loop turn join the first batch
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, {}
                await self._send(batch)

    async def _send(self, batch: Mapping[str, asyncio.Future[None]]) -> None:
        wanted = [name for name in batch if name not in self._feed.subscribed]
        unknown = await self._unlisted(wanted)
        for name in unknown:
            _settle(batch[name], UnknownSymbolError(f"unknown symbol {name}: not listed"))
        wanted = [name for name in wanted if name not in unknown]
        try:
            if wanted:
                await self._feed.subscribe(*wanted)
        except Exception as error:
            for name in wanted:
                _settle(batch[name], error)
        for future in batch.values():
            _settle(future, None)

    async def _unlisted(self, names: list[str]) -> set[str]:
        listing: Callable[[], Awaitable[Mapping[str, Any]]] | None = getattr(
            self._feed, "exchange_symbols", None
        )
        if listing is None or not names:
            return set()
        try:
            known = await listing()
        except Exception:
            return set()  # let the feed's own subscribe report it
        return {name for name in names if name not in known}


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        future.exception()  # retrieved: the callers see it through their shields
