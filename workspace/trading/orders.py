"""Orders as immutable snapshots.

An ``Order`` never changes in place: every change produces a new snapshot (carried by
an ``OrderEvent``) that replaces the old one in the account.  OCO and BRACKET orders
hold their legs inside them, so one event always shows the whole group consistently
(a filled leg and its canceled sibling arrive together).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec

from workspace.trading.order_state import OrderStatus
from workspace.trading.requests import PRICE_FIELDS, OrderType, Side

ZERO = Decimal(0)

ORDER_NUMBERS: tuple[str, ...] = (
    "quantity",
    "filled_quantity",
    "quote_quantity",
    *PRICE_FIELDS,
    "current_stop_price",
    "peak_price",
    "fill_price",
    "avg_price",
    "fee",
    "queue_ahead",
)
"""The numeric fields of an order, in display order (the wire and the pandas views)."""


class LegRole(StrEnum):
    """What a leg of an OCO or BRACKET order is for."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class Execution(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One fill of an order, as the order shows it (PROTOCOL v2 ``fills``)."""

    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    ts_ms: int


class Order(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One order (or one leg of a group) as it stands after an event.

    ``seq_no`` is the account's placement counter: it orders simultaneous triggers
    deterministically (first placed, first served).  ``reserved`` is the amount of
    ``reserved_asset`` the order holds back in the wallet while it is open (the quote
    for a buy, the base asset for a spot sell; a group holds one reservation for all
    its legs).  ``reduce_only``: an exit of the holding (it never sells more than is
    held and ends when the holding does).  ``expires_at``: a MARKET order waiting for a
    fresh price expires then.  ``executions`` are its fills, ``avg_price`` their
    volume-weighted average (``fill_price`` too, for version 1 clients).

    ``queue_ahead``: a resting limit's estimate of the quantity queued before it at its
    price on its side of the book (the fill model's queue, docs/trading.md); ``None``
    when unknown (placed without a book: bounded by the level when a trade comes).
    ``exit_reserved``: the base asset a bracket's live exits hold back while its entry
    is still working (its ``reserved`` then holds the entry's quote).
    ``quote_quantity``: what a MARKET order placed by its quote amount (Binance's
    ``quoteOrderQty``) was to spend or receive; ``quantity`` is what that sized to.
    ``unjudged``: accepted before its symbol had any price, so not judged against the
    market then: it is judged at the symbol's first price (docs/trading.md, "A symbol's
    first price"); the journal keeps it, so a rebuild knows which symbols still wait.
    """

    id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    status: OrderStatus
    created_at: int
    updated_at: int
    seq_no: int = 0
    filled_quantity: Decimal = ZERO
    price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_amount: Decimal | None = None
    trailing_delta: Decimal | None = None
    activation_price: Decimal | None = None
    activated: bool = False
    current_stop_price: Decimal | None = None
    peak_price: Decimal | None = None
    triggered: bool = False
    fill_price: Decimal | None = None
    fee: Decimal | None = None
    reason: str | None = None
    reason_code: str | None = None
    role: LegRole | None = None
    parent_id: str | None = None
    position_id: str | None = None
    client_order_id: str | None = None
    reserved: Decimal = ZERO
    reserved_asset: str | None = None
    reduce_only: bool = False
    avg_price: Decimal | None = None
    executions: tuple[Execution, ...] = ()
    expires_at: int | None = None
    time_in_force: str = "GTC"
    queue_ahead: Decimal | None = None
    exit_reserved: Decimal = ZERO
    legs: tuple[Order, ...] = ()
    quote_quantity: Decimal | None = None
    unjudged: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_trailing(self) -> bool:
        return self.type is OrderType.TRAILING_STOP

    def leg(self, leg_id: str) -> Order:
        for leg in self.legs:
            if leg.id == leg_id:
                return leg
        raise KeyError(leg_id)

    def leg_by_role(self, role: LegRole) -> Order | None:
        for leg in self.legs:
            if leg.role is role:
                return leg
        return None

    def with_leg(self, leg: Order) -> Order:
        """This group with one leg replaced by its new snapshot."""
        legs = tuple(leg if old.id == leg.id else old for old in self.legs)
        return msgspec.structs.replace(self, legs=legs)


class Fill(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One execution.  ``realized_pnl`` excludes the fee (fees are counted apart).
    ``fee_asset`` is the asset the fee was paid in; ``None`` (journals of version 1)
    means the account's quote currency."""

    id: str
    order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_ms: int
    position_id: str
    realized_pnl: Decimal = ZERO
    parent_id: str | None = None
    fee_asset: str | None = None


def opposite(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY
