"""The account's id counters (``order-N``, ``fill-N``, ``pos-N``, placement ``seq_no``):
ids come from counters, never from a clock or randomness, so the same inputs give the
same ids, and a rebuild continues each sequence where the journal left it."""

from __future__ import annotations


def counter(ident: str) -> int:
    """The number of an id like ``order-12`` (0 for anything else)."""
    # ``[a-z]+-[0-9]+`` without a regex (a rebuild reads one id per event)
    prefix, dash, number = ident.partition("-")
    if (
        dash
        and prefix.isascii()
        and prefix.isalpha()
        and prefix.islower()
        and number.isascii()
        and number.isdigit()
    ):
        return int(number)
    return 0


class IdCounters:
    __slots__ = ("fill", "issued", "issued_order", "issued_order_n", "order", "position", "seq_no")

    def __init__(self) -> None:
        self.order = 1
        self.fill = 1
        self.position = 1
        self.seq_no = 1
        self.issued = ""  # the last fill id ``new_fill`` made
        self.issued_order = ""  # the last order id ``new_order`` made, and its number
        self.issued_order_n = 0

    def new_order(self) -> str:
        n = self.order
        self.order += 1
        self.issued_order_n = n
        self.issued_order = ident = f"order-{n}"
        return ident

    def new_fill(self) -> str:
        n = self.fill
        self.fill += 1
        self.issued = ident = f"fill-{n}"
        return ident

    def issued_fills(self, count: int, last: str) -> None:
        """``count`` fill ids were made from ``fill`` on (``fill-N`` ..., ``last`` the
        newest): counted as ``new_fill`` would have, in one step (an execution)."""
        self.fill += count
        self.issued = last

    def next_position(self) -> str:
        """The id the next position will get (counted when its event is applied)."""
        return f"pos-{self.position}"

    def new_seq_no(self) -> int:
        n = self.seq_no
        self.seq_no += 1
        return n

    def saw_order(self, order_id: str) -> None:
        if order_id is self.issued_order and self.order > self.issued_order_n:
            # the order this counter just made (a live step): already counted, unless
            # the counter was set back since (a refused order gives its ids back)
            return
        self.order = max(self.order, counter(order_id) + 1)

    def saw_fill(self, fill_id: str) -> None:
        if fill_id is self.issued:
            return  # the fill this counter just made (a live step): already counted
        self.fill = max(self.fill, counter(fill_id) + 1)

    def saw_position(self, position_id: str) -> None:
        self.position = max(self.position, counter(position_id) + 1)

    def saw_seq_no(self, seq_no: int) -> None:
        self.seq_no = max(self.seq_no, seq_no + 1)
