"""Exits belong to their holding: OCO legs, bracket exits and stop-loss / take-profit
orders of a position never sell more than is held, shrink when the holding shrinks,
end when it is closed by anything else, and never open a position."""

from __future__ import annotations

from workspace.trading import Balance, OrderStatus, OrderType

from .scripted import D, Script, buy, order_updates, sell


def _long_with_bracket(s: Script, quantity: str = "1") -> str:
    s.trades("100")
    bracket, _ = s.place(buy(OrderType.BRACKET, quantity, take_profit="110", stop_loss="95"))
    assert s.order(bracket.id).legs[1].status is OrderStatus.NEW
    return bracket.id


def test_closing_a_position_ends_its_bracket_exits_and_nothing_fires_later() -> None:
    s = Script()
    bracket_id = _long_with_bracket(s)
    close, events = s.close(s.account.positions[0].id)
    ended = s.order(bracket_id)
    assert [leg.status for leg in ended.legs[1:]] == [OrderStatus.CANCELED, OrderStatus.CANCELED]
    assert ended.reason_code == "HOLDING_CLOSED"
    assert ended.reason == f"the BTCUSDT position is being closed by {close.id}"
    # the exits end before the close sells: one step, in that order
    assert [o.id for o in order_updates(events)] == [bracket_id, close.id, close.id]
    assert s.trades("94", "111") == []
    assert s.account.positions == []
    assert s.account.balances() == {"USDT": s.account.balances()["USDT"]}


def test_a_partial_close_shrinks_the_exits_to_what_is_left() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "1", take_profit="110", stop_price="95"))
    s.close(s.account.positions[0].id, "0.4")
    shrunk = s.order(oco.id)
    assert shrunk.status is OrderStatus.NEW
    assert shrunk.reason_code == "HOLDING_REDUCED"
    assert [leg.quantity for leg in shrunk.legs] == [D("0.6"), D("0.6")]
    assert (shrunk.quantity, shrunk.reserved) == (D("0.6"), D("0.6"))
    assert s.account.balances()["BTC"] == Balance(free=D(0), locked=D("0.6"))
    events = s.trades("94")
    assert [(f.quantity, f.side.value) for f in s.account.fills[-1:]] == [(D("0.6"), "SELL")]
    assert s.account.positions == []
    assert events


def test_the_newest_exit_gives_way_first_to_a_close() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    old, _ = s.place(sell(OrderType.STOP_LOSS, "0.5", stop_price="90"))
    new, _ = s.place(sell(OrderType.LIMIT, "0.5", price="120"))
    s.close(s.account.positions[0].id, "0.5")
    assert s.order(new.id).status is OrderStatus.CANCELED
    assert s.order(old.id).status is OrderStatus.NEW
    assert s.order(old.id).quantity == D("0.5")


def test_a_sell_of_locked_base_is_refused_until_the_exit_is_canceled() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    refused, _ = s.place(sell(OrderType.MARKET, "0.5"))
    assert refused.reason_code == "INSUFFICIENT_BALANCE"
    s.cancel(stop.id)
    sold, _ = s.place(sell(OrderType.MARKET, "0.5"))
    assert sold.status is OrderStatus.FILLED


def test_margin_mode_closing_by_hand_cancels_the_exits_instead_of_opening_a_short() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "1", take_profit="110", stop_price="95"))
    assert s.order(oco.id).reduce_only
    assert s.order(oco.id).reserved == 0  # it only reduces: nothing held back
    sold, _ = s.place(sell(OrderType.MARKET, "1"))  # closes the long by hand
    assert sold.status is OrderStatus.FILLED
    ended = s.order(oco.id)
    assert (ended.status, ended.reason_code) == (OrderStatus.CANCELED, "HOLDING_CLOSED")
    assert ended.reason == f"the BTCUSDT holding was closed (by {sold.id})"
    assert s.trades("94", "111") == []
    assert s.account.positions == []


def test_margin_mode_an_exit_shrinks_when_part_of_the_holding_is_sold_by_hand() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(buy(OrderType.MARKET, "2"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "2", stop_price="95"))
    s.place(sell(OrderType.MARKET, "0.5"))
    shrunk = s.order(stop.id)
    assert (shrunk.quantity, shrunk.reason_code) == (D("1.5"), "HOLDING_REDUCED")
    s.trades("94")
    assert s.account.positions == []  # exactly closed, never short


def test_margin_mode_a_larger_opposite_order_is_not_an_exit_it_may_reverse() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    reverse, _ = s.place(sell(OrderType.STOP_LOSS, "3", stop_price="95"))
    assert not reverse.reduce_only
    s.trades("94")
    (short,) = s.account.positions
    assert (short.type.value, short.quantity) == ("sell", D(2))


def test_a_bracket_entry_that_first_closes_a_short_protects_only_the_new_long() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(sell(OrderType.MARKET, "1"))  # short 1
    bracket, _ = s.place(buy(OrderType.BRACKET, "3", take_profit="110", stop_loss="95"))
    (long,) = s.account.positions
    assert long.quantity == D(2)
    exits = s.order(bracket.id).legs[1:]
    assert [leg.quantity for leg in exits] == [D(2), D(2)]
    s.trades("94")
    assert s.account.positions == []


def test_an_exit_whose_holding_is_gone_expires_instead_of_opening_a_position() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    tp, _ = s.place(sell(OrderType.LIMIT, "1", price="110"))
    assert tp.reduce_only
    # two exits of the same holding in margin mode: the first to fill ends the other
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    s.trades("111")
    assert s.order(tp.id).status is OrderStatus.FILLED
    ended = s.order(stop.id)
    assert (ended.status, ended.reason_code) == (OrderStatus.CANCELED, "HOLDING_CLOSED")
    assert s.account.positions == []
