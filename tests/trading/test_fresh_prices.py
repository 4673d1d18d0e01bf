"""Fresh data only: nothing fills against a price older than the freshness limit or one
restored from the journal; a market order without a fresh price waits for one (or
expires NO_MARKET_DATA); stale marks are flagged; tickers trigger when there is no
trade stream."""

from __future__ import annotations

from workspace.trading import (
    Account,
    AccountConfig,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)

from .scripted import D, Script, book, buy, fills, sell, ticker, trade


def test_a_market_order_without_a_fresh_price_waits_and_fills_on_the_next_one() -> None:
    s = Script()
    s.trades("97007")
    s.t += 60_000
    order, events = s.place(buy(OrderType.MARKET, "0.01"))
    assert (order.status, order.expires_at) == (OrderStatus.NEW, s.t + 5_000)
    assert [e.kind for e in events] == ["order"]
    # it holds back what it would cost at the last known price, fee included
    assert (order.reserved, order.reserved_asset) == (D("971.04007"), "USDT")
    events = s.trades("95000")
    assert fills(events) == [(order.id, D("0.01"), D(95000))]
    done = s.order(order.id)
    assert (done.status, done.expires_at, done.reserved) == (OrderStatus.FILLED, None, D(0))
    assert s.account.balances()["USDT"].locked == 0


def test_a_waiting_market_order_takes_a_fresh_book_too() -> None:
    s = Script()
    order, _ = s.place(buy(OrderType.MARKET, "1"))
    assert order.status is OrderStatus.NEW
    events = s.feed(book("99", "101"))
    assert fills(events) == [(order.id, D(1), D(101))]


def test_a_waiting_market_order_expires_no_market_data_after_the_wait() -> None:
    s = Script(market_wait_ms=2_000)
    order, _ = s.place(buy(OrderType.MARKET, "1"))
    assert s.account.expire(s.t + 2_000) == []  # not over yet
    (event,) = s.account.expire(s.t + 2_001)
    expired = s.order(order.id)
    assert (expired.status, expired.reason_code) == (OrderStatus.EXPIRED, "NO_MARKET_DATA")
    assert expired.reason == "no fresh BTCUSDT price arrived within 2 s"
    assert event.kind == "order"


def test_in_a_replay_data_time_expires_a_waiting_order_before_a_late_price_fills_it() -> None:
    s = Script()
    order, _ = s.place(buy(OrderType.MARKET, "1"))
    t = s.t + 6_000
    events = s.account.on_market(trade("100", t), t)
    assert fills(events) == []
    assert s.order(order.id).reason_code == "NO_MARKET_DATA"


def test_a_bracket_with_a_market_entry_waits_for_a_fresh_price_too() -> None:
    s = Script()
    bracket, _ = s.place(buy(OrderType.BRACKET, "1", take_profit="110", stop_loss="95"))
    assert bracket.status is OrderStatus.NEW
    assert bracket.legs[0].expires_at is not None
    s.trades("100")
    live = s.order(bracket.id)
    assert [leg.status for leg in live.legs] == [
        OrderStatus.FILLED,
        OrderStatus.NEW,
        OrderStatus.NEW,
    ]
    assert live.expires_at is None


def test_a_close_without_a_fresh_price_is_refused_and_leaves_the_exits_alone() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    s.t += 10_000
    close, _ = s.close(s.account.positions[0].id)
    assert (close.status, close.reason_code) == (OrderStatus.REJECTED, "NO_MARKET_DATA")
    assert close.reason == (
        "the last BTCUSDT price is 10.0 s old (the limit is 5 s): a market order needs a fresh one"
    )
    assert s.order(stop.id).status is OrderStatus.NEW


def test_a_marketable_limit_never_fills_against_a_stale_price_it_rests() -> None:
    s = Script()
    s.trades("100")
    s.t += 10_000
    order, events = s.place(buy(OrderType.LIMIT, "1", price="105"))
    assert order.status is OrderStatus.NEW
    assert fills(events) == []
    assert fills(s.trades("101")) == [(order.id, D(1), D(105))]


def test_restored_prices_are_never_fresh_and_their_marks_are_stale() -> None:
    account = Account(AccountConfig())
    account.on_market(trade("97007", 1), 1)
    request = OrderRequest(
        symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=D("0.01")
    )
    _, events = account.place(request, 2)
    rebuilt = Account(AccountConfig())
    for event in events:
        rebuilt.apply(event)
    rebuilt.restore_prices({"BTCUSDT": D(97007)})
    (position,) = rebuilt.positions_at(3)
    assert (position.stale, position.price_ms, position.current_price) == (True, None, D(97007))
    order, _ = rebuilt.place(request, 3)
    assert order.status is OrderStatus.NEW  # waits: the journal's price is not the market
    rebuilt.on_market(trade("95000", 4), 4)
    assert rebuilt.order(order.id).fill_price == D(95000)
    (position,) = rebuilt.positions_at(4)
    assert (position.stale, position.price_ms) == (False, 4)


def test_positions_go_stale_when_their_price_is_older_than_the_limit() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    (position,) = s.account.positions
    assert position.price_ms is not None
    assert [p.stale for p in s.account.positions_at(position.price_ms + 5_000)] == [False]
    assert [p.stale for p in s.account.positions_at(position.price_ms + 5_001)] == [True]


def test_without_a_trade_stream_tickers_trigger_and_fill_at_their_own_book() -> None:
    s = Script()
    s.feed(ticker("100", "99.9", "100.1"))
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    events = s.feed(ticker("94", "93.9", "94.1"))
    assert fills(events) == [(stop.id, D(1), D("93.9"))]


def test_with_a_trade_stream_tickers_do_not_trigger() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "1", stop_price="95"))
    assert s.feed(ticker("94", "93.9", "94.1")) == []
    assert s.order(stop.id).status is OrderStatus.NEW
    s.t += 5_001  # the trade stream went quiet: tickers take over
    assert fills(s.feed(ticker("94", "93.9", "94.1"))) == [(stop.id, D(1), D("93.9"))]


def test_a_trailing_stop_follows_tickers_alone_and_triggers() -> None:
    s = Script()
    s.feed(ticker("100", None, None))
    s.place(buy(OrderType.MARKET, "1"))
    trailing, _ = s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))
    assert s.order(trailing.id).current_stop_price == D(98)
    s.feed(ticker("110", None, None))
    assert s.order(trailing.id).current_stop_price == D("107.80")
    events = s.feed(ticker("107", None, None))
    assert fills(events) == [(trailing.id, D(1), D(107))]


def test_a_repeated_client_order_id_of_an_open_order_returns_it_without_a_second_order() -> None:
    s = Script()
    s.trades("100")
    first, events = s.place(buy(OrderType.LIMIT, "1", price="90", client_order_id="my-1"))
    again, repeat_events = s.place(buy(OrderType.LIMIT, "2", price="80", client_order_id="my-1"))
    assert again == first
    assert repeat_events == []
    assert len(s.account.open_orders) == 1
    assert s.account.order_by_client_id("my-1") == first
    s.cancel(first.id)
    reused, _ = s.place(buy(OrderType.LIMIT, "1", price="90", client_order_id="my-1"))
    assert reused.id != first.id  # a final order's client id may be used again
    assert events


def test_a_malformed_client_order_id_is_refused() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.LIMIT, "1", price="90", client_order_id="no spaces!"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "INVALID_PARAMS")
    assert order.client_order_id is None
