"""MARKET orders by their quote amount (Binance's ``quoteOrderQty``): "spend 100 USDT"
is sized against the market at placement to the most of the base asset, on the lot
step, whose value stays within the amount; the fee comes on top."""

from __future__ import annotations

from decimal import Decimal

from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from workspace.trading.reasons import ReasonCode
from workspace.trading.wire import order_to_wire

from .books import book_of
from .scripted import D, Script, book, listing, trade
from .test_book_fills import fills_of

S = OrderStatus
SYMBOL = "BTCUSDT"
STEP = D("0.00001")  # BTCUSDT's lot step in the 2021 listing
# 97,000 and up: the 2021 listing's percent-price filter judges against the last trade
ASKS = [("97000.00", "0.001"), ("97001.00", "0.002"), ("97005.00", "1")]
BIDS = [("96999.00", "0.003"), ("96990.00", "1")]


def by_quote(side: Side, amount: str, **fields: object) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=side,
        type=OrderType.MARKET,
        quantity=None,
        quote_quantity=D(amount),
        **fields,  # type: ignore[arg-type]
    )


class Desk:
    """A spot account with BTCUSDT's real filters and a real local book."""

    def __init__(self) -> None:
        config = AccountConfig(initial_balance=D(100_000), balances={"BTC": D(2)})
        self.account = Account(config, rules=listing())
        self.t = 1_700_000_000_000
        self.account.on_market(trade("97000.00", self.t), self.t)
        self.book = book_of(BIDS, ASKS)
        self.book.event_ms = self.t
        self.account.on_book(SYMBOL, self.book, self.t)
        self.events: list[AccountEvent] = []

    def place(self, request: OrderRequest) -> tuple[Order, list[AccountEvent]]:
        self.t += 1
        order, events = self.account.place(request, self.t)
        self.events += events
        return order, events


def test_a_buy_by_quote_walks_the_book_to_the_most_the_amount_buys_on_the_step() -> None:
    desk = Desk()
    order, events = desk.account.place(by_quote(Side.BUY, "300"), desk.t + 1)
    # 0.001 at 97,000 (97) + 0.002 at 97,001 (194.002) leave 8.998 USDT: 0.0000927...
    # at 97,005, which rounds down to 0.00009 on the step
    assert order.status is S.FILLED
    assert order.quote_quantity == D(300)
    assert order.quantity == D("0.00309")
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [
        (D("97000.00"), D("0.001")),
        (D("97001.00"), D("0.002")),
        (D("97005.00"), D("0.00009")),
    ]
    value = sum((p * q for p, q, _, _ in fills_of(events)), D(0))
    assert value == D("299.73245") <= D(300)
    assert value + STEP * D("97005.00") > D(300)  # one step more would pass the amount
    # the fee is charged on top, as for any fill
    assert desk.account.balances()["USDT"].free == D(100_000) - value - value * D("0.001")
    wire = order_to_wire(order)
    assert (wire["quote_quantity"], wire["quantity"]) == (300.0, 0.00309)


def test_a_sell_by_quote_sells_as_much_as_the_amount_is_worth_at_the_bids() -> None:
    desk = Desk()
    order, events = desk.account.place(by_quote(Side.SELL, "500"), desk.t + 1)
    # 0.003 at 96,999 (290.997), then 209.003 / 96,990 = 0.0021549... -> 0.00215
    assert order.status is S.FILLED
    assert order.quantity == D("0.00515")
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [
        (D("96999.00"), D("0.003")),
        (D("96990.00"), D("0.00215")),
    ]
    assert desk.account.balances()["BTC"].free == D(2) - D("0.00515")


def test_liquidity_the_account_already_took_is_not_counted_twice() -> None:
    desk = Desk()
    first, _ = desk.account.place(by_quote(Side.BUY, "97"), desk.t + 1)
    assert first.quantity == D("0.001")  # the whole of the best level
    second, events = desk.account.place(by_quote(Side.BUY, "97.001"), desk.t + 2)
    # the book still shows 0.001 at 97,000, but this account took it: the next level
    assert second.quantity == D("0.001")
    assert [p for p, _, _, _ in fills_of(events)] == [D("97001.00")]


def test_without_a_book_it_is_sized_at_the_top_of_book_price() -> None:
    s = Script(binance=True, initial_balance=D(100_000))
    s.feed(book("96999.00", "97001.00"))
    s.trades("97000")
    order, events = s.place(by_quote(Side.BUY, "100"))
    # 100 / 97,001 = 0.0010309... -> 0.00103 at the ask
    assert order.status is S.FILLED
    assert order.quantity == D("0.00103")
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D("97001.00"), D("0.00103"))]


def test_an_amount_below_one_step_or_without_a_market_is_refused_in_words() -> None:
    desk = Desk()
    tiny, _ = desk.account.place(by_quote(Side.BUY, "0.5"), desk.t + 1)
    assert (tiny.status, tiny.reason_code) == (S.REJECTED, ReasonCode.LOT_SIZE.value)
    assert tiny.reason == ("0.5 USDT buys less than one lot step (0.00001 BTC) at the market now")
    # a market order by quantity waits for a price; one by its amount cannot be sized
    quiet = Script(binance=True, initial_balance=D(100_000))
    order, _ = quiet.place(by_quote(Side.BUY, "100"))
    assert (order.status, order.reason_code) == (S.REJECTED, ReasonCode.NO_MARKET_DATA.value)
    assert order.reason == (
        "An order by its quote quantity is sized against the market at once: no fresh "
        "BTCUSDT price or book now (subscribe to BTCUSDT first)"
    )
    # a book whose asks this account has all taken already: nothing to size against
    emptied = Desk()
    everything, _ = emptied.place(by_quote(Side.BUY, "1000000"))
    assert everything.quantity == D("1.003")  # the whole visible book
    nothing, _ = emptied.place(by_quote(Side.BUY, "100"))
    assert (nothing.status, nothing.reason_code) == (S.REJECTED, "NO_MARKET_DATA")
    assert "the BTCUSDT book shows no asks this account can take now" in (nothing.reason or "")
    # sized, it meets the filters of any order: here the minimum order value (10 USDT)
    small, _ = desk.account.place(by_quote(Side.BUY, "9.8"), desk.t + 2)
    assert (small.status, small.reason_code) == (S.REJECTED, ReasonCode.MIN_NOTIONAL.value)


def test_it_is_for_market_orders_alone_and_instead_of_a_quantity() -> None:
    desk = Desk()
    cases = [
        (
            {"type": OrderType.MARKET, "quantity": D(1), "quote_quantity": D(100)},
            "Give a quantity or a quote quantity, not both",
        ),
        (
            {"type": OrderType.LIMIT, "price": D(90_000), "quote_quantity": D(100)},
            "A quote quantity is for MARKET orders only, not LIMIT",
        ),
        (
            {"type": OrderType.MARKET, "quote_quantity": Decimal("NaN")},
            "Quote quantity must be a finite number, got NaN",
        ),
        (
            {"type": OrderType.MARKET, "quote_quantity": D(-5)},
            "Quote quantity must be greater than 0, got -5",
        ),
    ]
    for fields, words in cases:
        request = OrderRequest(
            symbol=SYMBOL,
            side=Side.BUY,
            **{"quantity": None, **fields},  # type: ignore[arg-type]
        )
        order, _ = desk.place(request)
        assert (order.status, order.reason) == (S.REJECTED, words)


def test_a_rebuilt_account_has_the_same_orders_and_wallet() -> None:
    desk = Desk()
    desk.place(by_quote(Side.BUY, "300"))
    desk.place(by_quote(Side.SELL, "150", time_in_force="IOC"))
    rebuilt = Account(desk.account.config, rules=listing())
    for event in desk.events:
        rebuilt.apply(event)
    assert rebuilt.orders == desk.account.orders
    assert rebuilt.balances() == desk.account.balances()
