"""Binance's REST request weight: per-IP minute totals and ``X-MBX-USED-WEIGHT-1M``.

Every answer carries the weight used by the caller's IP in the current minute (the
request's own weight included).  Past ``limit`` (exchangeInfo's ``REQUEST_WEIGHT``,
6000 per minute) requests get HTTP 429 with Binance's -1003 message and a
``Retry-After`` in seconds until the minute turns.  Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Charge:
    used: int  # the IP's weight in this minute, this request included
    refused: bool
    retry_after_s: int


class WeightMeter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._minute = -1
        self._used: dict[str, int] = {}

    def charge(self, ip: str, weight: int, now_ms: int) -> Charge:
        minute = now_ms // MINUTE_MS
        if minute != self._minute:
            self._minute = minute
            self._used = {}
        used = self._used.get(ip, 0) + weight
        self._used[ip] = used
        retry = max(1, -(-((minute + 1) * MINUTE_MS - now_ms) // 1000))
        return Charge(used, used > self.limit, retry)

    def used(self, ip: str, now_ms: int) -> int:
        return self._used.get(ip, 0) if now_ms // MINUTE_MS == self._minute else 0


def depth_weight(limit: int) -> int:
    """``GET /api/v3/depth`` by ``limit`` (rest-api.md, "Order book")."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def ticker_24hr_weight(symbol: str | None, symbols: list[str] | None) -> int:
    if symbol is not None:
        return 2
    if symbols is None:
        return 80
    if len(symbols) <= 20:
        return 2
    return 40 if len(symbols) <= 100 else 80


def price_weight(symbol: str | None) -> int:
    """``ticker/price`` and ``ticker/bookTicker``: 2 for one symbol, 4 otherwise."""
    return 2 if symbol is not None else 4


def rolling_ticker_weight(count: int) -> int:
    """``GET /api/v3/ticker``: 4 per symbol, at most 200."""
    return min(200, 4 * count)


FIXED_WEIGHTS: dict[str, int] = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    "/api/v3/avgPrice": 2,
}
