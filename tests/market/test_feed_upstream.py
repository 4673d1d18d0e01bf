"""Bad upstream data and stalls, through BinanceFeed against the scripted exchange."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.market.config import FeedConfig
from workspace.market.feed import BinanceFeed, FeedState, Gap
from workspace.market.records import DepthUpdate, Ticker, Trade
from workspace.reconnect import ReconnectPolicy

from .collector import Collector
from .fake_exchange import FakeExchange, depth_body, depth_frame, ticker_frame

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance"


def real_frame(name: str, **changes: object) -> str:
    """A real recorded combined frame with some payload fields replaced."""
    loaded = json.loads((FIXTURES / name).read_bytes())
    loaded["data"].update(changes)
    return json.dumps(loaded)


@pytest.fixture
async def exchange() -> AsyncIterator[FakeExchange]:
    async with FakeExchange() as fake:
        yield fake


@pytest.fixture
async def collector() -> Collector:
    return Collector()


def make_feed(
    exchange: FakeExchange, collector: Collector, gaps: list[Gap] | None = None, **config: object
) -> BinanceFeed:
    settings: dict[str, object] = {
        "stream_url": exchange.stream_url,
        "rest_url": exchange.rest_url,
        "streams": ("ticker", "trade", "bookTicker"),
        "watchdog_interval_s": 0.02,
        "validate_symbols": False,
        "book_snapshot_retry_s": 0.01,
    }
    settings.update(config)
    return BinanceFeed(
        FeedConfig(**settings),  # type: ignore[arg-type]
        on_record=collector.on_record,
        on_status=collector.on_status,
        on_gap=gaps.append if gaps is not None else None,
        policy=ReconnectPolicy(first_s=0.05, cap_s=0.2, rng=random.Random(7)),
    )


TRADE = "trade.combined.testnet-2025-01.json"
BOOK = "bookTicker.combined.testnet-2025-01.json"
TICKER = "ticker.combined.testnet-2025-01.json"


async def test_bad_records_are_counted_and_never_reach_on_record(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        bad = [
            real_frame(TRADE, p="-5"),
            real_frame(TRADE, p="0"),
            real_frame(TRADE, p="1e999999"),
            real_frame(TRADE, p="NaN"),
            real_frame(TRADE, q="-1"),
            real_frame(TRADE, E=2**63 - 1),  # the year 292 million
            real_frame(BOOK, b="105000", a="104000"),
            real_frame(TICKER, c="-0.01"),
        ]
        for frame in bad:
            await exchange.push(frame)
        await exchange.push(real_frame(TRADE))
        await collector.until(lambda: len(collector.records) == 1)
        [good] = collector.records
        assert isinstance(good, Trade)
        assert good.price == Decimal("102283.99000000")
        assert feed.stats.bad_records == len(bad)
        assert feed.stats.parse_errors == 0
        assert feed.stats.last_bad_record is not None
        assert "last price" in feed.stats.last_bad_record
        assert feed.state == "connected"
    finally:
        await feed.stop()


async def test_an_event_time_beyond_64_bits_is_a_bad_record(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push(real_frame(TRADE, E=2**64 + 5))
        await exchange.push(real_frame(TRADE))
        await collector.until(lambda: len(collector.records) == 1)
        assert feed.stats.bad_records == 1
        assert "ahead of the clock" in (feed.stats.last_bad_record or "")
    finally:
        await feed.stop()


async def test_a_flood_of_bad_records_logs_a_few_lines_and_no_traceback(
    exchange: FakeExchange, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        with caplog.at_level(logging.DEBUG, logger="workspace.market"):
            for n in range(300):
                await exchange.push(real_frame(TRADE, p=str(-n)))
            await exchange.push(real_frame(TRADE))
            await collector.until(lambda: len(collector.records) == 1)
        lines = [r for r in caplog.records if "bad record" in r.getMessage()]
        assert 1 <= len(lines) <= 11
        assert all(r.exc_info is None for r in caplog.records)
        assert feed.stats.bad_records == 300
    finally:
        await feed.stop()


async def test_a_bad_diff_event_is_dropped_and_its_book_resynchronised(
    exchange: FakeExchange, collector: Collector
) -> None:
    gaps: list[Gap] = []
    feed = make_feed(exchange, collector, gaps)
    await feed.start()
    try:
        await feed.subscribe_book("BTCUSDT")
        await exchange.push(depth_frame("BTCUSDT", 10, 11, bids=[("100", "1")]))
        await exchange.depth_answers.put((200, depth_body(10, asks=[("101", "1")])))
        await feed.wait_for_book("BTCUSDT")
        await exchange.push(depth_frame("BTCUSDT", 12, 12, bids=[("-100", "1")]))  # bad
        await exchange.push(depth_frame("BTCUSDT", 13, 13, bids=[("99", "1")]))
        await exchange.until(lambda: len(exchange.rest_requests) == 2)
        assert feed.book("BTCUSDT") is None
        await exchange.depth_answers.put((200, depth_body(13, bids=[("99", "1")])))
        await exchange.push(depth_frame("BTCUSDT", 14, 14))
        book = await feed.wait_for_book("BTCUSDT")
        assert book.bids() == [(Decimal("99"), Decimal("1"))]
        assert feed.stats.bad_records == 1
        [gap] = gaps
        assert "ids 12..12 missed" in gap.reason
        assert not any(
            isinstance(r, DepthUpdate) and r.final_update_id == 12 for r in collector.records
        )
    finally:
        await feed.stop()


async def test_a_bad_depth_snapshot_is_refused_and_asked_again(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe_book("BTCUSDT")
        await exchange.push(depth_frame("BTCUSDT", 10, 11))
        await exchange.depth_answers.put(
            (200, depth_body(10, bids=[("102", "1")], asks=[("101", "1")]))
        )
        await exchange.depth_answers.put((200, depth_body(10, bids=[("100", "1")])))
        book = await feed.wait_for_book("BTCUSDT")
        assert book.best_bid() == (Decimal("100"), Decimal("1"))
        assert (feed.stats.bad_records, feed.stats.snapshot_errors) == (1, 1)
    finally:
        await feed.stop()


async def test_silence_makes_the_feed_stalled_then_data_makes_it_connected_with_a_gap(
    exchange: FakeExchange, collector: Collector
) -> None:
    gaps: list[Gap] = []
    # Tickers come every second (Binance's beat): silent after max(0.3 s, 1 x 1 s).
    feed = make_feed(
        exchange, collector, gaps, streams=("ticker",), stall_after_s=0.3, stall_factor=1.0
    )
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push(ticker_frame("BTCUSDT", 1_000))
        stalled = await collector.until_state(FeedState.STALLED, within=10)
        assert stalled.reason.startswith("no data for")
        assert feed.silent_streams == {"BTCUSDT Ticker"}
        assert feed.stats.stalls == 1
        assert gaps == []  # open until data comes back
        await exchange.push(ticker_frame("BTCUSDT", 9_000))
        back = await collector.until_state(FeedState.CONNECTED, count=2)
        assert back.reason == "data again"
        assert gaps == [Gap(1_000, 9_000, "stalled")]
        assert [type(r) for r in collector.records] == [Ticker, Ticker]
        assert exchange.connection_attempts == 1  # a stall is not a reconnect
    finally:
        await feed.stop()


async def test_stall_detection_can_be_turned_off(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector, streams=("ticker",), stall_after_s=None)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push(ticker_frame("BTCUSDT", 1_000))
        await collector.until(lambda: len(collector.records) == 1)
        assert feed.silent_streams == frozenset()
        assert feed.state == "connected"
    finally:
        await feed.stop()
