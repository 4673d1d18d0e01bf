"""``python -m workspace.market``: watch the feed in a terminal.

    python -m workspace.market --symbols btcusdt,ethusdt [--count 20]
        [--streams ticker,bookTicker,aggTrade] [--binance-url URL] [--binance-rest-url URL]

Prints one line per record and one per status change; exits 0 after ``--count``
records (or on Ctrl-C), 2 on bad input (unknown symbol, bad URL ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from workspace.errors import WorkspaceError
from workspace.market.config import FeedConfig, add_feed_arguments
from workspace.market.feed import BinanceFeed, FeedStatus
from workspace.market.records import BookTicker, MarketRecord, MiniTicker, Ticker, Trade


def describe(record: MarketRecord) -> str:
    if isinstance(record, Ticker | MiniTicker):
        return f"{record.event_time} {record.symbol} {record.event_type} last={record.last_price}"
    if isinstance(record, BookTicker):
        return f"- {record.symbol} bookTicker bid={record.bid_price} ask={record.ask_price}"
    assert isinstance(record, Trade)
    return (
        f"{record.event_time} {record.symbol} {record.event_type} {record.quantity}@{record.price}"
    )


async def watch(config: FeedConfig, symbols: list[str], count: int | None) -> int:
    done = asyncio.Event()
    seen = 0

    def on_record(record: MarketRecord) -> None:
        nonlocal seen
        print(describe(record), flush=True)
        seen += 1
        if count is not None and seen >= count:
            done.set()

    def on_status(status: FeedStatus) -> None:
        print(f"# feed {status.state}: {status.reason}", file=sys.stderr, flush=True)

    feed = BinanceFeed(config, on_record=on_record, on_status=on_status)
    try:
        await feed.start()
        await feed.subscribe(*symbols)
        await done.wait()
    finally:
        await feed.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspace.market", description=__doc__)
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt")
    parser.add_argument("--streams", default=None, help="comma-separated stream kinds")
    parser.add_argument("--count", type=int, default=None, help="stop after N records")
    add_feed_arguments(parser)
    args = parser.parse_args(argv)
    symbols = [s for s in args.symbols.split(",") if s.strip()]
    try:
        config = FeedConfig.from_args(args)
        if args.streams:
            config = config.with_(streams=tuple(args.streams.split(",")))
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(watch(config, symbols, args.count))
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
