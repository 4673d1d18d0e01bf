"""The few REST endpoints the feed needs, answered in Binance's shapes.

``/api/v3/ping``, ``/api/v3/time``, ``/api/v3/exchangeInfo`` (all, ``?symbol=``,
``?symbols=[...]``) and ``/api/v3/ticker/24hr`` (all, ``?symbol=``, ``?symbols=``).
Pure: a request path in, ``(status, body)`` out; the server does the HTTP.
Errors as Binance: HTTP 400 ``{"code":-1121,"msg":"Invalid symbol."}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import msgspec

from workspace.market.records import Ticker
from workspace.sim.config import SymbolSpec
from workspace.sim.fixedpoint import format_decimal, format_decimal8
from workspace.sim.wire import encode_json

_SYMBOL_PARAM = re.compile(r"[A-Z0-9\-_.]{1,20}")
_ILLEGAL = "Illegal characters found in parameter '{name}'; legal range is '^[A-Z0-9-_.]{{1,20}}$'."


class MarketView(Protocol):
    def specs(self) -> Sequence[SymbolSpec]: ...

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None: ...


class RestError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    d = format_decimal8
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": d(spec.tick_size),
                "maxPrice": "1000000.00000000",
                "tickSize": d(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": d(spec.step_size),
                "maxQty": "9000000.00000000",
                "stepSize": d(spec.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": d(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }


def _rest_ticker(t: Ticker) -> dict[str, Any]:
    d = format_decimal
    zero = t.last_price * 0
    return {
        "symbol": t.symbol,
        "priceChange": d(t.price_change),
        "priceChangePercent": d(t.price_change_percent),
        "weightedAvgPrice": d(t.weighted_avg_price),
        "prevClosePrice": d(t.prev_close_price or zero),
        "lastPrice": d(t.last_price),
        "lastQty": d(t.last_quantity or zero),
        "bidPrice": d(t.bid_price or zero),
        "bidQty": d(t.bid_qty or zero),
        "askPrice": d(t.ask_price or zero),
        "askQty": d(t.ask_qty or zero),
        "openPrice": d(t.open_price),
        "highPrice": d(t.high_price),
        "lowPrice": d(t.low_price),
        "volume": d(t.volume),
        "quoteVolume": d(t.quote_volume),
        "openTime": t.open_time,
        "closeTime": t.close_time,
        "firstId": t.first_trade_id,
        "lastId": t.last_trade_id,
        "count": t.trade_count,
    }


def _one_symbol(value: str) -> str:
    if not _SYMBOL_PARAM.fullmatch(value):
        raise RestError(400, -1100, _ILLEGAL.format(name="symbol"))
    return value


def _requested(query: dict[str, list[str]]) -> list[str] | None:
    """The symbols asked for (``symbol=X`` or ``symbols=["X","Y"]``), None for all."""
    if "symbol" in query:
        return [_one_symbol(query["symbol"][0])]
    if "symbols" in query:
        try:
            names = msgspec.json.decode(query["symbols"][0])
        except msgspec.DecodeError:
            raise RestError(400, -1100, _ILLEGAL.format(name="symbols")) from None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise RestError(400, -1100, _ILLEGAL.format(name="symbols"))
        return [_one_symbol(n) for n in names]
    return None


def _select(specs: Sequence[SymbolSpec], wanted: list[str] | None) -> list[SymbolSpec]:
    by_name = {s.symbol: s for s in specs}
    if wanted is None:
        return list(specs)
    if any(name not in by_name for name in wanted):
        raise RestError(400, -1121, "Invalid symbol.")
    return [by_name[name] for name in wanted]


def handle_rest(target: str, market: MarketView, now_ms: int) -> tuple[int, bytes]:
    """``GET target`` (path plus query) -> (HTTP status, JSON body)."""
    parts = urlsplit(target)
    query = parse_qs(parts.query)
    try:
        body = _dispatch(parts.path.rstrip("/"), query, market, now_ms)
    except RestError as exc:
        return exc.status, encode_json({"code": exc.code, "msg": exc.msg})
    return 200, encode_json(body)


def _dispatch(path: str, query: dict[str, list[str]], market: MarketView, now_ms: int) -> object:
    if path == "/api/v3/ping":
        return {}
    if path == "/api/v3/time":
        return {"serverTime": now_ms}
    if path == "/api/v3/exchangeInfo":
        wanted = _requested(query)
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [_symbol_info(s) for s in _select(market.specs(), wanted)],
        }
    if path == "/api/v3/ticker/24hr":
        wanted = _requested(query)
        tickers = []
        for spec in _select(market.specs(), wanted):
            ticker = market.ticker(spec.symbol, now_ms)
            if ticker is not None:
                tickers.append(_rest_ticker(ticker))
        if "symbol" in query:
            if not tickers:
                raise RestError(400, -1121, "Invalid symbol.")
            return tickers[0]
        return tickers
    raise RestError(404, -1000, f"Unknown endpoint {path}")
