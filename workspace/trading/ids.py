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
    __slots__ = ("fill", "issued", "order", "position", "seq_no")

    def __init__(self) -> None:
        self.order = 1
        self.fill = 1
        self.position = 1
        self.seq_no = 1
        self.issued = ""  # the last fill id ``new_fill`` made

    def new_order(self) -> str:
        n = self.order
        self.order += 1
        return f"order-{n}"

    def new_fill(self) -> str:
        n = self.fill
        self.fill += 1
        self.issued = ident = f"fill-{n}"
        return ident

    def next_position(self) -> str:
        """The id the next position will get (counted when its event is applied)."""
        return f"pos-{self.position}"

    def new_seq_no(self) -> int:
        n = self.seq_no
        self.seq_no += 1
        return n

    def saw_order(self, order_id: str) -> None:
        self.order = max(self.order, counter(order_id) + 1)

    def saw_fill(self, fill_id: str) -> None:
        if fill_id is self.issued:
            return  # the fill this counter just made (a live step): already counted
        self.fill = max(self.fill, counter(fill_id) + 1)

    def saw_position(self, position_id: str) -> None:
        self.position = max(self.position, counter(position_id) + 1)

    def saw_seq_no(self, seq_no: int) -> None:
        self.seq_no = max(self.seq_no, seq_no + 1)
