"""One way to turn outside numbers into exact Decimals, shared by the protocol parser
and the notebook's order methods (so NaN, infinities and absurd exponents are refused
the same way wherever a number comes in)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

MAX_INT = 2**63 - 1
# Exponents far outside any price or quantity would only overflow the account.
MAX_EXPONENT = 30
MAX_TEXT = 40
NOT_FINITE = "must be a finite number"
""":func:`refusal` of NaN and the infinities."""


def refusal(value: object) -> str | None:
    """Why :func:`to_decimal` refuses ``value``, in words for a message that quotes it
    ("must be a number", "must be finite", ...); ``None`` when it takes it."""
    if to_decimal(value) is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return "must be a number"
    if isinstance(value, int):
        return f"must be between -{MAX_INT} and {MAX_INT}"
    if isinstance(value, str):
        if not 0 < len(value) <= MAX_TEXT:
            return f"must be a number of 1 to {MAX_TEXT} characters"
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            return "must be a number"
    number = Decimal(str(value)) if isinstance(value, float) else value
    assert isinstance(number, Decimal)
    if not number.is_finite():
        return NOT_FINITE
    return f"must be within 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT} in size"


def to_decimal(value: object) -> Decimal | None:
    """A number (int, float, Decimal) or numeric string as an exact Decimal
    (``Decimal(str(x))``: 0.1 stays 0.1); ``None`` for anything else: bool, NaN,
    infinities, containers, garbage, integers beyond 2**63, exponents beyond 1e±30."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and abs(value) > MAX_INT:
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite():
        return None
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return None
    return number
