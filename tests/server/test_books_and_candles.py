"""Version 2's book and candle commands over a real server and engine: the engine's own
local books (from the simulator's diff depth) and the exchange's klines."""

from __future__ import annotations

from tests.server.ws_peer import PeerFactory
from workspace import Workspace


async def test_a_book_subscription_gets_the_engines_books_at_its_depth(
    workspace: Workspace, peer: PeerFactory
) -> None:
    client = await peer()
    assert workspace.engine.books_enabled  # a live engine keeps the books of what it streams
    reply = await client.reply({"action": "subscribe_book", "symbol": "ethusdt", "depth": 5})
    assert (reply["type"], reply["symbol"], reply["book"], reply["depth"]) == (
        "SUBSCRIBED",
        "ETHUSDT",
        True,
        5,
    )
    update = await client.until(lambda m: m["type"] == "BOOK_UPDATE")
    assert (update["symbol"], len(update["bids"]), len(update["asks"])) == ("ETHUSDT", 5, 5)
    bids = [price for price, _ in update["bids"]]
    asks = [price for price, _ in update["asks"]]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    book = workspace.engine.order_book("ETHUSDT")
    assert update["lastUpdateId"] <= book.last_update_id  # the engine's book, as it was
    newer = await client.until(
        lambda m: m["type"] == "BOOK_UPDATE" and m["lastUpdateId"] > update["lastUpdateId"]
    )
    assert len(newer["bids"]) == 5  # it follows the book
    gone = await client.reply({"action": "unsubscribe_book", "symbol": "ETHUSDT"})
    assert (gone["type"], gone["book"]) == ("UNSUBSCRIBED", True)
    again = await peer()  # a later subscriber gets the latest book at once, at its depth
    await again.reply({"action": "subscribe_book", "symbol": "ETHUSDT", "depth": 10})
    latest = await again.until(lambda m: m["type"] == "BOOK_UPDATE")
    assert len(latest["bids"]) == len(latest["asks"]) == 10
    assert latest["lastUpdateId"] >= newer["lastUpdateId"]


async def test_candles_are_the_exchanges_klines(peer: PeerFactory) -> None:
    client = await peer()
    reply = await client.reply(
        {"action": "get_candles", "symbol": "btcusdt", "interval": "1m", "limit": 5}
    )
    assert (reply["type"], reply["symbol"], reply["interval"]) == ("CANDLES", "BTCUSDT", "1m")
    times = [row[0] for row in reply["candles"]]
    assert len(times) == 5
    assert times == [times[0] + 60_000 * n for n in range(5)]
    for _, open_, high, low, close, volume in reply["candles"]:
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert volume >= 0
    assert reply["gaps"] == []
    full = await client.reply({"action": "get_candles", "symbol": "BTCUSDT", "interval": "1h"})
    assert len(full["candles"]) == 500  # the protocol's default limit
    bad = await client.reply({"action": "get_candles", "symbol": "BTCUSDT", "interval": "9m"})
    assert bad["code"] == "INVALID_PARAMS"
    unknown = await client.reply({"action": "get_candles", "symbol": "NOPEUSDT", "interval": "1m"})
    assert unknown["code"] == "INVALID_SYMBOL"
