"""Order books, partial depth and klines through BinanceFeed, against the scripted exchange."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from workspace.errors import InvalidParams
from workspace.market.config import FeedConfig
from workspace.market.errors import UnknownSymbolError
from workspace.market.feed import BinanceFeed, FeedError, FeedState, Gap, RestError
from workspace.market.records import (
    DepthSnapshot,
    DepthUpdate,
    FeedRecord,
    Kline,
    PartialDepth,
    Ticker,
)
from workspace.reconnect import ReconnectPolicy

from .collector import Collector
from .fake_exchange import FakeExchange, depth_body, depth_frame, kline_row, ticker_frame

D = Decimal


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
        "streams": ("ticker",),
        "watchdog_interval_s": 0.05,
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


@pytest.fixture
async def feed(exchange: FakeExchange, collector: Collector) -> AsyncIterator[BinanceFeed]:
    started = make_feed(exchange, collector)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def depth_requests(exchange: FakeExchange) -> list[dict[str, str]]:
    return [params for path, params in exchange.rest_requests if path == "/api/v3/depth"]


def of_type(collector: Collector, kind: type) -> list[FeedRecord]:
    return [r for r in collector.records if isinstance(r, kind)]


async def sync_book(exchange: FakeExchange, collector: Collector, feed: BinanceFeed) -> None:
    """Subscribe BTCUSDT's book and bring it to update id 103 (snapshot at 100)."""
    await feed.subscribe_book("btcusdt")
    await exchange.push(depth_frame("BTCUSDT", 95, 98, bids=[("1", "1")]))
    await exchange.until(lambda: len(depth_requests(exchange)) == 1)
    await exchange.push(depth_frame("BTCUSDT", 99, 101, asks=[("101", "7")]))
    await exchange.push(depth_frame("BTCUSDT", 102, 103, bids=[("100", "0")]))
    await exchange.depth_answers.put(
        (200, depth_body(100, bids=[("100", "3"), ("99.5", "1")], asks=[("101", "4")]))
    )
    await feed.wait_for_book("BTCUSDT", timeout_s=10)


async def test_a_book_is_synchronised_exactly_as_binance_documents(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await sync_book(exchange, collector, feed)
    assert exchange.methods() == [("SUBSCRIBE", ["btcusdt@depth@100ms"])]
    assert depth_requests(exchange) == [{"symbol": "BTCUSDT", "limit": "1000"}]
    book = feed.book("btcusdt")
    assert book is not None
    assert book.last_update_id == 103
    assert book.bids() == [(D("99.5"), D("1"))]
    assert book.asks() == [(D("101"), D("7"))]
    assert feed.books == {"BTCUSDT"}
    # Downstream: the snapshot, then the events that continue it (98 was dropped).
    kinds = [(type(r).__name__, getattr(r, "final_update_id", None)) for r in collector.records]
    assert kinds == [("DepthSnapshot", None), ("DepthUpdate", 101), ("DepthUpdate", 103)]
    snapshot = collector.records[0]
    assert isinstance(snapshot, DepthSnapshot)
    assert (snapshot.symbol, snapshot.last_update_id) == ("BTCUSDT", 100)
    assert feed.stats.book_snapshots == 1


async def test_on_record_sees_each_update_already_applied_to_the_book(
    exchange: FakeExchange, collector: Collector
) -> None:
    best_at_callback: list[object] = []
    feed: BinanceFeed | None = None

    def on_record(record: FeedRecord) -> None:
        if isinstance(record, DepthUpdate) and feed is not None:
            book = feed.book(record.symbol)
            assert book is not None
            best_at_callback.append((book.last_update_id, book.best_bid()))
        collector.on_record(record)

    feed = make_feed(exchange, collector)
    feed._on_record = on_record
    await feed.start()
    try:
        await sync_book(exchange, collector, feed)
        await exchange.push(depth_frame("BTCUSDT", 104, 104, bids=[("100.5", "2")]))
        await collector.until(lambda: len(of_type(collector, DepthUpdate)) == 3)
        assert best_at_callback == [
            (101, (D("100"), D("3"))),
            (103, (D("99.5"), D("1"))),
            (104, (D("100.5"), D("2"))),
        ]
    finally:
        await feed.stop()


async def test_a_sequence_gap_discards_the_book_resyncs_and_is_recorded(
    exchange: FakeExchange, collector: Collector
) -> None:
    gaps: list[Gap] = []
    feed = make_feed(exchange, collector, gaps)
    await feed.start()
    try:
        await sync_book(exchange, collector, feed)
        await exchange.push(depth_frame("BTCUSDT", 106, 107, event_ms=5_000))  # 104, 105 missed
        await exchange.until(lambda: len(depth_requests(exchange)) == 2)
        assert feed.book("BTCUSDT") is None
        assert feed.stats.book_gaps == 1
        await exchange.push(depth_frame("BTCUSDT", 108, 109, bids=[("98", "1")], event_ms=6_000))
        await exchange.depth_answers.put((200, depth_body(107, bids=[("97", "2")])))
        book = await feed.wait_for_book("BTCUSDT", timeout_s=10)
        assert book.bids() == [(D("98"), D("1")), (D("97"), D("2"))]
        assert book.last_update_id == 109
        [gap] = feed.gaps
        assert gap == gaps[0]
        assert gap.symbol == "BTCUSDT"
        assert (gap.last_event_ms_before, gap.first_event_ms_after) == (
            1_700_000_000_103,
            6_000,
        )
        assert "depth gap" in gap.reason
        assert "ids 104..105 missed" in gap.reason
        assert feed.state == "connected"  # a book's gap is not the connection's
    finally:
        await feed.stop()


async def test_a_snapshot_older_than_the_stream_is_fetched_again(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await feed.subscribe_book("BTCUSDT")
    await exchange.push(depth_frame("BTCUSDT", 200, 205))
    await exchange.until(lambda: len(depth_requests(exchange)) == 1)
    await exchange.depth_answers.put((200, depth_body(150)))  # 151..199 unknown: too old
    await exchange.until(lambda: len(depth_requests(exchange)) == 2)
    assert feed.book("BTCUSDT") is None
    await exchange.depth_answers.put((200, depth_body(203, asks=[("5", "1")])))
    book = await feed.wait_for_book("BTCUSDT", timeout_s=10)
    assert book.last_update_id == 205
    assert feed.stats.book_snapshots == 1


async def test_a_failing_snapshot_request_is_retried(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await feed.subscribe_book("BTCUSDT")
    await exchange.push(depth_frame("BTCUSDT", 10, 11))
    await exchange.depth_answers.put((503, {"code": -1001, "msg": "Internal error"}))
    await exchange.depth_answers.put((200, "not a depth answer"))
    await exchange.depth_answers.put((200, depth_body(10, bids=[("1", "1")])))
    book = await feed.wait_for_book("BTCUSDT", timeout_s=10)
    assert book.best_bid() == (D("1"), D("1"))
    assert len(depth_requests(exchange)) == 3
    assert feed.stats.snapshot_errors == 2


async def test_unsubscribe_book_stops_the_stream_and_forgets_the_book(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await sync_book(exchange, collector, feed)
    await feed.unsubscribe_book("BTCUSDT")
    assert exchange.methods()[-1] == ("UNSUBSCRIBE", ["btcusdt@depth@100ms"])
    assert feed.book("BTCUSDT") is None
    assert feed.books == frozenset()
    before = len(collector.records)
    await exchange.push(depth_frame("BTCUSDT", 104, 104))  # a late event: skipped
    await exchange.push(ticker_frame("ETHUSDT", 1))
    await collector.until(lambda: len(collector.records) == before + 1)
    assert isinstance(collector.records[-1], Ticker)
    with pytest.raises(FeedError, match="subscribe_book first"):
        await feed.wait_for_book("BTCUSDT")


async def test_tickers_and_book_of_one_symbol_are_separate_subscriptions(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await feed.subscribe("BTCUSDT")
    await feed.subscribe_book("BTCUSDT")
    await feed.unsubscribe("BTCUSDT")
    assert exchange.methods() == [
        ("SUBSCRIBE", ["btcusdt@ticker"]),
        ("SUBSCRIBE", ["btcusdt@depth@100ms"]),
        ("UNSUBSCRIBE", ["btcusdt@ticker"]),
    ]
    assert feed.books == {"BTCUSDT"}
    assert feed.subscribed == frozenset()


async def test_a_diff_depth_stream_kind_keeps_a_book_for_every_subscribed_symbol(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector, streams=("ticker", "depth"))
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT", "ETHUSDT")
        await feed.subscribe_book("BTCUSDT")  # already kept: nothing more to subscribe
        assert exchange.methods() == [
            ("SUBSCRIBE", ["btcusdt@ticker", "btcusdt@depth", "ethusdt@ticker", "ethusdt@depth"])
        ]
        assert feed.books == {"BTCUSDT", "ETHUSDT"}
        await exchange.push(depth_frame("ETHUSDT", 5, 6, stream_kind="depth"))
        await exchange.depth_answers.put((200, depth_body(5, asks=[("3000", "1")])))
        book = await feed.wait_for_book("ETHUSDT")
        assert book.best_ask() == (D("3000"), D("1"))
        assert depth_requests(exchange) == [{"symbol": "ETHUSDT", "limit": "1000"}]
    finally:
        await feed.stop()


async def test_books_are_rebuilt_after_a_reconnect(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await sync_book(exchange, collector, feed)
    await exchange.drop()
    await collector.until_state(FeedState.CONNECTED, count=2)
    assert exchange.methods()[-1] == ("SUBSCRIBE", ["btcusdt@depth@100ms"])
    assert feed.book("BTCUSDT") is None  # events were missed while disconnected
    await exchange.push(depth_frame("BTCUSDT", 300, 301))
    await exchange.depth_answers.put((200, depth_body(300, bids=[("7", "7")])))
    book = await feed.wait_for_book("BTCUSDT", timeout_s=10)
    assert (book.best_bid(), book.last_update_id) == ((D("7"), D("7")), 301)
    assert len(depth_requests(exchange)) == 2


async def test_an_unknown_symbol_gets_no_book_subscription(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    with pytest.raises(UnknownSymbolError):
        await feed.subscribe_book("NOPEUSDT")
    assert exchange.methods() == []
    assert feed.books == frozenset()


async def test_a_partial_depth_stream_delivers_the_top_levels_with_the_symbol(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector, streams=("depth5@100ms",))
    await feed.start()
    try:
        await feed.subscribe("ETHUSDT")
        assert exchange.methods() == [("SUBSCRIBE", ["ethusdt@depth5@100ms"])]
        frame = (
            '{"stream":"ethusdt@depth5@100ms","data":{"lastUpdateId":9,'
            '"bids":[["3000.10","1.5"]],"asks":[["3000.20","0.25"]]}}'
        )
        await exchange.push(frame)
        await collector.until(lambda: len(collector.records) == 1)
        [record] = collector.records
        assert isinstance(record, PartialDepth)
        assert record.symbol == "ETHUSDT"
        assert record.bids == ((D("3000.10"), D("1.5")),)
        assert feed.books == frozenset()  # a partial depth is no local book
    finally:
        await feed.stop()


async def test_kline_streams_deliver_candles_and_end_an_outage(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await feed.subscribe_klines("btcusdt", "1m", "1h")
    assert exchange.methods() == [("SUBSCRIBE", ["btcusdt@kline_1m", "btcusdt@kline_1h"])]
    frame = (
        '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1700000001000,"s":"BTCUSDT",'
        '"k":{"t":1700000000000,"T":1700000059999,"s":"BTCUSDT","i":"1m","f":1,"L":2,'
        '"o":"1.5","c":"1.7","h":"1.8","l":"1.4","v":"3","n":2,"x":false,"q":"5",'
        '"V":"1","Q":"1.6","B":"0"}}}'
    )
    await exchange.push(frame)
    await collector.until(lambda: len(collector.records) == 1)
    [kline] = collector.records
    assert isinstance(kline, Kline)
    assert (kline.event_time, kline.close_price, kline.closed) == (1700000001000, D("1.7"), False)
    await feed.unsubscribe_klines("BTCUSDT", "1h")
    assert exchange.methods()[-1] == ("UNSUBSCRIBE", ["btcusdt@kline_1h"])
    await feed.unsubscribe_klines("BTCUSDT")
    assert exchange.methods()[-1] == ("UNSUBSCRIBE", ["btcusdt@kline_1m"])
    with pytest.raises(InvalidParams, match="kline interval"):
        await feed.subscribe_klines("BTCUSDT", "2m")


async def test_klines_come_from_rest_with_binances_parameters(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    start = 1_700_000_040_000
    exchange.klines[("BTCUSDT", "1m")] = [
        kline_row(start + n * 60_000, f"{100 + n}.25") for n in range(10)
    ]
    latest = await feed.klines("btcusdt", "1m", limit=3)
    assert [k.close_price for k in latest] == [D("107.25"), D("108.25"), D("109.25")]
    assert all(k.closed for k in latest)  # all in the past by the wall clock
    window = await feed.klines("BTCUSDT", "1m", start_ms=start + 60_000, end_ms=start + 180_000)
    assert [k.open_time for k in window] == [start + 60_000, start + 120_000, start + 180_000]
    assert window[0].open_price == D("1.00")
    klines_requests = [p for path, p in exchange.rest_requests if path == "/api/v3/klines"]
    assert klines_requests[-1] == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "limit": "500",
        "startTime": str(start + 60_000),
        "endTime": str(start + 180_000),
    }
    assert feed._rest_client().used_weight_1m == 7  # X-MBX-USED-WEIGHT-1M is kept


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": "2m"}, "kline interval"),
        ({"interval": "1m", "limit": 0}, "limit"),
        ({"interval": "1m", "limit": 1001}, "limit"),
        ({"interval": "1m", "start_ms": -1}, "non-negative"),
        ({"interval": "1m", "start_ms": 10, "end_ms": 5}, "after"),
    ],
)
async def test_bad_klines_requests_are_refused_before_any_request(
    exchange: FakeExchange, feed: BinanceFeed, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParams, match=message):
        await feed.klines("BTCUSDT", **kwargs)  # type: ignore[arg-type]
    assert exchange.rest_requests == []


async def test_klines_of_an_unknown_symbol_is_an_unknown_symbol_error(
    exchange: FakeExchange, feed: BinanceFeed
) -> None:
    with pytest.raises(UnknownSymbolError, match="Invalid symbol"):
        await feed.klines("NOPEUSDT", "1m")


async def test_depth_snapshot_is_available_on_its_own(
    exchange: FakeExchange, feed: BinanceFeed
) -> None:
    await exchange.depth_answers.put((200, depth_body(42, bids=[("1.5", "2")])))
    snapshot = await feed.depth_snapshot("ethusdt", limit=5)
    assert (snapshot.symbol, snapshot.last_update_id, snapshot.bids) == (
        "ETHUSDT",
        42,
        ((D("1.5"), D("2")),),
    )
    assert snapshot.received_ms is not None
    assert depth_requests(exchange) == [{"symbol": "ETHUSDT", "limit": "5"}]
    await exchange.depth_answers.put((429, {"code": -1003, "msg": "Too many requests"}))
    with pytest.raises(RestError, match="HTTP 429 code -1003") as raised:
        await feed.depth_snapshot("ETHUSDT")
    assert raised.value.status == 429
    with pytest.raises(InvalidParams):
        await feed.depth_snapshot("ETHUSDT", limit=0)


async def test_without_books_or_klines_only_tick_records_reach_on_record(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    """An engine that takes only tickers and trades keeps working: nothing else comes
    unless it asks for books or klines."""
    await feed.subscribe("BTCUSDT")
    await exchange.push(depth_frame("BTCUSDT", 1, 2))  # not asked for: skipped
    await exchange.push(ticker_frame("BTCUSDT", 1))
    await collector.until(lambda: len(collector.records) == 1)
    assert isinstance(collector.records[0], Ticker)
    assert feed.stats.skipped == 1
    assert not of_type(collector, DepthUpdate)


async def test_a_book_stays_synchronised_across_a_make_before_break_handover(
    exchange: FakeExchange, collector: Collector, feed: BinanceFeed
) -> None:
    await sync_book(exchange, collector, feed)
    old = await exchange.connections.get()
    await exchange.push('{"e":"serverShutdown","E":1700000000000}')
    await asyncio.wait_for(exchange.connections.get(), 5)
    await exchange.until(lambda: len(exchange.methods()) == 2)
    for n in range(104, 110):  # both connections deliver these
        await exchange.push(depth_frame("BTCUSDT", n, n, bids=[(f"{n}", "1")]))
    await asyncio.wait_for(old.wait_closed(), 10)
    await exchange.push(depth_frame("BTCUSDT", 110, 110))
    await collector.until(
        lambda: feed.book("BTCUSDT") is not None and feed.book("BTCUSDT").last_update_id == 110  # type: ignore[union-attr]
    )
    applied = [r.final_update_id for r in collector.records if isinstance(r, DepthUpdate)]
    assert applied == [101, 103, 104, 105, 106, 107, 108, 109, 110]  # each once, in order
    assert feed.stats.book_snapshots == 1  # never rebuilt
    assert feed.gaps == []
    assert len(depth_requests(exchange)) == 1
