"""Why the account refused, canceled or expired an order: a stable code and words for
people.

``reason_code`` is for programs (PROTOCOL.md version 2, "Orders and the account");
``reason`` is for the trader, in the order ticket's own words ("Stop price", "Quantity")
with amounts written the way the exchange writes them: exact, no exponent, no trailing
noise (``97151.57 USDT``, never ``97151.570000000000``), prices at the symbol's tick
precision.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec


class ReasonCode(StrEnum):
    """Every code an order can carry in ``reason_code``."""

    # placement refused (REJECTED)
    INVALID_PARAMS = "INVALID_PARAMS"  # a field is missing, malformed or inconsistent
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"  # not listed by the exchange (or not in the replay)
    MARKET_CLOSED = "MARKET_CLOSED"  # listed, but its status is not TRADING
    PRICE_FILTER = "PRICE_FILTER"  # a price off the tick, or outside min/max price
    PERCENT_PRICE = "PERCENT_PRICE"  # a limit price too far from the market
    LOT_SIZE = "LOT_SIZE"  # quantity off the step or outside min/max (market: MARKET_LOT_SIZE)
    MIN_NOTIONAL = "MIN_NOTIONAL"  # price x quantity below the minimum
    MAX_NOTIONAL = "MAX_NOTIONAL"  # price x quantity above the maximum
    TRAILING_DELTA = "TRAILING_DELTA"  # trailing delta outside the symbol's range
    MAX_NUM_ORDERS = "MAX_NUM_ORDERS"  # the symbol's open orders are at the exchange's most
    MAX_NUM_ALGO_ORDERS = "MAX_NUM_ALGO_ORDERS"  # the same for stop / take-profit orders
    MAX_NUM_ORDER_LISTS = "MAX_NUM_ORDER_LISTS"  # the same for order lists (OCO, bracket)
    MAX_POSITION = "MAX_POSITION"  # a buy past the most of the base asset one may hold
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"  # not enough free funds (also at fill)
    WOULD_SHORT = "WOULD_SHORT"  # a sell larger than the holding on a spot account
    WOULD_TAKE = "WOULD_TAKE"  # a LIMIT_MAKER (post-only) that would take liquidity at once
    NO_MARKET_DATA = "NO_MARKET_DATA"  # no fresh price (or no exchange rules) to act on
    # an order ended by the account (CANCELED / EXPIRED)
    CANCELED_BY_USER = "CANCELED_BY_USER"
    SIBLING_EXECUTED = "SIBLING_EXECUTED"  # the other leg of an OCO / bracket executed
    HOLDING_CLOSED = "HOLDING_CLOSED"  # an exit whose holding was closed by something else
    HOLDING_REDUCED = "HOLDING_REDUCED"  # an exit shrunk to what is still held (stays NEW)
    # IOC: the part the book could not fill at once expired; FOK: the book could not
    # fill all of it at once, so nothing executed (EXPIRED)
    TIME_IN_FORCE = "TIME_IN_FORCE"


class Refusal(msgspec.Struct, frozen=True, gc=False):
    """A decision not to do something: a code and a sentence."""

    code: ReasonCode
    reason: str


def plain(value: Decimal) -> str:
    """``value`` exactly, without exponent or trailing zeros (``97151.57``,
    ``0.00000001``, ``1000``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def at_precision(value: Decimal, decimals: int | None) -> str:
    """``value`` padded to ``decimals`` places (a price at its tick precision:
    ``97000.00``), or exact when it has more places than that (an off-tick price must
    show the digits that are wrong)."""
    if decimals is None:
        return plain(value)
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    if places > decimals:
        return plain(value)
    return format(value, f".{decimals}f")
