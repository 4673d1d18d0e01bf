"""One asset's balance in the spot wallet (``wallet.py``): the record the account hands
out."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Balance(msgspec.Struct, frozen=True, gc=False):
    """One asset: ``free`` to use, ``locked`` by open orders (or short collateral)."""

    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked
