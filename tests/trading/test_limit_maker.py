"""LIMIT_MAKER, Binance's post-only limit order: refused (``WOULD_TAKE``) when it would
take liquidity at once, so it only ever rests and fills as a maker, at the maker fee."""

from __future__ import annotations

from workspace.trading import Account, AccountConfig, OrderStatus, OrderType
from workspace.trading.reasons import ReasonCode

from .scripted import D, Script, book, buy, sell
from .test_book_fills import ASKS, BIDS, Desk, fills_of

S = OrderStatus
MAKER_FEE = D("0.0005")


def test_a_post_only_buy_that_would_cross_the_book_is_refused_and_one_below_rests() -> None:
    desk = Desk(BIDS, ASKS, maker_fee=MAKER_FEE)
    crossing, events = desk.place(buy(OrderType.LIMIT_MAKER, "1", price="100"))
    assert (crossing.status, crossing.reason_code) == (S.REJECTED, ReasonCode.WOULD_TAKE.value)
    assert crossing.reason == (
        "A LIMIT_MAKER BUY at 100 USDT would take liquidity at once (the best ask is "
        "100 USDT): it may only rest and fill as a maker"
    )
    assert fills_of(events) == []
    assert desk.balance("USDT") == (D(100_000), D(0))  # nothing locked, nothing spent
    resting, _ = desk.place(buy(OrderType.LIMIT_MAKER, "1", price="99.50"))
    assert resting.status is S.NEW
    assert resting.queue_ahead == 0  # nothing bid at 99.50
    assert desk.balance("USDT")[1] == D("99.50") * (1 + D("0.001"))  # the larger fee held
    # a trade through its price fills it as a maker, at its price and the maker fee
    events = desk.trade("99.40", "5", buyer_took=False)
    assert fills_of(events) == [(D("99.50"), D(1), D("99.50") * MAKER_FEE, "maker")]
    assert desk.account.order(resting.id).status is S.FILLED


def test_a_post_only_sell_is_judged_against_the_bids() -> None:
    desk = Desk(BIDS, ASKS, balances={"BTC": D(5)})
    refused, _ = desk.place(sell(OrderType.LIMIT_MAKER, "1", price="98.50"))
    assert refused.reason_code == ReasonCode.WOULD_TAKE.value
    assert "the best bid is 99 USDT" in (refused.reason or "")
    rests, _ = desk.place(sell(OrderType.LIMIT_MAKER, "1", price="99.01"))
    assert rests.status is S.NEW


def test_without_a_book_the_top_of_book_price_judges_it() -> None:
    s = Script(initial_balance=D(100_000))
    s.feed(book("96999.00", "97001.00"))
    s.trades("97000")
    refused, _ = s.place(buy(OrderType.LIMIT_MAKER, "0.01", price="97001"))
    assert refused.reason_code == ReasonCode.WOULD_TAKE.value
    rests, _ = s.place(buy(OrderType.LIMIT_MAKER, "0.01", price="97000.99"))
    assert rests.status is S.NEW
    # with no price at all nothing can be taken: it rests
    quiet = Script(initial_balance=D(100_000))
    order, _ = quiet.place(buy(OrderType.LIMIT_MAKER, "0.01", price="97000"))
    assert order.status is S.NEW


def test_it_takes_no_time_in_force_but_gtc_and_no_other_price() -> None:
    desk = Desk(BIDS, ASKS)
    for tif in ("IOC", "FOK"):
        order, _ = desk.place(buy(OrderType.LIMIT_MAKER, "1", price="90", time_in_force=tif))
        assert (order.status, order.reason_code) == (S.REJECTED, "INVALID_PARAMS")
        assert "its time in force can only be GTC" in (order.reason or "")
    order, _ = desk.place(buy(OrderType.LIMIT_MAKER, "1", price="90", stop_price="95"))
    assert order.reason == "A LIMIT_MAKER order takes no stop price (stop_price)"
    order, _ = desk.place(buy(OrderType.LIMIT_MAKER, "1"))
    assert order.reason == "A LIMIT_MAKER order needs a limit price"


def test_a_rebuilt_account_has_the_same_resting_post_only_order() -> None:
    desk = Desk(BIDS, ASKS)
    events = []
    order, placed = desk.place(buy(OrderType.LIMIT_MAKER, "1", price="98.50"))
    events += placed
    rebuilt = Account(AccountConfig(initial_balance=D(100_000)))
    for event in events:
        rebuilt.apply(event)
    assert rebuilt.order(order.id) == desk.account.order(order.id)
    assert rebuilt.balances() == desk.account.balances()
