"""A cryptofeed Binance feed aimed at the simulator (run as its own process).

``python cryptofeed_client.py WSS_URL HTTPS_URL`` with ``SSL_CERT_FILE`` and
``REQUESTS_CA_BUNDLE`` naming the simulator's certificate (cryptofeed only takes
``wss://``; aiohttp reads the trust store when it is imported, so it has to be set
before the process starts, as a user would ``export`` it).  The simulator is reached
through the feed's endpoint attributes only.  Prints one JSON object: what came in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from decimal import Decimal
from typing import Any

from cryptofeed import FeedHandler
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
from cryptofeed.defines import CANDLES, L2_BOOK, TICKER, TRADES
from cryptofeed.exchanges import Binance

WSS, HTTPS = sys.argv[1], sys.argv[2]
BOOK_UPDATES = 10


# cryptofeed ships no type information (its Binance is Any to mypy); the endpoints are
# class attributes in cryptofeed
class SimulatedBinance(Binance):  # type: ignore[misc]
    websocket_endpoints = [WebsocketEndpoint(WSS)]  # noqa: RUF012
    rest_endpoints = [  # noqa: RUF012
        RestEndpoint(
            HTTPS,
            routes=Routes(
                "/api/v3/exchangeInfo",
                l2book="/api/v3/depth?symbol={}&limit={}",
                authentication="/api/v3/userDataStream",
            ),
        )
    ]


class Resets(logging.Handler):
    """Counts cryptofeed's own "Missing book update detected" warnings."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Missing book update" in record.getMessage():
            Resets.count += 1


def level(price: Decimal, size: Decimal) -> list[str]:
    return [str(price), str(size)]


async def main() -> None:
    seen: dict[str, Any] = {"trades": [], "tickers": [], "books": [], "candles": []}
    done = asyncio.Event()

    def check() -> None:
        if (
            seen["trades"]
            and seen["tickers"]
            and seen["candles"]
            and len(seen["books"]) >= BOOK_UPDATES
        ):
            done.set()

    async def on_trade(t: Any, _: float) -> None:
        seen["trades"].append([t.symbol, t.side, str(t.price), str(t.amount), t.id])
        check()

    async def on_ticker(t: Any, _: float) -> None:
        seen["tickers"].append([t.symbol, str(t.bid), str(t.ask)])
        check()

    async def on_book(book: Any, _: float) -> None:
        bids = [level(p, s) for p, s in list(book.book.bids.to_list())[:5]]
        asks = [level(p, s) for p, s in list(book.book.asks.to_list())[:5]]
        seen["books"].append({"sequence": book.sequence_number, "bids": bids, "asks": asks})
        check()

    async def on_candle(c: Any, _: float) -> None:
        seen["candles"].append([c.symbol, c.interval, c.start, str(c.open), str(c.close)])
        check()

    logging.getLogger("feedhandler").addHandler(Resets())
    handler = FeedHandler()
    handler.add_feed(
        SimulatedBinance(
            symbols=["BTC-USDT"],
            channels=[TRADES, TICKER, L2_BOOK, CANDLES],
            callbacks={TRADES: on_trade, TICKER: on_ticker, L2_BOOK: on_book, CANDLES: on_candle},
            candle_closed_only=False,  # the open candle too (sent every 2 s)
        )
    )
    handler.run(start_loop=False, install_signal_handlers=False)
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await handler.stop_async()
    seen["resets"] = Resets.count
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
