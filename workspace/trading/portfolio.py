"""The account totals at one moment."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Portfolio(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Balances and P&L.  Definitions (docs/trading.md):

    - ``balance``  = initial_balance + realized_pnl - fees_paid  (cash of a margin account)
    - ``equity``   = balance + unrealized_pnl
    - ``total_pnl`` = equity - initial_balance = realized + unrealized - fees
    - ``locked``   = cost basis of open positions (longs and shorts: 100 % margin)
    - ``reserved`` = what resting orders hold back;  ``available`` = balance - locked - reserved
    """

    initial_balance: Decimal
    balance: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    total_pnl: Decimal
    fees_paid: Decimal
    positions_count: int
    locked: Decimal
    reserved: Decimal
    available: Decimal
