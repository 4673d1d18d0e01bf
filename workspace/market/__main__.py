"""``python -m workspace.market``: watch the feed in a terminal.

    python -m workspace.market --symbols btcusdt,ethusdt [--count 20]
        [--streams ticker,bookTicker,aggTrade,kline_1m,depth5] [--book]
        [--binance-url URL] [--binance-rest-url URL]

``--book`` keeps a local order book of each symbol (diff depth + REST snapshot) and
prints its best levels after every update.

Prints one line per record and one per status change; exits 0 after ``--count``
records (or on Ctrl-C), 2 on bad input (unknown symbol, bad URL ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from decimal import Decimal

from workspace.cli.args import count as count_flag
from workspace.errors import WorkspaceError
from workspace.market.config import FeedConfig, add_feed_arguments
from workspace.market.feed import BinanceFeed, FeedStatus
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    FeedRecord,
    Kline,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
)


def describe(record: FeedRecord, feed: BinanceFeed | None = None) -> str:
    if isinstance(record, Ticker | MiniTicker):
        return f"{record.event_time} {record.symbol} {record.event_type} last={record.last_price}"
    if isinstance(record, BookTicker):
        return f"- {record.symbol} bookTicker bid={record.bid_price} ask={record.ask_price}"
    if isinstance(record, Trade):
        return (
            f"{record.event_time} {record.symbol} {record.event_type} "
            f"{record.quantity}@{record.price}"
        )
    if isinstance(record, Kline):
        state = "closed" if record.closed else "open"
        return (
            f"{record.event_time} {record.symbol} kline_{record.interval} {state} "
            f"o={record.open_price} h={record.high_price} l={record.low_price} "
            f"c={record.close_price} v={record.volume}"
        )
    if isinstance(record, PartialDepth):
        best_bid = record.bids[0] if record.bids else None
        best_ask = record.asks[0] if record.asks else None
        return (
            f"- {record.symbol} depth{len(record.bids)} bid={_level(best_bid)} "
            f"ask={_level(best_ask)}"
        )
    if isinstance(record, DepthSnapshot):
        return (
            f"- {record.symbol} snapshot lastUpdateId={record.last_update_id} "
            f"levels={len(record.bids)}/{len(record.asks)}"
        )
    book = feed.book(record.symbol) if feed is not None else None
    top = (
        f" bid={_level(book.best_bid())} ask={_level(book.best_ask())}" if book is not None else ""
    )
    return (
        f"{record.event_time} {record.symbol} depthUpdate "
        f"{record.first_update_id}..{record.final_update_id}{top}"
    )


def _level(level: tuple[Decimal, Decimal] | None) -> str:
    """A price level as a trader reads it, ``97000.01000000 x 0.50000000`` (it printed
    the tuple's repr: ``(Decimal('97000.01000000'), Decimal('0.50000000'))``)."""
    if level is None:
        return "none"
    price, quantity = level
    return f"{price} x {quantity}"


async def watch(
    config: FeedConfig, symbols: list[str], count: int | None, *, books: bool = False
) -> int:
    done = asyncio.Event()
    seen = 0
    feed: BinanceFeed | None = None

    def on_record(record: FeedRecord) -> None:
        nonlocal seen
        print(describe(record, feed), flush=True)
        seen += 1
        if count is not None and seen >= count:
            done.set()

    def on_status(status: FeedStatus) -> None:
        print(f"# feed {status.state}: {status.reason}", file=sys.stderr, flush=True)

    feed = BinanceFeed(config, on_record=on_record, on_status=on_status)
    try:
        await feed.start()
        await feed.subscribe(*symbols)
        if books:
            await feed.subscribe_book(*symbols)
        await done.wait()
    finally:
        await feed.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspace.market", description=__doc__)
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt")
    parser.add_argument("--streams", default=None, help="comma-separated stream kinds")
    parser.add_argument("--count", type=count_flag, default=None, help="stop after N records")
    parser.add_argument("--book", action="store_true", help="keep a local order book each")
    add_feed_arguments(parser)
    args = parser.parse_args(argv)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:  # it connected and waited for records of no symbol, forever
        print(f"error: --symbols names no symbol: {args.symbols!r}", file=sys.stderr)
        return 2
    try:
        config = FeedConfig.from_args(args)
        if args.streams:
            config = config.with_(streams=tuple(args.streams.split(",")))
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(watch(config, symbols, args.count, books=args.book))
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
