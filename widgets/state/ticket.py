"""Order ticket: the form the user fills in -> a ``place_order`` command, or inline errors.

The table of which prices each order type needs lives here once; the browser gets it
as a trait and shows exactly these inputs, and the validation below uses the same table.
With the symbol's info (``SUBSCRIBED.symbol_info``: tick, step, minimums) the quantity
is rounded down to the step and every price to the nearest tick before it is sent,
and an order under the minimum quantity or value is refused here, in the UI's words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from widgets.state.wording import (
    format_amount,
    format_price,
    round_to_step,
    round_to_tick,
    split_symbol,
)
from workspace.decimals import MAX_EXPONENT, OUT_OF_SIZE, decimal_text

ORDER_TYPES = (
    "MARKET",
    "LIMIT",
    "LIMIT_MAKER",
    "STOP_LOSS",
    "TAKE_PROFIT",
    "OCO",
    "TRAILING_STOP",
    "BRACKET",
)
SIDES = ("BUY", "SELL")
CENT = Decimal("0.01")
QUANTITY_UNITS = ("base", "quote")
"""How the ticket's quantity is given: in the base asset, or (a market order) as the
amount of the quote asset to spend or receive."""
TYPE_LABELS = {
    "MARKET": "Market",
    "LIMIT": "Limit",
    "LIMIT_MAKER": "Limit maker (post-only)",
    "STOP_LOSS": "Stop loss",
    "TAKE_PROFIT": "Take profit",
    "OCO": "OCO (take profit + stop)",
    "TRAILING_STOP": "Trailing stop",
    "BRACKET": "Bracket (entry + TP + SL)",
}
TRAIL_KINDS = ("trail_percent", "trail_amount", "trailing_delta")
TRAIL_LABELS = {
    "trail_percent": "Trail %",
    "trail_amount": "Trail amount (price)",
    "trailing_delta": "Trailing delta (bips)",
}
"""The trail-type dropdown's words (1.0 = 1 %; price units; 100 bips = 1 %)."""

# type -> (required price fields, optional price fields); "trail" is the trail value,
# sent under the field named by the form's ``trail_kind``
TYPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "MARKET": ((), ()),
    "LIMIT": (("price",), ()),
    "LIMIT_MAKER": (("price",), ()),
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
_GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
"""A number with thousands separators, as the panels write prices and sizes."""


class TicketError(ValueError):
    """Bad input in the ticket; ``errors`` maps each form field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def in_quote_asset(form: Mapping[str, Any]) -> bool:
    """Does ``form`` give its quantity as an amount of the quote asset?"""
    return str(form.get("quantity_unit") or "base") == "quote"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _positive(value: Any, label: str) -> tuple[Decimal | None, str | None]:
    """A positive, finite decimal from a form value (string or number)."""
    if isinstance(value, bool):
        return None, f"{label} must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{label} must be a finite number"
    text = str(value).strip()
    if _GROUPED.fullmatch(text):
        # a price copied from a panel, written as they show it ("97,000.50")
        text = text.replace(",", "")
    try:
        number = decimal_text(text)
    except (InvalidOperation, ValueError):
        hint = " (with '.' for decimals)" if "," in text else ""
        return None, f"{label} must be a number{hint}, got {value!r}"
    if not number.is_finite():
        return None, f"{label} must be a finite number"
    if number <= 0:
        return None, f"{label} must be greater than 0"
    if not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        # the engine's bound on any number: "1e999" became the float inf on its way out,
        # and "1e-40" read as "Quantity 0 is below the step"
        return None, f"{label} {OUT_OF_SIZE}, got {value!r:.40}"
    return number, None


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number > 0 else None


def build_order(
    form: Mapping[str, Any],
    known_symbols: Collection[str] | None = None,
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``form`` and return the ``place_order`` command.

    ``known_symbols``: when given and not empty, a symbol outside it is an error (the
    engine would reject it too, but the user sees it before sending).
    ``info``: the symbol's ``symbol_info``; the quantity is rounded down to its step,
    prices to the nearest tick, and the minimum quantity and order value are checked.
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
        errors["type"] = f"Type must be one of {', '.join(TYPE_LABELS.values())}"

    # a MARKET order may be given in the quote asset ("spend 100 USDT"): Binance's
    # quoteOrderQty, sized by the engine against the market when it is placed
    by_quote = in_quote_asset(form)
    if by_quote and order_type != "MARKET":
        errors["quantity"] = "An amount in the quote asset is for market orders only"
    quantity, problem = _positive(form.get("quantity"), "Amount" if by_quote else "Quantity")
    if problem:
        errors["quantity"] = problem

    command: dict[str, Any] = {"action": "place_order"}
    required, optional = TYPE_FIELDS.get(order_type, ((), ()))
    for field in (*required, *optional):
        value = form.get(field)
        label = FIELD_LABELS[field]
        if _blank(value):
            if field in required:
                what = TYPE_LABELS[order_type].split(" (")[0]
                what = what if what.isupper() else what.lower()
                article = "an" if what[0] in "aeioAEIO" else "a"
                errors[field] = f"{label} is required for {article} {what} order"
            continue
        number, problem = _positive(value, label)
        if problem:
            errors[field] = problem
            continue
        assert number is not None
        if field == "trail":
            kind = str(form.get("trail_kind") or "trail_percent")
            if kind not in TRAIL_KINDS:
                labels = ", ".join(TRAIL_LABELS.values())
                errors["trail"] = f"Trail type must be one of {labels}"
                continue
            if kind == "trail_amount":
                number = _on_tick(number, info)
            command[kind] = float(number)
        else:
            number = _on_tick(number, info)
            if number <= 0:
                errors[field] = f"{label} is below the price tick {_tick_text(info)}"
                continue
            command[field] = float(number)

    if by_quote:
        if quantity is not None and info and "quantity" not in errors:
            _check_amount(quantity, symbol, info, errors)
        if errors:
            raise TicketError(errors)
        assert quantity is not None
        command.update(symbol=symbol, side=side, type=order_type, quote_quantity=float(quantity))
        return command
    if quantity is not None and info:
        quantity = _checked_quantity(quantity, symbol, order_type, command, info, errors)
    if errors:
        raise TicketError(errors)
    assert quantity is not None
    command.update(symbol=symbol, side=side, type=order_type, quantity=float(quantity))
    return command


def _check_amount(
    amount: Decimal, symbol: str, info: Mapping[str, Any], errors: dict[str, str]
) -> None:
    """A market order's amount in the quote asset against the minimum order value."""
    _, quote = split_symbol(symbol, info)
    floor = _decimal(info.get("min_notional"))
    if floor is not None and amount < floor:
        errors["quantity"] = (
            f"Amount {format_amount(amount, quote)} {quote} is below the minimum order value "
            f"{format_amount(floor, quote)} {quote}"
        ).replace("  ", " ")


def _on_tick(price: Decimal, info: Mapping[str, Any] | None) -> Decimal:
    tick = _decimal(info.get("tick_size")) if info else None
    return round_to_tick(price, tick) if tick is not None else price


def _tick_text(info: Mapping[str, Any] | None) -> str:
    return format_amount(info.get("tick_size")) if info else ""


def _checked_quantity(
    quantity: Decimal,
    symbol: str,
    order_type: str,
    command: Mapping[str, Any],
    info: Mapping[str, Any],
    errors: dict[str, str],
) -> Decimal | None:
    """The quantity rounded down to the step, checked against the minimum quantity and
    the minimum order value (at the order's own price, or the last price for a market
    order when ``info`` carries ``last_price``)."""
    base, quote = split_symbol(symbol, info)
    step = _decimal(info.get("step_size"))
    if step is not None:
        rounded = round_to_step(quantity, step)
        if rounded <= 0:
            errors["quantity"] = (
                f"Quantity {format_amount(quantity)} is below the step "
                f"{format_amount(step)} {base}".rstrip()
            )
            return None
        quantity = rounded
    least = _decimal(info.get("min_qty"))
    if least is not None and quantity < least:
        errors["quantity"] = f"Quantity must be at least {format_amount(least)} {base}".rstrip()
        return None
    most = _decimal(info.get("max_qty"))
    if most is not None and quantity > most:
        errors["quantity"] = f"Quantity must be at most {format_amount(most)} {base}".rstrip()
        return None
    price = next(
        (
            _decimal(command[name])
            for name in ("price", "stop_price", "stop_loss")
            if command.get(name) is not None
        ),
        _decimal(info.get("last_price")),
    )
    floor = _decimal(info.get("min_notional"))
    if floor is not None and price is not None and quantity * price < floor:
        value = format_amount(quantity * price, quote)
        errors["quantity"] = (
            f"Order value {value} {quote} is below the minimum {format_amount(floor, quote)} "
            f"{quote} (at {format_price(price, info)})"
        ).replace("  ", " ")
        return None
    return quantity


ERROR_FIELDS = {
    "INVALID_SYMBOL": "symbol",
    "UNKNOWN_SYMBOL": "symbol",
    "INSUFFICIENT_BALANCE": "quantity",
    "LOT_SIZE": "quantity",
    "MIN_NOTIONAL": "quantity",
    "WOULD_SHORT": "quantity",
}
"""Which input an engine ERROR code (or a rejection's ``reason_code``) belongs to, so
it shows beside that input; ``PRICE_FILTER`` goes to the type's first price."""


def error_field(code: str, order_type: str) -> str:
    if code == "PRICE_FILTER":
        required, optional = TYPE_FIELDS.get(order_type, ((), ()))
        prices = [f for f in (*required, *optional) if f != "trail"]
        return prices[0] if prices else "form"
    return ERROR_FIELDS.get(code, "form")


@dataclass(frozen=True)
class SizingInputs:
    """What the ticket's % buttons size an order from."""

    side: str
    base: str
    quote: str
    base_free: Decimal | None
    quote_free: Decimal | None
    price: Decimal | None
    step: Decimal | None
    in_quote: bool  # the quantity is given as an amount of the quote asset


def sizing_missing(inputs: SizingInputs) -> str:
    """What the % buttons lack to size the order, in words that end a sentence with
    "not known yet": "the BTC balance is", "a price and the USDT balance are".  A buy
    spends the quote balance (and needs a price to become a quantity); a sell spends
    the base balance (and needs a price to become an amount of the quote asset)."""
    buy = inputs.side != "SELL"
    missing: list[str] = []
    if (buy != inputs.in_quote) and (inputs.price is None or inputs.price <= 0):
        missing.append("a price")
    if buy and inputs.quote_free is None:
        missing.append(f"the {inputs.quote or 'quote'} balance")
    if not buy and inputs.base_free is None:
        missing.append(f"the {inputs.base or 'base'} balance")
    if not missing:
        return "the balances are"
    return " and ".join(missing) + (" are" if len(missing) > 1 else " is")


def size_for(fraction: Decimal, inputs: SizingInputs) -> Decimal | None:
    """What the % buttons write for ``fraction`` of what the order spends: an amount of
    the quote asset when the quantity is given as one (``size_amount``), else a
    quantity (``size_quantity``).  None when unknown (``sizing_missing`` says why)."""
    if inputs.in_quote:
        return size_amount(
            fraction,
            inputs.side,
            quote_free=inputs.quote_free,
            base_free=inputs.base_free,
            price=inputs.price,
        )
    return size_quantity(
        fraction,
        inputs.side,
        quote_free=inputs.quote_free,
        base_free=inputs.base_free,
        price=inputs.price,
        step=inputs.step,
    )


def size_amount(
    fraction: Decimal,
    side: str,
    *,
    quote_free: Decimal | None,
    base_free: Decimal | None,
    price: Decimal | None,
    fee_rate: Decimal = Decimal("0.001"),
) -> Decimal | None:
    """The amount in the quote asset for the ticket's % buttons when the quantity is
    given as one: a buy's share of the quote balance, keeping room for the taker fee;
    a sell's share of the base balance at ``price``; down to the cent.  None when
    unknown."""
    if side == "SELL":
        if base_free is None or price is None or price <= 0:
            return None
        amount = base_free * fraction * price
    else:
        if quote_free is None:
            return None
        amount = quote_free * fraction / (1 + fee_rate)
    return round_to_step(amount, CENT)


def size_quantity(
    fraction: Decimal,
    side: str,
    *,
    quote_free: Decimal | None,
    base_free: Decimal | None,
    price: Decimal | None,
    step: Decimal | None,
    fee_rate: Decimal = Decimal("0.001"),
) -> Decimal | None:
    """The quantity for the ticket's 25/50/75/100 % buttons: a share of what the order
    spends (a buy spends the quote asset at ``price``, keeping room for the taker fee;
    a sell spends the base asset), rounded down to the step.  None when unknown."""
    if side == "SELL":
        if base_free is None:
            return None
        quantity = base_free * fraction
    else:
        if quote_free is None or price is None or price <= 0:
            return None
        quantity = quote_free * fraction / (price * (1 + fee_rate))
    if step is not None:
        return round_to_step(quantity, step)
    # no step known: 6 significant digits, rounded down
    if quantity <= 0:
        return Decimal(0)
    exponent = quantity.adjusted() - 5
    return round_to_step(quantity, Decimal(1).scaleb(exponent))
