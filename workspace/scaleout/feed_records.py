"""The feed owner's market records on Redis Streams, for the engines of the other
shards (``engine --feed bus``): every shard then marks and fills its accounts on the
same market as the owner's own accounts.

The display messages of the market streams (``MARKET_UPDATE``, ``BOOK_UPDATE``) are
not enough for that: they are conflated, carry no trades, and a book of 20 levels is
not the book fills walk.  So the owner also copies the records its feed hands its
engines, exactly (msgspec, the exchange's own field names and decimal strings), to one
stream per symbol, ``P:feed:{SYM}``, in the feed's order: tickers, trades, book
tickers and diff depth events.  A depth snapshot is not copied: an engine builds its
book from the owner's current book (the ``depth_snapshot`` market command) and the
diffs that follow, by Binance's own rules (``LocalBooks``).

Entry fields: ``k`` = the record's kind (one letter), ``r`` = the record (JSON).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final

import msgspec

from workspace.bus.keys import BusKeys
from workspace.bus.link import Redis, fields_of
from workspace.market.records import (
    BookTicker,
    DepthUpdate,
    FeedRecord,
    MiniTicker,
    Ticker,
    Trade,
)

_log = logging.getLogger("workspace.scaleout")

RecordType = type[Ticker] | type[MiniTicker] | type[BookTicker] | type[Trade] | type[DepthUpdate]

KINDS: Final[dict[type, bytes]] = {
    Ticker: b"t",
    MiniTicker: b"m",
    BookTicker: b"b",
    Trade: b"T",
    DepthUpdate: b"d",
}
_DECODERS: Final[dict[bytes, msgspec.json.Decoder[object]]] = {
    kind: msgspec.json.Decoder(record_type) for record_type, kind in KINDS.items()
}
_encoder = msgspec.json.Encoder()

FEED_MAXLEN = 20_000
"""Records kept per symbol stream (``MAXLEN ~``): several seconds of a busy symbol's
trades and depth diffs, enough for an engine that reads a little late."""
QUEUE_LIMIT = 200_000
"""Records waiting for Redis at most; beyond it the oldest are dropped (an engine
then sees a depth gap and resynchronises its book)."""
BATCH = 512


def encode(record: FeedRecord) -> tuple[bytes, bytes] | None:
    """``(kind, json)`` of a record the other shards need; ``None`` for the others."""
    kind = KINDS.get(type(record))
    if kind is None:
        return None
    return kind, _encoder.encode(record)


def decode(kind: bytes, data: bytes) -> FeedRecord | None:
    """The record of an entry (``None``: a kind this version does not know)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return None
    record: FeedRecord = decoder.decode(data)  # type: ignore[assignment]
    return record


class RecordPublisher:
    """Copies the owner's feed records to ``P:feed:{SYM}``.  ``take`` is a tap of the
    shared feed (synchronous, in the feed's order); ``run`` writes them, batch by
    batch, in that order."""

    def __init__(self, redis: Redis, keys: BusKeys, *, maxlen: int = FEED_MAXLEN) -> None:
        self.redis = redis
        self.keys = keys
        self.maxlen = maxlen
        self._queue: deque[tuple[str, bytes, bytes]] = deque()
        self._ready = asyncio.Event()
        self.published = 0
        self.dropped = 0

    def take(self, record: FeedRecord) -> None:
        encoded = encode(record)
        if encoded is None:
            return
        symbol = getattr(record, "symbol", "")
        if len(self._queue) >= QUEUE_LIMIT:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                _log.warning("feed records: Redis is behind, %d records dropped", self.dropped)
        self._queue.append((symbol, *encoded))
        self._ready.set()

    async def run(self) -> None:
        """Write until cancelled; raises on a Redis failure (the caller reconnects and
        calls it again: the batch in hand is written again, which only repeats records
        an engine's book ignores as old or takes as the same prices)."""
        queue = self._queue
        while True:
            if not queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            batch = [queue[n] for n in range(min(BATCH, len(queue)))]
            async with self.redis.pipeline(transaction=False) as pipe:
                for symbol, kind, data in batch:
                    pipe.xadd(
                        self.keys.feed(symbol),
                        fields_of({"k": kind, "r": data}),
                        maxlen=self.maxlen,
                        approximate=True,
                    )
                await pipe.execute()
            for _ in batch:
                queue.popleft()
            self.published += len(batch)
