"""The symptoms measured in issue 10, each as a test of the account on its own.

Every test here failed on the first version (the account then behaved like a
margin account that ignored the exchange's rules); they pin what a Binance spot
account does instead.
"""

from __future__ import annotations

from workspace.trading import FillEvent, OrderStatus, OrderType

from .scripted import D, Script, book, buy, sell, ticker


def test_selling_without_holding_the_asset_is_rejected_would_short() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(sell(OrderType.MARKET, "1"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "WOULD_SHORT"
    assert s.account.positions == []


def test_closing_a_position_ends_its_oco_and_never_opens_a_short() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "1", take_profit="110", stop_price="95"))
    position = s.account.positions[0]
    s.account.close_position(position.id, None, s.tick())
    ended = s.order(oco.id)
    assert ended.status is OrderStatus.CANCELED
    assert ended.reason_code == "HOLDING_CLOSED"
    assert s.trades("94", "111") == []
    assert s.account.positions == []


def test_a_quantity_below_the_lot_step_is_rejected() -> None:
    s = Script(binance=True)
    s.trades("97000")
    order, _ = s.place(buy(OrderType.MARKET, "0.00000001"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "LOT_SIZE"


def test_a_price_off_the_tick_is_rejected() -> None:
    s = Script(binance=True)
    s.trades("97000")
    order, _ = s.place(buy(OrderType.LIMIT, "0.001", price="96000.005"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "PRICE_FILTER"


def test_an_order_under_the_minimum_notional_is_rejected() -> None:
    s = Script(binance=True)
    s.trades("97000")
    order, _ = s.place(buy(OrderType.LIMIT, "0.00001", price="96000"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "MIN_NOTIONAL"


def test_a_resting_order_on_an_unlisted_symbol_is_rejected() -> None:
    s = Script(binance=True)
    order, _ = s.place(buy(OrderType.LIMIT, "1", price="1", symbol="NOPEUSDT"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == "UNKNOWN_SYMBOL"


def test_a_market_order_never_fills_against_a_price_older_than_the_freshness_limit() -> None:
    s = Script()
    s.trades("97007")
    s.t += 60_000  # a minute without data
    order, events = s.place(buy(OrderType.MARKET, "0.01"))
    assert order.status is not OrderStatus.FILLED
    assert not [e for e in events if e.kind == "fill"]


def test_a_stop_triggers_on_the_ticker_when_there_is_no_trade_stream() -> None:
    s = Script()
    s.feed(ticker("100", "99.9", "100.1"))
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    s.feed(ticker("94", "93.9", "94.1"))
    assert s.order(stop.id).status is OrderStatus.FILLED


def test_a_stop_triggered_by_a_trade_never_fills_at_an_older_book() -> None:
    s = Script()
    s.feed(book("99.9", "100.1"))
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    s.feed(book("99.9", "100.1"))  # an old book, then the market drops in trades
    events = s.trades("94")
    fill = next(e.fill for e in events if isinstance(e, FillEvent))
    assert fill.price == D(94)
    assert s.order(stop.id).status is OrderStatus.FILLED
