"""Netted positions: the position record and what fills do to it (the arithmetic
itself is in ``average_cost.py``, compiled with the account's logic: a struct module
stays plain Python, see ``workspace/native.py``).

Exactness: a position keeps its exact ``cost`` (sum of quantity x price of the fills
that built it) instead of an average price.  ``entry_price`` is ``cost / quantity``
rounded, for display.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec

ZERO = Decimal(0)


class PositionType(StrEnum):
    BUY = "buy"  # long
    SELL = "sell"  # short


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Position(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A net position in one symbol.

    Inside the account, an open position's live mark (``current_price``,
    ``unrealized_pnl``) is kept in its ``MarkBook`` (``marks.py``), not on this
    object: the account's own objects carry the mark of their last event, and the
    copies it hands out are completed from the book.  Everything else changes only
    through a ``PositionEvent`` carrying a copy (``average_cost.remark`` re-marks a
    copy at a fill).
    """

    id: str
    symbol: str
    type: PositionType
    quantity: Decimal
    cost: Decimal
    entry_price: Decimal
    status: PositionStatus
    opened_at: int
    updated_at: int
    current_price: Decimal
    unrealized_pnl: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    closed_at: int | None = None
    price_ms: int | None = None
    stale: bool = False

    @property
    def sign(self) -> int:
        return 1 if self.type is PositionType.BUY else -1

    def copy(self) -> Position:
        return msgspec.structs.replace(self)


class FillOutcome(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one fill does to the symbol's position: up to two new position states."""

    closed_or_updated: Position | None  # the existing position after the fill
    opened: Position | None  # a new position (fresh open, or the remainder past zero)
    realized_pnl: Decimal


class FillsOutcome(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What several fills on one side (a walk of the book) do to the symbol's
    position: its final states, and for each fill the position it went to and the P&L
    it realized."""

    closed_or_updated: Position | None
    opened: Position | None
    per_fill: tuple[tuple[str, Decimal], ...]  # (position id, realized P&L) per fill
