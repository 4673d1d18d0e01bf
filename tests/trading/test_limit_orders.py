"""LIMIT orders fill at their limit price when the market trades through it."""

from __future__ import annotations

from workspace.trading import Liquidity, OrderStatus, OrderType

from .scripted import D, Script, book, buy, fills, sell


def test_buy_limit_fills_at_its_limit_price_when_a_trade_reaches_it() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.LIMIT, "1", price="98"))
    assert order.status is OrderStatus.NEW
    assert s.trades("99", "98.5") == []
    events = s.trades("97.2")
    assert fills(events) == [(order.id, D(1), D(98))]
    assert s.order(order.id).status is OrderStatus.FILLED


def test_limit_fill_pays_the_maker_fee() -> None:
    s = Script(maker_fee=D("0.0005"), taker_fee=D("0.001"))
    s.trades("100")
    order, _ = s.place(buy(OrderType.LIMIT, "2", price="90"))
    s.trades("90")
    filled = s.order(order.id)
    assert filled.fee == D("0.09")  # 2 * 90 * 0.0005
    assert s.account.fills[0].liquidity is Liquidity.MAKER


def test_sell_limit_fills_when_the_market_trades_up_through_it() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    order, _ = s.place(sell(OrderType.LIMIT, "1", price="105"))
    assert s.trades("104.99") == []
    assert fills(s.trades("106")) == [(order.id, D(1), D(105))]


def test_book_ticker_crossing_a_limit_does_not_fill_it_only_trades_do() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.LIMIT, "1", price="98"))
    assert s.feed(book("97", "97.5")) == []
    assert s.order(order.id).status is OrderStatus.NEW


def test_marketable_limit_fills_at_once_at_the_market_price_as_taker() -> None:
    s = Script()
    s.feed(book("99", "100"))
    order, events = s.place(buy(OrderType.LIMIT, "1", price="101"))
    assert fills(events) == [(order.id, D(1), D(100))]
    assert s.account.fills[0].liquidity is Liquidity.TAKER


def test_limits_at_the_same_level_fill_first_placed_first() -> None:
    s = Script()
    s.trades("100")
    a, _ = s.place(buy(OrderType.LIMIT, "1", price="95"))
    b, _ = s.place(buy(OrderType.LIMIT, "1", price="96"))
    c, _ = s.place(buy(OrderType.LIMIT, "1", price="95"))
    events = s.trades("94")
    assert [f[0] for f in fills(events)] == [a.id, b.id, c.id]


def test_resting_buy_limit_reserves_balance_and_cancel_releases_it() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.LIMIT, "10", price="90"))
    held = D("10") * D("90") * D("1.001")
    assert s.account.portfolio().locked == held
    assert s.account.balances()["USDT"].free == D(10000) - held
    s.cancel(order.id)
    assert s.account.portfolio().locked == 0
    assert s.account.balances()["USDT"].free == D(10000)
    assert s.order(order.id).status is OrderStatus.CANCELED
