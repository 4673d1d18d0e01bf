"""``MarketPublisher``: the engine's market data onto Redis Streams, for the gateways.

It is one more subscriber of the engine's hub (every symbol, and the books gateways
hold), so it costs the engine what one client costs: the hub conflates for it like
for a slow client, and a Redis that cannot keep up gets the latest price per symbol,
never an unbounded backlog.  Each batch it takes goes out in one pipeline:
``MARKET_UPDATE`` to ``P:market:{SYM}:ticker``, ``BOOK_UPDATE`` (20 levels) to
``P:market:{SYM}:book``, each stream bounded with ``MAXLEN ~``; a feed ``STATUS`` to
``P:status``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from workspace.bus import entries
from workspace.bus.keys import BusKeys
from workspace.bus.link import Redis, fields_of
from workspace.engine.core import Engine
from workspace.protocol.outbox import Outbox
from workspace.session import Message

_log = logging.getLogger("workspace.scaleout")

TICKER_MAXLEN = 1_000
BOOK_MAXLEN = 200
STATUS_MAXLEN = 100
BATCH = 256
ACCOUNT_FIELDS = frozenset(
    {"user", "journal_id", "journal", "journal_reason", "fill_model", "fill_models", "clients"}
)
"""What a market-side STATUS (``P:status``) leaves out: it belongs to one account."""


def market_status(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if key not in ACCOUNT_FIELDS}


class MarketPublisher:
    def __init__(self, engine: Engine, redis: Redis, keys: BusKeys) -> None:
        self.engine = engine
        self.redis = redis
        self.keys = keys
        self.outbox: Outbox = engine.subscribe_messages(symbols=None)
        self.published = 0
        # Which run of the engine published: a gateway that sees it change acquires its
        # symbols and books again (a restarted engine holds only its accounts' own).
        self.boot = uuid.uuid4().hex[:12]

    def hold_book(self, symbol: str, held: bool) -> None:
        self.outbox.set_book(symbol, 20 if held else None)

    async def run(self) -> None:
        """Publish until cancelled; raises on a Redis failure (the caller reconnects:
        what was taken meanwhile is replaced by the next prices)."""
        outbox = self.outbox
        # the feed's state now: the STATUS the engine sent while it started went out
        # before this publisher listened, and the next one is a period away, meanwhile
        # the other shards' feeds would read "down" (after a Redis failure, the state
        # may have changed while nothing was written)
        await self._write([self.engine.status_message()])
        while True:
            batch = [await outbox.get(), *outbox.take(BATCH - 1)]
            await self._write(batch)

    async def _write(self, batch: list[Message]) -> None:
        keys = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            count = 0
            for message in batch:
                kind = message.get("type")
                symbol = message.get("symbol")
                if kind == "MARKET_UPDATE" and isinstance(symbol, str):
                    key, maxlen = keys.ticker(symbol), TICKER_MAXLEN
                elif kind == "BOOK_UPDATE" and isinstance(symbol, str):
                    key, maxlen = keys.book(symbol), BOOK_MAXLEN
                elif kind == "STATUS":
                    key, maxlen = keys.status, STATUS_MAXLEN
                    message = {**market_status(message), "engine_boot": self.boot}
                else:
                    continue  # account messages travel per user (EventPublisher, state)
                pipe.xadd(key, fields_of({"m": entries.dumps(message)}), maxlen=maxlen)
                count += 1
            if count:
                await pipe.execute()
        self.published += count
