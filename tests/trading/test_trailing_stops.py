"""TRAILING_STOP: follows the peak (sell) or trough (buy) of trade prices since
activation; every move is an event with ``current_stop_price`` and ``peak_price``."""

from __future__ import annotations

from workspace.trading import OrderStatus, OrderType

from .scripted import D, Script, buy, fills, order_updates, sell


def _long(s: Script, price: str = "100") -> None:
    s.trades(price)
    s.place(buy(OrderType.MARKET, "1"))


def test_trailing_stop_sell_starts_from_the_last_price_when_placed() -> None:
    s = Script()
    _long(s)
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    assert order.activated
    assert order.peak_price == D(100)
    assert order.current_stop_price == D(98)


def test_trailing_stop_sell_moves_stop_up_with_new_peak() -> None:
    s = Script()
    _long(s)
    _order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    events = s.trades("101", "105")
    moves = [(o.peak_price, o.current_stop_price) for o in order_updates(events)]
    assert moves == [(D(101), D("98.98")), (D(105), D("102.90"))]


def test_trailing_stop_sell_never_moves_its_stop_down() -> None:
    s = Script()
    _long(s)
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    s.trades("105")
    assert s.trades("104", "103") == []
    assert s.order(order.id).current_stop_price == D("102.90")


def test_trailing_stop_sell_triggers_when_price_falls_to_the_stop_and_fills_at_market() -> None:
    s = Script()
    _long(s)
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    s.trades("105", "103")
    events = s.trades("102.5")
    assert [o.status for o in order_updates(events)] == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events) == [(order.id, D(1), D("102.5"))]
    assert s.account.closed_positions[0].realized_pnl == D("2.5")


def test_trailing_stop_buy_tracks_the_trough_and_triggers_on_the_rebound() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.TRAILING_STOP, "1", trail_amount="3"))
    assert order.current_stop_price == D(103)
    s.trades("96", "95", "97")
    assert s.order(order.id).peak_price == D(95)
    assert s.order(order.id).current_stop_price == D(98)
    assert fills(s.trades("98")) == [(order.id, D(1), D(98))]


def test_trailing_delta_is_in_bips_as_on_binance() -> None:
    s = Script()
    _long(s, "200")
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trailing_delta="150"))
    assert order.current_stop_price == D(197)  # 200 * (1 - 150/10000)


def test_trailing_stop_with_activation_price_waits_until_the_market_reaches_it() -> None:
    s = Script()
    _long(s)
    order, _ = s.place(
        sell(OrderType.TRAILING_STOP, "1", trail_percent="1", activation_price="110")
    )
    assert not order.activated
    assert order.current_stop_price is None
    assert s.trades("90", "109.99") == []  # dormant: no stop, no trigger
    events = s.trades("110")
    activated = order_updates(events)[0]
    assert activated.activated
    assert (activated.peak_price, activated.current_stop_price) == (D(110), D("108.90"))


def test_trailing_stop_placed_before_any_price_activates_on_the_first_trade() -> None:
    s = Script()
    order, _ = s.place(buy(OrderType.TRAILING_STOP, "1", trail_percent="10"))
    assert order.status is OrderStatus.NEW
    assert not order.activated
    s.trades("50")
    assert s.order(order.id).current_stop_price == D(55)


def test_trailing_stop_needs_exactly_one_trail_field() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="1", trail_amount="2"))
    assert order.status is OrderStatus.REJECTED
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1"))
    assert order.status is OrderStatus.REJECTED


def test_a_sell_trail_amount_at_or_above_the_price_is_refused() -> None:
    # its stop started at or below 0 and could never trigger (an account without the
    # exchange's rules; with them, the TRAILING_DELTA filter refuses it first)
    s = Script()
    _long(s)
    for amount in ("100", "150"):
        order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_amount=amount))
        assert order.status is OrderStatus.REJECTED
        assert order.reason == (
            f"Trail amount {amount} USDT must be below the price the SELL trails from "
            "(100 USDT): its stop would start at or below 0"
        )
    order, _ = s.place(
        sell(OrderType.TRAILING_STOP, "1", trail_amount="150", activation_price="200")
    )
    assert order.status is OrderStatus.NEW  # it trails from 200 once armed
    s.account.cancel(order.id, 1)
    order, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_amount="99.99"))
    assert (order.status, order.current_stop_price) == (OrderStatus.NEW, D("0.01"))


def test_a_refused_trailing_stop_shows_no_stop() -> None:
    # it was armed before the wallet refused it: REJECTED with a peak and a stop
    s = Script()
    _long(s)
    s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    order, events = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "INSUFFICIENT_BALANCE"
    assert (order.activated, order.peak_price, order.current_stop_price) == (False, None, None)
    assert order_updates(events) == [order]
