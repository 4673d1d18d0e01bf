"""The account's configuration: money, fees and what the account allows."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class AccountConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How a paper account behaves.  Stored in the journal so a reopen uses the same one.

    Fees are fractions of the notional (``0.001`` = 0.1 %, Binance spot's default),
    charged in the quote currency: ``maker_fee`` for resting limit fills, ``taker_fee``
    for everything that takes liquidity (market orders, triggered stops, marketable
    limits).  ``slippage_bps`` moves every market fill against the taker
    (1 bps = 0.01 %).
    """

    initial_balance: Decimal = Decimal("10000")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    allow_short: bool = True
    slippage_bps: Decimal = Decimal(0)
    quote_currency: str = "USDT"

    def __post_init__(self) -> None:
        # A bad config would corrupt every number downstream: refuse it at once.
        for name in ("initial_balance", "maker_fee", "taker_fee", "slippage_bps"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"AccountConfig.{name} must be a finite Decimal >= 0")
        if self.initial_balance <= 0:
            raise ValueError("AccountConfig.initial_balance must be > 0")
        if self.maker_fee >= 1 or self.taker_fee >= 1:
            raise ValueError("AccountConfig fees are fractions and must be < 1")
