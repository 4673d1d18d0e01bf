"""Reading numbers out of wire messages (JSON numbers, sometimes strings, sometimes absent)."""

from __future__ import annotations

import math
from typing import Any


def as_float(value: Any) -> float | None:
    """A finite float, or ``None`` for absent / non-numeric / NaN values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def decimals_of(value: float, most: int = 8) -> int:
    """The fewest decimals (0..``most``) that write ``value`` exactly: 649.93 -> 2."""
    tolerance = 1e-9 * max(1.0, abs(value))
    for digits in range(most):
        if abs(round(value, digits) - value) <= tolerance:
            return digits
    return most


def price_text(value: float) -> str:
    """A price with its own decimals, at least 2: 649.93 -> "649.93", 97000 -> "97,000.00"."""
    return f"{value:,.{max(2, decimals_of(value))}f}"
