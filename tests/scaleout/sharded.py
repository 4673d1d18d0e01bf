"""What the sharded scale-out tests share: users placed on a shard, a market buy
waited on until it fills, and the prices the feed owner published."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.scaleout.peer import TIMEOUT, Peer
from workspace.bus.keys import BusKeys
from workspace.bus.link import open_redis, xrange
from workspace.scaleout import feed_records
from workspace.scaleout.shards import shard_of

KEYS = BusKeys()


def user_on(shard: int, taken: set[str]) -> str:
    """A user name whose stable hash falls on ``shard`` of 2."""
    for n in range(100):
        name = f"user{n}"
        if name not in taken and shard_of(name, 2) == shard:
            return name
    raise AssertionError("no name hashes to that shard")


async def buy_and_fill(peer: Peer) -> dict[str, Any]:
    placed = await peer.reply(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
         "quantity": 0.002}
    )  # fmt: skip
    assert placed["type"] == "ORDER_UPDATE", placed
    if placed["order"]["status"] == "FILLED":
        return placed
    order_id = placed["order"]["id"]
    return await peer.until(
        lambda m: (
            m["type"] == "ORDER_UPDATE"
            and m["order"]["id"] == order_id
            and m["order"]["status"] == "FILLED"
        )
    )


async def fills_once_priced(peer: Peer, within_s: float = TIMEOUT) -> None:
    """``peer`` (a fresh connection) subscribes BTCUSDT, sees its first price, and a
    market buy of it fills."""
    await peer.snapshot()
    await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await peer.until(lambda m: m["type"] == "MARKET_UPDATE", within_s)
    assert (await buy_and_fill(peer))["order"]["status"] == "FILLED"


async def owner_prices(url: str, symbol: str) -> set[Decimal]:
    """Every price the owner's feed published for ``symbol`` (trades, tickers, book
    tickers, book levels)."""
    redis = open_redis(url)
    prices: set[Decimal] = set()
    try:
        low = "-"
        while page := await xrange(redis, KEYS.feed(symbol), low, "+", 1000):
            for _id, fields in page:
                record = feed_records.decode(fields[b"k"], fields[b"r"])
                for name in ("price", "last_price", "bid_price", "ask_price"):
                    value = getattr(record, name, None)
                    if value is not None:
                        prices.add(Decimal(value))
                for side in ("bid_levels", "ask_levels"):
                    prices.update(Decimal(level[0]) for level in getattr(record, side, ()))
            low = "(" + page[-1][0].decode()
    finally:
        await redis.aclose()
    return prices
