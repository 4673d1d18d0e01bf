"""BinanceFeed against the real exchange simulator (workspace.sim) on 127.0.0.1."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from workspace.market.config import FeedConfig
from workspace.market.feed import BinanceFeed, FeedState, UnknownSymbolError
from workspace.market.records import Ticker, Trade
from workspace.reconnect import ReconnectPolicy
from workspace.sim import ExchangeSimulator, SimConfig

from .collector import Collector

SIM = SimConfig(
    symbols=("BTCUSDT", "ETHUSDT"),
    seed=11,
    ticker_interval_s=0.2,
    trade_interval_s=0.05,
    book_interval_s=0.05,
)


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    simulator = ExchangeSimulator(SIM)
    await simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def collector() -> Collector:
    return Collector()


def feed_for(sim: ExchangeSimulator, collector: Collector, **config: object) -> BinanceFeed:
    settings: dict[str, object] = {
        "stream_url": sim.stream_url,
        "rest_url": sim.rest_url,
        "streams": ("ticker", "bookTicker", "aggTrade"),
        "watchdog_interval_s": 0.05,
    }
    settings.update(config)
    return BinanceFeed(
        FeedConfig(**settings),  # type: ignore[arg-type]
        on_record=collector.on_record,
        on_status=collector.on_status,
        policy=ReconnectPolicy(first_s=0.1, cap_s=0.5, rng=random.Random(3)),
    )


def symbols_seen(collector: Collector, since: int = 0) -> set[str]:
    return {r.symbol for r in collector.records[since:]}


async def test_live_subscribe_delivers_records_and_unsubscribe_stops_them(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        await feed.subscribe("btcusdt")
        await collector.until(lambda: {type(r) for r in collector.records} >= {Ticker, Trade})
        assert symbols_seen(collector) == {"BTCUSDT"}
        await feed.subscribe("ETHUSDT")
        mark = len(collector.records)
        await collector.until(lambda: "ETHUSDT" in symbols_seen(collector, mark))
        await feed.unsubscribe("BTCUSDT")
        assert feed.subscribed == {"ETHUSDT"}
        # The UNSUBSCRIBE reply has come back, so everything after it is ETHUSDT only.
        mark = len(collector.records)
        await collector.until(lambda: len(collector.records) >= mark + 10)
        assert symbols_seen(collector, mark) == {"ETHUSDT"}
        assert feed.stats.parse_errors == 0
    finally:
        await feed.stop()


async def test_unknown_symbol_is_refused_against_the_simulators_listing(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        with pytest.raises(UnknownSymbolError, match="DOGEUSDT"):
            await feed.subscribe("BTCUSDT", "DOGEUSDT")  # a real symbol the sim does not list
        assert feed.subscribed == frozenset()
        assert feed.streams == frozenset()
        assert set(await feed.exchange_symbols()) == {"BTCUSDT", "ETHUSDT"}
    finally:
        await feed.stop()


async def test_feed_reconnects_and_resubscribes_when_the_simulator_restarts_on_the_same_port(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await collector.until(lambda: any(isinstance(r, Ticker) for r in collector.records))
        port = sim.port
        await sim.stop()
        await collector.until_state(FeedState.RECONNECTING)
        reborn = ExchangeSimulator(SIM)
        await reborn.start(host="127.0.0.1", port=port)
        try:
            await collector.until_state(FeedState.CONNECTED, count=2)
            mark = len(collector.records)
            await collector.until(
                lambda: any(isinstance(r, Ticker) for r in collector.records[mark:])
            )
            assert feed.streams == {"btcusdt@ticker", "btcusdt@bookTicker", "btcusdt@aggTrade"}
            assert feed.stats.reconnects == 1
            [gap] = feed.gaps
            assert gap.last_event_ms_before is not None
            assert gap.first_event_ms_after is not None
            assert gap.first_event_ms_after >= gap.last_event_ms_before
        finally:
            await feed.stop()
            await reborn.stop()
    finally:
        await feed.stop()


async def test_a_server_shutdown_handover_loses_and_repeats_no_trade(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    """Make-before-break against the simulator: aggregate trade ids stay consecutive
    per symbol across the handover (zero gap, nothing twice)."""
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT", "ETHUSDT")
        await collector.until(lambda: sum(isinstance(r, Trade) for r in collector.records) > 10)
        await sim.send_server_shutdown()
        await collector.until(lambda: feed.stats.handovers == 1)
        mark = len(collector.records)
        await collector.until(
            lambda: sum(isinstance(r, Trade) for r in collector.records[mark:]) > 20
        )
        for symbol in ("BTCUSDT", "ETHUSDT"):
            ids = [r.id for r in collector.records if isinstance(r, Trade) and r.symbol == symbol]
            assert ids == list(range(ids[0], ids[0] + len(ids))), symbol
        assert collector.states() == [FeedState.CONNECTED]
        assert feed.gaps == []
        assert feed.stats.reconnects == 0
    finally:
        await feed.stop()


async def test_garbage_frame_from_the_simulator_is_counted_and_survived(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await sim.send_garbage()
        await collector.until(lambda: feed.stats.parse_errors == 1)
        mark = len(collector.records)
        await collector.until(lambda: len(collector.records) > mark)
        assert feed.state == "connected"
        assert feed.stats.reconnects == 0
    finally:
        await feed.stop()


async def test_watchdog_reconnects_when_the_simulator_stalls(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector, silence_timeout_s=0.5)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await collector.until(lambda: len(collector.records) > 0)
        await sim.stall(60)
        status = await collector.until_state(FeedState.RECONNECTING)
        assert status.reason == "stalled"
        await sim.stall(0)
        await collector.until_state(FeedState.CONNECTED, count=2)
    finally:
        await feed.stop()


async def test_a_simulator_stall_is_reported_as_stalled_then_connected_with_a_gap(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector, stall_after_s=0.3)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        # Paces learned (tickers every 0.2 s here): silent after max(0.3 s, 3 x 0.2 s).
        await collector.until(lambda: sum(isinstance(r, Ticker) for r in collector.records) > 3)
        await sim.stall(2.0)
        stalled = await collector.until_state(FeedState.STALLED)
        assert stalled.reason.startswith("no data for")
        await collector.until_state(FeedState.CONNECTED, count=2)
        # The gap closes with the first record that carries an event time (a book
        # ticker, which has none, may come first).
        await collector.until(lambda: len(feed.gaps) == 1)
        [gap] = feed.gaps
        assert gap.reason == "stalled"
        assert gap.symbol is None
        assert gap.last_event_ms_before is not None
        assert gap.first_event_ms_after is not None
        assert gap.first_event_ms_after > gap.last_event_ms_before
        assert feed.stats.reconnects == 0
    finally:
        await feed.stop()


async def test_refused_reconnects_are_retried_until_the_server_accepts_again(
    sim: ExchangeSimulator, collector: Collector
) -> None:
    feed = feed_for(sim, collector)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        await sim.refuse_connections(60)
        await sim.drop_connections()
        await collector.until(
            lambda: (
                any("HTTP 503" in s.reason for s in collector.statuses)
                or feed.stats.reconnects >= 1
            )
        )
        await collector.until_state(FeedState.RECONNECTING)
        await sim.refuse_connections(0)
        await collector.until_state(FeedState.CONNECTED, count=2)
        assert feed.error is None
        mark = len(collector.records)
        await collector.until(lambda: len(collector.records) > mark)
    finally:
        await feed.stop()
