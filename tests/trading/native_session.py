"""Random account sessions, the same in every process: the digest of all their events.

    python tests/trading/native_session.py SESSIONS

The property tests' steps (tests/trading/test_properties.py), drawn here from a seeded
``random.Random`` with the same shapes and ranges as their strategies: order books
walked and changed, every order type and time in force, brackets filling in parts,
market orders sized by their quote amount,
trades, tickers, waits, cancels and closes, on a spot and a margin-style account.
(Not Hypothesis: its draws are not guaranteed to repeat from one process to the next.)
tests/trading/test_native.py runs this with the compiled account core and with plain
Python (``WORKSPACE_PURE=1``): the same digest means the same events, byte for byte.
Prints ``<form of the core> <sha256> <events>``.
"""

from __future__ import annotations

import hashlib
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]

import msgspec  # noqa: E402

from trading.test_properties import BOOK_START, START, SYMBOLS, _run  # noqa: E402
from workspace import native  # noqa: E402
from workspace.trading import OrderType, Side  # noqa: E402

BOOK_KINDS = [*OrderType, OrderType.LIMIT, OrderType.LIMIT, OrderType.BRACKET]
TIMES_IN_FORCE = [None, "GTC", "IOC", "FOK"]


def _qty(r: random.Random) -> Decimal:
    return Decimal(r.randint(1, 400)) / 100


def _either(r: random.Random, narrow: int, wide: int) -> int:
    bound = narrow if r.random() < 0.5 else wide
    return r.randint(-bound, bound)


def plain_step(r: random.Random) -> tuple[Any, ...]:
    """One of test_properties.step."""
    sym = r.choice(SYMBOLS)
    choice = r.randrange(9)
    if choice < 2:
        return ("trade", sym, r.randint(-300, 300))
    if choice == 2:
        return ("book", sym, r.randint(1, 20))
    if choice == 3:
        return ("ticker", sym, r.randint(-300, 300))
    if choice == 4:
        return ("wait", r.randint(1, 20))
    if choice == 5 or choice == 6:
        offsets = tuple(r.randint(-800, 800) for _ in range(3))
        trail = r.choice(["trail_percent", "trail_amount", "trailing_delta", None])
        return (
            "place",
            sym,
            r.choice(list(Side)),
            r.choice(list(OrderType)),
            _qty(r),
            offsets,
            trail,
        )
    if choice == 7:
        return ("cancel", r.randint(0, 50))
    return ("close", r.randint(0, 50), r.random() < 0.5)


def book_step(r: random.Random) -> tuple[Any, ...]:
    """One of test_properties.book_step."""
    sym = r.choice(SYMBOLS)
    choice = r.randrange(11)
    if choice < 2:
        offsets = tuple(_either(r, 12, 150) for _ in range(3))
        trail = r.choice(["trail_percent", "trailing_delta", None])
        tif = r.choice(TIMES_IN_FORCE)
        return (
            "place",
            sym,
            r.choice(list(Side)),
            r.choice(BOOK_KINDS),
            _qty(r),
            offsets,
            trail,
            tif,
        )
    if choice < 4:
        return ("trade_size", sym, _either(r, 8, 40), r.randint(1, 300), r.random() < 0.5)
    if choice == 4:
        size = Decimal(r.randint(1, 600)) / 100
        return ("bracket", sym, size, r.choice(TIMES_IN_FORCE), r.random() < 0.5)
    if choice == 5:
        deep = [[r.randint(1, 300) for _ in range(r.randint(1, 6))] for _ in range(2)]
        return ("depth", sym, deep[0], deep[1], r.randint(0, 2))
    if choice == 6:
        return ("depth_change", sym, r.random() < 0.5, r.randint(0, 6), r.randint(0, 300))
    if choice == 7:
        return ("cancel", r.randint(0, 50))
    if choice == 8:
        return ("close", r.randint(0, 50), r.random() < 0.5)
    if choice == 9:
        amount = Decimal(r.randint(1, 400_000)) / 100
        return ("quote", sym, r.choice(list(Side)), amount, r.choice(TIMES_IN_FORCE))
    return ("wait", r.randint(1, 7))


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    r = random.Random(20261206)
    encoder = msgspec.json.Encoder()
    digest = hashlib.sha256()
    count = 0
    for _ in range(sessions):
        mode = r.choice(["spot", "margin"])
        book_steps = [book_step(r) for _ in range(r.randint(20, 60))]
        steps = [plain_step(r) for _ in range(r.randint(1, 60))]
        for session in ([*BOOK_START, *book_steps], [*START, *steps]):
            _account, events, _t = _run(session, mode)
            digest.update(encoder.encode(events))
            count += len(events)
    form = "compiled" if native.state().compiled else "plain"
    print(form, digest.hexdigest(), count)


if __name__ == "__main__":
    main()
