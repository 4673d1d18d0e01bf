"""Order statuses and the table of legal transitions between them.

Every change to an order goes through ``check_transition``; anything not in the table
is a bug in the account (not bad input) and raises ``IllegalTransition``.
"""

from __future__ import annotations

from enum import StrEnum

from mypy_extensions import mypyc_attr


class OrderStatus(StrEnum):
    NEW = "NEW"
    PENDING_NEW = "PENDING_NEW"
    TRIGGERED = "TRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


S = OrderStatus

FINAL: frozenset[OrderStatus] = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})

# ``None`` is "the order does not exist yet".  A status may move to itself while it is
# live: that is an update of the order's other fields (a trailing stop's new peak, a
# bracket leg changing under an unchanged parent).
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({S.NEW, S.PENDING_NEW, S.REJECTED}),
    S.PENDING_NEW: frozenset({S.PENDING_NEW, S.NEW, S.CANCELED, S.EXPIRED}),
    S.NEW: frozenset({S.NEW, S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.TRIGGERED: frozenset({S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


@mypyc_attr(native_class=False)  # an exception: a plain class, compiled or not
class IllegalTransition(RuntimeError):
    """An order was asked to move between two statuses the table does not allow."""


def check_transition(order_id: str, old: OrderStatus | None, new: OrderStatus) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"order {order_id}: illegal transition {old} -> {new}")


def is_final(status: OrderStatus) -> bool:
    return status in FINAL
