"""The exchangeInfo listing: parsing, caching, and what happens when the REST API fails."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from workspace.market.errors import ExchangeInfoError
from workspace.market.exchange_info import (
    ExchangeInfoCache,
    exchange_info_url,
    parse_exchange_info,
)

BODY = json.dumps(
    {
        "timezone": "UTC",
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "stepSize": "0.00001000"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000"},
                    {"filterType": "ICEBERG_PARTS", "limit": 10},
                ],
                "permissions": [],
            },
            {"symbol": "LUNAUSDT", "status": "BREAK", "baseAsset": "LUNA", "quoteAsset": "USDT",
             "filters": [{"filterType": "MIN_NOTIONAL", "minNotional": "10"}]},
        ],
    }
).encode()  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_listing_carries_status_and_filters_as_decimals() -> None:
    listing = parse_exchange_info(BODY)
    btc = listing["BTCUSDT"]
    assert (btc.base_asset, btc.quote_asset, btc.trading) == ("BTC", "USDT", True)
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (
        Decimal("0.01"),
        Decimal("0.00001000"),
        Decimal("5.00000000"),
    )
    luna = listing["LUNAUSDT"]
    assert not luna.trading
    assert luna.min_notional == Decimal("10")
    assert luna.tick_size is None


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"{}", b'{"symbols": 3}', b""])
def test_unreadable_listing_is_an_exchange_info_error(body: bytes) -> None:
    with pytest.raises(ExchangeInfoError, match="unreadable exchangeInfo"):
        parse_exchange_info(body)


@pytest.mark.parametrize("url", ["ws://127.0.0.1:1", "api.binance.com", "https://"])
def test_rest_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ExchangeInfoError, match="http"):
        exchange_info_url(url)


def test_exchange_info_url_appends_the_path() -> None:
    assert exchange_info_url("https://api.binance.com/") == (
        "https://api.binance.com/api/v3/exchangeInfo"
    )


async def test_listing_is_fetched_once_then_served_from_the_cache_until_it_expires() -> None:
    calls: list[str] = []

    def fetch(url: str, timeout_s: float) -> bytes:
        calls.append(url)
        return BODY

    clock = Clock()
    cache = ExchangeInfoCache("http://h:1", ttl_s=100, fetch=fetch, clock=clock)
    await cache.symbols()
    clock.now = 99
    await cache.symbols()
    assert calls == ["http://h:1/api/v3/exchangeInfo"]
    clock.now = 100
    await cache.symbols()
    assert len(calls) == 2


async def test_failed_refresh_keeps_the_old_listing() -> None:
    answers: list[bytes | Exception] = [BODY, ExchangeInfoError("GET failed: HTTP 503")]

    def fetch(url: str, timeout_s: float) -> bytes:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = Clock()
    cache = ExchangeInfoCache("http://h:1", ttl_s=100, fetch=fetch, clock=clock)
    first = await cache.symbols()
    clock.now = 500
    assert await cache.symbols() == first
    assert answers == []


async def test_first_fetch_failing_is_raised() -> None:
    def fetch(url: str, timeout_s: float) -> bytes:
        raise ExchangeInfoError("GET failed: connection refused")

    cache = ExchangeInfoCache("http://h:1", fetch=fetch)
    with pytest.raises(ExchangeInfoError, match="connection refused"):
        await cache.symbols()
