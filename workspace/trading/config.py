"""The account's configuration: money, fees and what the account allows."""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec

from workspace.decimals import MAX_EXPONENT

ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")
MAX_AMOUNT = Decimal(f"1e{MAX_EXPONENT}")
"""Every balance is below this (1e30), the bound of every number a client sends
(``workspace.decimals``): the account's 60-digit arithmetic stays exact with room for
prices and fees."""


class AccountConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How a paper account behaves.  Stored in the journal so a reopen uses the same one.

    - ``initial_balance``: the quote currency (``quote_currency``, USDT) the account
      starts with; ``balances``: any other assets it starts with (``{"BTC": 0.5}``),
      valued at their first price (docs/trading.md, "Initial holdings").
    - Fees are fractions of the notional (``0.001`` = 0.1 %, Binance spot's default),
      charged in the quote currency: ``maker_fee`` for resting limit fills,
      ``taker_fee`` for everything that takes liquidity.  ``slippage_bps`` moves every
      market fill against the taker (1 bps = 0.01 %).
    - ``allow_short``: ``False`` is a spot account (a sell needs the asset:
      ``WOULD_SHORT``); ``True`` the margin-style account of the first version (shorts
      held with 100 % margin).
    - ``max_price_age_ms``: a price older than this is stale: nothing fills against it
      and positions marked with it say ``stale``.  ``market_wait_ms``: how long a
      market order without a fresh price waits for one before it expires
      (``NO_MARKET_DATA``); 0 refuses it at once.
    """

    initial_balance: Decimal = Decimal("10000")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    allow_short: bool = False
    slippage_bps: Decimal = Decimal(0)
    quote_currency: str = "USDT"
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    max_price_age_ms: int = 5_000
    market_wait_ms: int = 5_000

    def __post_init__(self) -> None:
        # A bad config would corrupt every number downstream: refuse it at once.
        for name in ("initial_balance", "maker_fee", "taker_fee", "slippage_bps"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"AccountConfig.{name} must be a finite Decimal >= 0")
            if value >= MAX_AMOUNT:
                raise ValueError(f"AccountConfig.{name} must be below 1e30, got {value}")
        if self.maker_fee >= 1 or self.taker_fee >= 1:
            raise ValueError("AccountConfig fees are fractions and must be < 1")
        if not isinstance(self.allow_short, bool):
            # ("no" is truthy: a string here would have made a margin-style account)
            raise ValueError(
                f"AccountConfig.allow_short must be True or False, got {self.allow_short!r:.40}"
            )
        if not isinstance(self.quote_currency, str) or not ASSET_RE.match(self.quote_currency):
            raise ValueError(
                f"AccountConfig.quote_currency {self.quote_currency!r} is not an asset"
            )
        if not isinstance(self.balances, dict):
            raise ValueError(
                f"AccountConfig.balances must be a dict of asset: amount, got {self.balances!r:.40}"
            )
        for asset, amount in self.balances.items():
            if not isinstance(asset, str) or not ASSET_RE.match(asset):
                raise ValueError(f"AccountConfig.balances: {asset!r} is not an asset name")
            if asset == self.quote_currency:
                raise ValueError(
                    f"AccountConfig.balances: give the {asset} balance as initial_balance"
                )
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise ValueError(f"AccountConfig.balances[{asset}] must be a finite Decimal >= 0")
            if amount >= MAX_AMOUNT:
                raise ValueError(f"AccountConfig.balances[{asset}] must be below 1e30")
        if self.initial_balance <= 0 and not any(self.balances.values()):
            raise ValueError("AccountConfig: the account must start with something (> 0)")
        for name in ("max_price_age_ms", "market_wait_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                # (a NaN passed the comparison below, and every price then read as fresh)
                raise ValueError(
                    f"AccountConfig.{name} must be a whole number of ms, got {value!r:.40}"
                )
        if self.max_price_age_ms <= 0 or self.market_wait_ms < 0:
            raise ValueError("AccountConfig.max_price_age_ms must be > 0 and market_wait_ms >= 0")

    def initial_assets(self) -> dict[str, Decimal]:
        """Every asset the account starts with, the quote currency included."""
        assets = {self.quote_currency: self.initial_balance}
        assets.update(self.balances)
        return assets
