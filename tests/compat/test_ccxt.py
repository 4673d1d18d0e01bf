"""ccxt (with ccxt.pro) against the simulator: REST and WebSocket market data, watch and
unwatch, pointed at it through ``urls`` only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.pro
import pytest

from workspace.sim import ExchangeSimulator

from .conftest import TIMEOUT, assert_book_sane

pytestmark = pytest.mark.slow


def ccxt_for(sim: ExchangeSimulator) -> Any:
    """ccxt's Binance with its documented URL settings aimed at the simulator."""
    rest = f"{sim.rest_url}/api/v3"
    return ccxt.pro.binance(
        {
            "urls": {
                "api": {
                    "public": rest,
                    "private": rest,
                    "v1": f"{sim.rest_url}/api/v1",
                    "ws": {"spot": f"{sim.stream_url}/ws"},
                }
            },
            # Spot markets only (the simulator has no futures), no private currency call.
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
        }
    )


@pytest.fixture
async def exchange(sim: ExchangeSimulator) -> AsyncIterator[Any]:
    client = ccxt_for(sim)
    try:
        await client.load_markets()
        yield client
    finally:
        await client.close()


async def test_markets_carry_the_simulators_filters(exchange: Any) -> None:
    btc = exchange.market("BTC/USDT")
    assert btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5
    assert btc["limits"]["amount"]["max"] == 9000


async def test_rest_ticker_trades_ohlcv_and_book(exchange: Any) -> None:
    ticker = await exchange.fetch_ticker("BTC/USDT")
    tickers = await exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    trades = await exchange.fetch_trades("BTC/USDT", limit=50)
    candles = await exchange.fetch_ohlcv("ETH/USDT", "5m", limit=300)
    since = exchange.milliseconds() - 40 * 86_400_000
    history = await exchange.fetch_ohlcv("BTC/USDT", "1d", since=since, limit=10)
    book = await exchange.fetch_order_book("BTC/USDT", limit=20)
    assert ticker["symbol"] == "BTC/USDT"
    assert ticker["bid"] < ticker["ask"]
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    assert trades
    assert all(t["symbol"] == "BTC/USDT" for t in trades)
    assert len(candles) == 300
    assert [c[0] for c in candles] == [candles[0][0] + i * 300_000 for i in range(300)]
    assert all(c[3] <= min(c[1], c[4]) and c[2] >= max(c[1], c[4]) for c in candles)
    assert len(history) == 10
    assert history[0][0] % 86_400_000 == 0
    assert len(book["bids"]) == len(book["asks"]) == 20
    assert book["nonce"] > 0
    assert_book_sane(book["bids"], book["asks"], Decimal("0.01"))


async def test_watch_and_unwatch_every_market_stream(sim: ExchangeSimulator, exchange: Any) -> None:
    ticker, trades, ohlcv, book = await asyncio.wait_for(
        asyncio.gather(
            exchange.watch_ticker("BTC/USDT"),
            exchange.watch_trades("ETH/USDT"),
            exchange.watch_ohlcv("BTC/USDT", "1m"),
            exchange.watch_order_book("BTC/USDT"),
        ),
        TIMEOUT,
    )
    # Several updates of the book: ccxt checks every diff's update ids against the last.
    for _ in range(5):
        book = await asyncio.wait_for(exchange.watch_order_book("BTC/USDT"), TIMEOUT)
    assert ticker["symbol"] == "BTC/USDT"
    assert ticker["last"] > 0
    assert trades
    assert trades[-1]["symbol"] == "ETH/USDT"
    assert ohlcv[-1][0] % 60_000 == 0
    assert_book_sane(book["bids"][:50], book["asks"][:50], Decimal("0.01"))
    rest_book = await exchange.fetch_order_book("BTC/USDT", limit=5)
    assert abs(rest_book["bids"][0][0] - book["bids"][0][0]) < rest_book["bids"][0][0] * 0.01
    for stream in (
        "btcusdt@miniTicker",
        "ethusdt@trade",
        "btcusdt@kline_1m",
        "btcusdt@depth@100ms",
    ):
        assert sim.subscribers(stream) == 1
    await exchange.un_watch_ticker("BTC/USDT")
    await exchange.un_watch_trades("ETH/USDT")
    await exchange.un_watch_ohlcv("BTC/USDT", "1m")
    await exchange.un_watch_order_book("BTC/USDT")
    for stream in (
        "btcusdt@miniTicker",
        "ethusdt@trade",
        "btcusdt@kline_1m",
        "btcusdt@depth@100ms",
    ):
        await asyncio.wait_for(sim.wait_for_subscribers(stream, 0), TIMEOUT)
