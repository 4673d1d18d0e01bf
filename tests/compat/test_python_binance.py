"""python-binance against the simulator: its AsyncClient REST calls, its socket manager
streams and its depth cache, pointed at it through ``API_URL`` and ``STREAM_URL``."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

with warnings.catch_warnings():
    # python-binance 1.0.37 imports websockets' legacy client names (its own deprecation).
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance import AsyncClient, BinanceSocketManager, DepthCacheManager

from workspace.sim import ExchangeSimulator

from .conftest import TIMEOUT, assert_book_sane

pytestmark = pytest.mark.slow


@pytest.fixture
async def client(sim: ExchangeSimulator) -> AsyncIterator[AsyncClient]:
    binance = AsyncClient()  # no keys: market data only
    binance.API_URL = f"{sim.rest_url}/api"
    try:
        yield binance
    finally:
        await binance.close_connection()


def sockets(sim: ExchangeSimulator, client: AsyncClient) -> BinanceSocketManager:
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = f"{sim.stream_url}/"
    return manager


async def first(socket: Any) -> Any:
    async with socket as stream:
        return await asyncio.wait_for(stream.recv(), TIMEOUT)


async def test_rest_market_data(sim: ExchangeSimulator, client: AsyncClient) -> None:
    async with sockets(sim, client).aggtrade_socket("BTCUSDT") as stream:
        for _ in range(12):  # the simulator's recent trades start with its start
            await asyncio.wait_for(stream.recv(), TIMEOUT)
    klines = await client.get_klines(symbol="BTCUSDT", interval="15m", limit=100)
    book = await client.get_order_book(symbol="BTCUSDT", limit=50)
    price = await client.get_symbol_ticker(symbol="ETHUSDT")
    average = await client.get_avg_price(symbol="BTCUSDT")
    recent = await client.get_recent_trades(symbol="BTCUSDT", limit=10)
    # The window of the recent trades (trades go on printing between the two calls).
    aggregate = await client.get_aggregate_trades(
        symbol="BTCUSDT", startTime=recent[0]["time"], endTime=recent[-1]["time"]
    )
    ticker = await client.get_ticker(symbol="BTCUSDT")
    info = await client.get_symbol_info("BTCUSDT")
    assert len(klines) == 100
    assert klines[-1][0] % 900_000 == 0
    assert len(book["bids"]) == 50
    assert_book_sane(book["bids"], book["asks"], Decimal("0.01"))
    assert price["symbol"] == "ETHUSDT"
    assert Decimal(price["price"]) > 0
    assert average["mins"] == 5
    assert len(recent) == 10
    covered = {i for a in aggregate for i in range(a["f"], a["l"] + 1)}
    assert {t["id"] for t in recent} <= covered
    assert ticker["symbol"] == "BTCUSDT"
    assert info is not None
    assert info["filters"][0]["tickSize"] == "0.01000000"


async def test_historical_klines_page_through_the_seeded_history(client: AsyncClient) -> None:
    # python-binance pages with startTime and limit=1000 until it reaches the end.
    klines = await client.get_historical_klines("ETHUSDT", "1h", "40 days ago UTC")
    opens = [k[0] for k in klines]
    assert len(klines) >= 40 * 24
    assert opens == [opens[0] + i * 3_600_000 for i in range(len(opens))]


async def test_streams_subscribe_and_unsubscribe(
    sim: ExchangeSimulator, client: AsyncClient
) -> None:
    manager = sockets(sim, client)
    ten = BinanceSocketManager.WEBSOCKET_DEPTH_10
    minis, kline, trade, agg, ticker, diff, partial, multiplex = await asyncio.gather(
        first(manager.miniticker_socket()),  # !miniTicker@arr@1000ms
        first(manager.kline_socket("BTCUSDT", interval="1s")),
        first(manager.trade_socket("ETHUSDT")),
        first(manager.aggtrade_socket("ETHUSDT")),
        first(manager.symbol_ticker_socket("BTCUSDT")),
        first(manager.depth_socket("BTCUSDT", interval=100)),
        first(manager.depth_socket("BTCUSDT", depth=ten)),
        first(manager.multiplex_socket(["btcusdt@bookTicker", "ethusdt@kline_1m"])),
    )
    assert isinstance(minis, list)
    assert {m["e"] for m in minis} == {"24hrMiniTicker"}
    assert kline["e"] == "kline"
    assert kline["k"]["i"] == "1s"
    assert kline["k"]["x"] is True
    assert (trade["e"], agg["e"], ticker["e"]) == ("trade", "aggTrade", "24hrTicker")
    assert diff["e"] == "depthUpdate"
    assert diff["U"] <= diff["u"]
    assert len(partial["bids"]) == 10
    assert multiplex["stream"] in ("btcusdt@bookTicker", "ethusdt@kline_1m")
    # Leaving a socket's context closes its connection: nobody listens any more.
    for stream in ("btcusdt@kline_1s", "ethusdt@trade", "btcusdt@depth@100ms"):
        await asyncio.wait_for(sim.wait_for_subscribers(stream, 0), TIMEOUT)


async def test_depth_cache_keeps_a_synchronised_book(
    sim: ExchangeSimulator, client: AsyncClient
) -> None:
    manager = sockets(sim, client)
    async with DepthCacheManager(client, "BTCUSDT", bm=manager, limit=100, ws_interval=100) as dcm:
        for _ in range(5):
            cache = await asyncio.wait_for(dcm.recv(), TIMEOUT)
    bids, asks = cache.get_bids()[:20], cache.get_asks()[:20]
    assert_book_sane(bids, asks, Decimal("0.01"))
    rest = await client.get_order_book(symbol="BTCUSDT", limit=5)
    assert abs(float(rest["bids"][0][0]) - bids[0][0]) < bids[0][0] * 0.01
