"""Version 2's book and candle commands over a real server and engine."""

from __future__ import annotations

from ws_peer import PeerFactory

from workspace import Workspace


def book(symbol: str, top: float, update_id: int) -> dict[str, object]:
    return {
        "type": "BOOK_UPDATE",
        "symbol": symbol,
        "bids": [[top - n, 1.0] for n in range(20)],
        "asks": [[top + 1 + n, 1.0] for n in range(20)],
        "lastUpdateId": update_id,
        "timestamp": 1,
    }


async def test_a_book_subscription_gets_the_engines_books_at_its_depth(
    workspace: Workspace, peer: PeerFactory
) -> None:
    client = await peer()
    refused = await client.reply({"action": "subscribe_book", "symbol": "ETHUSDT"})
    assert (refused["type"], refused["code"]) == ("ERROR", "INVALID_PARAMS")  # no books yet
    workspace.engine.books_enabled = True  # what the depth work does
    reply = await client.reply({"action": "subscribe_book", "symbol": "ethusdt", "depth": 5})
    assert (reply["type"], reply["symbol"], reply["book"], reply["depth"]) == (
        "SUBSCRIBED",
        "ETHUSDT",
        True,
        5,
    )
    workspace.engine.publish_book(book("ETHUSDT", 2000.0, 7))
    update = await client.until(lambda m: m["type"] == "BOOK_UPDATE")
    assert (update["lastUpdateId"], len(update["bids"]), len(update["asks"])) == (7, 5, 5)
    gone = await client.reply({"action": "unsubscribe_book", "symbol": "ETHUSDT"})
    assert (gone["type"], gone["book"]) == ("UNSUBSCRIBED", True)
    again = await peer()  # a later subscriber gets the latest book at once
    await again.reply({"action": "subscribe_book", "symbol": "ETHUSDT", "depth": 10})
    latest = await again.until(lambda m: m["type"] == "BOOK_UPDATE")
    assert (latest["lastUpdateId"], len(latest["bids"])) == (7, 10)


async def test_candles_come_from_what_the_engine_has_seen(peer: PeerFactory) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    update = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    reply = await client.reply(
        {"action": "get_candles", "symbol": "btcusdt", "interval": "1m", "limit": 5}
    )
    assert (reply["type"], reply["symbol"], reply["interval"]) == ("CANDLES", "BTCUSDT", "1m")
    assert 1 <= len(reply["candles"]) <= 5
    open_time, high, low = reply["candles"][-1][0], reply["candles"][-1][2], reply["candles"][-1][3]
    assert open_time % 60_000 == 0
    assert low <= update["price"] <= high or update["timestamp"] < open_time
    bad = await client.reply({"action": "get_candles", "symbol": "BTCUSDT", "interval": "9m"})
    assert bad["code"] == "INVALID_PARAMS"
