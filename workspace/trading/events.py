"""The events the account emits: the only way its state ever changes.

Live commands and ticks compute events and then ``Account.apply`` them; rebuilding
from the journal applies the same events in the same order, so both paths share one
transition.  Events are frozen msgspec structs, tagged by ``kind`` on the wire
(``{"kind": "order", ...}``) so one decoder reads any of them back.

Every account struct (events, orders, fills, positions, quotes) is declared
``gc=False``: they hold only numbers, strings, enums and other such structs, so they
can never be part of a reference cycle, and leaving them out of the cycle collector
means a fill (a dozen new structs) no longer brings the next collection closer and a
full collection no longer walks every resting order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, TypeAlias

import msgspec

from workspace.trading.orders import Fill, Order
from workspace.trading.positions import Position


class OrderEvent(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", tag="order"
):
    """An order (or group) changed: ``order`` is its full state afterwards."""

    kind: ClassVar[str] = "order"
    ts_ms: int
    order: Order


class FillEvent(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    gc=False,
    tag_field="kind",
    tag="fill",
):
    """One execution of one order: ``fill``, then ``more`` fills of the same execution
    at the same time (a walk of the book fills once per level it reaches: one event
    for the walk, not one per level).  ``fills`` gives them all, in order.

    Journals before schema 4 hold one fill per event (``more`` absent): they read and
    apply as they are.  A single fill encodes as it always did (``more`` is omitted).
    """

    kind: ClassVar[str] = "fill"
    ts_ms: int
    fill: Fill
    more: tuple[Fill, ...] = ()

    @property
    def fills(self) -> tuple[Fill, ...]:
        more = self.more
        return (self.fill, *more) if more else (self.fill,)


class PositionEvent(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", tag="position"
):
    """A position opened, changed or closed: ``position`` is its state afterwards."""

    kind: ClassVar[str] = "position"
    ts_ms: int
    position: Position


class MarkEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", tag="mark"):
    """A sample of the market as the account sees it (last price, best bid and ask per
    symbol) and the resulting equity.

    The account only emits it when asked (``Account.mark``): ticks are too many to
    journal, so the engine appends one now and then (and at shutdown); the equity
    curve samples these and every fill, and a rebuild takes its prices from them.
    """

    kind: ClassVar[str] = "mark"
    ts_ms: int
    prices: dict[str, Decimal]
    equity: Decimal
    unrealized_pnl: Decimal
    bids: dict[str, Decimal] = {}
    asks: dict[str, Decimal] = {}


class ValuationEvent(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", tag="valuation"
):
    """An asset the account started with (``AccountConfig.balances``) got its first
    price: from now on it is a position at that cost, and the account's initial value
    counts it at ``quantity x price``.  One per asset, the first time its symbol trades.
    """

    kind: ClassVar[str] = "valuation"
    ts_ms: int
    symbol: str
    asset: str
    quantity: Decimal
    price: Decimal


AccountEvent: TypeAlias = OrderEvent | FillEvent | PositionEvent | MarkEvent | ValuationEvent
