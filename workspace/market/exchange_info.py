"""The exchange's symbol list (``GET /api/v3/exchangeInfo``), fetched once and cached.

Binance answers a SUBSCRIBE to a symbol it does not list with success and then silence,
so the feed validates symbols here first.  The HTTP request runs ``urllib`` in a worker
thread (plain http to the simulator, https to Binance) so the event loop never blocks
and no HTTP library is needed.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

import msgspec

from workspace.market.errors import ExchangeInfoError

EXCHANGE_INFO_PATH: Final = "/api/v3/exchangeInfo"
_MAX_BODY: Final = 64 * 1024 * 1024  # Binance's full list is ~15-20 MB
_RETRY_AFTER_FAILURE_S: Final = 60.0


class SymbolInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One listed symbol and the trading rules (filters) the exchange enforces on it.

    Sizes are exact ``Decimal``; ``None`` means the rule is absent or disabled (Binance
    disables a rule by sending 0).  ``min_notional`` is the minimum of ``NOTIONAL``
    (or of the legacy ``MIN_NOTIONAL``); ``apply_min_to_market`` is its
    ``applyMinToMarket`` (legacy: ``applyToMarket``).  The ``*_multiplier_*`` bounds
    come from ``PERCENT_PRICE_BY_SIDE`` (or the legacy ``PERCENT_PRICE``, same bounds
    for both sides).  ``max_num_order_lists`` is ``MAX_NUM_ORDER_LISTS`` (open OCOs and
    brackets on the symbol); ``max_position`` is ``MAX_POSITION`` (the base asset held
    plus what open buys would add).  See filters.md of binance-spot-api-docs.
    """

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    min_notional: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    market_step_size: Decimal | None = None
    apply_min_to_market: bool = True
    max_notional: Decimal | None = None
    apply_max_to_market: bool = False
    bid_multiplier_up: Decimal | None = None
    bid_multiplier_down: Decimal | None = None
    ask_multiplier_up: Decimal | None = None
    ask_multiplier_down: Decimal | None = None
    min_trailing_above_delta: int | None = None
    max_trailing_above_delta: int | None = None
    min_trailing_below_delta: int | None = None
    max_trailing_below_delta: int | None = None
    max_num_orders: int | None = None
    max_num_algo_orders: int | None = None
    max_num_order_lists: int | None = None
    max_position: Decimal | None = None
    base_asset_precision: int = 8
    quote_asset_precision: int = 8

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"

    @property
    def price_precision(self) -> int:
        """Decimals of the tick size (0.01 -> 2); the quote precision without one."""
        return decimals_of(self.tick_size, self.quote_asset_precision)

    @property
    def quantity_precision(self) -> int:
        """Decimals of the lot step (0.00001 -> 5); the base precision without one."""
        return decimals_of(self.step_size, self.base_asset_precision)


def decimals_of(size: Decimal | None, default: int) -> int:
    """How many decimals a size has once its trailing zeros go (``0.01000000`` -> 2)."""
    if size is None:
        return default
    exponent = size.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else default


class _Filter(msgspec.Struct):
    filterType: str
    tickSize: Decimal | None = None
    minPrice: Decimal | None = None
    maxPrice: Decimal | None = None
    stepSize: Decimal | None = None
    minQty: Decimal | None = None
    maxQty: Decimal | None = None
    minNotional: Decimal | None = None
    maxNotional: Decimal | None = None
    applyToMarket: bool | None = None
    applyMinToMarket: bool | None = None
    applyMaxToMarket: bool | None = None
    multiplierUp: Decimal | None = None
    multiplierDown: Decimal | None = None
    bidMultiplierUp: Decimal | None = None
    bidMultiplierDown: Decimal | None = None
    askMultiplierUp: Decimal | None = None
    askMultiplierDown: Decimal | None = None
    minTrailingAboveDelta: int | None = None
    maxTrailingAboveDelta: int | None = None
    minTrailingBelowDelta: int | None = None
    maxTrailingBelowDelta: int | None = None
    maxNumOrders: int | None = None
    maxNumAlgoOrders: int | None = None
    maxNumOrderLists: int | None = None
    maxPosition: Decimal | None = None


class _Symbol(msgspec.Struct):
    symbol: str
    status: str
    baseAsset: str = ""
    quoteAsset: str = ""
    baseAssetPrecision: int = 8
    quoteAssetPrecision: int = 8
    filters: list[_Filter] = msgspec.field(default_factory=list)


class _ExchangeInfo(msgspec.Struct):
    symbols: list[_Symbol]


_DECODER: Final = msgspec.json.Decoder(_ExchangeInfo)


def _on(value: Decimal | None) -> Decimal | None:
    """Binance disables a rule by sending 0: keep only the rules that are on."""
    return value if value is not None and value != 0 else None


def _symbol_info(raw: _Symbol) -> SymbolInfo:
    rules: dict[str, object] = {}
    percent: dict[str, object] = {}
    for f in raw.filters:
        kind = f.filterType
        if kind == "PRICE_FILTER":
            rules.update(
                tick_size=_on(f.tickSize), min_price=_on(f.minPrice), max_price=_on(f.maxPrice)
            )
        elif kind == "LOT_SIZE":
            rules.update(step_size=_on(f.stepSize), min_qty=_on(f.minQty), max_qty=_on(f.maxQty))
        elif kind == "MARKET_LOT_SIZE":
            rules.update(
                market_step_size=_on(f.stepSize),
                market_min_qty=_on(f.minQty),
                market_max_qty=_on(f.maxQty),
            )
        elif kind == "NOTIONAL":
            rules.update(
                min_notional=_on(f.minNotional),
                max_notional=_on(f.maxNotional),
                apply_min_to_market=bool(f.applyMinToMarket),
                apply_max_to_market=bool(f.applyMaxToMarket),
            )
        elif kind == "MIN_NOTIONAL" and "min_notional" not in rules:
            rules.update(min_notional=_on(f.minNotional), apply_min_to_market=bool(f.applyToMarket))
        elif kind == "PERCENT_PRICE_BY_SIDE":
            rules.update(
                bid_multiplier_up=_on(f.bidMultiplierUp),
                bid_multiplier_down=_on(f.bidMultiplierDown),
                ask_multiplier_up=_on(f.askMultiplierUp),
                ask_multiplier_down=_on(f.askMultiplierDown),
            )
        elif kind == "PERCENT_PRICE":
            up, down = _on(f.multiplierUp), _on(f.multiplierDown)
            percent = dict(
                bid_multiplier_up=up,
                bid_multiplier_down=down,
                ask_multiplier_up=up,
                ask_multiplier_down=down,
            )
        elif kind == "TRAILING_DELTA":
            rules.update(
                min_trailing_above_delta=f.minTrailingAboveDelta,
                max_trailing_above_delta=f.maxTrailingAboveDelta,
                min_trailing_below_delta=f.minTrailingBelowDelta,
                max_trailing_below_delta=f.maxTrailingBelowDelta,
            )
        elif kind == "MAX_NUM_ORDERS":
            rules.update(max_num_orders=f.maxNumOrders or None)
        elif kind == "MAX_NUM_ALGO_ORDERS":
            rules.update(max_num_algo_orders=f.maxNumAlgoOrders or None)
        elif kind == "MAX_NUM_ORDER_LISTS":
            rules.update(max_num_order_lists=f.maxNumOrderLists or None)
        elif kind == "MAX_POSITION":
            rules.update(max_position=_on(f.maxPosition))
    if "bid_multiplier_up" not in rules:
        rules.update(percent)  # the by-side filter wins when a symbol has both
    return SymbolInfo(
        symbol=raw.symbol,
        status=raw.status,
        base_asset=raw.baseAsset,
        quote_asset=raw.quoteAsset,
        base_asset_precision=raw.baseAssetPrecision,
        quote_asset_precision=raw.quoteAssetPrecision,
        **rules,  # type: ignore[arg-type]
    )


def parse_exchange_info(body: bytes) -> dict[str, SymbolInfo]:
    """Read an exchangeInfo response body; raises :class:`ExchangeInfoError`."""
    try:
        info = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ExchangeInfoError(f"unreadable exchangeInfo response: {exc}") from exc
    return {raw.symbol: _symbol_info(raw) for raw in info.symbols}


def exchange_info_url(rest_url: str) -> str:
    parts = urllib.parse.urlsplit(rest_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExchangeInfoError(f"REST URL must be http(s)://host[:port], got {rest_url!r}")
    return rest_url.rstrip("/") + EXCHANGE_INFO_PATH


def fetch_url(url: str, timeout_s: float) -> bytes:
    """Blocking GET; meant for a worker thread.  Raises :class:`ExchangeInfoError`."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body: bytes = response.read(_MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        raise ExchangeInfoError(f"GET {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ExchangeInfoError(f"GET {url} failed: {exc}") from exc
    if len(body) > _MAX_BODY:
        raise ExchangeInfoError(f"GET {url}: response larger than {_MAX_BODY} bytes")
    return body


Fetch = Callable[[str, float], bytes]


class ExchangeInfoCache:
    """Fetches the symbol list on first use and again after ``ttl_s``.

    Concurrent callers share one request.  A failed refresh keeps serving the old list
    if there is one (a listing changes rarely; the REST API being briefly down should
    not stop subscriptions), and raises :class:`ExchangeInfoError` if there is none.
    """

    def __init__(
        self,
        rest_url: str,
        *,
        ttl_s: float = 3600.0,
        timeout_s: float = 10.0,
        fetch: Fetch = fetch_url,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = exchange_info_url(rest_url)
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._fetch = fetch
        self._clock = clock
        self._symbols: Mapping[str, SymbolInfo] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def symbols(self) -> Mapping[str, SymbolInfo]:
        if self._symbols is not None and self._clock() - self._fetched_at < self._ttl_s:
            return self._symbols
        async with self._lock:
            if self._symbols is not None and self._clock() - self._fetched_at < self._ttl_s:
                return self._symbols
            try:
                body = await asyncio.to_thread(self._fetch, self._url, self._timeout_s)
                fresh = parse_exchange_info(body)
            except ExchangeInfoError:
                if self._symbols is None:
                    raise
                # Keep the old list and ask again in a minute, not on every call.
                self._fetched_at = self._clock() - self._ttl_s + _RETRY_AFTER_FAILURE_S
                return self._symbols
            self._symbols = MappingProxyType(fresh)
            self._fetched_at = self._clock()
            return self._symbols
