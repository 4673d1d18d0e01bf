"""Checking many decimal strings at once, without building a ``Decimal`` for each.

Binance writes every price and quantity as a plain decimal string (``"97000.01000000"``).
A ticker carries 15 of them and a diff depth event 20 or more; building a ``Decimal``
for each only to compare it with zero cost more than everything else the feed does
with a frame.  :func:`plain_decimals` checks a whole group in a handful of C-level
string operations: it joins them, maps every digit to ``0`` and looks at the shape
that is left.  It answers ``True`` only when every string is certainly a plain
non-negative decimal of bounded size (so ``Decimal(text)`` is finite, >= 0 and below
``10 ** max_digits``); ``False`` means "not certainly": the caller then checks the
strings one by one, exactly (:mod:`workspace.market.sanity`).  A ``False`` for a
well-formed string (an exponent, a leading ``+``, more digits than the bound) only
costs the exact check.
"""

from __future__ import annotations

from typing import Final

__all__ = ["plain_decimals"]

_DIGITS_TO_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_SKELETONS: Final = [b"|" + b".|" * n for n in range(64)]
"""The shape of ``n`` plain decimals once every digit is deleted."""
_RUNS: Final = ["0" * (n + 1) for n in range(64)]
"""``_RUNS[n]``: a run of digits longer than ``n``."""


def plain_decimals(texts: tuple[str, ...], max_digits: int) -> bool:
    """True if every string is ASCII digits, one dot with a digit on each side, and no
    run of more than ``max_digits`` digits (before or after the dot).

    Each such string is an exact, finite, non-negative decimal below
    ``10 ** max_digits``.  Integers without a dot, exponents, signs, whitespace,
    underscores and non-ASCII digits (all of which ``Decimal`` accepts or rejects on
    its own terms) answer ``False``: check those exactly.
    """
    count = len(texts)
    if count >= len(_SKELETONS) or not 0 < max_digits < len(_RUNS):
        return False
    joined = "|" + "|".join(texts) + "|"
    if not joined.isascii() or "|." in joined or ".|" in joined:
        return False  # not ASCII, or a dot without a digit before or after it
    shape = joined.encode().translate(_DIGITS_TO_ZERO)
    # Every digit deleted, one dot per string must be left; and no run of digits longer
    # than the bound.  (Checked on str: ``in`` on bytes is several times slower.)
    return (
        shape.translate(None, b"0") == _SKELETONS[count] and _RUNS[max_digits] not in shape.decode()
    )
