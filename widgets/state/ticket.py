"""Order ticket: the form the user fills in -> a ``place_order`` command, or inline errors.

The table of which prices each order type needs lives here once; the browser gets it
as a trait and shows exactly these inputs, and the validation below uses the same table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

ORDER_TYPES = ("MARKET", "LIMIT", "STOP_LOSS", "TAKE_PROFIT", "OCO", "TRAILING_STOP", "BRACKET")
SIDES = ("BUY", "SELL")
TRAIL_KINDS = ("trail_percent", "trail_amount", "trailing_delta")

# type -> (required price fields, optional price fields); "trail" is the trail value,
# sent under the field named by the form's ``trail_kind``
TYPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "MARKET": ((), ()),
    "LIMIT": (("price",), ()),
    "STOP_LOSS": (("stop_price",), ("price",)),
    "TAKE_PROFIT": (("stop_price",), ("price",)),
    "OCO": (("take_profit", "stop_price"), ()),
    "TRAILING_STOP": (("trail",), ("activation_price",)),
    "BRACKET": (("take_profit", "stop_loss"), ("price", "trail")),
}

FIELD_LABELS = {
    "symbol": "Symbol",
    "side": "Side",
    "type": "Type",
    "quantity": "Quantity",
    "price": "Limit price",
    "stop_price": "Stop price",
    "take_profit": "Take profit",
    "stop_loss": "Stop loss",
    "trail": "Trail",
    "activation_price": "Activation price",
}

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


class TicketError(ValueError):
    """Bad input in the ticket; ``errors`` maps each form field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _positive(value: Any, label: str) -> tuple[Decimal | None, str | None]:
    """A positive, finite decimal from a form value (string or number)."""
    if isinstance(value, bool):
        return None, f"{label} must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{label} must be a finite number"
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None, f"{label} must be a number, got {value!r}"
    if not number.is_finite():
        return None, f"{label} must be a finite number"
    if number <= 0:
        return None, f"{label} must be greater than 0"
    return number, None


def build_order(
    form: Mapping[str, Any], known_symbols: Collection[str] | None = None
) -> dict[str, Any]:
    """Validate ``form`` and return the ``place_order`` command.

    ``known_symbols``: when given and not empty, a symbol outside it is an error (the
    engine would reject it too, but the user sees it before sending).
    Raises ``TicketError`` with one message per bad field.
    """
    errors: dict[str, str] = {}
    symbol = str(form.get("symbol") or "").strip().upper()
    if not symbol:
        errors["symbol"] = "Symbol is required"
    elif not _SYMBOL.match(symbol):
        errors["symbol"] = f"{symbol!r} is not a symbol (letters and digits, e.g. BTCUSDT)"
    elif known_symbols and symbol not in {s.upper() for s in known_symbols}:
        errors["symbol"] = f"Unknown symbol {symbol}"

    side = str(form.get("side") or "").upper()
    if side not in SIDES:
        errors["side"] = "Side must be BUY or SELL"
    order_type = str(form.get("type") or "").upper()
    if order_type not in TYPE_FIELDS:
        errors["type"] = f"Type must be one of {', '.join(ORDER_TYPES)}"

    quantity, problem = _positive(form.get("quantity"), "Quantity")
    if problem:
        errors["quantity"] = problem

    command: dict[str, Any] = {"action": "place_order"}
    required, optional = TYPE_FIELDS.get(order_type, ((), ()))
    for field in (*required, *optional):
        value = form.get(field)
        label = FIELD_LABELS[field]
        if _blank(value):
            if field in required:
                errors[field] = f"{label} is required for {order_type}"
            continue
        number, problem = _positive(value, label)
        if problem:
            errors[field] = problem
            continue
        if field == "trail":
            kind = str(form.get("trail_kind") or "trail_percent")
            if kind not in TRAIL_KINDS:
                errors["trail"] = f"Trail kind must be one of {', '.join(TRAIL_KINDS)}"
                continue
            command[kind] = float(number)  # type: ignore[arg-type]
        else:
            command[field] = float(number)  # type: ignore[arg-type]

    if errors:
        raise TicketError(errors)
    command.update(symbol=symbol, side=side, type=order_type, quantity=float(quantity))  # type: ignore[arg-type]
    return command


ERROR_FIELDS = {"INVALID_SYMBOL": "symbol", "INSUFFICIENT_BALANCE": "quantity"}
"""Which input an engine ERROR code belongs to, so it shows beside that input."""
