"""OCO: a take-profit leg and a stop leg; the first to fill or trigger cancels the other
in the same event."""

from __future__ import annotations

import pytest

from workspace.errors import InvalidParams
from workspace.trading import LegRole, OrderStatus, OrderType

from .scripted import D, Script, buy, fills, order_updates, sell


def _long_with_oco(s: Script) -> str:
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "1", take_profit="110", stop_price="95"))
    assert oco.status is OrderStatus.NEW
    assert [leg.status for leg in oco.legs] == [OrderStatus.NEW, OrderStatus.NEW]
    return oco.id


def test_oco_sell_take_profit_fill_cancels_the_stop_leg_in_the_same_event() -> None:
    s = Script()
    oco_id = _long_with_oco(s)
    events = s.trades("110.5")
    tp = s.order(oco_id).leg_by_role(LegRole.TAKE_PROFIT)
    assert tp is not None
    assert fills(events) == [(tp.id, D(1), D(110))]
    final = order_updates(events)[-1]
    assert final.status is OrderStatus.FILLED
    assert [leg.status for leg in final.legs] == [OrderStatus.FILLED, OrderStatus.CANCELED]
    assert s.account.positions == []


def test_oco_sell_stop_trigger_cancels_the_take_profit_when_it_triggers() -> None:
    s = Script()
    oco_id = _long_with_oco(s)
    events = s.trades("94")
    triggered = order_updates(events)[0]
    assert [leg.status for leg in triggered.legs] == [OrderStatus.CANCELED, OrderStatus.TRIGGERED]
    assert s.order(oco_id).status is OrderStatus.FILLED
    assert fills(events)[0][2] == D(94)
    assert s.trades("120") == []  # the canceled take-profit never fills


def test_oco_buy_is_the_mirror_take_profit_below_stop_above() -> None:
    s = Script()
    s.trades("100")
    oco, _ = s.place(buy(OrderType.OCO, "1", take_profit="90", stop_price="105"))
    assert oco.status is OrderStatus.NEW
    events = s.trades("106")
    assert fills(events)[0][2] == D(106)


@pytest.mark.parametrize(
    ("side", "tp", "stop", "words"),
    [
        ("SELL", "95", "110", "take-profit price (95 USDT) above its stop price (110 USDT)"),
        ("BUY", "110", "95", "take-profit price (110 USDT) below its stop price (95 USDT)"),
        ("SELL", "120", "105", "the market (100 USDT) between its take-profit price"),
    ],
)
def test_oco_legs_in_the_wrong_order_are_rejected(
    side: str, tp: str, stop: str, words: str
) -> None:
    s = Script()
    s.trades("100")
    make = sell if side == "SELL" else buy
    order, _ = s.place(make(OrderType.OCO, "1", take_profit=tp, stop_price=stop))
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None
    assert words in order.reason


def test_cancelling_an_oco_leg_cancels_the_whole_oco() -> None:
    s = Script()
    oco_id = _long_with_oco(s)
    leg = s.order(oco_id).legs[1]
    order, _ = s.cancel(leg.id)
    assert order.id == oco_id
    assert order.status is OrderStatus.CANCELED
    assert {x.status for x in order.legs} == {OrderStatus.CANCELED}
    with pytest.raises(InvalidParams):
        s.cancel(oco_id)


def test_a_group_the_wallet_refuses_has_its_legs_refused_with_it() -> None:
    # its legs were NEW (PENDING_NEW for a bracket's exits) under a REJECTED group
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "5", take_profit="110", stop_price="95"))
    bracket, _ = s.place(buy(OrderType.BRACKET, "500", take_profit="110", stop_loss="95"))
    for group, roles in (
        (oco, [LegRole.TAKE_PROFIT, LegRole.STOP_LOSS]),
        (bracket, [LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS]),
    ):
        assert group.status is OrderStatus.REJECTED
        assert [leg.role for leg in group.legs] == roles
        assert {leg.status for leg in group.legs} == {OrderStatus.REJECTED}
    # the legs' ids were issued: the next order comes after them
    after, _ = s.place(buy(OrderType.MARKET, "0.001"))
    assert after.id == f"order-{int(bracket.legs[-1].id.split('-')[1]) + 1}"
