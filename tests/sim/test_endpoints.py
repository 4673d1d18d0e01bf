"""Stream endpoints (/ws, /ws/<stream>, /stream) and the REST endpoints on the same port."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from workspace.sim import ExchangeSimulator

from .conftest import TIMEOUT, clock_of, http_get, recv, request


async def test_raw_stream_path_delivers_bare_payloads(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@ticker") as ws:
        await clock_of(sim).advance(1000)
        payload = await recv(ws)
    assert payload["e"] == "24hrTicker"
    assert payload["s"] == "BTCUSDT"


async def test_raw_path_with_several_streams_delivers_each(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@ticker/ethusdt@ticker") as ws:
        await clock_of(sim).advance(1000)
        symbols = {(await recv(ws))["s"] for _ in range(2)}
    assert symbols == {"BTCUSDT", "ETHUSDT"}


async def test_combined_path_wraps_payloads_in_stream_and_data(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/stream?streams=ethusdt@bookTicker") as ws:
        await clock_of(sim).advance(200)
        frame = await recv(ws)
    assert set(frame) == {"stream", "data"}
    assert frame["stream"] == "ethusdt@bookTicker"
    assert set(frame["data"]) == {"u", "s", "b", "B", "a", "A"}


async def test_ws_without_streams_serves_after_subscribe_raw(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws") as ws:
        await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1})
        await clock_of(sim).advance(2000)
        payload = await recv(ws)
    assert payload["e"] == "aggTrade"


@pytest.mark.parametrize("path", ["/stream?streams=btcusdt@ticker/NOPE", "/elsewhere"])
async def test_handshake_with_invalid_stream_or_path_is_refused_with_400(
    sim: ExchangeSimulator, path: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.stream_url}{path}"):
            pass
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("path", ["/ws/0", "/ws/1", "/ws/btcusdt@bogus", "/ws/anything/else"])
async def test_any_path_under_ws_is_accepted_and_serves_after_subscribe(
    sim: ExchangeSimulator, path: str
) -> None:
    """ccxt connects to /ws/0, /ws/1...: Binance ignores what is not a stream name."""
    async with connect(f"{sim.stream_url}{path}") as ws:
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 2})
        await clock_of(sim).advance(2000)
        payload = await recv(ws)
    assert listed == {"result": [], "id": 1}
    assert payload["e"] == "aggTrade"


async def test_ws_path_subscribes_the_stream_names_among_its_segments(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.stream_url}/ws/0/btcusdt@ticker") as ws:
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
    assert listed == {"result": ["btcusdt@ticker"], "id": 1}


async def test_exchange_info_lists_trading_symbols_with_binance_filters(
    sim: ExchangeSimulator,
) -> None:
    response = await http_get(sim, "/api/v3/exchangeInfo")
    assert response.status_code == 200
    body = response.json()
    assert {"timezone", "serverTime", "rateLimits", "symbols"} <= set(body)
    btc = next(s for s in body["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT", "ETHUSDT"]


async def test_exchange_info_answers_symbol_and_symbols_queries(sim: ExchangeSimulator) -> None:
    one = (await http_get(sim, "/api/v3/exchangeInfo?symbol=ETHUSDT")).json()
    symbols = json.dumps(["ETHUSDT", "BTCUSDT"])
    both = (await http_get(sim, f"/api/v3/exchangeInfo?symbols={symbols}")).json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    assert [s["symbol"] for s in both["symbols"]] == ["ETHUSDT", "BTCUSDT"]


@pytest.mark.parametrize(
    "target",
    [
        "/api/v3/exchangeInfo?symbol=DOGEBTC",
        '/api/v3/exchangeInfo?symbols=["BTCUSDT","NOPEUSDT"]',
        "/api/v3/ticker/24hr?symbol=NOPEUSDT",
    ],
)
async def test_unknown_symbol_is_http_400_code_1121(sim: ExchangeSimulator, target: str) -> None:
    response = await http_get(sim, target)
    assert response.status_code == 400
    assert response.json() == {"code": -1121, "msg": "Invalid symbol."}


async def test_lower_case_symbol_parameter_is_illegal_characters_1100(
    sim: ExchangeSimulator,
) -> None:
    response = await http_get(sim, "/api/v3/exchangeInfo?symbol=btcusdt")
    assert response.status_code == 400
    assert response.json()["code"] == -1100


async def test_ping_and_time(sim: ExchangeSimulator) -> None:
    ping = await http_get(sim, "/api/v3/ping")
    server_time = await http_get(sim, "/api/v3/time")
    assert (ping.status_code, ping.json()) == (200, {})
    assert server_time.json() == {"serverTime": clock_of(sim).time_ms()}


async def test_ticker_24hr_for_one_symbol_and_for_all(sim: ExchangeSimulator) -> None:
    one = (await http_get(sim, "/api/v3/ticker/24hr?symbol=BTCUSDT")).json()
    every = (await http_get(sim, "/api/v3/ticker/24hr")).json()
    assert one["symbol"] == "BTCUSDT"
    expected_keys = {
        "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice",
        "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
        "lastId", "count",
    }  # fmt: skip
    assert set(one) == expected_keys
    assert [t["symbol"] for t in every] == ["BTCUSDT", "ETHUSDT"]


async def test_another_method_than_get_on_an_endpoint_is_405(sim: ExchangeSimulator) -> None:
    """``DELETE /api/v3/ticker/price`` answered the price, 200."""
    async with httpx.AsyncClient(base_url=sim.rest_url, timeout=TIMEOUT) as client:
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, "/api/v3/ticker/price?symbol=BTCUSDT")
            assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")
            assert response.json()["msg"] == f"{method} is not allowed on /api/v3/ticker/price: GET"
        unknown = await client.post("/api/v3/order")
        head = await client.head("/api/v3/ticker/price?symbol=BTCUSDT")
    assert unknown.status_code == 404  # not served at all, whatever the method
    assert head.status_code == 200


async def test_unknown_http_path_is_404_json(sim: ExchangeSimulator) -> None:
    response = await http_get(sim, "/api/v3/allOrderList")
    other = await http_get(sim, "/index.html")
    assert response.status_code == 404
    assert other.status_code == 404
    assert "code" in response.json()
