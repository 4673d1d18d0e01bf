"""The REST market data endpoints: Binance's shapes, parameters, weights and errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from workspace.sim import ExchangeSimulator

from .conftest import START_MS, TIMEOUT, advance_and_drain, http_get, manual_config

TRADE_KEYS = {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}
AGG_KEYS = {"a", "p", "q", "f", "l", "T", "m", "M"}
FULL_24H = {
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
    "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
    "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
    "lastId", "count",
}  # fmt: skip
MINI = {
    "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
    "openTime", "closeTime", "firstId", "lastId", "count",
}  # fmt: skip


async def get(sim: ExchangeSimulator, target: str) -> Any:
    response = await http_get(sim, target)
    assert response.status_code == 200, response.text
    return response.json()


async def traded(sim: ExchangeSimulator, ms: int = 3000) -> list[dict[str, Any]]:
    """Let the market trade for ``ms`` and return BTCUSDT's aggTrades of that time."""
    async with connect(f"{sim.stream_url}/ws/btcusdt@aggTrade") as ws:
        return await advance_and_drain(sim, ws, ms)


async def test_recent_trades_are_the_streams_trades(sim: ExchangeSimulator) -> None:
    streamed = await traded(sim)
    trades = await get(sim, "/api/v3/trades?symbol=BTCUSDT")
    two = await get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=2")
    assert all(set(t) == TRADE_KEYS for t in trades)
    assert [t["id"] for t in trades] == [s["f"] for s in streamed]
    assert [t["price"] for t in trades] == [s["p"] for s in streamed]
    assert two == trades[-2:]
    for t in trades:
        assert Decimal(t["quoteQty"]) == (Decimal(t["price"]) * Decimal(t["qty"])).quantize(
            Decimal("0.00000001"), rounding="ROUND_DOWN"
        )


async def test_agg_trades_by_id_and_time(sim: ExchangeSimulator) -> None:
    streamed = await traded(sim)
    everything = await get(sim, "/api/v3/aggTrades?symbol=BTCUSDT")
    assert all(set(t) == AGG_KEYS for t in everything)
    assert everything == [{k: s[k] for k in AGG_KEYS} for s in streamed]
    third = streamed[2]
    from_id = await get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={third['a']}&limit=2")
    assert [t["a"] for t in from_id] == [third["a"], third["a"] + 1]
    since = await get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={third['T']}")
    assert since[0]["T"] >= third["T"]
    assert since[-1] == everything[-1]
    until = await get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&endTime={third['T']}&limit=1")
    assert until[0]["T"] <= third["T"]
    historical = await get(sim, f"/api/v3/historicalTrades?symbol=BTCUSDT&fromId={third['f']}")
    assert historical[0]["id"] == third["f"]


async def test_prices_book_tickers_and_average_price(sim: ExchangeSimulator) -> None:
    streamed = await traded(sim)
    one = await get(sim, "/api/v3/ticker/price?symbol=BTCUSDT")
    many = await get(sim, '/api/v3/ticker/price?symbols=["ETHUSDT","BTCUSDT"]')
    every = await get(sim, "/api/v3/ticker/price")
    assert one == {"symbol": "BTCUSDT", "price": streamed[-1]["p"]}
    assert [p["symbol"] for p in many] == ["ETHUSDT", "BTCUSDT"]
    assert [p["symbol"] for p in every] == ["BTCUSDT", "ETHUSDT"]
    book = await get(sim, "/api/v3/ticker/bookTicker?symbol=ETHUSDT")
    depth = await get(sim, "/api/v3/depth?symbol=ETHUSDT&limit=1")
    assert book == {
        "symbol": "ETHUSDT",
        "bidPrice": depth["bids"][0][0],
        "bidQty": depth["bids"][0][1],
        "askPrice": depth["asks"][0][0],
        "askQty": depth["asks"][0][1],
    }
    assert len(await get(sim, "/api/v3/ticker/bookTicker")) == 2
    average = await get(sim, "/api/v3/avgPrice?symbol=BTCUSDT")
    assert set(average) == {"mins", "price", "closeTime"}
    assert average["mins"] == 5
    assert average["closeTime"] == streamed[-1]["T"]
    prices = [Decimal(t["p"]) for t in streamed]
    assert min(prices) * Decimal("0.9") < Decimal(average["price"]) < max(prices) * Decimal("1.1")


async def test_24hr_ticker_in_every_form(sim: ExchangeSimulator) -> None:
    await traded(sim, 1000)
    full = await get(sim, "/api/v3/ticker/24hr?symbol=BTCUSDT")
    mini = await get(sim, "/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI")
    listed = await get(sim, '/api/v3/ticker/24hr?symbols=["BTCUSDT"]&type=FULL')
    every = await get(sim, "/api/v3/ticker/24hr?type=MINI")
    assert set(full) == FULL_24H
    assert set(mini) == MINI
    assert listed == [full]
    assert [set(t) for t in every] == [MINI, MINI]
    assert Decimal(full["priceChange"]) == Decimal(full["lastPrice"]) - Decimal(full["openPrice"])
    assert full["count"] == full["lastId"] - full["firstId"] + 1
    # The 24 h window sums the day of klines exactly.
    opened = START_MS - 86_400_000
    span_start = opened - opened % 60_000
    minutes = await get(
        sim, f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={span_start}&limit=1000"
    )
    minutes += await get(
        sim,
        f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={minutes[-1][0] + 60_000}&limit=1000",
    )
    assert full["openPrice"] == minutes[0][1]
    assert Decimal(full["volume"]) == sum(Decimal(m[5]) for m in minutes)


@pytest.mark.parametrize(
    ("window", "ms"), [("1h", 3_600_000), ("30m", 1_800_000), ("2d", 172_800_000)]
)
async def test_rolling_window_ticker(sim: ExchangeSimulator, window: str, ms: int) -> None:
    one = await get(sim, f"/api/v3/ticker?symbol=ETHUSDT&windowSize={window}")
    listed = await get(sim, f'/api/v3/ticker?symbols=["ETHUSDT","BTCUSDT"]&windowSize={window}')
    mini = await get(sim, f"/api/v3/ticker?symbol=ETHUSDT&windowSize={window}&type=MINI")
    assert one["closeTime"] == START_MS
    assert one["openTime"] % 60_000 == 0
    assert 0 <= START_MS - ms - one["openTime"] < 60_000  # opens on the minute
    assert listed[0] == one
    assert "priceChange" not in mini
    assert mini["lastPrice"] == one["lastPrice"]


@pytest.mark.parametrize(
    ("zone", "offset_ms"), [(None, 0), ("8", 8 * 3_600_000), ("-5:30", -19_800_000)]
)
async def test_trading_day_ticker_opens_at_midnight_in_its_time_zone(
    sim: ExchangeSimulator, zone: str | None, offset_ms: int
) -> None:
    query = "" if zone is None else f"&timeZone={zone}"
    day = await get(sim, f"/api/v3/ticker/tradingDay?symbol=BTCUSDT{query}")
    midnight = (START_MS + offset_ms) // 86_400_000 * 86_400_000 - offset_ms
    assert (day["openTime"], day["closeTime"]) == (midnight, START_MS)
    # it opens at the first minute of the day, and its high and low hold that minute's
    first = await get(
        sim, f"/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={midnight}&limit=1"
    )
    assert first[0][0] == midnight
    assert day["openPrice"] == first[0][1]
    assert Decimal(day["lowPrice"]) <= Decimal(first[0][3]) <= Decimal(first[0][2])
    assert Decimal(first[0][2]) <= Decimal(day["highPrice"])
    listed = await get(sim, f'/api/v3/ticker/tradingDay?symbols=["BTCUSDT","ETHUSDT"]{query}')
    assert listed[0] == day
    mini = await get(sim, f"/api/v3/ticker/tradingDay?symbol=BTCUSDT&type=MINI{query}")
    assert set(mini) == MINI


async def test_exchange_info_carries_binances_filters(sim: ExchangeSimulator) -> None:
    info = await get(sim, "/api/v3/exchangeInfo?symbol=BTCUSDT")
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]): r["limit"]
              for r in info["rateLimits"]}  # fmt: skip
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE", 1): 6000,
        ("ORDERS", "SECOND", 10): 100,
        ("ORDERS", "DAY", 1): 200000,
        ("RAW_REQUESTS", "MINUTE", 5): 300000,  # since 2026-04-02 (CHANGELOG 2026-03-27)
    }
    btc = info["symbols"][0]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert list(filters) == [
        "PRICE_FILTER", "LOT_SIZE", "ICEBERG_PARTS", "MARKET_LOT_SIZE", "TRAILING_DELTA",
        "PERCENT_PRICE_BY_SIDE", "NOTIONAL", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS",
        "MAX_NUM_ORDER_LISTS", "MAX_NUM_ORDER_AMENDS",
    ]  # fmt: skip
    # on for every symbol since 2025-08-28 (binance-spot-api-docs CHANGELOG)
    assert filters["MAX_NUM_ORDER_LISTS"] == {
        "filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20
    }  # fmt: skip
    assert filters["MAX_NUM_ORDER_AMENDS"] == {
        "filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10
    }  # fmt: skip
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    }  # fmt: skip
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
        "stepSize": "0.00001000",
    }  # fmt: skip
    assert filters["NOTIONAL"] == {
        "filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
        "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5,
    }  # fmt: skip
    assert filters["PERCENT_PRICE_BY_SIDE"]["bidMultiplierUp"] == "5"
    assert filters["MARKET_LOT_SIZE"]["maxQty"] == "128.52621715"
    assert btc["permissionSets"] == [["SPOT", "MARGIN"]]
    # fields Binance added since the captures (binance-spot-api-docs CHANGELOG)
    assert (btc["opoAllowed"], btc["pegInstructionsAllowed"]) == (True, True)
    assert btc["allowedSelfTradePreventionModes"] == [
        "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"
    ]  # fmt: skip


async def test_a_spec_with_a_max_position_lists_the_filter() -> None:
    from workspace.market.exchange_info import parse_exchange_info
    from workspace.sim import SymbolSpec

    capped = SymbolSpec(
        symbol="ABCUSDT", base_asset="ABC", quote_asset="USDT", price=Decimal("1"),
        tick_size=Decimal("0.0001"), step_size=Decimal("0.1"), max_position=Decimal("1000"),
    )  # fmt: skip
    exchange = ExchangeSimulator(manual_config(symbols=(capped,)))
    await exchange.start(host="127.0.0.1", port=0)
    try:
        info = await get(exchange, "/api/v3/exchangeInfo?symbol=ABCUSDT")
        body = json.dumps(info).encode()
    finally:
        await exchange.stop()
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["MAX_POSITION"] == {"filterType": "MAX_POSITION", "maxPosition": "1000.00000000"}
    # and the engine's reading of it
    parsed = parse_exchange_info(body)["ABCUSDT"]
    assert (parsed.max_position, parsed.max_num_order_lists) == (Decimal(1000), 20)


async def test_exchange_info_permissions_and_status_filters() -> None:
    from workspace.sim import SymbolSpec

    margin_only = SymbolSpec(
        symbol="ABCUSDT", base_asset="ABC", quote_asset="USDT", price=Decimal("1"),
        tick_size=Decimal("0.0001"), step_size=Decimal("0.1"), permissions=("MARGIN",),
        status="BREAK",
    )  # fmt: skip
    sim = ExchangeSimulator(manual_config(symbols=("BTCUSDT", margin_only)))
    await sim.start()
    try:
        spot = await get(sim, "/api/v3/exchangeInfo?permissions=SPOT")
        margin = await get(sim, '/api/v3/exchangeInfo?permissions=["MARGIN"]')
        breaking = await get(sim, "/api/v3/exchangeInfo?symbolStatus=BREAK")
        # enums.md's other statuses (CANCEL_ONLY since 2026-07-07): none listed here
        others = [
            await get(sim, f"/api/v3/exchangeInfo?symbolStatus={status}")
            for status in ("END_OF_DAY", "HALT", "CANCEL_ONLY")
        ]
        hidden = await get(sim, "/api/v3/exchangeInfo?showPermissionSets=false")
        refused = await http_get(sim, "/api/v3/exchangeInfo?symbol=BTCUSDT&permissions=SPOT")
    finally:
        await sim.stop()
    assert [s["symbol"] for s in spot["symbols"]] == ["BTCUSDT"]
    assert [s["symbol"] for s in margin["symbols"]] == ["BTCUSDT", "ABCUSDT"]
    assert [s["symbol"] for s in breaking["symbols"]] == ["ABCUSDT"]
    assert [answer["symbols"] for answer in others] == [[], [], []]
    assert all(s["permissionSets"] == [] for s in hidden["symbols"])
    assert refused.status_code == 400
    assert refused.json()["code"] == -1128


async def test_every_answer_carries_the_used_weight(sim: ExchangeSimulator) -> None:
    weights = []
    async with httpx.AsyncClient(base_url=sim.rest_url, timeout=TIMEOUT) as client:
        for target, expected in [
            ("/api/v3/ping", 1),
            ("/api/v3/exchangeInfo", 20),
            ("/api/v3/klines?symbol=BTCUSDT&interval=1m", 2),
            ("/api/v3/ticker/24hr", 80),
            ("/api/v3/ticker/24hr?symbol=BTCUSDT", 2),
            ('/api/v3/ticker?symbols=["BTCUSDT","ETHUSDT"]', 8),
            ('/api/v3/ticker/tradingDay?symbols=["BTCUSDT","ETHUSDT"]', 8),
            ("/api/v3/trades?symbol=BTCUSDT", 25),
            ("/api/v3/aggTrades?symbol=BTCUSDT", 4),
            ("/api/v3/depth?symbol=BTCUSDT&limit=500", 25),
            ("/api/v3/ticker/price", 4),
        ]:
            response = await client.get(target)
            weights.append((int(response.headers["X-MBX-USED-WEIGHT-1M"]), expected))
    used = [w for w, _ in weights]
    assert used == [sum(e for _, e in weights[: i + 1]) for i in range(len(weights))]


async def test_over_the_weight_limit_is_http_429_with_retry_after() -> None:
    sim = ExchangeSimulator(manual_config(rest_weight_per_minute=45))
    await sim.start()
    try:
        first = await http_get(sim, "/api/v3/exchangeInfo")
        second = await http_get(sim, "/api/v3/exchangeInfo")
        third = await http_get(sim, "/api/v3/exchangeInfo")
    finally:
        await sim.stop()
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert third.json()["code"] == -1003
    assert 1 <= int(third.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/api/v3/trades", -1102),
        ("/api/v3/trades?symbol=BTCUSDT&limit=-1", -1100),
        ("/api/v3/aggTrades?symbol=BTCUSDT&fromId=x", -1100),
        ("/api/v3/avgPrice?symbol=NOPEUSDT", -1121),
        ('/api/v3/ticker/price?symbol=BTCUSDT&symbols=["ETHUSDT"]', -1128),
        ('/api/v3/ticker/price?symbols=["BTCUSDT","BTCUSDT"]', -1151),
        ("/api/v3/ticker/price?symbols=BTCUSDT", -1100),
        ("/api/v3/ticker/24hr?symbol=BTCUSDT&type=HUGE", -1139),
        ("/api/v3/ticker", -1102),
        ("/api/v3/ticker?symbol=BTCUSDT&windowSize=8d", -1130),
        ("/api/v3/ticker?symbol=BTCUSDT&windowSize=1d2h", -1130),
        ("/api/v3/ticker/tradingDay", -1102),
        ("/api/v3/ticker/tradingDay?symbol=BTCUSDT&timeZone=15", -1130),
        ("/api/v3/ticker/tradingDay?symbol=BTCUSDT&timeZone=utc", -1130),
        ("/api/v3/exchangeInfo?symbolStatus=OPEN", -1122),
        ("/api/v3/trades?symbol=BTCUSDT&symbol=ETHUSDT", -1101),
    ],
)
async def test_rest_errors_are_binances(sim: ExchangeSimulator, target: str, code: int) -> None:
    response = await http_get(sim, target)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str)
    assert body["msg"]
    assert "X-MBX-USED-WEIGHT-1M" in response.headers


async def test_rolling_ticker_refuses_more_than_100_symbols(sim: ExchangeSimulator) -> None:
    names = json.dumps([f"S{i}USDT" for i in range(101)])
    response = await http_get(sim, f"/api/v3/ticker?symbols={names}")
    assert response.json()["code"] == -1101
