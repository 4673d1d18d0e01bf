"""BinanceFeed against a scripted exchange on 127.0.0.1 (exact control over every frame)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from workspace.errors import InvalidParams, InvalidSymbol
from workspace.market.config import FeedConfig
from workspace.market.decode import decode_frame
from workspace.market.errors import ExchangeInfoError, MalformedSymbolError
from workspace.market.feed import (
    BinanceFeed,
    FeedError,
    FeedFatalError,
    FeedState,
    Gap,
    SubscriptionError,
    TooManyStreamsError,
    UnknownSymbolError,
)
from workspace.market.records import BookTicker, Ticker
from workspace.reconnect import ReconnectPolicy

from .collector import Collector
from .fake_exchange import ControlMessage, FakeExchange, book_frame, ticker_frame


def decode_ticker(frame: str) -> object:
    return decode_frame(frame)


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def exchange() -> AsyncIterator[FakeExchange]:
    async with FakeExchange() as fake:
        yield fake


def make_feed(exchange: FakeExchange, collector: Collector, **config: object) -> BinanceFeed:
    settings: dict[str, object] = {
        "stream_url": exchange.stream_url,
        "rest_url": exchange.rest_url,
        "streams": ("ticker", "bookTicker"),
        "watchdog_interval_s": 0.02,
        "start_timeout_s": 10.0,
    }
    settings.update(config)
    clock = settings.pop("clock", None)
    feed = BinanceFeed(
        FeedConfig(**settings),  # type: ignore[arg-type]
        on_record=collector.on_record,
        on_status=collector.on_status,
        policy=ReconnectPolicy(first_s=0.05, cap_s=0.2, rng=random.Random(7)),
        **({"clock": clock} if clock is not None else {}),  # type: ignore[arg-type]
    )
    return feed


@pytest.fixture
async def collector() -> Collector:
    return Collector()


async def test_start_connects_to_the_combined_stream_and_reports_connected(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        assert feed.state == "connected"
        assert collector.states() == [FeedState.CONNECTED]
        # nothing subscribed yet: the reason names the endpoint, not "0 streams", which
        # would stay on every later STATUS while the engine subscribes
        assert collector.statuses[0].reason == f"connected to {feed.config.combined_stream_url}"
        assert exchange.connection_attempts == 1
    finally:
        await feed.stop()
    assert feed.state == "down"
    assert collector.statuses[-1].reason == "stopped"


async def test_subscribe_sends_one_batched_subscribe_and_records_flow(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("btcusdt", "ETHUSDT")
        assert exchange.methods() == [
            (
                "SUBSCRIBE",
                ["btcusdt@ticker", "btcusdt@bookTicker", "ethusdt@ticker", "ethusdt@bookTicker"],
            )
        ]
        assert feed.subscribed == {"BTCUSDT", "ETHUSDT"}
        await exchange.push(ticker_frame("BTCUSDT", 1_700_000_000_000, last="97000.12"))
        await exchange.push(book_frame("ETHUSDT", 5))
        await collector.until(lambda: len(collector.records) == 2)
        ticker, book = collector.records
        assert isinstance(ticker, Ticker)
        assert ticker.last_price == Decimal("97000.12")
        assert isinstance(book, BookTicker)
        assert feed.stats.records == 2
    finally:
        await feed.stop()


async def test_subscribing_twice_sends_nothing_the_second_time(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await feed.subscribe("btcusdt")
        assert [m for m, _ in exchange.methods()] == ["SUBSCRIBE"]
    finally:
        await feed.stop()


async def test_unsubscribe_sends_unsubscribe_for_the_symbols_streams(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT", "ETHUSDT")
        await feed.unsubscribe("btcusdt")
        assert exchange.methods()[-1] == ("UNSUBSCRIBE", ["btcusdt@ticker", "btcusdt@bookTicker"])
        assert feed.subscribed == {"ETHUSDT"}
        assert exchange.subscribed == {"ethusdt@ticker", "ethusdt@bookTicker"}
        await feed.unsubscribe("XRPUSDT")  # not subscribed: nothing to do
        assert len(exchange.controls) == 2
    finally:
        await feed.stop()


async def test_request_ids_are_unique_and_replies_are_matched_by_id(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await feed.unsubscribe("BTCUSDT")
        await feed.subscribe("ETHUSDT")
        ids = [c.id for c in exchange.controls]
        assert len(set(ids)) == 3
        assert all(isinstance(i, int) for i in ids)
    finally:
        await feed.stop()


async def test_data_frames_arriving_before_the_reply_are_delivered(
    exchange: FakeExchange, collector: Collector
) -> None:
    def data_first(control: ControlMessage) -> list[bytes]:
        return [ticker_frame("BTCUSDT", 1_700_000_000_000)] if control.method == "SUBSCRIBE" else []

    exchange.before_reply = data_first
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await collector.until(lambda: len(collector.records) == 1)
        assert feed.stats.parse_errors == 0
    finally:
        await feed.stop()


async def test_unknown_symbol_is_an_error_and_nothing_is_subscribed(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(UnknownSymbolError, match="NOPEUSDT") as info:
            await feed.subscribe("BTCUSDT", "nopeusdt")
        assert isinstance(info.value, InvalidSymbol)
        assert info.value.code == "INVALID_SYMBOL"
        assert exchange.controls == []
        assert feed.subscribed == frozenset()
    finally:
        await feed.stop()


async def test_listed_but_halted_symbol_is_refused(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(UnknownSymbolError, match=r"OLDUSDT \(BREAK\)"):
            await feed.subscribe("OLDUSDT")
        assert exchange.controls == []
    finally:
        await feed.stop()


@pytest.mark.parametrize("bad", ["btc usdt", "", "btcusdt@ticker", "B"])
async def test_malformed_symbol_is_an_error_and_nothing_is_subscribed(
    exchange: FakeExchange, collector: Collector, bad: str
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(MalformedSymbolError, match="symbol"):
            await feed.subscribe("BTCUSDT", bad)
        assert exchange.controls == []
        assert feed.subscribed == frozenset()
    finally:
        await feed.stop()


async def test_exchange_symbols_lists_filters_and_is_cached(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    first = await feed.exchange_symbols()
    assert first["BTCUSDT"].tick_size == Decimal("0.01")
    assert first["BTCUSDT"].min_notional == Decimal("5")
    assert first["BTCUSDT"].trading
    assert not first["OLDUSDT"].trading
    exchange.symbols["NEWUSDT"] = "TRADING"
    assert "NEWUSDT" not in await feed.exchange_symbols()  # served from the cache


async def test_unreachable_rest_api_is_a_clear_error_and_nothing_is_subscribed(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector, rest_url="http://127.0.0.1:1")
    await feed.start()
    try:
        with pytest.raises(ExchangeInfoError, match="exchangeInfo"):
            await feed.subscribe("BTCUSDT")
        assert exchange.controls == []
        assert feed.subscribed == frozenset()
    finally:
        await feed.stop()


async def test_error_reply_to_subscribe_is_raised_and_nothing_is_subscribed(
    exchange: FakeExchange, collector: Collector
) -> None:
    exchange.refuse_streams = {"ethusdt@bookTicker"}
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(SubscriptionError, match="Invalid request") as info:
            await feed.subscribe("ETHUSDT")
        assert info.value.error_code == 2
        assert feed.subscribed == frozenset()
        assert feed.state == "connected"
    finally:
        await feed.stop()


async def test_many_symbols_are_subscribed_in_batches_at_most_four_per_second(
    exchange: FakeExchange, collector: Collector
) -> None:
    exchange.symbols.update({f"S{i:03d}USDT": "TRADING" for i in range(300)})
    feed = make_feed(exchange, collector, max_params_per_request=100)
    await feed.start()
    try:
        await feed.subscribe(*[f"S{i:03d}USDT" for i in range(300)])
        sent = exchange.controls
        assert len(sent) == 6  # 600 streams / 100 per message
        assert len({p for c in sent for p in c.params}) == 600
        times = [c.at for c in sent]
        for i, start in enumerate(times):
            # 4 per rolling second (Binance allows 5; one is left for PONGs); a little
            # slack for the server's receive time being later than the send.
            assert sum(1 for t in times[i:] if t < start + 0.95) <= 4
    finally:
        await feed.stop()


async def test_more_than_1024_streams_is_refused_and_nothing_is_subscribed(
    exchange: FakeExchange, collector: Collector
) -> None:
    exchange.symbols.update({f"S{i:03d}USDT": "TRADING" for i in range(513)})
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(TooManyStreamsError, match="1024"):
            await feed.subscribe(*[f"S{i:03d}USDT" for i in range(513)])  # 1026 streams
        assert exchange.controls == []
        assert feed.subscribed == frozenset()
    finally:
        await feed.stop()


async def test_subscribe_before_start_is_applied_on_connect(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.subscribe("BTCUSDT")
    assert exchange.controls == []
    await feed.start()
    try:
        assert exchange.methods() == [("SUBSCRIBE", ["btcusdt@ticker", "btcusdt@bookTicker"])]
        assert feed.streams == {"btcusdt@ticker", "btcusdt@bookTicker"}
    finally:
        await feed.stop()


async def test_garbage_frame_is_counted_and_the_feed_carries_on(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push(b"\x00not json{{")
        await exchange.push(b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker"}}')
        await exchange.push(ticker_frame("BTCUSDT", 1_700_000_000_000))
        await collector.until(lambda: len(collector.records) == 1)
        assert feed.stats.parse_errors == 2
        assert feed.state == "connected"
        assert feed.stats.reconnects == 0
    finally:
        await feed.stop()


async def test_a_failing_record_callback_is_counted_and_does_not_stop_the_feed(
    exchange: FakeExchange, collector: Collector
) -> None:
    seen: list[int] = []

    def fragile(record: object) -> None:
        seen.append(1)
        collector.on_record(record)  # type: ignore[arg-type]
        if len(seen) == 1:
            raise RuntimeError("consumer bug")

    feed = make_feed(exchange, collector)
    feed._on_record = fragile
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push(ticker_frame("BTCUSDT", 1))
        await exchange.push(ticker_frame("BTCUSDT", 2))
        await collector.until(lambda: len(collector.records) == 2)
        assert feed.stats.callback_errors == 1
        assert feed.state == "connected"
    finally:
        await feed.stop()


async def test_dropped_connection_reconnects_resubscribes_and_records_the_gap(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT", "ETHUSDT")
        await exchange.push(ticker_frame("BTCUSDT", 1_000))
        await exchange.push(book_frame("BTCUSDT", 1))  # no event time: not the gap's start
        await collector.until(lambda: len(collector.records) == 2)
        await exchange.drop()
        reconnecting = await collector.until_state(FeedState.RECONNECTING)
        assert "closed" in reconnecting.reason
        again = await collector.until_state(FeedState.CONNECTED, count=2)
        assert again.reason.endswith(", 4 streams resubscribed")
        assert exchange.connection_attempts == 2
        assert sorted(exchange.methods()[-1][1]) == sorted(
            ["btcusdt@ticker", "btcusdt@bookTicker", "ethusdt@ticker", "ethusdt@bookTicker"]
        )
        assert feed.stats.reconnects == 1
        assert feed.gaps == []  # open until data arrives again
        await exchange.push(ticker_frame("ETHUSDT", 5_000))
        await collector.until(lambda: len(collector.records) == 3)
        [gap] = feed.gaps
        assert (gap.last_event_ms_before, gap.first_event_ms_after) == (1_000, 5_000)
    finally:
        await feed.stop()


async def test_server_shutdown_is_a_make_before_break_handover_with_zero_gap(
    exchange: FakeExchange, collector: Collector
) -> None:
    """The new connection is opened and subscribed while the old one still delivers;
    ticks both deliver are handed on once; then the old one is closed."""
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        old = await exchange.connections.get()
        await exchange.push(ticker_frame("BTCUSDT", 1))
        await exchange.push('{"e":"serverShutdown","E":1700000000000}')
        new = await asyncio.wait_for(exchange.connections.get(), 5)
        await exchange.until(lambda: len(exchange.methods()) == 2)  # the new SUBSCRIBE
        assert exchange.methods()[-1] == ("SUBSCRIBE", ["btcusdt@ticker", "btcusdt@bookTicker"])
        # From here both connections carry every tick (push sends to every open one),
        # and the old one keeps sending until the feed closes it.
        for event_ms in range(2, 40):
            await exchange.push(ticker_frame("BTCUSDT", event_ms))
        await asyncio.wait_for(old.wait_closed(), 10)
        for event_ms in range(40, 50):
            await exchange.push(ticker_frame("BTCUSDT", event_ms))
        await collector.until(lambda: len(collector.records) == 49)
        times = [r.event_time for r in collector.records]  # type: ignore[union-attr]
        assert times == list(range(1, 50))  # every tick once, in order: no gap, no repeat
        assert new.state.name == "OPEN"
        assert feed.gaps == []
        assert collector.states() == [FeedState.CONNECTED]  # never "reconnecting"
        assert (feed.stats.handovers, feed.stats.reconnects) == (1, 0)
    finally:
        await feed.stop()


async def test_the_24_hour_renewal_is_a_make_before_break_handover(
    exchange: FakeExchange, collector: Collector
) -> None:
    clock = FakeClock()
    feed = make_feed(exchange, collector, silence_timeout_s=10 * 86400.0, clock=clock)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        old = await exchange.connections.get()
        clock.now += 23.5 * 3600.0
        new = await asyncio.wait_for(exchange.connections.get(), 5)
        await exchange.until(lambda: len(exchange.methods()) == 2)
        await exchange.push(ticker_frame("BTCUSDT", 7))  # both deliver it: handed on once
        await asyncio.wait_for(old.wait_closed(), 10)
        await exchange.push(ticker_frame("BTCUSDT", 8))
        await collector.until(lambda: len(collector.records) == 2)
        assert [r.event_time for r in collector.records] == [7, 8]  # type: ignore[union-attr]
        assert new.state.name == "OPEN"
        assert collector.states() == [FeedState.CONNECTED]
        assert exchange.connection_attempts == 2
    finally:
        await feed.stop()


async def test_when_the_new_connection_cannot_be_made_the_feed_reconnects_as_usual(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        exchange.handshake_status = 503
        await exchange.push('{"e":"serverShutdown","E":1700000000000}')
        status = await collector.until_state(FeedState.RECONNECTING)
        assert status.reason == "serverShutdown"
        exchange.handshake_status = None
        await collector.until_state(FeedState.CONNECTED, count=2)
        assert exchange.methods()[-1] == ("SUBSCRIBE", ["btcusdt@ticker", "btcusdt@bookTicker"])
    finally:
        await feed.stop()


class TopOfRange(random.Random):
    """A jitter source that always picks (just below) the top of the range."""

    def random(self) -> float:
        return 0.999


async def test_a_planned_reconnect_never_inherits_a_grown_backoff(
    exchange: FakeExchange, collector: Collector
) -> None:
    clock = FakeClock()
    feed = BinanceFeed(
        FeedConfig(
            stream_url=exchange.stream_url,
            rest_url=exchange.rest_url,
            watchdog_interval_s=0.02,
            silence_timeout_s=10 * 86400.0,
        ),
        on_record=collector.on_record,
        on_status=collector.on_status,
        # The first delay is 10 ms, every later one 100 s: one failure grows it for good.
        policy=ReconnectPolicy(
            first_s=0.01, factor=10_000.0, cap_s=100.0, healthy_after_s=3600.0, rng=TopOfRange()
        ),
        clock=clock,
    )
    await feed.start()
    try:
        await exchange.drop()  # a failure: the next failure would wait 100 s
        await collector.until_state(FeedState.CONNECTED, count=2)
        clock.now += 5.0  # the server announces its shutdown 5 s into the connection
        exchange.handshake_status = 503  # ... and the new connection fails: plain reconnect
        await exchange.push('{"e":"serverShutdown","E":1700000000000}')
        await collector.until_state(FeedState.RECONNECTING, count=2)
        exchange.handshake_status = None
        # Not 100 s: the planned reconnect starts the backoff afresh (10 ms, then 100 s
        # for the second failure: the first attempt, refused, was within 10 ms).
        await exchange.until(lambda: exchange.connection_attempts >= 4, within=5.0)
    finally:
        await feed.stop()


async def test_watchdog_reconnects_when_subscribed_streams_go_silent(
    exchange: FakeExchange, collector: Collector
) -> None:
    clock = FakeClock()
    feed = make_feed(exchange, collector, silence_timeout_s=30.0, clock=clock)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        clock.now += 29.0
        await exchange.push(ticker_frame("BTCUSDT", 1))  # data resets the watchdog
        await collector.until(lambda: len(collector.records) == 1)
        clock.now += 29.0
        assert feed.state == "connected"
        clock.now += 2.0
        status = await collector.until_state(FeedState.RECONNECTING)
        assert status.reason == "stalled"
        await collector.until_state(FeedState.CONNECTED, count=2)
    finally:
        await feed.stop()


async def test_watchdog_leaves_a_connection_without_subscriptions_alone(
    exchange: FakeExchange, collector: Collector
) -> None:
    clock = FakeClock()
    feed = make_feed(exchange, collector, silence_timeout_s=1.0, clock=clock)
    await feed.start()
    try:
        clock.now += 3600.0
        await feed.subscribe("BTCUSDT")  # the control round trip lets the watchdog run
        await feed.unsubscribe("BTCUSDT")
        assert collector.states() == [FeedState.CONNECTED]
    finally:
        await feed.stop()


@pytest.mark.parametrize("status", [400, 403, 404, 418])
async def test_http_4xx_at_handshake_is_fatal_and_not_retried(
    exchange: FakeExchange, collector: Collector, status: int
) -> None:
    exchange.handshake_status = status
    feed = make_feed(exchange, collector)
    with pytest.raises(FeedFatalError, match=f"HTTP {status}"):
        await feed.start()
    assert exchange.connection_attempts == 1
    assert feed.state == "down"
    assert collector.states() == [FeedState.DOWN]
    assert "fatal" in collector.statuses[0].reason
    await feed.stop()


async def test_http_5xx_at_handshake_is_retried(
    exchange: FakeExchange, collector: Collector
) -> None:
    exchange.handshake_status = 503
    feed = make_feed(exchange, collector)
    starting = asyncio.create_task(feed.start())
    await collector.until(lambda: any("attempt 2" in s.reason for s in collector.statuses))
    assert "HTTP 503" in collector.statuses[0].reason
    exchange.handshake_status = None
    await asyncio.wait_for(starting, 10)
    assert feed.state == "connected"
    await feed.stop()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9443", "ws://", "not a url at all", "ftp://example.invalid"]
)
def test_a_bad_url_is_refused_before_the_feed_exists(url: str) -> None:
    """It was a fatal error of the feed's first connect (the feed DOWN): a server
    started with it served a feed that never came up; the configuration now refuses
    it, naming the flag (tests/market/test_config.py)."""
    with pytest.raises(InvalidParams, match="must be ws://HOST"):
        FeedConfig(stream_url=url)


async def test_fatal_error_on_reconnect_brings_the_feed_down_instead_of_looping(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    exchange.handshake_status = 403
    await exchange.drop()
    status = await collector.until_state(FeedState.DOWN)
    assert "HTTP 403" in status.reason
    assert exchange.connection_attempts == 2
    assert feed.error is not None
    await feed.stop()


async def test_start_gives_up_after_its_timeout_when_nothing_listens(
    collector: Collector,
) -> None:
    feed = BinanceFeed(
        FeedConfig(stream_url="ws://127.0.0.1:1", start_timeout_s=0.3),
        on_status=collector.on_status,
        policy=ReconnectPolicy(first_s=0.05, cap_s=0.1),
    )
    with pytest.raises(FeedFatalError, match=r"within 0\.3 s"):
        await feed.start()
    assert feed.state == "down"
    states = collector.states()
    assert states[0] is FeedState.RECONNECTING
    assert states[-1] is FeedState.DOWN
    assert "attempt 1" in collector.statuses[0].reason


async def test_stop_records_an_outage_still_open(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    await feed.subscribe("BTCUSDT")
    await exchange.push(ticker_frame("BTCUSDT", 42))
    await collector.until(lambda: len(collector.records) == 1)
    exchange.handshake_status = 503
    await exchange.drop()
    await collector.until_state(FeedState.RECONNECTING)
    await feed.stop()
    assert feed.gaps == [Gap(42, None, feed.gaps[0].reason)]


async def test_a_bug_in_decoding_brings_the_feed_down_instead_of_a_reconnect_loop(
    exchange: FakeExchange, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()

    def broken(data: object) -> None:
        raise TypeError("a bug, not a bad frame")

    monkeypatch.setattr("workspace.market.feed.decode_feed_frame", broken)
    await exchange.push(ticker_frame("BTCUSDT", 1))
    status = await collector.until_state(FeedState.DOWN)
    assert "TypeError" in status.reason
    assert isinstance(feed.error, TypeError)
    assert exchange.connection_attempts == 1
    await feed.stop()


async def test_fragmented_message_is_reassembled_and_decoded(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        frame = ticker_frame("BTCUSDT", 7).decode()
        [ws] = exchange._live
        await ws.send([frame[:50], frame[50:120], frame[120:]])
        await collector.until(lambda: len(collector.records) == 1)
        assert collector.records[0] == decode_ticker(frame)
    finally:
        await feed.stop()


async def test_stray_control_reply_is_ignored(exchange: FakeExchange, collector: Collector) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await exchange.push('{"result":null,"id":999}')
        await exchange.push('{"error":{"code":1,"msg":"Invalid value type"},"id":null}')
        await exchange.push(ticker_frame("BTCUSDT", 1))
        await collector.until(lambda: len(collector.records) == 1)
        assert feed.stats.parse_errors == 0
        assert feed.state == "connected"
    finally:
        await feed.stop()


async def test_starting_a_running_feed_is_an_error(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        with pytest.raises(FeedError, match="already started"):
            await feed.start()
        assert exchange.connection_attempts == 1
    finally:
        await feed.stop()


async def test_feed_can_start_again_after_stop(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    await feed.subscribe("BTCUSDT")
    await feed.stop()
    await feed.start()
    try:
        assert exchange.methods()[-1] == ("SUBSCRIBE", ["btcusdt@ticker", "btcusdt@bookTicker"])
        assert collector.states() == [FeedState.CONNECTED, FeedState.DOWN, FeedState.CONNECTED]
    finally:
        await feed.stop()


async def test_exchange_info_http_error_is_a_clear_error(collector: Collector) -> None:
    async with FakeExchange(exchange_info_status=500) as fake:
        feed = make_feed(fake, collector)
        with pytest.raises(ExchangeInfoError, match="HTTP 500"):
            await feed.exchange_symbols()


async def test_refused_resubscription_stays_connected_instead_of_looping(
    exchange: FakeExchange, collector: Collector
) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        exchange.refuse_streams = {"btcusdt@ticker"}
        await exchange.drop()
        status = await collector.until_state(FeedState.CONNECTED, count=2)
        assert "resubscribe refused" in status.reason
        assert exchange.connection_attempts == 2
        assert feed.subscribed == {"BTCUSDT"}
    finally:
        await feed.stop()


async def test_stop_while_start_is_still_trying_ends_start_with_an_error(
    collector: Collector,
) -> None:
    feed = BinanceFeed(
        FeedConfig(stream_url="ws://127.0.0.1:1", start_timeout_s=None),
        on_status=collector.on_status,
        policy=ReconnectPolicy(first_s=0.05, cap_s=0.1),
    )
    starting = asyncio.create_task(feed.start())
    await collector.until_state(FeedState.RECONNECTING)
    await feed.stop()
    with pytest.raises(FeedError, match="stopped while starting"):
        await asyncio.wait_for(starting, 10)
    assert feed.state == "down"


async def test_server_pings_are_answered(exchange: FakeExchange, collector: Collector) -> None:
    feed = make_feed(exchange, collector)
    await feed.start()
    try:
        [ws] = exchange._live
        for payload in (b"a", b"b", b"c"):
            pong = await ws.ping(payload)
            await asyncio.wait_for(pong, 5)
        assert feed.state == "connected"
    finally:
        await feed.stop()


@dataclass(frozen=True)
class CountingPolicy(ReconnectPolicy):
    """Counts how often the feed starts a fresh backoff sequence."""

    fresh_sequences: list[int] = field(default_factory=list, compare=False)

    def delays(self) -> Iterator[float]:
        self.fresh_sequences.append(1)
        return super().delays()


async def test_backoff_restarts_only_after_a_healthy_connection(
    exchange: FakeExchange, collector: Collector
) -> None:
    clock = FakeClock()
    policy = CountingPolicy(first_s=0.05, cap_s=0.1, healthy_after_s=60.0)
    feed = BinanceFeed(
        FeedConfig(
            stream_url=exchange.stream_url,
            rest_url=exchange.rest_url,
            watchdog_interval_s=0.02,
            silence_timeout_s=10 * 86400.0,
        ),
        on_status=collector.on_status,
        policy=policy,
        clock=clock,
    )
    await feed.start()
    try:
        assert len(policy.fresh_sequences) == 1
        await exchange.drop()  # dropped after 0 s: not healthy, the backoff goes on
        await collector.until_state(FeedState.CONNECTED, count=2)
        assert len(policy.fresh_sequences) == 1
        clock.now += 60.0
        await exchange.drop()  # dropped after 60 s: healthy, start again at 0.5 s
        await collector.until_state(FeedState.CONNECTED, count=3)
        assert len(policy.fresh_sequences) == 2
    finally:
        await feed.stop()


async def test_stop_leaves_no_task_behind(exchange: FakeExchange, collector: Collector) -> None:
    before = asyncio.all_tasks()
    feed = make_feed(exchange, collector)
    await feed.start()
    await feed.subscribe("BTCUSDT")
    await exchange.drop()
    await collector.until_state(FeedState.CONNECTED, count=2)
    await feed.stop()
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not {t.get_name() for t in leftover if t.get_name().startswith("binance-feed")}
