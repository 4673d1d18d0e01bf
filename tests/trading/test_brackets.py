"""BRACKET: an entry, then an OCO of take-profit and stop-loss once the entry fills."""

from __future__ import annotations

from workspace.trading import LegRole, OrderStatus, OrderType

from .scripted import D, Script, buy, fills, sell


def test_bracket_exit_legs_are_pending_new_until_the_limit_entry_fills() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.BRACKET, "1", price="99", take_profit="110", stop_loss="95"))
    assert [leg.role for leg in order.legs] == [
        LegRole.ENTRY,
        LegRole.TAKE_PROFIT,
        LegRole.STOP_LOSS,
    ]
    assert [leg.status for leg in order.legs] == [
        OrderStatus.NEW,
        OrderStatus.PENDING_NEW,
        OrderStatus.PENDING_NEW,
    ]
    # 111 is through the take-profit, but the exit legs wait for the entry (at 99)
    assert s.trades("99.5", "111") == []


def test_bracket_limit_entry_fill_activates_take_profit_and_stop() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.BRACKET, "1", price="99", take_profit="110", stop_loss="95"))
    events = s.trades("98.5")
    assert fills(events) == [(order.legs[0].id, D(1), D(99))]
    now = s.order(order.id)
    assert [leg.status for leg in now.legs] == [
        OrderStatus.FILLED,
        OrderStatus.NEW,
        OrderStatus.NEW,
    ]
    assert now.status is OrderStatus.NEW


def test_bracket_take_profit_fill_cancels_the_stop_and_completes_the_bracket() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.BRACKET, "2", take_profit="110", stop_loss="95"))
    assert s.order(order.id).legs[0].status is OrderStatus.FILLED  # market entry at once
    events = s.trades("112")
    assert fills(events) == [(order.legs[1].id, D(2), D(110))]
    done = s.order(order.id)
    assert done.status is OrderStatus.FILLED
    assert [leg.status for leg in done.legs] == [
        OrderStatus.FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
    ]
    assert s.account.closed_positions[0].realized_pnl == D(20)


def test_bracket_stop_loss_trigger_cancels_the_take_profit() -> None:
    s = Script(allow_short=True)  # a SELL bracket is a short: margin-style only
    s.trades("100")
    order, _ = s.place(sell(OrderType.BRACKET, "1", take_profit="90", stop_loss="105"))
    events = s.trades("106")
    assert fills(events) == [(order.legs[2].id, D(1), D(106))]
    assert [leg.status for leg in s.order(order.id).legs][1:] == [
        OrderStatus.CANCELED,
        OrderStatus.FILLED,
    ]
    assert s.account.closed_positions[0].realized_pnl == D(-6)


def test_bracket_with_trailing_stop_leg_trails_from_the_entry_fill_never_below_stop_loss() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(
        buy(OrderType.BRACKET, "1", take_profit="120", stop_loss="97", trail_percent="2")
    )
    stop = s.order(order.id).legs[2]
    assert stop.type is OrderType.TRAILING_STOP
    assert (stop.peak_price, stop.current_stop_price) == (D(100), D(98))
    s.trades("110")
    assert s.order(order.id).legs[2].current_stop_price == D("107.80")
    events = s.trades("107")
    assert fills(events) == [(stop.id, D(1), D(107))]
    assert s.order(order.id).status is OrderStatus.FILLED


def test_cancelling_the_bracket_before_its_entry_fills_cancels_all_legs() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.BRACKET, "1", price="99", take_profit="110", stop_loss="95"))
    cancelled, _events = s.cancel(order.legs[0].id)
    assert cancelled.status is OrderStatus.CANCELED
    assert {leg.status for leg in cancelled.legs} == {OrderStatus.CANCELED}
    assert s.trades("90", "120") == []
    assert s.account.portfolio().locked == 0


def test_bracket_prices_on_the_wrong_side_of_the_entry_are_rejected() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.BRACKET, "1", take_profit="95", stop_loss="90"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None
    assert "between its stop-loss price (90 USDT)" in order.reason
    order, _ = s.place(sell(OrderType.BRACKET, "1", take_profit="110", stop_loss="90"))
    assert order.status is OrderStatus.REJECTED


def test_a_sell_bracket_is_refused_on_a_spot_account() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    order, _ = s.place(sell(OrderType.BRACKET, "1", take_profit="90", stop_loss="105"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "WOULD_SHORT")


def test_bracket_trailing_leg_waiting_for_activation_still_stops_at_stop_loss() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(
        buy(
            OrderType.BRACKET,
            "1",
            take_profit="120",
            stop_loss="95",
            trail_percent="1",
            activation_price="110",
        )
    )
    stop = s.order(order.id).legs[2]
    assert (stop.activated, stop.current_stop_price) == (False, D(95))
    assert s.trades("97", "105") == []
    events = s.trades("94.5")
    assert fills(events) == [(stop.id, D(1), D("94.5"))]
