"""The feed behaves the same on both WebSocket transports (picows, websockets)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from workspace.market.config import FeedConfig
from workspace.market.feed import BinanceFeed, FeedState
from workspace.reconnect import ReconnectPolicy

from .collector import Collector
from .fake_exchange import FakeExchange, ticker_frame

TRANSPORTS = ["picows", "websockets"]


@pytest.fixture
async def exchange() -> AsyncIterator[FakeExchange]:
    async with FakeExchange() as fake:
        yield fake


def make_feed(exchange: FakeExchange, collector: Collector, transport: str) -> BinanceFeed:
    return BinanceFeed(
        FeedConfig(
            stream_url=exchange.stream_url,
            rest_url=exchange.rest_url,
            streams=("ticker",),
            transport=transport,
            watchdog_interval_s=0.02,
        ),
        on_record=collector.on_record,
        on_status=collector.on_status,
        policy=ReconnectPolicy(first_s=0.05, cap_s=0.2, rng=random.Random(7)),
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_records_fragments_pings_and_a_reconnect(
    exchange: FakeExchange, transport: str
) -> None:
    collector = Collector()
    feed = make_feed(exchange, collector, transport)
    await feed.start()
    try:
        await feed.subscribe("BTCUSDT")
        [ws] = exchange._live
        frame = ticker_frame("BTCUSDT", 1).decode()
        await ws.send([frame[:40], frame[40:]])  # a fragmented message
        pong = await ws.ping(b"x")
        await asyncio.wait_for(pong, 5)
        await collector.until(lambda: len(collector.records) == 1)
        await ws.close(1001, "going away")  # a close frame with a code
        status = await collector.until_state(FeedState.RECONNECTING)
        assert "1001" in status.reason
        await collector.until_state(FeedState.CONNECTED, count=2)
        await exchange.push(ticker_frame("BTCUSDT", 2))
        await collector.until(lambda: len(collector.records) == 2)
    finally:
        await feed.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "fatal"), [(403, True), (503, False)])
async def test_a_refused_handshake_is_judged_by_its_status(
    exchange: FakeExchange, transport: str, status: int, fatal: bool
) -> None:
    collector = Collector()
    exchange.handshake_status = status
    feed = make_feed(exchange, collector, transport)
    starting = asyncio.create_task(feed.start())
    try:
        if fatal:
            with pytest.raises(Exception, match=f"HTTP {status}"):
                await asyncio.wait_for(starting, 10)
            assert exchange.connection_attempts == 1
        else:
            await exchange.until(lambda: exchange.connection_attempts >= 2)
            exchange.handshake_status = None
            await asyncio.wait_for(starting, 10)
            assert feed.state == "connected"
    finally:
        starting.cancel()
        await feed.stop()
