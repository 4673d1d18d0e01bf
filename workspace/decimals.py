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
""":func:`read_decimal`'s refusal of NaN and the infinities."""
OUT_OF_SIZE = f"must be within 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT} in size"
# an int this long is beyond 1e30 whatever its digits (turning a huge int into a
# Decimal costs its length: it is judged by its size first)
_MAX_BITS = (10**MAX_EXPONENT).bit_length()


def decimal_text(text: str) -> Decimal:
    """``Decimal(text)`` for a number written by a person or a client: surrounding
    spaces are allowed, Python's digit separators are not (``Decimal`` reads "1_0" as
    10; JSON, Binance and people reading an order do not).  Raises
    ``InvalidOperation``."""
    if "_" in text:
        raise InvalidOperation(f"not a number: {text[:40]!r}")
    return Decimal(text.strip())


def read_decimal(value: object) -> Decimal | str:
    """A number (int, float, Decimal) or numeric string as an exact Decimal
    (``Decimal(str(x))``: 0.1 stays 0.1), or why it is refused, in words for a message
    that quotes it ("must be a number", :data:`NOT_FINITE`, ...): bool, NaN,
    infinities, containers, garbage, numbers beyond 1e±30 in size (integers too)."""
    if isinstance(value, bool):
        return "must be a number"
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        if value.bit_length() > _MAX_BITS:
            return OUT_OF_SIZE
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return NOT_FINITE
        number = Decimal(str(value))
    elif isinstance(value, str):
        if not 0 < len(value) <= MAX_TEXT:
            return f"must be a number of 1 to {MAX_TEXT} characters"
        try:
            number = decimal_text(value)
        except InvalidOperation:
            return "must be a number"
    else:
        return "must be a number"
    if not number.is_finite():
        return NOT_FINITE
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return OUT_OF_SIZE
    return number


def to_decimal(value: object) -> Decimal | None:
    """:func:`read_decimal`'s number, ``None`` when it is refused."""
    number = read_decimal(value)
    return number if isinstance(number, Decimal) else None
