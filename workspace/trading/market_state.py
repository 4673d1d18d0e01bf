"""The latest prices the account knows per symbol, and when it learnt them (market data,
not account state).

Times are the ``ts_ms`` the engine hands in with each record: the engine's clock when
the record arrived (live), the data's own time (replay).  Comparing them with the
``ts_ms`` of a command measures a price's age on one clock, whatever the skew between
this machine and the exchange.  Prices restored from the journal have no time: they
are never fresh, so nothing fills against them and their marks show as stale.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from workspace.trading.requests import Side


class Quote(msgspec.Struct, kw_only=True, gc=False):
    """Last trade (or ticker) price and best bid/ask of one symbol, with their times."""

    last: Decimal | None = None
    last_ms: int | None = None  # when ``last`` arrived; None: restored from the journal
    bid: Decimal | None = None
    ask: Decimal | None = None
    book_ms: int | None = None  # when ``bid``/``ask`` arrived
    trade_ms: int | None = None  # when the last *trade* arrived (tickers trigger without one)

    def reference(self) -> Decimal | None:
        """The price used to judge "the market" when validating an order (any age)."""
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return None

    def fresh_last(self, now_ms: int, max_age_ms: int) -> Decimal | None:
        last_ms = self.last_ms
        if last_ms is None or now_ms - last_ms > max_age_ms:
            return None
        return self.last

    def fresh_side(self, side: Side, now_ms: int, max_age_ms: int) -> Decimal | None:
        """The book price a taker on ``side`` would meet (ask for a buy), if fresh."""
        book_ms = self.book_ms
        if book_ms is None or now_ms - book_ms > max_age_ms:
            return None
        return self.ask if side is Side.BUY else self.bid

    def side_as_new_as(self, side: Side, since_ms: int) -> Decimal | None:
        """The book price on ``side`` if the book is at least as new as ``since_ms``."""
        book_ms = self.book_ms
        if book_ms is None or book_ms < since_ms:
            return None
        return self.ask if side is Side.BUY else self.bid

    def price_ms(self) -> int | None:
        """When the mark (``last``) arrived; None when it came from the journal."""
        return self.last_ms
