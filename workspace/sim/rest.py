"""Binance's public REST market data endpoints, answered in Binance's shapes.

``ping``, ``time``, ``exchangeInfo``, ``depth``, ``trades``, ``historicalTrades``,
``aggTrades``, ``klines``, ``uiKlines``, ``avgPrice``, ``ticker/24hr``,
``ticker/price``, ``ticker/bookTicker``, ``ticker`` (rolling window) and
``ticker/tradingDay``, with
Binance's parameters, defaults, maxima, request weights and error codes
(rest-api.md, errors.md).  Pure: a request target and the time in, an
:class:`Answer` (status, JSON body, weight) out; the server does the HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import msgspec

from workspace.market.records import Ticker
from workspace.sim.book import SimBook
from workspace.sim.candle import INTERVALS, MINUTE_MS, bucket_start, next_bucket, parse_time_zone
from workspace.sim.candles import CandleStore
from workspace.sim.config import SymbolSpec
from workspace.sim.fixedpoint import SCALE, format_decimal, format_decimal8, format_e8
from workspace.sim.market import RecentTrade
from workspace.sim.rest_params import (
    Query,
    RestError,
    bad_combination,
    bad_symbol,
    choice,
    integer,
    limit,
    mandatory,
    not_valid,
    one,
    required_symbol,
    symbol_or_symbols,
    timestamp,
)
from workspace.sim.weights import (
    FIXED_WEIGHTS,
    depth_weight,
    price_weight,
    rolling_ticker_weight,
    ticker_24hr_weight,
)
from workspace.sim.window import WindowStats
from workspace.sim.wire import encode_json, kline_row

# exchangeInfo's rateLimits, as Binance publishes them (captured 2024-11; RAW_REQUESTS
# raised from 61,000 to 300,000 per 5 minutes on 2026-04-02, spot API CHANGELOG 2026-03-27).
RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
]
ORDER_TYPES = [
    "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]  # fmt: skip
_ZERO = Decimal(0)
_DEFAULT_PERMISSIONS = frozenset({"SPOT", "MARGIN", "LEVERAGED"})
_WINDOW = re.compile(r"([1-9][0-9]?)([mhd])")
_WINDOW_LIMITS = {"m": (59, MINUTE_MS), "h": (23, 3_600_000), "d": (7, 86_400_000)}


class MarketView(Protocol):
    """What the endpoints read: the random walk or a replayed recording."""

    def specs(self) -> Sequence[SymbolSpec]: ...

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None: ...

    def window_stats(self, symbol: str, window_ms: int, now_ms: int) -> WindowStats | None: ...

    def candles(self, symbol: str) -> CandleStore | None: ...

    def book(self, symbol: str) -> SimBook | None: ...

    def recent_trades(self, symbol: str) -> Sequence[RecentTrade]: ...

    def avg_price(self, symbol: str) -> tuple[int, int] | None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    weight: int
    allow: str | None = None  # the Allow header of a 405


READ_METHODS = ("GET", "HEAD")


def handle_rest(target: str, market: MarketView, now_ms: int, method: str = "GET") -> Answer:
    """``method target`` (path plus query) -> status, JSON body and request weight.
    Every endpoint served is market data, read with GET (or HEAD); another method on
    one of them is 405, as a client that sends the wrong verb must learn at once."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    path = parts.path.rstrip("/")
    endpoint = _ENDPOINTS.get(path)
    if endpoint is None:
        body = encode_json({"code": -1000, "msg": f"Unknown endpoint {path}"})
        return Answer(404, body, 1)
    if method not in READ_METHODS:
        body = encode_json({"code": -1000, "msg": f"{method} is not allowed on {path}: GET"})
        return Answer(405, body, 1, allow=", ".join(READ_METHODS))
    weight = [FIXED_WEIGHTS.get(path, 1)]
    try:
        result = endpoint(_Request(query, market, now_ms, weight))
    except RestError as exc:
        return Answer(exc.status, encode_json({"code": exc.code, "msg": exc.msg}), weight[0])
    return Answer(200, encode_json(result), weight[0])


@dataclass(frozen=True, slots=True)
class _Request:
    query: Query
    market: MarketView
    now_ms: int
    weight: list[int]  # the endpoint sets it once it knows (it depends on parameters)

    def spec(self, symbol: str) -> SymbolSpec:
        for spec in self.market.specs():
            if spec.symbol == symbol:
                return spec
        raise bad_symbol()

    def select(self, symbol: str | None, symbols: list[str] | None) -> list[SymbolSpec]:
        if symbol is not None:
            return [self.spec(symbol)]
        if symbols is not None:
            return [self.spec(name) for name in symbols]
        return list(self.market.specs())


# -- general -------------------------------------------------------------------------


def _ping(_: _Request) -> object:
    return {}


def _time(request: _Request) -> object:
    return {"serverTime": request.now_ms}


SYMBOL_STATUSES = frozenset({"TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY"})
"""Binance's symbol statuses (enums.md; ``CANCEL_ONLY`` since 2026-07-07)."""


def _exchange_info(request: _Request) -> object:
    query = request.query
    symbol, symbols = symbol_or_symbols(query)
    permissions = _permissions(one(query, "permissions"))
    status = one(query, "symbolStatus")
    if (permissions is not None or status is not None) and (symbol or symbols):
        raise bad_combination()
    if status is not None and status not in SYMBOL_STATUSES:
        raise RestError(400, -1122, "Invalid symbolStatus.")
    show_sets = one(query, "showPermissionSets")
    if show_sets not in (None, "true", "false"):
        raise not_valid("showPermissionSets")
    selected = request.select(symbol, symbols)
    if symbol is None and symbols is None:
        wanted = permissions if permissions is not None else _DEFAULT_PERMISSIONS
        selected = [s for s in selected if wanted & set(s.permissions)]
        if status is not None:
            selected = [s for s in selected if s.status == status]
    return {
        "timezone": "UTC",
        "serverTime": request.now_ms,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_info(s, show_sets != "false") for s in selected],
    }


def _permissions(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    if raw.startswith("["):
        try:
            values = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise not_valid("permissions") from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise not_valid("permissions")
        return frozenset(values)
    if not raw:
        raise mandatory("permissions")
    return frozenset({raw})


def symbol_info(spec: SymbolSpec, permission_sets: bool = True) -> dict[str, Any]:
    """One ``symbols[]`` entry of exchangeInfo, as Binance lists a spot symbol."""
    f = spec.filters()
    d = format_decimal8
    return {
        "symbol": spec.symbol,
        "status": spec.status,
        "baseAsset": spec.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": True,  # every symbol since 2025-12-18 (CHANGELOG, 2025-12-02)
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,  # every symbol since 2025-08-28 (CHANGELOG, 2025-08-12)
        "isSpotTradingAllowed": "SPOT" in spec.permissions,
        "isMarginTradingAllowed": "MARGIN" in spec.permissions,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": d(f.min_price),
                "maxPrice": d(f.max_price),
                "tickSize": d(f.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": d(f.min_qty),
                "maxQty": d(f.max_qty),
                "stepSize": d(f.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": f.iceberg_parts},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": d(f.market_max_qty),
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": f.min_trailing_delta,
                "maxTrailingAboveDelta": f.max_trailing_delta,
                "minTrailingBelowDelta": f.min_trailing_delta,
                "maxTrailingBelowDelta": f.max_trailing_delta,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": format_decimal(f.bid_multiplier_up),
                "bidMultiplierDown": format_decimal(f.bid_multiplier_down),
                "askMultiplierUp": format_decimal(f.ask_multiplier_up),
                "askMultiplierDown": format_decimal(f.ask_multiplier_down),
                "avgPriceMins": f.avg_price_mins,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": d(f.min_notional),
                "applyMinToMarket": f.apply_min_to_market,
                "maxNotional": d(f.max_notional),
                "applyMaxToMarket": f.apply_max_to_market,
                "avgPriceMins": f.avg_price_mins,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": f.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": f.max_num_algo_orders},
            {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": f.max_num_order_lists},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": f.max_num_order_amends},
            *(
                [{"filterType": "MAX_POSITION", "maxPosition": d(f.max_position)}]
                if f.max_position is not None
                else []
            ),
        ],
        "permissions": [],
        "permissionSets": [list(spec.permissions)] if permission_sets else [],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        # as in a captured 2025-06 answer (tests/fixtures/binance/rest/exchangeInfo.ETHBTC...)
        "allowedSelfTradePreventionModes": [
            "EXPIRE_TAKER",
            "EXPIRE_MAKER",
            "EXPIRE_BOTH",
            "DECREMENT",
        ],
    }


# -- market data ---------------------------------------------------------------------


def _depth(request: _Request) -> object:
    symbol = required_symbol(request.query)
    count = limit(request.query, default=100, maximum=5000)
    request.weight[0] = depth_weight(count)
    request.spec(symbol)
    book = request.market.book(symbol)
    if book is None:
        raise RestError(400, -1112, "No orders on book for symbol.")
    return {
        "lastUpdateId": book.update_id,
        "bids": [[format_e8(p), format_e8(q)] for p, q in book.bids(count)],
        "asks": [[format_e8(p), format_e8(q)] for p, q in book.asks(count)],
    }


def _trade_row(trade: RecentTrade) -> dict[str, Any]:
    return {
        "id": trade.trade_id,
        "price": format_e8(trade.price),
        "qty": format_e8(trade.qty),
        "quoteQty": format_e8(trade.price * trade.qty // SCALE),
        "time": trade.time_ms,
        "isBuyerMaker": trade.buyer_is_maker,
        "isBestMatch": True,
    }


def _trades(request: _Request) -> object:
    symbol = required_symbol(request.query)
    count = limit(request.query, default=500, maximum=1000)
    request.spec(symbol)
    trades = request.market.recent_trades(symbol)
    return [_trade_row(t) for t in trades[-count:]]


def _historical_trades(request: _Request) -> object:
    symbol = required_symbol(request.query)
    count = limit(request.query, default=500, maximum=1000)
    from_id = integer(request.query, "fromId")
    request.spec(symbol)
    trades = request.market.recent_trades(symbol)
    if from_id is None:
        return [_trade_row(t) for t in trades[-count:]]
    return [_trade_row(t) for t in trades if t.trade_id >= from_id][:count]


def _agg_trades(request: _Request) -> object:
    query = request.query
    symbol = required_symbol(query)
    count = limit(query, default=500, maximum=1000)
    from_id = integer(query, "fromId")
    start = timestamp(query, "startTime")
    end = timestamp(query, "endTime")
    request.spec(symbol)
    trades: Sequence[RecentTrade] = request.market.recent_trades(symbol)
    if from_id is not None:
        trades = [t for t in trades if t.agg_id >= from_id]
    if start is not None:
        trades = [t for t in trades if t.time_ms >= start]
    if end is not None:
        trades = [t for t in trades if t.time_ms <= end]
    chosen = trades[:count] if (from_id is not None or start is not None) else trades[-count:]
    return [
        {
            "a": t.agg_id,
            "p": format_e8(t.price),
            "q": format_e8(t.qty),
            "f": t.first_id,
            "l": t.trade_id,
            "T": t.time_ms,
            "m": t.buyer_is_maker,
            "M": True,
        }
        for t in chosen
    ]


def _klines(request: _Request) -> object:
    query = request.query
    symbol = required_symbol(query)
    interval = one(query, "interval")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS:
        raise RestError(400, -1120, "Invalid interval.")
    count = limit(query, default=500, maximum=1000)
    start = timestamp(query, "startTime")
    end = timestamp(query, "endTime")
    offset = _time_zone(query)
    request.spec(symbol)
    store = request.market.candles(symbol)
    if store is None or (start is not None and end is not None and start > end):
        return []
    candles = store.klines(interval, start_ms=start, end_ms=end, limit=count, offset_ms=offset)
    return [kline_row(c, next_bucket(interval, c.open_time, offset) - 1) for c in candles]


def _avg_price(request: _Request) -> object:
    symbol = required_symbol(request.query)
    request.spec(symbol)
    found = request.market.avg_price(symbol)
    if found is None:
        raise bad_symbol()
    price, last_ms = found
    return {"mins": 5, "price": format_e8(price), "closeTime": last_ms}


def _ticker_24hr(request: _Request) -> object:
    query = request.query
    symbol, symbols = symbol_or_symbols(query)
    request.weight[0] = ticker_24hr_weight(symbol, symbols)
    kind = choice(query, "type", ("FULL", "MINI"), "FULL")
    rows = []
    for spec in request.select(symbol, symbols):
        ticker = request.market.ticker(spec.symbol, request.now_ms)
        if ticker is not None:
            rows.append(_rest_ticker(ticker) if kind == "FULL" else _mini_row(ticker))
    return _one_or_list(symbol, rows)


def _ticker_price(request: _Request) -> object:
    symbol, symbols = symbol_or_symbols(request.query)
    request.weight[0] = price_weight(symbol)
    rows = []
    for spec in request.select(symbol, symbols):
        price = _last_price(request, spec.symbol)
        if price is not None:
            rows.append({"symbol": spec.symbol, "price": price})
    return _one_or_list(symbol, rows)


def _book_ticker(request: _Request) -> object:
    symbol, symbols = symbol_or_symbols(request.query)
    request.weight[0] = price_weight(symbol)
    rows = []
    for spec in request.select(symbol, symbols):
        book = request.market.book(spec.symbol)
        if book is not None and not book.empty:
            (bid, bid_qty), (ask, ask_qty) = book.best_bid(), book.best_ask()
            rows.append(
                {
                    "symbol": spec.symbol,
                    "bidPrice": format_e8(bid),
                    "bidQty": format_e8(bid_qty),
                    "askPrice": format_e8(ask),
                    "askQty": format_e8(ask_qty),
                }
            )
            continue
        # No book (a replayed recording): the best bid and ask its ticker carries.
        ticker = request.market.ticker(spec.symbol, request.now_ms)
        if ticker is not None and ticker.bid_price is not None and ticker.ask_price is not None:
            rows.append(
                {
                    "symbol": spec.symbol,
                    "bidPrice": format_decimal8(ticker.bid_price),
                    "bidQty": format_decimal8(ticker.bid_qty or _ZERO),
                    "askPrice": format_decimal8(ticker.ask_price),
                    "askQty": format_decimal8(ticker.ask_qty or _ZERO),
                }
            )
    return _one_or_list(symbol, rows)


def _rolling_ticker(request: _Request) -> object:
    window_ms = _window_size(one(request.query, "windowSize"))
    return _window_tickers(request, window_ms)


def _trading_day_ticker(request: _Request) -> object:
    """``GET /api/v3/ticker/tradingDay``: the rolling ticker's figures over the trading
    day so far, the day starting at midnight in ``timeZone`` (UTC by default)."""
    now = request.now_ms
    return _window_tickers(request, now - bucket_start("1d", now, _time_zone(request.query)))


def _time_zone(query: Query) -> int:
    """The ``timeZone`` parameter's offset in ms (0, UTC, when absent); -1130 when
    malformed or outside [-12:00, +14:00]."""
    zone = one(query, "timeZone")
    if zone is None:
        return 0
    offset = parse_time_zone(zone)
    if offset is None:
        raise not_valid("timeZone")
    return offset


def _window_tickers(request: _Request, window_ms: int) -> object:
    """The rows of ``/api/v3/ticker`` and ``ticker/tradingDay``: ``window_ms`` up to now,
    for ``symbol`` or ``symbols`` (at most 100), FULL or MINI."""
    query = request.query
    symbol, symbols = symbol_or_symbols(query)
    if symbol is None and symbols is None:
        raise RestError(
            400, -1102, "Param 'symbol' or 'symbols' must be sent, but both were empty/null!"
        )
    if symbols is not None and len(symbols) > 100:
        raise RestError(
            400, -1101, "Too many values sent for parameter 'symbols', max allowed: 100."
        )
    request.weight[0] = rolling_ticker_weight(1 if symbol is not None else len(symbols or ()))
    kind = choice(query, "type", ("FULL", "MINI"), "FULL")
    rows = []
    for spec in request.select(symbol, symbols):
        stats = request.market.window_stats(spec.symbol, window_ms, request.now_ms)
        if stats is None:
            continue
        row = _window_row(spec.symbol, stats)
        if kind == "MINI":
            for key in ("priceChange", "priceChangePercent", "weightedAvgPrice"):
                del row[key]
        rows.append(row)
    return _one_or_list(symbol, rows)


def _window_size(raw: str | None) -> int:
    if raw is None:
        return 86_400_000
    match = _WINDOW.fullmatch(raw)
    if match is None:
        raise not_valid("windowSize")
    maximum, unit_ms = _WINDOW_LIMITS[match[2]]
    value = int(match[1])
    if value > maximum:
        raise not_valid("windowSize")
    return value * unit_ms


def _last_price(request: _Request, symbol: str) -> str | None:
    store = request.market.candles(symbol)
    if store is not None:
        return format_e8(store.last_price)
    ticker = request.market.ticker(symbol, request.now_ms)
    return format_decimal8(ticker.last_price) if ticker is not None else None


def _one_or_list(symbol: str | None, rows: list[dict[str, Any]]) -> object:
    if symbol is not None:
        if not rows:
            raise bad_symbol()
        return rows[0]
    return rows


def _rest_ticker(t: Ticker) -> dict[str, Any]:
    d = format_decimal8
    zero = _ZERO
    return {
        "symbol": t.symbol,
        "priceChange": d(t.price_change),
        "priceChangePercent": format_decimal(t.price_change_percent),
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


def _mini_row(t: Ticker) -> dict[str, Any]:
    full = _rest_ticker(t)
    keys = (
        "symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
        "openTime", "closeTime", "firstId", "lastId", "count",
    )  # fmt: skip
    return {k: full[k] for k in keys}


def _window_row(symbol: str, s: WindowStats) -> dict[str, Any]:
    d = format_decimal8
    return {
        "symbol": symbol,
        "priceChange": d(s.price_change),
        "priceChangePercent": format_decimal(s.price_change_percent),
        "weightedAvgPrice": d(s.weighted_avg),
        "openPrice": d(s.open),
        "highPrice": d(s.high),
        "lowPrice": d(s.low),
        "lastPrice": d(s.last),
        "volume": d(s.volume),
        "quoteVolume": d(s.quote_volume),
        "openTime": s.open_time,
        "closeTime": s.close_time,
        "firstId": s.first_id,
        "lastId": s.last_id,
        "count": s.count,
    }


_ENDPOINTS: dict[str, Callable[[_Request], object]] = {
    "/api/v3/ping": _ping,
    "/api/v3/time": _time,
    "/api/v3/exchangeInfo": _exchange_info,
    "/api/v3/depth": _depth,
    "/api/v3/trades": _trades,
    "/api/v3/historicalTrades": _historical_trades,
    "/api/v3/aggTrades": _agg_trades,
    "/api/v3/klines": _klines,
    "/api/v3/uiKlines": _klines,
    "/api/v3/avgPrice": _avg_price,
    "/api/v3/ticker/24hr": _ticker_24hr,
    "/api/v3/ticker/price": _ticker_price,
    "/api/v3/ticker/bookTicker": _book_ticker,
    "/api/v3/ticker": _rolling_ticker,
    "/api/v3/ticker/tradingDay": _trading_day_ticker,
}
