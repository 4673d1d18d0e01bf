"""Exact 8-decimal fixed point, the way Binance writes prices and quantities.

Binance sends every price and quantity as a string with 8 decimals ("7195.24000000").
The simulator keeps them as integers in units of 1e-8 ("e8") so that rounding to a
tick or step size is exact integer arithmetic and formatting never goes through a
binary float.
"""

from __future__ import annotations

from decimal import Decimal

SCALE = 100_000_000


def to_e8(value: Decimal | str) -> int:
    """``"0.01"`` -> ``1_000_000``; raises ValueError if finer than 1e-8."""
    scaled = Decimal(value) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 8 decimals")
    return int(scaled)


def round_to_step(value_e8: float, step_e8: int) -> int:
    """Round a (float) e8 amount to the nearest multiple of ``step_e8``, at least one step."""
    steps = max(1, round(value_e8 / step_e8))
    return steps * step_e8


def format_e8(value_e8: int) -> str:
    """``719524000000`` -> ``"7195.24000000"`` (a leading ``-`` for negatives)."""
    # One integer format plus slicing: this runs for every number of every frame.
    if value_e8 < 0:
        return "-" + format_e8(-value_e8)
    digits = f"{value_e8:09d}"
    return f"{digits[:-8]}.{digits[-8:]}"


def decimal_e8(value_e8: int) -> Decimal:
    """The exact Decimal with 8 decimal places, as the feed decodes it from the wire."""
    return Decimal(format_e8(value_e8))


def format_decimal(value: Decimal) -> str:
    """A Decimal on the wire: always positional, never ``5E-8``."""
    return format(value, "f")


_EIGHT = Decimal("0.00000001")


def format_decimal8(value: Decimal) -> str:
    """A filter value as Binance writes it: ``Decimal("0.01")`` -> ``"0.01000000"``."""
    return format(value.quantize(_EIGHT), "f")
