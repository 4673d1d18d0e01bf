"""Binance's public REST market data the feed needs: depth snapshots and klines.

Requests run ``urllib`` in a worker thread (plain http to the simulator, https to
Binance), like :mod:`workspace.market.exchange_info`, so the event loop never blocks.
Binance's error answers (``{"code": -1121, "msg": "Invalid symbol."}``) become a
:class:`RestError` carrying the HTTP status, Binance's code and message, and the
``Retry-After`` of a 429 / 418; the request weight Binance reports
(``X-MBX-USED-WEIGHT-1M``) is kept on the client.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from workspace.market.errors import RestError

DEPTH_PATH: Final = "/api/v3/depth"
KLINES_PATH: Final = "/api/v3/klines"
DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000, 5000)
"""Binance documents limits up to 5000; these are the ones its weight table names."""
MAX_KLINES: Final = 1000
_MAX_BODY: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    body: bytes
    used_weight_1m: int | None


class _ErrorBody(msgspec.Struct):
    code: int | None = None
    msg: str | None = None


_ERROR: Final = msgspec.json.Decoder(_ErrorBody)


def _header_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def http_get(url: str, timeout_s: float) -> Response:
    """Blocking GET; meant for a worker thread.  Raises :class:`RestError`."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            body: bytes = answer.read(_MAX_BODY + 1)
            weight = _header_int(answer.headers.get("X-MBX-USED-WEIGHT-1M"))
    except urllib.error.HTTPError as exc:
        detail = exc.read(64 * 1024) if exc.fp is not None else b""
        try:
            error = _ERROR.decode(detail)
            code, text = error.code, error.msg
        except msgspec.DecodeError:
            code, text = None, detail[:200].decode("utf-8", "replace") or exc.reason
        retry = _header_int(exc.headers.get("Retry-After")) if exc.headers else None
        raise RestError(
            f"GET {url} failed: HTTP {exc.code}"
            + (f" code {code}" if code is not None else "")
            + (f": {text}" if text else ""),
            status=exc.code,
            code=code,
            retry_after_s=float(retry) if retry is not None else None,
        ) from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise RestError(f"GET {url} failed: {exc}") from exc
    if len(body) > _MAX_BODY:
        raise RestError(f"GET {url}: response larger than {_MAX_BODY} bytes")
    return Response(body, weight)


HttpGet = Callable[[str, float], Response]


class RestClient:
    """GETs against one REST base URL (``https://api.binance.com``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, get: HttpGet = http_get):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RestError(f"REST URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._get = get
        self.used_weight_1m: int | None = None
        """The request weight Binance says this address used in the current minute."""

    def url(self, path: str, params: Mapping[str, object]) -> str:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    async def get(self, path: str, params: Mapping[str, object]) -> bytes:
        response = await asyncio.to_thread(self._get, self.url(path, params), self.timeout_s)
        if response.used_weight_1m is not None:
            self.used_weight_1m = response.used_weight_1m
        return response.body
