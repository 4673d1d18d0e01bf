"""What a caller asks the account to do.  Pure data: validation happens in the account.

Field names follow ``place_order`` in PROTOCOL.md so that the protocol layer maps a
command onto a request one to one.  Numbers arrive as ``Decimal`` (the protocol layer
converts JSON numbers/strings exactly, via ``Decimal(str(x))``); NaN and infinities may
still arrive here and the account must reject them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class TimeInForce(StrEnum):
    """How long an order may wait for what it cannot execute at once (Binance's
    ``timeInForce``): GTC rests (a limit) or waits for liquidity (a market order);
    IOC executes what it can at once and expires the rest; FOK executes all at once or
    nothing.  For stops and trailing stops it applies once they trigger; for a bracket,
    to its entry (its exits are GTC)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"  # post-only: refused when it would take at once
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    OCO = "OCO"
    TRAILING_STOP = "TRAILING_STOP"
    BRACKET = "BRACKET"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A ``place_order`` command.  Which prices are required depends on ``type``:

    - MARKET: none.  LIMIT: ``price``.  LIMIT_MAKER (post-only): ``price``; refused
      when it would take liquidity at once, so it only ever fills as a maker.
    - STOP_LOSS / TAKE_PROFIT: ``stop_price``; optional ``price`` makes it a stop-limit.
    - OCO: ``take_profit`` and ``stop_price``.
    - TRAILING_STOP: exactly one of ``trail_percent`` (1.0 = 1 %), ``trail_amount``
      (price units), ``trailing_delta`` (BIPS, 100 = 1 %); optional ``activation_price``.
    - BRACKET: ``take_profit`` and ``stop_loss``; optional ``price`` (limit entry);
      the stop leg trails when one of the trailing fields is given.

    A MARKET order may give ``quote_quantity`` instead of ``quantity`` (Binance's
    ``quoteOrderQty``): the quote currency to spend (a buy) or receive (a sell).  It is
    sized against the market at placement: the most of the base asset, on the lot
    step, whose value (price x quantity, walking the book when there is one) stays
    within it; the fee is charged on top, as for any fill.

    ``client_order_id`` (Binance's ``newClientOrderId`` rule: 1-36 of ``A-Z a-z 0-9
    . : / _ -``) makes placing idempotent: a repeat while that order is open returns
    it instead of placing a second one.  ``time_in_force`` (``TimeInForce`` or its
    name; default GTC) says what happens to what cannot execute at once.
    """

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_amount: Decimal | None = None
    trailing_delta: Decimal | None = None
    activation_price: Decimal | None = None
    client_order_id: str | None = None
    time_in_force: TimeInForce | str | None = None
    quote_quantity: Decimal | None = None


TRAIL_FIELDS: tuple[str, ...] = ("trail_percent", "trail_amount", "trailing_delta")
"""A trailing stop takes exactly one of these."""

PRICE_FIELDS: tuple[str, ...] = (
    "price",
    "stop_price",
    "take_profit",
    "stop_loss",
    *TRAIL_FIELDS,
    "activation_price",
)
"""Every numeric field of a request besides ``quantity``: the one list of an order's
prices (the protocol parser, validation, the wire and the pandas views all use it)."""

FIELD_LABELS: dict[str, str] = {
    "quantity": "Quantity",
    "quote_quantity": "Quote quantity",
    "price": "Limit price",
    "stop_price": "Stop price",
    "take_profit": "Take-profit price",
    "stop_loss": "Stop-loss price",
    "trail_percent": "Trail percent",
    "trail_amount": "Trail amount",
    "trailing_delta": "Trailing delta",
    "activation_price": "Activation price",
}
"""How the order ticket names each field, for reasons people read."""

PRICE_LEVEL_FIELDS: tuple[str, ...] = (
    "price",
    "stop_price",
    "take_profit",
    "stop_loss",
    "activation_price",
)
"""The fields that are price levels (the exchange's PRICE_FILTER applies to them); the
trailing fields are distances."""

REQUIRED_PRICES: dict[OrderType, tuple[str, ...]] = {
    OrderType.MARKET: (),
    OrderType.LIMIT: ("price",),
    OrderType.LIMIT_MAKER: ("price",),
    OrderType.STOP_LOSS: ("stop_price",),
    OrderType.TAKE_PROFIT: ("stop_price",),
    OrderType.OCO: ("take_profit", "stop_price"),
    OrderType.TRAILING_STOP: (),
    OrderType.BRACKET: ("take_profit", "stop_loss"),
}
"""The prices each order type must carry; the protocol layer and the account's
validation both check against this one table."""

RESTING_LIMITS = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})
"""The order types that rest at their limit price until it is reached."""

ALLOWED_PRICES: dict[OrderType, frozenset[str]] = {
    OrderType.MARKET: frozenset(),
    OrderType.LIMIT: frozenset({"price"}),
    OrderType.LIMIT_MAKER: frozenset({"price"}),
    OrderType.STOP_LOSS: frozenset({"stop_price", "price"}),
    OrderType.TAKE_PROFIT: frozenset({"stop_price", "price"}),
    OrderType.OCO: frozenset({"take_profit", "stop_price"}),
    OrderType.TRAILING_STOP: frozenset({*TRAIL_FIELDS, "activation_price"}),
    OrderType.BRACKET: frozenset(
        {"take_profit", "stop_loss", "price", *TRAIL_FIELDS, "activation_price"}
    ),
}
"""The prices each order type may carry (required or optional).  Binance refuses a
parameter a type does not use ("Parameter 'price' sent when not required."); taken, a
MARKET order carried its ``price`` on every event and view as if it had a limit."""
