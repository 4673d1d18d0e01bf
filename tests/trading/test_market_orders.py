"""MARKET orders: where they fill, what they cost, when they are refused."""

from __future__ import annotations

from decimal import Decimal

from workspace.trading import AccountConfig, OrderStatus, OrderType

from .scripted import D, Script, book, buy, fills, mini, sell, ticker


def test_market_buy_fills_at_best_ask_from_the_latest_book_ticker() -> None:
    s = Script()
    s.trades("100")
    s.feed(book("99.5", "100.5"))
    order, events = s.place(buy(OrderType.MARKET, "2"))
    assert order.status is OrderStatus.FILLED
    assert fills(events) == [(order.id, D(2), D("100.5"))]
    assert order.fee == D("2") * D("100.5") * D("0.001")


def test_market_sell_fills_at_best_bid() -> None:
    s = Script(balances={"BTC": D(1)})
    s.feed(book("99.5", "100.5"))
    order, events = s.place(sell(OrderType.MARKET, "1"))
    assert fills(events) == [(order.id, D(1), D("99.5"))]


def test_market_sell_of_more_than_is_held_is_refused_would_short() -> None:
    s = Script(balances={"BTC": D("0.5")})
    s.trades("100")
    order, events = s.place(sell(OrderType.MARKET, "1"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "WOULD_SHORT")
    assert order.reason == (
        "Selling 1 BTC needs 1 BTC but the account holds 0.5 BTC: a spot account cannot "
        "sell what it does not hold"
    )
    assert len(events) == 1


def test_market_order_without_a_book_fills_at_the_last_trade_price() -> None:
    s = Script()
    s.trades("101.25")
    order, events = s.place(buy(OrderType.MARKET, "1"))
    assert fills(events) == [(order.id, D(1), D("101.25"))]


def test_market_order_with_no_known_price_and_no_wait_is_rejected_no_market_data() -> None:
    s = Script(market_wait_ms=0)
    order, events = s.place(buy(OrderType.MARKET, "1"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "NO_MARKET_DATA")
    assert order.reason == "no BTCUSDT price has arrived yet: a market order needs a fresh one"
    assert len(events) == 1
    assert s.account.portfolio().fees_paid == 0


def test_slippage_in_bps_moves_the_market_fill_against_the_taker() -> None:
    s = Script(slippage_bps=D(10))
    s.feed(book("99", "100"))
    _o1, e1 = s.place(buy(OrderType.MARKET, "1"))
    _o2, e2 = s.place(sell(OrderType.MARKET, "1"))
    assert fills(e1)[0][2] == D("100.1")
    assert fills(e2)[0][2] == D("98.901")


def test_taker_fee_is_charged_in_quote_currency_and_lowers_equity_by_exactly_the_fee() -> None:
    s = Script(config=AccountConfig(taker_fee=D("0.002")))
    s.trades("250")
    s.place(buy(OrderType.MARKET, "0.4"))
    p = s.account.portfolio()
    assert p.fees_paid == D("0.2")  # 0.4 * 250 * 0.002
    assert p.equity == D("10000") - D("0.2")
    assert p.balance == D("9899.8")  # the cash: 100 USDT went into 0.4 BTC, 0.2 in fees
    assert p.total_pnl == p.realized_pnl + p.unrealized_pnl - p.fees_paid == D("-0.2")
    assert s.account.balances()["BTC"].free == D("0.4")


def test_mini_ticker_last_price_is_the_fallback_price_for_market_orders() -> None:
    s = Script()
    s.feed(mini("42.5"))
    _order, events = s.place(buy(OrderType.MARKET, "1"))
    assert fills(events)[0][2] == D("42.5")


def test_ticker_with_bid_and_ask_updates_the_book() -> None:
    s = Script()
    s.feed(ticker("100", bid="99.9", ask="100.1"))
    _order, events = s.place(buy(OrderType.MARKET, "1"))
    assert fills(events)[0][2] == D("100.1")


def test_first_event_of_place_is_the_new_order_event_then_fill_position_and_filled() -> None:
    s = Script()
    s.trades("100")
    _order, events = s.place(buy(OrderType.MARKET, "1"))
    assert [e.kind for e in events] == ["order", "fill", "position", "order"]
    first = events[0]
    assert first.kind == "order"
    assert first.order.status is OrderStatus.NEW  # type: ignore[union-attr]


def test_close_position_uses_a_market_order_for_all_or_part() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "3"))
    pos = s.account.positions[0]
    order, _events = s.account.close_position(pos.id, Decimal("1"), s.tick())
    assert order.type is OrderType.MARKET
    assert order.position_id == pos.id
    assert s.account.positions[0].quantity == D(2)
    s.account.close_position(pos.id, None, s.tick())
    assert s.account.positions == []
    assert s.account.closed_positions[0].id == pos.id
