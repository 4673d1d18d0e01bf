"""STOP_LOSS and TAKE_PROFIT trigger on trade prices, then fill as market orders (or
rest as limits when they carry a limit price)."""

from __future__ import annotations

from workspace.trading import OrderStatus, OrderType

from .scripted import D, Script, book, buy, fills, order_updates, sell, trade


def test_sell_stop_loss_triggers_on_a_trade_at_or_below_its_stop_then_fills_at_market() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    assert s.trades("96", "95.01") == []
    events = s.trades("94.5")
    statuses = [o.status for o in order_updates(events)]
    assert statuses == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events) == [(stop.id, D(1), D("94.5"))]  # gapped through: fills at the trade


def test_triggered_stop_fills_at_the_best_bid_when_the_book_is_as_new_as_the_trade() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    t = s.tick()
    s.account.on_market(book("94.8", "95.2"), t)
    events = s.account.on_market(trade("95", t), t)
    assert fills(events) == [(stop.id, D(1), D("94.8"))]


def test_triggered_stop_fills_at_the_trade_price_when_the_book_is_older() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    s.feed(book("94.8", "95.2"))  # one ms before the trade
    assert fills(s.trades("95")) == [(stop.id, D(1), D(95))]


def test_buy_stop_loss_triggers_when_price_rises_to_the_stop() -> None:
    s = Script()
    s.trades("100")
    stop, _ = s.place(buy(OrderType.STOP_LOSS, "1", stop_price="105"))
    assert s.trades("104") == []
    assert fills(s.trades("105")) == [(stop.id, D(1), D(105))]


def test_sell_take_profit_triggers_above_the_market() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    tp, _ = s.place(sell(OrderType.TAKE_PROFIT, "1", stop_price="110"))
    assert s.trades("109") == []
    assert fills(s.trades("111")) == [(tp.id, D(1), D(111))]


def test_buy_take_profit_triggers_below_the_market() -> None:
    s = Script()
    s.trades("100")
    tp, _ = s.place(buy(OrderType.TAKE_PROFIT, "1", stop_price="90"))
    assert fills(s.trades("89")) == [(tp.id, D(1), D(89))]


def test_stop_on_the_wrong_side_of_the_market_is_rejected() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="101"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None
    assert "below the market" in order.reason
    order, _ = s.place(buy(OrderType.TAKE_PROFIT, "1", stop_price="100"))
    assert order.status is OrderStatus.REJECTED


def test_stop_limit_rests_as_a_limit_after_the_trigger_and_fills_at_its_limit() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95", price="96"))
    events = s.trades("94")
    assert fills(events) == []
    assert s.order(stop.id).status is OrderStatus.TRIGGERED
    assert fills(s.trades("95.5")) == []
    assert fills(s.trades("96.2")) == [(stop.id, D(1), D(96))]


def test_stops_trigger_on_trades_not_on_book_tickers() -> None:
    s = Script()
    s.trades("100")
    stop, _ = s.place(buy(OrderType.STOP_LOSS, "1", stop_price="105"))
    assert s.feed(book("106", "107")) == []
    assert s.order(stop.id).status is OrderStatus.NEW
