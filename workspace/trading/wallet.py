"""The spot wallet: how much of each asset the account holds, and how much of it open
orders hold back.

Per asset: ``total`` (what the account owns) and ``locked`` (reserved by open orders,
and in the margin-style mode the collateral of shorts); ``free = total - locked`` is
what a new order may use.  A fill moves the base asset, the quote asset and the fee
asset; an order's reservation moves between free and locked as the order goes live,
shrinks, fills or ends.

The wallet is derived, never journaled on its own: the initial balances come from the
journal's stored config, every change comes from a fill (amounts) or an order snapshot
(reservations), so a rebuild from the journal gives the same wallet to the last digit.
It is changed only by ``Account.apply``; inside a step the account may have to take
back, it logs the amounts it replaced (``begin`` / ``rollback`` / ``commit``).

Compiled with the account's logic (``workspace/native.py``): every fill and every
order's reservation moves it.  Its ``Balance`` record lives in ``balance.py`` (a
struct module stays plain Python).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Context, Decimal
from types import MappingProxyType

from workspace.trading.balance import Balance

ZERO = Decimal(0)


class Wallet:
    __slots__ = ("_balances", "_ctx", "_locked", "_total", "_undo")

    def __init__(self, ctx: Context, initial: Mapping[str, Decimal]) -> None:
        self._ctx = ctx
        self._total: dict[str, Decimal] = {a: v for a, v in initial.items() if v}
        self._locked: dict[str, Decimal] = {}
        # the last ``balances()`` answer, until the wallet changes: prices never change
        # it, so the portfolio published every 2 s costs O(1) with 10,000 assets
        self._balances: tuple[str, Mapping[str, Balance]] | None = None
        # (the dict changed, asset, its amount before) of a step that may be taken back
        self._undo: list[tuple[dict[str, Decimal], str, Decimal | None]] | None = None

    # -- reading -----------------------------------------------------------------------
    def total(self, asset: str) -> Decimal:
        return self._total.get(asset, ZERO)

    def locked(self, asset: str) -> Decimal:
        return self._locked.get(asset, ZERO)

    def free(self, asset: str) -> Decimal:
        return self._ctx.subtract(self._total.get(asset, ZERO), self._locked.get(asset, ZERO))

    def assets(self) -> Iterator[str]:
        """Every asset the account holds or has locked, in name order."""
        return iter(sorted(set(self._total) | set(self._locked)))

    def balances(self, always: str) -> Mapping[str, Balance]:
        """``{asset: Balance}`` of every asset held or locked, plus ``always`` (the quote
        currency, shown even at zero)."""
        cached = self._balances
        if cached is not None and cached[0] == always:
            return cached[1]
        names = set(self._total) | set(self._locked) | {always}
        found = MappingProxyType(
            {a: Balance(free=self.free(a), locked=self.locked(a)) for a in sorted(names)}
        )
        self._balances = (always, found)
        return found

    # -- changing (only from Account.apply) ----------------------------------------------
    def move(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` (negative: remove) to the asset's total."""
        if not amount:
            return
        self._balances = None
        before = self._total.get(asset)
        if self._undo is not None:
            self._undo.append((self._total, asset, before))
        total = self._ctx.add(before or ZERO, amount)
        if total:
            self._total[asset] = total
        else:
            self._total.pop(asset, None)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Hold back ``amount`` more of ``asset`` (negative: release)."""
        if not amount:
            return
        self._balances = None
        before = self._locked.get(asset)
        if self._undo is not None:
            self._undo.append((self._locked, asset, before))
        locked = self._ctx.add(before or ZERO, amount)
        if locked:
            self._locked[asset] = locked
        else:
            self._locked.pop(asset, None)

    # -- taking a step back -----------------------------------------------------------
    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Put back every amount changed since ``begin`` (the very Decimals, not sums
        that merely compare equal)."""
        undo, self._undo = self._undo, None
        if not undo:
            return
        self._balances = None
        for amounts, asset, before in reversed(undo):
            if before is None:
                amounts.pop(asset, None)
            else:
                amounts[asset] = before
