"""``Holds``: which market symbols and books each reader of the market engine holds
(a gateway, the engine of another shard), leased.

A gateway acquires a symbol from the market engine when its first client wants it and
releases it when its last client leaves.  A gateway killed with ``-9`` never releases:
without leases its symbols would stream (and its books be kept) on the market engine
until that engine restarted.  So every acquire and release names its holder, the
holder renews its lease with the full list of what it holds (``renew_holds``), and a
holder silent for longer than the lease loses everything it held.

The list a renewal carries is the truth: the engine acquires what it lacks and
releases what the holder no longer names.  A holder paused for longer than the lease
(or one whose engine restarted) thus gets back exactly what it holds at its next
renewal, and a release lost in flight is made good at the next one.  Per holder a name
is held once: a repeated acquire (a retry) takes no second reference on the engine,
and a release of a name the holder does not hold (its lease expired meanwhile)
releases nothing, so no holder can drop another's reference.

Pure bookkeeping: the engine node does the acquiring and releasing it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["symbol", "book"]
KINDS: tuple[Kind, ...] = ("symbol", "book")
Hold = tuple[Kind, str]
"""What a holder holds: ("symbol", "BTCUSDT") or ("book", "BTCUSDT")."""

DEFAULT_TTL_S = 30.0
"""How long a holder's lease lasts without a renewal (``engine --hold-ttl``)."""


@dataclass
class _Holder:
    held: set[Hold] = field(default_factory=set)
    renewed_at: float = 0.0


@dataclass(frozen=True)
class Renewal:
    """What a renewal changes on the engine: holds to acquire (books after their
    symbols) and holds to release (books before their symbols)."""

    acquire: tuple[Hold, ...]
    release: tuple[Hold, ...]


class Holds:
    """The holders of the market engine's symbols and books, and their leases."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        if not ttl_s > 0:
            raise ValueError(f"a lease must last more than 0 s, not {ttl_s!r}")
        self.ttl_s = ttl_s
        self._holders: dict[str, _Holder] = {}

    def holders(self) -> dict[str, list[Hold]]:
        """Every holder with what it holds (sorted: books after symbols)."""
        return {
            name: sorted(holder.held, key=_order) for name, holder in sorted(self._holders.items())
        }

    def knows(self, holder: str) -> bool:
        """Has ``holder`` a lease (it acquired or renewed since it last expired)?"""
        return holder in self._holders

    def acquired(self, holder: str, hold: Hold, now: float) -> bool:
        """``holder`` acquired ``hold`` (the engine did): False when it already held it
        (a retry: the engine must give the extra reference back)."""
        entry = self._holders.setdefault(holder, _Holder())
        entry.renewed_at = now
        if hold in entry.held:
            return False
        entry.held.add(hold)
        return True

    def released(self, holder: str, hold: Hold, now: float) -> bool:
        """``holder`` releases ``hold``: True when it held it (the engine must release
        it), False when it did not (already released, or its lease expired)."""
        entry = self._holders.get(holder)
        if entry is None:
            return False
        entry.renewed_at = now
        if hold not in entry.held:
            return False
        entry.held.discard(hold)
        return True

    def renew(self, holder: str, wanted: Iterable[Hold], now: float) -> Renewal:
        """``holder`` is alive and holds exactly ``wanted``: what the engine must
        acquire and release to match.  The holds are changed as if that succeeded;
        ``failed`` takes back an acquire that did not."""
        entry = self._holders.setdefault(holder, _Holder())
        entry.renewed_at = now
        want = set(wanted)
        acquire = sorted(want - entry.held, key=_order)
        release = sorted(entry.held - want, key=_order, reverse=True)
        entry.held = want
        return Renewal(tuple(acquire), tuple(release))

    def failed(self, holder: str, hold: Hold) -> None:
        """Acquiring ``hold`` for ``holder`` failed (an unlisted symbol, say): not held."""
        entry = self._holders.get(holder)
        if entry is not None:
            entry.held.discard(hold)

    def expire(self, now: float) -> dict[str, tuple[Hold, ...]]:
        """Forget the holders not heard from for longer than the lease: what each held,
        for the engine to release (books before their symbols)."""
        gone = {
            name: tuple(sorted(entry.held, key=_order, reverse=True))
            for name, entry in self._holders.items()
            if now - entry.renewed_at > self.ttl_s
        }
        for name in gone:
            del self._holders[name]
        return gone


def _order(hold: Hold) -> tuple[int, str]:
    return (KINDS.index(hold[0]), hold[1])


def parse_holds(value: object) -> list[Hold]:
    """A renewal's ``holds`` argument: ``{"symbol": [...], "book": [...]}``."""
    if not isinstance(value, dict):
        raise ValueError("holds must be an object of symbol and book lists")
    out: list[Hold] = []
    for kind in KINDS:
        names = value.get(kind, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"holds.{kind} must be a list of symbols")
        out += [(kind, name.upper()) for name in names]
    unknown = set(value) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds in holds: {sorted(unknown)}")
    return out
