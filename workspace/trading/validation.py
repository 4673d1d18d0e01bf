"""Static checks of an ``OrderRequest``: fields, numbers, symbol.

Each check returns a human-readable reason (the REJECTED order's ``reason``) or
``None``.  Checks against the market (sides of stops, balance) live in the account,
which knows the prices.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from decimal import Decimal

from workspace.trading.requests import (
    PRICE_FIELDS,
    REQUIRED_PRICES,
    TRAIL_FIELDS,
    OrderRequest,
    OrderType,
    Side,
)

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")

_NUMBER_FIELDS = ("quantity", *PRICE_FIELDS)
_REQUIRED = REQUIRED_PRICES


def check_symbol(symbol: object, allowed: Collection[str] | None, quote: str) -> str | None:
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol.upper()):
        return f"unknown symbol {symbol!r}: expected letters and digits like 'BTCUSDT'"
    upper = symbol.upper()
    if allowed is not None:
        if upper not in allowed:
            return f"unknown symbol {upper!r}: not one of the account's symbols"
    elif not upper.endswith(quote) or upper == quote:
        return f"unknown symbol {upper!r}: the account trades {quote}-quoted symbols only"
    return None


def check_request(request: OrderRequest) -> str | None:
    if not isinstance(request.side, Side):
        return f"unknown side {request.side!r}: expected BUY or SELL"
    if not isinstance(request.type, OrderType):
        return f"unknown order type {request.type!r}"
    for name in _NUMBER_FIELDS:
        value = getattr(request, name)
        if value is None:
            continue
        if not isinstance(value, Decimal) or isinstance(value, bool):
            return f"{name} must be a decimal number, got {value!r}"
        if not value.is_finite():
            return f"{name} must be a finite number, got {value}"
        if value <= 0:
            return f"{name} must be > 0, got {value}"
    for name in _REQUIRED[request.type]:
        if getattr(request, name) is None:
            return f"a {request.type} order needs {name}"
    trails = [name for name in TRAIL_FIELDS if getattr(request, name) is not None]
    if request.type is OrderType.TRAILING_STOP and len(trails) != 1:
        return "a TRAILING_STOP needs exactly one of trail_percent, trail_amount, trailing_delta"
    if request.type is OrderType.BRACKET and len(trails) > 1:
        return "a trailing stop leg takes only one of trail_percent, trail_amount, trailing_delta"
    if request.trail_percent is not None and request.trail_percent >= 100:
        return f"trail_percent must be < 100, got {request.trail_percent}"
    if request.trailing_delta is not None and request.trailing_delta >= 10000:
        return f"trailing_delta (BIPS) must be < 10000, got {request.trailing_delta}"
    return None
