"""The account totals at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from workspace.trading.balance import Balance


class Portfolio(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Balances and P&L, in the quote currency (docs/trading.md, "The portfolio"):

    - ``balance``  = the quote currency held (free + locked): the cash
    - ``equity``   = cash + every position at its mark = ``initial_balance + total_pnl``
    - ``total_pnl`` = ``realized_pnl + unrealized_pnl - fees_paid`` (realized is gross)
    - ``initial_balance`` = the quote currency the account started with plus the other
      assets it started with, at their first price
    - ``available`` = free quote currency; ``locked`` = quote currency held back by
      open orders (and, in the margin-style mode, by shorts)
    - ``balances`` = ``{asset: Balance(free, locked)}`` for every asset held
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
    available: Decimal
    balances: Mapping[str, Balance]
