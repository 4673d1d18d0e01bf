"""Texts people read: numbers with a symbol's precision and the UI's words.

Engine texts (a rejection's ``reason``, an ``ERROR``'s ``message``) are written for the
log: exact Decimals (``97151574520000.000000000000``) and field names (``stop_price``).
The panels show them through :func:`humanize`, which keeps the meaning and rewrites
each number and field name the way the panels write them elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

FIELD_WORDS = {
    "stop_price": "stop price",
    "take_profit": "take profit",
    "stop_loss": "stop loss",
    "trail_percent": "trail %",
    "trail_amount": "trail amount",
    "trailing_delta": "trailing delta",
    "activation_price": "activation price",
    "filled_quantity": "filled quantity",
    "min_notional": "minimum order value",
    "min_qty": "minimum quantity",
    "max_qty": "maximum quantity",
    "step_size": "quantity step",
    "tick_size": "price tick",
    "position_id": "position",
    "order_id": "order",
    "time_in_force": "time in force",
    "client_order_id": "client order id",
}
"""Wire field names -> the words the ticket and the panels use."""

MONEY_ASSETS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "TRY"})
"""Quote currencies shown as money: 2 decimals (7,080.89 USDT)."""

_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "DAI")

# a number standing alone: not part of an id (order-12), a time (10:00), a date
# (2025-01-02) or a word; an asset name after it says what it counts
_NUMBER = re.compile(
    r"(?<![\w.:/-])(-?\d+(?:\.\d+)?)(?![\w.:/-]*\d)(?![\w:/-])(\s+([A-Z][A-Z0-9]{1,9})\b)?"
)
_FIELD = re.compile(r"\b(" + "|".join(sorted(FIELD_WORDS, key=len, reverse=True)) + r")\b")


def split_symbol(symbol: str, info: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(base, quote): from the symbol's info when known, else by its quote suffix
    (BTCUSDT -> BTC, USDT); ("", "") when neither says."""
    if info:
        base, quote = info.get("base_asset"), info.get("quote_asset")
        if isinstance(base, str) and isinstance(quote, str) and base and quote:
            return base, quote
    symbol = symbol.upper()
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return "", ""


def decimals_of_step(step: Any) -> int | None:
    """0.01 -> 2, 1 -> 0, "0.00001000" -> 5; None when not a positive decimal."""
    try:
        value = Decimal(str(step))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0:
        return None
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else None


def _grouped(value: Decimal, places: int | None) -> str:
    """Thousands separators; ``places`` decimals, or the value's own (zeros dropped)."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return f"{value:,.{places}f}"
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    grouped = f"{int(whole):,}" if whole not in ("-0", "") else whole
    if whole.startswith("-") and grouped[0] != "-":
        grouped = "-" + grouped
    return f"{grouped}.{fraction}" if fraction else grouped


def format_amount(value: Any, asset: str = "") -> str:
    """A number as the panels write it: money (USDT...) with 2 decimals, anything else
    with its own decimals (at most 8, trailing zeros dropped), thousands grouped."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    # money to the cent (a tiny amount keeps its digits); anything else exact: a
    # reason about a step or a tick must show the digit it is about
    places = 2 if asset in MONEY_ASSETS and abs(number) >= 1 else None
    if places is None:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > 8:
            number = number.quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)
    return _grouped(number, places)


def format_price(value: Any, info: Mapping[str, Any] | None = None) -> str:
    """A price with the symbol's price precision (its tick), else its own decimals
    (at least 2)."""
    precision = info.get("price_precision") if info else None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if isinstance(precision, int):
        return _grouped(number, precision)
    exponent = number.normalize().as_tuple().exponent
    own = -exponent if isinstance(exponent, int) else 2
    return _grouped(number, min(8, max(2, own)))


def humanize(text: str) -> str:
    """An engine text in the UI's words and number formats (see the module doc)."""
    if not text:
        return text

    def number(match: re.Match[str]) -> str:
        raw, unit, asset = match.group(1), match.group(2) or "", match.group(3) or ""
        return format_amount(raw, asset) + unit

    return _FIELD.sub(lambda m: FIELD_WORDS[m.group(1)], _NUMBER.sub(number, text))


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Down to a multiple of ``step`` (a quantity never grows by rounding)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """To the nearest multiple of ``tick``."""
    if tick <= 0:
        return value
    return (value / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick
