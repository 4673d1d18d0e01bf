"""The local book's hot paths: checking and applying the levels of a depth diff written
the exchange's way (``OrderBook.apply``; the class docstring of ``_Side`` in
``book.py`` says what the way is and why the side is kept as it is), and reading a
side's levels one by one for a taker's walk (``OrderBook.taker_levels``).

Free functions over the side's own containers, compiled with mypyc with the account
core (``workspace/native.py``): at Binance's rates the diffs of 50 symbols' books are
a third of the engine's CPU, and a 20-level walk resumed an interpreted generator
twenty times.  ``book.py`` itself stays plain Python: mypyc would box the ``(price,
quantity)`` tuples its readers return anew on every call, and the book's cache of
levels hands out the same tuple while a level is unchanged (the walk's reader here
hands out the same two Decimals in a new pair: a walk keeps no pair).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from decimal import Decimal
from typing import Final

ZERO_E8: Final = "0.00000000"
"""A removed level's quantity, as the exchange writes it."""
MAX_QTY_FLOAT: Final = 92233720368.0
"""Quantities from 0 up to this read exactly as ``Decimal`` with 8 decimals."""


def written_e8(listed: dict[str, int], levels: tuple[tuple[str, str], ...]) -> bool:
    """Are ``levels`` written the exchange's way, so that :func:`apply_e8` may take them
    as they are?  ``False`` sends them to the exact path (``book._parse``).

    The way: a price already ``listed`` is the string checked when it was listed; a new
    one has 8 decimals, no leading zero, up to 10 integer digits, ASCII digits only (so
    it is not zero either); a quantity has a dot 8 places from the end and reads as a
    float from 0 to :data:`MAX_QTY_FLOAT` (then ``Decimal`` reads it exactly, with at
    most 8 decimals), and a zero quantity is spelled :data:`ZERO_E8`."""
    try:
        for price, quantity in levels:
            if quantity[-9] != ".":
                return False
            amount = float(quantity)
            if not 0.0 <= amount < MAX_QTY_FLOAT:
                return False
            if not amount and quantity != ZERO_E8:
                return False  # a zero spelled otherwise: the exact path judges it
            if price not in listed and not (
                9 < len(price) < 20
                and price[-9] == "."
                and price[0] != "0"  # (prices below 1 take the exact path)
                and price.isascii()
                and price.replace(".", "", 1).isdigit()
            ):
                return False
    except (ValueError, IndexError):
        return False
    return True


def apply_e8(
    qty: dict[str, str],
    listed: dict[str, int],
    keys: list[int],
    prices: list[str],
    levels: tuple[tuple[str, str], ...],
) -> int:
    """Apply levels :func:`written_e8` accepted to a side's live levels ``qty`` and its
    listing (``listed``, and ``keys`` / ``prices`` in ascending order); returns how
    many dead keys that made (negative: revived)."""
    dead = 0
    for price, quantity in levels:
        if quantity != ZERO_E8:
            if price not in qty:
                if price in listed:
                    dead -= 1  # a dead key lives again: nothing moves in the lists
                else:
                    key = int(price.replace(".", ""))
                    at = bisect_left(keys, key)
                    keys.insert(at, key)
                    prices.insert(at, price)
                    listed[price] = key
            qty[price] = quantity
        elif price in qty:
            del qty[price]
            dead += 1
    return dead


def taker_levels(
    keys: list[int],
    prices: list[str],
    qty: dict[str, str],
    levels: dict[str, tuple[str, tuple[Decimal, Decimal]]],
    sent: dict[str, str],
    descending: bool,
) -> Iterator[tuple[int, tuple[Decimal, Decimal]]]:
    """A side's live levels best first, each as (its price in 1e-8 units, (price,
    quantity)), parsed one by one as a walk reads them (``_Side.taker``).  Compiled:
    interpreted, resuming this generator once per level cost a 20-level walk a third
    of its time."""
    count = len(keys)
    at, end, step = (count - 1, -1, -1) if descending else (0, count, 1)
    while at != end:
        price = prices[at]
        key = keys[at]
        at += step
        quantity = qty.get(price)
        if quantity is None:
            continue  # a dead key
        cached = levels.get(price)
        if cached is not None and cached[0] is quantity:
            yield key, cached[1]
        else:
            yield key, (Decimal(sent.get(price, price) if sent else price), Decimal(quantity))
