"""binance-connector (Binance's own Python connector) against the simulator: the Spot
REST client and the WebSocket stream client, pointed at it through ``base_url`` and
``stream_url``."""

from __future__ import annotations

import asyncio
import json
import queue
import warnings
from decimal import Decimal
from typing import Any

import pytest

with warnings.catch_warnings():
    # The "binance" package directory is shared with python-binance, whose __init__
    # imports websockets' legacy client names (its own deprecation).
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance.spot import Spot
    from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from workspace.sim import ExchangeSimulator

from .conftest import TIMEOUT, assert_book_sane

pytestmark = pytest.mark.slow


async def test_spot_rest_market_data(sim: ExchangeSimulator) -> None:
    spot = Spot(base_url=sim.rest_url, timeout=TIMEOUT)

    def calls() -> dict[str, Any]:  # requests is blocking: off the simulator's loop
        return {
            "klines": spot.klines("BTCUSDT", "1h", limit=48),
            "ui": spot.ui_klines("BTCUSDT", "1h", limit=48),
            "depth": spot.depth("ETHUSDT", limit=20),
            "trades": spot.trades("BTCUSDT", limit=5),
            "agg": spot.agg_trades("BTCUSDT", limit=5),
            "price": spot.ticker_price(symbols=["BTCUSDT", "ETHUSDT"]),
            "book": spot.book_ticker("BTCUSDT"),
            "day": spot.ticker_24hr(symbol="ETHUSDT", type="MINI"),
            "window": spot.rolling_window_ticker("BTCUSDT", windowSize="4h"),
            "trading_day": spot.trading_day_ticker(symbols=["BTCUSDT", "ETHUSDT"]),
            "avg": spot.avg_price("ETHUSDT"),
            "info": spot.exchange_info(symbol="ETHUSDT"),
        }

    try:
        r = await asyncio.to_thread(calls)
    finally:
        spot.session.close()
    assert len(r["klines"]) == 48
    assert r["ui"][:-1] == r["klines"][:-1]  # the open candle may have traded in between
    assert_book_sane(r["depth"]["bids"], r["depth"]["asks"], Decimal("0.01"))
    assert {p["symbol"] for p in r["price"]} == {"BTCUSDT", "ETHUSDT"}
    assert Decimal(r["book"]["bidPrice"]) < Decimal(r["book"]["askPrice"])
    assert "bidPrice" not in r["day"]
    assert r["day"]["symbol"] == "ETHUSDT"
    assert r["window"]["symbol"] == "BTCUSDT"
    assert r["window"]["openTime"] % 60_000 == 0
    # the trading day opens at midnight UTC (the connector sends no timeZone)
    assert [t["symbol"] for t in r["trading_day"]] == ["BTCUSDT", "ETHUSDT"]
    assert all(t["openTime"] % 86_400_000 == 0 for t in r["trading_day"])
    assert r["avg"]["mins"] == 5
    assert r["info"]["symbols"][0]["filters"][1]["stepSize"] == "0.00010000"


async def test_stream_client_subscribes_and_unsubscribes(sim: ExchangeSimulator) -> None:
    received: queue.Queue[Any] = queue.Queue()

    def on_message(_: object, message: str) -> None:
        received.put(json.loads(message))

    client = await asyncio.to_thread(
        SpotWebsocketStreamClient, stream_url=sim.stream_url, on_message=on_message
    )
    subscriptions = [
        lambda action=None: client.trade("btcusdt", action=action),
        lambda action=None: client.agg_trade("ethusdt", action=action),
        lambda action=None: client.kline("btcusdt", "1s", action=action),
        lambda action=None: client.diff_book_depth("btcusdt", speed=100, action=action),
        lambda action=None: client.partial_book_depth("ethusdt", 5, 100, action=action),
        lambda action=None: client.book_ticker("btcusdt", action=action),
        lambda action=None: client.mini_ticker(action=action),  # !miniTicker@arr
        lambda action=None: client.rolling_window_ticker("ethusdt", "1h", action=action),
        lambda action=None: client.kline_timezone_offset("ethusdt", "1d", action=action),
        # No named method for it: the generic one.
        lambda action=None: client.send_message_to_server("btcusdt@avgPrice", action=action),
    ]
    try:
        for subscribe in subscriptions:
            await asyncio.to_thread(subscribe)
        kinds: set[str] = set()
        wanted = {"trade", "aggTrade", "kline", "depthUpdate", "partial", "bookTicker",
                  "24hrMiniTicker", "1hTicker", "avgPrice"}  # fmt: skip
        while not wanted <= kinds:
            message = await asyncio.to_thread(received.get, True, TIMEOUT)
            if isinstance(message, list):
                kinds.update(m["e"] for m in message)
            elif "lastUpdateId" in message:
                kinds.add("partial")
            elif "u" in message and "e" not in message:
                kinds.add("bookTicker")
            elif "e" in message:
                kinds.add(message["e"])
        assert await asyncio.to_thread(
            lambda: all(sim.subscribers(s) == 1 for s in ("btcusdt@trade", "ethusdt@depth5@100ms"))
        )
        for unsubscribe in subscriptions:
            await asyncio.to_thread(unsubscribe, client.ACTION_UNSUBSCRIBE)
        for stream in (
            "btcusdt@trade", "btcusdt@kline_1s", "!miniTicker@arr", "btcusdt@avgPrice",
            "ethusdt@kline_1d@+08:00",
        ):  # fmt: skip
            await asyncio.wait_for(sim.wait_for_subscribers(stream, 0), TIMEOUT)
        await asyncio.to_thread(client.list_subscribe, 77)
        while True:
            message = await asyncio.to_thread(received.get, True, TIMEOUT)
            if isinstance(message, dict) and message.get("id") == 77:
                break
        assert message == {"result": [], "id": 77}
    finally:
        await asyncio.to_thread(client.stop)
        # stop() does the closing handshake but leaves the TCP socket open (connector
        # 3.13): close it, or it lingers until garbage collection.
        client.socket_manager.ws.shutdown()
