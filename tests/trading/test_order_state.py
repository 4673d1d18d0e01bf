"""The order state machine: a table of legal transitions; anything else is a bug."""

from __future__ import annotations

import msgspec
import pytest

from workspace.trading import IllegalTransition, OrderEvent, OrderStatus, OrderType
from workspace.trading.order_state import FINAL, TRANSITIONS, check_transition

from .scripted import Script, buy


def test_final_statuses_have_no_way_out() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset()
        for target in OrderStatus:
            with pytest.raises(IllegalTransition):
                check_transition("order-1", status, target)


def test_an_order_is_born_new_pending_or_rejected() -> None:
    assert TRANSITIONS[None] == {OrderStatus.NEW, OrderStatus.PENDING_NEW, OrderStatus.REJECTED}
    with pytest.raises(IllegalTransition):
        check_transition("order-1", None, OrderStatus.FILLED)


def test_applying_an_illegal_transition_raises_and_changes_nothing() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.MARKET, "1"))
    revived = msgspec.structs.replace(order, status=OrderStatus.NEW)
    with pytest.raises(IllegalTransition):
        s.account.apply(OrderEvent(ts_ms=1, order=revived))
    assert s.account.order(order.id).status is OrderStatus.FILLED


def test_a_leg_going_backwards_is_illegal_too() -> None:
    s = Script()
    s.trades("100")
    bracket, _ = s.place(buy(OrderType.BRACKET, "1", take_profit="110", stop_loss="90"))
    entry = bracket.legs[0]
    current = s.account.order(bracket.id)
    back = current.with_leg(msgspec.structs.replace(entry, status=OrderStatus.NEW))
    with pytest.raises(IllegalTransition):
        s.account.apply(OrderEvent(ts_ms=1, order=back))
