"""Every order is judged against the market (PERCENT_PRICE, a market order's
MIN_NOTIONAL, a stop's side of the market) however the account first learns the
symbol's price: one accepted before any price is judged at the first one.

Measured from outside (a fresh server, a symbol nobody watched): ``place_order``
BNBUSDT MARKET 0.001 (0.65 USDT, BNBUSDT's minimum is 5) waited for a price and
FILLED, and so did a ``quote_quantity`` 1 order sized against the symbol's first book;
a minute later the same orders were REJECTED MIN_NOTIONAL."""

from __future__ import annotations

from workspace.trading import (
    Account,
    AccountConfig,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)

from .books import book_of
from .scripted import D, Script, book, buy, listing, sell

SYMBOL = "BTCUSDT"  # the 2021 listing: MIN_NOTIONAL 10 USDT, applied to market orders


def market(quantity: str | None, quote: str | None = None) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=D(quantity) if quantity is not None else None,
        quote_quantity=D(quote) if quote is not None else None,
    )


def test_a_market_order_placed_before_any_price_expires_below_the_minimum_at_its_first() -> None:
    s = Script(binance=True)
    order, _ = s.place(market("0.0001"))  # 9.7 USDT at the price to come
    assert order.status is OrderStatus.NEW  # nothing to value it at yet: it waits
    events = s.trades("97000.00")
    done = s.order(order.id)
    assert (done.status, done.reason_code) == (OrderStatus.EXPIRED, "MIN_NOTIONAL")
    assert done.reason == (
        "Order value 9.7 USDT (0.0001 BTC x 97000.00 USDT) is below the minimum 10 USDT "
        "(at its first price)"
    )
    assert done.filled_quantity == 0
    assert not [e for e in events if e.kind == "fill"]
    assert s.account.balances()["USDT"].locked == 0  # nothing held back any more


def test_a_market_order_placed_before_any_price_fills_when_its_value_is_enough() -> None:
    s = Script(binance=True)
    order, _ = s.place(market("0.0002"))  # 19.4 USDT
    s.trades("97000.00")
    assert s.order(order.id).status is OrderStatus.FILLED


def test_a_bracket_entry_placed_before_any_price_is_judged_at_its_first_price_too() -> None:
    s = Script(binance=True)
    # its exits are worth 12.1 and 10.45 USDT; the entry 9.9 at the first price
    bracket, _ = s.place(buy(OrderType.BRACKET, "0.00011", take_profit="110000", stop_loss="95000"))
    assert bracket.status is OrderStatus.NEW
    s.trades("90000.00")
    done = s.order(bracket.id)
    assert (done.status, done.reason_code) == (OrderStatus.EXPIRED, "MIN_NOTIONAL")
    assert all(leg.filled_quantity == 0 for leg in done.legs)


def _book_only_account() -> tuple[Account, int]:
    """BTCUSDT's rules and a fresh local book, but no trade, ticker or book ticker yet
    (a symbol whose first data was its order book)."""
    account = Account(AccountConfig(initial_balance=D(100_000)), rules=listing())
    t = 1_700_000_000_000
    depth = book_of([("96999.00", "1")], [("97001.00", "1")])
    depth.event_ms = t
    account.on_book(SYMBOL, depth, t)
    return account, t


def test_a_market_order_on_a_book_alone_is_judged_at_the_books_middle() -> None:
    account, t = _book_only_account()
    order, _ = account.place(market("0.0001"), t + 1)
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "MIN_NOTIONAL")
    assert order.reason == (
        "Order value 9.7 USDT (0.0001 BTC x 97000.00 USDT) is below the minimum 10 USDT"
    )


def test_a_quote_sized_order_on_a_book_alone_is_judged_too() -> None:
    account, t = _book_only_account()
    order, _ = account.place(market(None, quote="9.8"), t + 1)  # sizes to 0.0001 BTC
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "MIN_NOTIONAL")
    placed, _ = account.place(market(None, quote="50"), t + 2)
    assert placed.status is OrderStatus.FILLED


def test_a_book_ticker_alone_was_judged_before_and_still_is() -> None:
    s = Script(binance=True)
    s.feed(book("96999.00", "97001.00"))
    order, _ = s.place(market("0.0001"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "MIN_NOTIONAL")


def test_a_limit_placed_before_any_price_expires_outside_the_band_at_its_first() -> None:
    """BTCUSDT's band: a buy at least 0.2x the market.  Accepted unjudged at 10,000,
    it rested through the first price (97,000); Binance would have refused it."""
    s = Script(binance=True)
    far, _ = s.place(buy(OrderType.LIMIT, "0.001", price="10000"))
    near, _ = s.place(buy(OrderType.LIMIT, "0.001", price="96000"))
    assert (far.status, near.status) == (OrderStatus.NEW, OrderStatus.NEW)
    events = s.trades("97000.00")
    done = s.order(far.id)
    assert (done.status, done.reason_code) == (OrderStatus.EXPIRED, "PERCENT_PRICE")
    assert (done.reason or "").endswith("(at its first price)")
    assert [e.order.id for e in events if isinstance(e, OrderEvent)] == [far.id]
    assert s.order(near.id).status is OrderStatus.NEW  # within the band: it rests
    assert s.account.balances()["USDT"].locked == near.reserved  # the far one's is free


def test_a_stop_placed_before_any_price_on_the_wrong_side_expires_at_its_first() -> None:
    s = Script(binance=True, balances={"BTC": D(1)})
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "0.001", stop_price="98000"))
    assert stop.status is OrderStatus.NEW
    s.trades("97000.00")  # a sell stop above the market would trigger at once
    done = s.order(stop.id)
    assert done.status is OrderStatus.EXPIRED
    assert (done.reason or "").endswith("(at its first price)")
    assert done.filled_quantity == 0


def test_orders_placed_before_a_book_alone_are_judged_on_it() -> None:
    account = Account(AccountConfig(initial_balance=D(100_000)), rules=listing())
    t = 1_700_000_000_000
    order, _ = account.place(
        OrderRequest(
            symbol=SYMBOL, side=Side.BUY, type=OrderType.LIMIT, quantity=D("0.001"), price=D(10000)
        ),
        t,
    )
    assert order.status is OrderStatus.NEW
    depth = book_of([("96999.00", "1")], [("97001.00", "1")])
    depth.event_ms = t + 1
    account.on_book(SYMBOL, depth, t + 1)
    assert account.order(order.id).reason_code == "PERCENT_PRICE"


def test_orders_placed_once_the_symbol_has_a_price_are_not_judged_again() -> None:
    """Binance leaves a resting order alone when the market moves away from it."""
    s = Script(binance=True)
    s.trades("97000.00")
    placed, _ = s.place(buy(OrderType.LIMIT, "0.001", price="96000"))
    assert "BTCUSDT" not in s.account.unjudged
    events = s.trades("500000.00")  # now 96,000 is below the band's 0.2x
    assert s.order(placed.id).status is OrderStatus.NEW
    assert not [e for e in events if e.kind == "order"]


def test_a_market_order_judged_at_placement_is_not_judged_again_when_it_fills() -> None:
    """Placed on a stale price (judged then: 10.67 USDT), it waits for a fresh one and
    fills there even though its value at that price (9.9 USDT) is under the minimum:
    Binance judges an order once, when it is placed."""
    s = Script(binance=True)
    s.trades("97000.00")
    s.t += 60_000  # the price is stale now: a market order waits for a fresh one
    order, _ = s.place(market("0.00011"))
    assert order.status is OrderStatus.NEW
    s.trades("90000.00")
    assert s.order(order.id).status is OrderStatus.FILLED
