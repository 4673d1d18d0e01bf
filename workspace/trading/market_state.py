"""The latest prices the account knows per symbol (market data, not account state)."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Quote(msgspec.Struct, kw_only=True, gc=False):
    """Last trade (or ticker) price and best bid/ask of one symbol, when known."""

    last: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None

    def reference(self) -> Decimal | None:
        """The price used to judge "the market" when validating an order."""
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return None
