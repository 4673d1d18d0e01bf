"""Static checks of an ``OrderRequest``: fields and numbers.

Each check returns a reason for people (the REJECTED order's ``reason``, in the order
ticket's words) or ``None``.  Checks against the symbol's rules and the market live in
``placement`` and ``rules``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from workspace.trading.reasons import plain
from workspace.trading.requests import (
    FIELD_LABELS,
    PRICE_FIELDS,
    REQUIRED_PRICES,
    TRAIL_FIELDS,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")

_NUMBER_FIELDS = ("quantity", *PRICE_FIELDS)
_TRAIL_WORDS = "one of trail percent, trail amount or trailing delta"
_TIME_IN_FORCE = frozenset(TimeInForce.__members__)


def check_request(request: OrderRequest) -> str | None:
    if not isinstance(request.side, Side):
        return f"Side {str(request.side)[:20]!r} is unknown: expected BUY or SELL"
    if not isinstance(request.type, OrderType):
        return f"Order type {str(request.type)[:20]!r} is unknown"
    for name in _NUMBER_FIELDS:
        value = getattr(request, name)
        if value is None:
            continue
        label = FIELD_LABELS[name]
        if not isinstance(value, Decimal) or isinstance(value, bool):
            return f"{label} must be a decimal number, got {str(value)[:40]!r}"
        if not value.is_finite():
            return f"{label} must be a finite number, got {value}"
        if value <= 0:
            return f"{label} must be greater than 0, got {plain(value)}"
    for name in REQUIRED_PRICES[request.type]:
        if getattr(request, name) is None:
            return f"A {request.type} order needs a {FIELD_LABELS[name].lower()}"
    trails = [name for name in TRAIL_FIELDS if getattr(request, name) is not None]
    if request.type is OrderType.TRAILING_STOP and len(trails) != 1:
        return f"A TRAILING_STOP needs exactly {_TRAIL_WORDS}"
    if request.type is OrderType.BRACKET and len(trails) > 1:
        return f"A trailing stop leg takes only {_TRAIL_WORDS}"
    tif = request.time_in_force
    if tif is not None:
        name = str(tif).upper() if isinstance(tif, str) else None
        if name not in _TIME_IN_FORCE:
            return f"Time in force {str(tif)[:20]!r} is unknown: expected GTC, IOC or FOK"
        if request.type is OrderType.OCO and name != TimeInForce.GTC:
            return "An OCO rests both its legs: its time in force can only be GTC"
    if request.trail_percent is not None and request.trail_percent >= 100:
        return f"Trail percent must be below 100, got {plain(request.trail_percent)}"
    if request.trailing_delta is not None and request.trailing_delta >= 10000:
        return (
            f"Trailing delta must be below 10000 BIPS (100 %), got {plain(request.trailing_delta)}"
        )
    return None
