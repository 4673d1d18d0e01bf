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
