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
costs the exact check.  Every operation is one C-level pass over the joined strings
(about 130 characters for a ticker): the cost is the number of passes, so there are
few of them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["plain_decimals"]

_DIGITS: Final = b"0123456789"
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_SKELETONS: Final = [b"|" + b".|" * n for n in range(64)]
"""The shape of ``n`` plain decimals once every digit is deleted."""
_RUNS: Final = ["0" * (n + 1) for n in range(64)]
"""``_RUNS[n]``: a run of digits longer than ``n`` (once every digit is a ``0``; found
with ``in`` on a ``str``, several times faster than on ``bytes``)."""


def plain_decimals(framed: tuple[str, ...], max_digits: int) -> bool:
    """True if every string of ``framed[1:-1]`` is ASCII digits with one dot (and not
    the dot alone), and no run of digits is longer than ``max_digits``.

    ``framed`` is the strings with an empty string at each end (``("", a, b, "")``:
    callers write the tuple out, which costs nothing, where adding the frame here would
    cost a copy).  Each such string is an exact, finite, non-negative decimal below
    ``10 ** max_digits``.  Integers without a dot, exponents, signs, whitespace,
    underscores and non-ASCII digits (which ``Decimal`` accepts or refuses on its own
    terms) answer ``False``: check those exactly.
    """
    count = len(framed) - 2
    if not 0 < count < len(_SKELETONS) or not 0 < max_digits < len(_RUNS):
        return False
    joined = "|".join(framed)
    if not joined.isascii():
        return False
    data = joined.encode()
    return (
        data.translate(None, _DIGITS) == _SKELETONS[count]  # one dot each, digits else
        and "|.|" not in joined  # not a dot alone
        and _RUNS[max_digits] not in data.translate(_DIGITS_TO_ZERO).decode()
    )
