"""Static checks of an ``OrderRequest``: fields and numbers.

Each check returns a reason for people (the REJECTED order's ``reason``, in the order
ticket's words) or ``None``.  Checks against the symbol's rules and the market live in
``placement`` and ``rules``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from workspace.decimals import MAX_EXPONENT
from workspace.trading.reasons import plain
from workspace.trading.requests import (
    ALLOWED_PRICES,
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

_NUMBER_FIELDS = ("quantity", "quote_quantity", *PRICE_FIELDS)
_TRAIL_WORDS = "one of trail percent, trail amount or trailing delta"
_TIME_IN_FORCE = frozenset(TimeInForce.__members__)


def raw(request: OrderRequest, name: str) -> object:
    """A request's field as the caller set it.  Compiled, a plain ``request.symbol``
    checks the value against its declared type and raises TypeError for ``None`` or a
    number; a caller's wrong type must reach the refusal that names it instead."""
    return getattr(request, name)


def check_request(request: OrderRequest) -> str | None:
    side, kind = raw(request, "side"), raw(request, "type")
    if not isinstance(side, Side):
        if isinstance(side, str) and side.upper() in Side.__members__:
            return f"Side must be Side.{side.upper()} (the enum), not the string {side[:20]!r}"
        return f"Side {str(side)[:20]!r} is unknown: expected Side.BUY or Side.SELL"
    if not isinstance(kind, OrderType):
        if isinstance(kind, str) and kind.upper() in OrderType.__members__:
            return (
                f"Order type must be OrderType.{kind.upper()} (the enum), not the string "
                f"{kind[:20]!r}"
            )
        return f"Order type {str(kind)[:20]!r} is unknown"
    by_quote = raw(request, "quote_quantity") is not None
    if by_quote:
        if raw(request, "quantity") is not None:
            return "Give a quantity or a quote quantity, not both"
        if kind is not OrderType.MARKET:
            return f"A quote quantity is for MARKET orders only, not {kind.value}"
    for name in _NUMBER_FIELDS:
        value = getattr(request, name)
        if value is None:
            if name == "quantity" and not by_quote:
                return "Quantity is required"
            continue
        label = FIELD_LABELS[name]
        if not isinstance(value, Decimal) or isinstance(value, bool):
            return f"{label} must be a decimal number, got {str(value)[:40]!r}"
        if not value.is_finite():
            return f"{label} must be a finite number, got {value}"
        if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
            # (before the sign: the words of the others would spell out every digit)
            return (
                f"{label} must be within 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT} in size, "
                f"got {str(value)[:40]}"
            )
        if value <= 0:
            return f"{label} must be greater than 0, got {plain(value)}"
    for name in REQUIRED_PRICES[request.type]:
        if getattr(request, name) is None:
            return f"A {request.type} order needs a {FIELD_LABELS[name].lower()}"
    allowed = ALLOWED_PRICES[request.type]
    for name in PRICE_FIELDS:
        if name not in allowed and getattr(request, name) is not None:
            return f"A {request.type} order takes no {FIELD_LABELS[name].lower()} ({name})"
    trails = [name for name in TRAIL_FIELDS if getattr(request, name) is not None]
    if request.type is OrderType.BRACKET and request.activation_price is not None and not trails:
        return f"A BRACKET's activation price is for a trailing stop leg: give {_TRAIL_WORDS}"
    if request.type is OrderType.TRAILING_STOP and len(trails) != 1:
        return f"A TRAILING_STOP needs exactly {_TRAIL_WORDS}"
    if request.type is OrderType.BRACKET and len(trails) > 1:
        return f"A trailing stop leg takes only {_TRAIL_WORDS}"
    tif = raw(request, "time_in_force")
    if tif is not None:
        if not isinstance(tif, str) or (name := tif.upper()) not in _TIME_IN_FORCE:
            return f"Time in force {str(tif)[:20]!r} is unknown: expected GTC, IOC or FOK"
        if request.type is OrderType.OCO and name != TimeInForce.GTC:
            return "An OCO rests both its legs: its time in force can only be GTC"
        if request.type is OrderType.LIMIT_MAKER and name != TimeInForce.GTC:
            return (
                "A LIMIT_MAKER order rests until it fills as a maker: its time in force can "
                "only be GTC"
            )
    if request.trail_percent is not None and request.trail_percent >= 100:
        return f"Trail percent must be below 100, got {plain(request.trail_percent)}"
    if request.trailing_delta is not None and request.trailing_delta >= 10000:
        return (
            f"Trailing delta must be below 10000 BIPS (100 %), got {plain(request.trailing_delta)}"
        )
    return None
