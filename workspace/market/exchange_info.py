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
    """What the workspace needs to know about one listed symbol."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    min_notional: Decimal | None = None

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


class _Filter(msgspec.Struct):
    filterType: str
    tickSize: Decimal | None = None
    stepSize: Decimal | None = None
    minNotional: Decimal | None = None


class _Symbol(msgspec.Struct):
    symbol: str
    status: str
    baseAsset: str = ""
    quoteAsset: str = ""
    filters: list[_Filter] = msgspec.field(default_factory=list)


class _ExchangeInfo(msgspec.Struct):
    symbols: list[_Symbol]


_DECODER: Final = msgspec.json.Decoder(_ExchangeInfo)


def parse_exchange_info(body: bytes) -> dict[str, SymbolInfo]:
    """Read an exchangeInfo response body; raises :class:`ExchangeInfoError`."""
    try:
        info = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise ExchangeInfoError(f"unreadable exchangeInfo response: {exc}") from exc
    symbols: dict[str, SymbolInfo] = {}
    for raw in info.symbols:
        tick = step = notional = None
        for f in raw.filters:
            if f.filterType == "PRICE_FILTER":
                tick = f.tickSize
            elif f.filterType == "LOT_SIZE":
                step = f.stepSize
            elif f.filterType in ("NOTIONAL", "MIN_NOTIONAL"):
                notional = f.minNotional
        symbols[raw.symbol] = SymbolInfo(
            symbol=raw.symbol,
            status=raw.status,
            base_asset=raw.baseAsset,
            quote_asset=raw.quoteAsset,
            tick_size=tick,
            step_size=step,
            min_notional=notional,
        )
    return symbols


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
