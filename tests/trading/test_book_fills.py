"""The book fill model: market orders and triggered stops walk the local order book,
limits that cross take what crosses and rest, resting limits fill on trades through a
queue, GTC / IOC / FOK, the account's own consumption of the book, the wallet under
partial fills, and the fallback to the top-of-book model."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from workspace.market.records import Trade
from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    FillEvent,
    Order,
    OrderStatus,
    OrderType,
    ReasonCode,
    order_to_wire,
)
from workspace.trading.orders import LegRole

from .books import book_of, change
from .scripted import D, Refusing, buy, sell

S = OrderStatus
SYMBOL = "BTCUSDT"
FEE = D("0.001")


def printed(
    price: str, quantity: str, t: int, *, buyer_took: bool = True, symbol: str = SYMBOL
) -> Trade:
    """A trade at ``price`` of ``quantity`` (exchange time ``t``); ``buyer_took``: the
    buyer was the taker (it hit the asks)."""
    return Trade(
        event_type="trade",
        event_time=t,
        symbol=symbol,
        price=Decimal(price),
        quantity=Decimal(quantity),
        trade_time=t,
        buyer_is_maker=not buyer_took,
        trade_id=t,
    )


class Desk:
    """An account whose BTCUSDT book is a real ``OrderBook``, with a clock."""

    def __init__(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]], **kw: object):
        config = AccountConfig(**{"initial_balance": D(100_000), **kw})  # type: ignore[arg-type]
        self.account = Account(config)
        self.t = 1_700_000_000_000
        self.book = book_of(bids, asks)
        self.book.event_ms = self.t
        self.account.on_book(SYMBOL, self.book, self.t)

    def tick(self) -> int:
        self.t += 1
        return self.t

    def place(self, request: object) -> tuple[Order, list[AccountEvent]]:
        return self.account.place(request, self.tick())  # type: ignore[arg-type]

    def change(
        self,
        *,
        bids: list[tuple[str, str]] | None = None,
        asks: list[tuple[str, str]] | None = None,
    ) -> list[AccountEvent]:
        t = self.tick()
        change(self.book, bids=bids or [], asks=asks or [], event_ms=t)
        return self.account.on_book(SYMBOL, self.book, t)

    def trade(self, price: str, quantity: str, *, buyer_took: bool = True) -> list[AccountEvent]:
        t = self.tick()
        return self.account.on_market(printed(price, quantity, t, buyer_took=buyer_took), t)

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        found = self.account.balances().get(asset)
        return (found.free, found.locked) if found is not None else (D(0), D(0))


ASKS = [("100.00", "1"), ("101.00", "2"), ("102.00", "5")]
BIDS = [("99.00", "2"), ("98.00", "3"), ("97.00", "10")]


def fills_of(events: list[AccountEvent]) -> list[tuple[Decimal, Decimal, Decimal, str]]:
    return [
        (f.price, f.quantity, f.fee, f.liquidity.value)
        for e in events
        if isinstance(e, FillEvent)
        for f in e.fills
    ]


# -- market orders walk the book ------------------------------------------------------
def test_a_market_buy_walks_the_asks_level_by_level_with_a_taker_fee_per_fill() -> None:
    desk = Desk(BIDS, ASKS)
    order, events = desk.place(buy(OrderType.MARKET, "2.5"))
    assert fills_of(events) == [
        (D(100), D(1), D(100) * FEE, "taker"),
        (D(101), D("1.5"), D("151.5") * FEE, "taker"),
    ]
    assert order.status is S.FILLED
    assert order.avg_price == (D(100) + D("151.5")) / D("2.5") == D("100.6")
    assert order.fee == D("0.2515")
    wire = order_to_wire(order)
    assert [(f["price"], f["quantity"], f["maker"]) for f in wire["fills"]] == [
        (100.0, 1.0, False),
        (101.0, 1.5, False),
    ]
    # the wallet moved by exactly what the fills say: 251.5 USDT + 0.2515 fees
    assert desk.balance("USDT") == (D(100_000) - D("251.5") - D("0.2515"), D(0))
    assert desk.balance("BTC") == (D("2.5"), D(0))
    assert desk.account.fill_model(SYMBOL) == "book"


def test_a_market_sell_walks_the_bids_and_50_btc_do_not_all_get_the_best_bid() -> None:
    desk = Desk(BIDS, ASKS, balances={"BTC": D(50)})
    order, events = desk.place(sell(OrderType.MARKET, "6"))
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [
        (D(99), D(2)),
        (D(98), D(3)),
        (D(97), D(1)),
    ]
    assert order.status is S.FILLED
    assert order.avg_price is not None
    assert order.avg_price * 6 == D(198) + D(294) + D(97)


def test_what_the_visible_book_cannot_fill_waits_for_later_book_updates_gtc() -> None:
    desk = Desk(BIDS, ASKS)
    order, events = desk.place(buy(OrderType.MARKET, "10"))
    assert order.status is S.PARTIALLY_FILLED
    assert order.filled_quantity == D(8)
    # the rest holds back quote (valued at the last level seen) until it fills
    free, locked = desk.balance("USDT")
    assert locked == D(2) * D(102) * (1 + FEE)
    assert free + locked == D(100_000) - D(100 + 202 + 510) * (1 + FEE)
    # a change elsewhere in the book offers nothing new at the asks it already took
    assert desk.change(bids=[("99.00", "4")]) == []
    events = desk.change(asks=[("103.00", "1"), ("104.00", "7")])
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(103), D(1)), (D(104), D(1))]
    done = desk.account.order(order.id)
    assert done.status is S.FILLED
    assert [e.price for e in done.executions] == [D(100), D(101), D(102), D(103), D(104)]
    assert done.avg_price == D(100 + 202 + 510 + 103 + 104) / D(10)
    assert desk.balance("USDT")[1] == 0  # the reservation is gone with the last fill
    assert desk.balance("BTC") == (D(10), D(0))


def test_ioc_fills_what_the_book_holds_and_the_rest_expires() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.MARKET, "10", time_in_force="IOC"))
    assert order.status is S.EXPIRED
    assert order.filled_quantity == D(8)
    assert order.reason_code == ReasonCode.TIME_IN_FORCE.value
    assert order.reason == "IOC: the book held 8 BTC for this order at once; the rest expired"
    assert desk.balance("USDT")[1] == 0
    assert desk.balance("BTC") == (D(8), D(0))


def test_fok_fills_all_at_once_or_nothing() -> None:
    desk = Desk(BIDS, ASKS)
    refused, events = desk.place(buy(OrderType.MARKET, "10", time_in_force="FOK"))
    assert refused.status is S.EXPIRED
    assert refused.filled_quantity == 0
    assert fills_of(events) == []
    assert refused.reason == "FOK: the book held only 8 of the 10 BTC; nothing executed"
    assert desk.balance("USDT") == (D(100_000), D(0))
    done, events = desk.place(buy(OrderType.MARKET, "8", time_in_force="FOK"))
    assert done.status is S.FILLED
    assert len(fills_of(events)) == 3


def test_a_market_order_the_wallet_cannot_pay_in_full_is_refused_before_walking() -> None:
    desk = Desk(BIDS, ASKS, initial_balance=D(500))
    order, events = desk.place(buy(OrderType.MARKET, "5"))
    # 100 + 202 + 2 x 102 = 506 USDT (+ fees): more than the 500 held
    assert order.status is S.REJECTED
    assert order.reason_code == ReasonCode.INSUFFICIENT_BALANCE.value
    assert fills_of(events) == []


# -- the account's own consumption --------------------------------------------------------
def test_liquidity_taken_is_not_available_again_until_the_book_updates_that_level() -> None:
    desk = Desk(BIDS, ASKS)
    _, first = desk.place(buy(OrderType.MARKET, "1.5"))
    assert [(p, q) for p, q, _, _ in fills_of(first)] == [(D(100), D(1)), (D(101), D("0.5"))]
    # the book has not changed: 100 is used up, 1.5 is left at 101
    _, second = desk.place(buy(OrderType.MARKET, "2"))
    assert [(p, q) for p, q, _, _ in fills_of(second)] == [(D(101), D("1.5")), (D(102), D("0.5"))]
    # the exchange updates 101 (any new quantity): all of it is there again; 100 and
    # 102 are still as taken as they were
    desk.change(asks=[("101.00", "3")])
    _, third = desk.place(buy(OrderType.MARKET, "8"))
    assert [(p, q) for p, q, _, _ in fills_of(third)] == [(D(101), D(3)), (D(102), D("4.5"))]
    assert desk.account.order(_.id).status is S.PARTIALLY_FILLED
    # a rebuilt book (a new object, from a snapshot) starts afresh
    fresh = book_of(BIDS, ASKS)
    fresh.event_ms = desk.tick()
    events = desk.account.on_book(SYMBOL, fresh, desk.t)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(100), D("0.5"))]


def test_a_trade_the_book_does_not_show_yet_has_taken_its_liquidity() -> None:
    desk = Desk(BIDS, [("100.00", "10"), ("101.00", "10")])
    # a buyer took 8 at 100 after the book's last event: 2 are left there
    desk.trade("100.00", "8", buyer_took=True)
    _, events = desk.place(buy(OrderType.MARKET, "5"))
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(100), D(2)), (D(101), D(3))]


def test_a_trade_counts_as_taken_only_until_the_book_shows_it() -> None:
    desk = Desk(BIDS, [("100.00", "10"), ("101.00", "10")])
    desk.trade("100.00", "8", buyer_took=True)  # the book does not show it yet
    # the next change of the book shows the market after the trade (its own quantity
    # at 100 is the exchange's word now: 2 left, and a new seller added 5)
    desk.change(asks=[("100.00", "7")])
    _, events = desk.place(buy(OrderType.MARKET, "9"))
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(100), D(7)), (D(101), D(2))]


def test_a_trade_the_book_already_shows_takes_nothing_more() -> None:
    desk = Desk(BIDS, [("100.00", "10"), ("101.00", "10")])
    t = desk.tick()
    # the book is newer than the trade (Binance sends the depth change first)
    change(desk.book, asks=[("100.00", "2")], event_ms=t + 50)
    desk.account.on_book(SYMBOL, desk.book, t)
    desk.account.on_market(printed("100.00", "8", t), t)
    _, events = desk.place(buy(OrderType.MARKET, "5"))
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(100), D(2)), (D(101), D(3))]


# -- limits ---------------------------------------------------------------------------------
def test_a_limit_that_crosses_takes_up_to_its_price_and_rests_for_the_rest() -> None:
    desk = Desk(BIDS, ASKS)
    order, events = desk.place(buy(OrderType.LIMIT, "4", price="101"))
    assert [(p, q, liq) for p, q, _, liq in fills_of(events)] == [
        (D(100), D(1), "taker"),
        (D(101), D(2), "taker"),
    ]
    assert order.status is S.PARTIALLY_FILLED
    assert order.filled_quantity == D(3)
    assert order.queue_ahead == 0  # nothing bid at 101: it is first in line
    # the rest locks its own share: 1 x 101 x 1.001
    assert desk.balance("USDT")[1] == D(101) * (1 + FEE)
    # a trade through its price fills it as a maker, at its price
    events = desk.trade("100.50", "3", buyer_took=False)
    assert [(p, q, liq) for p, q, _, liq in fills_of(events)] == [(D(101), D(1), "maker")]
    assert desk.account.order(order.id).status is S.FILLED
    assert desk.balance("USDT")[1] == 0


def test_an_ioc_limit_takes_what_crosses_and_never_rests() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.LIMIT, "4", price="101", time_in_force="IOC"))
    assert (order.status, order.filled_quantity) == (S.EXPIRED, D(3))
    assert order.reason_code == ReasonCode.TIME_IN_FORCE.value
    below, events = desk.place(buy(OrderType.LIMIT, "1", price="90", time_in_force="IOC"))
    assert (below.status, fills_of(events)) == (S.EXPIRED, [])
    assert desk.account.open_orders == []
    assert desk.balance("USDT")[1] == 0


def test_a_fok_limit_needs_all_of_it_within_its_price() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.LIMIT, "4", price="101", time_in_force="FOK"))
    assert (order.status, order.filled_quantity) == (S.EXPIRED, D(0))
    order, _ = desk.place(buy(OrderType.LIMIT, "3", price="101", time_in_force="FOK"))
    assert (order.status, order.filled_quantity) == (S.FILLED, D(3))


def test_a_resting_limit_waits_for_the_queue_ahead_of_it() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.LIMIT, "1", price="99"))
    assert order.status is S.NEW
    assert order.queue_ahead == D(2)  # 2 were bid at 99 before it
    # 1.5 trade at 99: all of it goes to the orders ahead
    events = desk.trade("99.00", "1.5", buyer_took=False)
    assert fills_of(events) == []
    assert desk.account.order(order.id).queue_ahead == D("0.5")
    # 1 more at 99: 0.5 to the last one ahead, 0.5 to this order
    events = desk.trade("99.00", "1", buyer_took=False)
    assert [(p, q, liq) for p, q, _, liq in fills_of(events)] == [(D(99), D("0.5"), "maker")]
    current = desk.account.order(order.id)
    assert (current.status, current.queue_ahead) == (S.PARTIALLY_FILLED, D(0))
    # through its price: filled up to what traded
    events = desk.trade("98.50", "0.2", buyer_took=False)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(99), D("0.2"))]
    assert desk.account.order(order.id).filled_quantity == D("0.7")


def test_one_small_trade_no_longer_fills_a_huge_limit() -> None:
    # issue 11's symptom: one trade of 0.001 filled a 5,000-unit limit order
    desk = Desk(BIDS, ASKS, initial_balance=D(10**7))
    order, _ = desk.place(buy(OrderType.LIMIT, "5000", price="99.50"))
    events = desk.trade("99.40", "0.001", buyer_took=False)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D("99.50"), D("0.001"))]
    assert desk.account.order(order.id).status is S.PARTIALLY_FILLED


def test_the_queue_cannot_be_longer_than_the_book_shows_at_the_price() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.LIMIT, "1", price="99"))
    assert order.queue_ahead == D(2)
    # cancellations ahead: the book shows 0.3 at 99 now; a trade of 1 at 99 fills 0.7
    desk.change(bids=[("99.00", "0.3")])
    events = desk.trade("99.00", "1", buyer_took=False)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(99), D("0.7"))]


def test_two_resting_limits_share_one_trade_in_price_priority() -> None:
    desk = Desk([("95.00", "1")], ASKS)
    low, _ = desk.place(buy(OrderType.LIMIT, "1", price="96"))
    high, _ = desk.place(buy(OrderType.LIMIT, "1", price="97"))
    events = desk.trade("95.50", "1.5", buyer_took=False)
    got = {f.order_id: f.quantity for e in events if isinstance(e, FillEvent) for f in e.fills}
    assert got == {high.id: D(1), low.id: D("0.5")}


# -- stops and trailing stops walk the book when they trigger --------------------------------
def test_a_triggered_stop_walks_the_book_and_waits_for_the_rest() -> None:
    desk = Desk([("94.90", "1"), ("94.80", "1")], ASKS, balances={"BTC": D(3)})
    desk.trade("100.00", "1")
    stop, _ = desk.place(sell(OrderType.STOP_LOSS, "3", stop_price="95"))
    assert desk.balance("BTC") == (D(0), D(3))  # the stop holds the asset back
    events = desk.trade("95.00", "0.1", buyer_took=False)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D("94.90"), D(1)), (D("94.80"), D(1))]
    current = desk.account.order(stop.id)
    assert (current.status, current.filled_quantity) == (S.PARTIALLY_FILLED, D(2))
    assert desk.balance("BTC") == (D(0), D(1))  # what it still sells stays locked
    events = desk.change(bids=[("94.00", "5")])
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(94), D(1))]
    assert desk.account.order(stop.id).status is S.FILLED
    assert desk.balance("BTC") == (D(0), D(0))


def test_a_stop_limit_takes_what_crosses_then_rests_at_its_limit() -> None:
    desk = Desk([("94.90", "1"), ("94.00", "5")], ASKS, balances={"BTC": D(3)})
    desk.trade("100.00", "1")
    stop, _ = desk.place(sell(OrderType.STOP_LOSS, "3", stop_price="95", price="94.50"))
    desk.trade("95.00", "0.1", buyer_took=False)
    current = desk.account.order(stop.id)
    assert (current.status, current.filled_quantity) == (S.PARTIALLY_FILLED, D(1))
    assert current.queue_ahead == 0  # nothing offered at 94.50
    assert current.executions[0].price == D("94.90")


# -- brackets under partial fills ---------------------------------------------------------
def test_a_bracket_protects_what_its_entry_bought_so_far() -> None:
    desk = Desk(BIDS, [("100.00", "1")])
    desk.trade("99.50", "0.1", buyer_took=False)
    group, _ = desk.place(buy(OrderType.BRACKET, "3", take_profit="120", stop_loss="90"))
    entry = group.leg_by_role(LegRole.ENTRY)
    tp = group.leg_by_role(LegRole.TAKE_PROFIT)
    stop = group.leg_by_role(LegRole.STOP_LOSS)
    assert entry is not None
    assert tp is not None
    assert stop is not None
    assert (entry.status, entry.filled_quantity) == (S.PARTIALLY_FILLED, D(1))
    assert (tp.status, tp.quantity) == (S.NEW, D(1))
    assert (stop.status, stop.quantity) == (S.NEW, D(1))
    # the exits hold back the 1 BTC bought; the entry still holds quote for 2 more
    assert desk.balance("BTC") == (D(0), D(1))
    assert desk.balance("USDT")[1] > 0
    desk.change(asks=[("100.50", "1")])
    group = desk.account.order(group.id)
    assert [leg.quantity for leg in group.legs if leg.role is not LegRole.ENTRY] == [D(2), D(2)]
    assert desk.balance("BTC") == (D(0), D(2))
    # the stop executes while the entry still works: the rest of the entry is canceled
    desk.change(bids=[("89.00", "10")])
    desk.trade("89.50", "0.1", buyer_took=False)
    group = desk.account.order(group.id)
    legs = {leg.role: leg for leg in group.legs}
    assert legs[LegRole.STOP_LOSS].status is S.FILLED
    assert legs[LegRole.TAKE_PROFIT].status is S.CANCELED
    assert legs[LegRole.ENTRY].status is S.CANCELED
    assert legs[LegRole.ENTRY].reason_code == ReasonCode.SIBLING_EXECUTED.value
    assert group.status is S.FILLED
    assert desk.balance("BTC") == (D(0), D(0))
    assert desk.balance("USDT")[1] == 0


def test_an_ioc_bracket_entry_keeps_its_exits_for_what_it_bought() -> None:
    desk = Desk(BIDS, [("100.00", "1")])
    desk.trade("99.50", "0.1", buyer_took=False)
    group, _ = desk.place(
        buy(OrderType.BRACKET, "3", take_profit="120", stop_loss="90", time_in_force="IOC")
    )
    legs = {leg.role: leg for leg in group.legs}
    assert (legs[LegRole.ENTRY].status, legs[LegRole.ENTRY].filled_quantity) == (S.EXPIRED, D(1))
    assert legs[LegRole.TAKE_PROFIT].status is S.NEW
    assert legs[LegRole.TAKE_PROFIT].time_in_force == "GTC"
    assert desk.balance("BTC") == (D(0), D(1))
    assert desk.balance("USDT")[1] == 0


# -- freshness and the fallback -------------------------------------------------------------
def test_without_a_fresh_book_the_top_of_book_model_applies() -> None:
    desk = Desk(BIDS, ASKS)
    assert desk.account.fill_model() == "book"
    later = desk.t + desk.account.max_age_ms + 1
    assert desk.account.fill_model(SYMBOL, later) == "top_of_book"
    # the book is stale; a fresh trade prices the order at the top of the book, whole
    desk.account.on_market(printed("100.00", "1", later), later)
    order, events = desk.account.place(buy(OrderType.MARKET, "10"), later)
    assert (order.status, [(p, q) for p, q, _, _ in fills_of(events)]) == (
        S.FILLED,
        [(D(100), D(10))],
    )


def test_a_market_order_waiting_for_a_price_fills_from_the_first_fresh_book() -> None:
    account = Account(AccountConfig(initial_balance=D(100_000)))
    order, _ = account.place(buy(OrderType.MARKET, "1.5"), 1_000)
    assert order.expires_at is not None
    book = book_of(BIDS, ASKS)
    events = account.on_book(SYMBOL, book, 1_100)
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(100), D(1)), (D(101), D("0.5"))]
    assert account.order(order.id).status is S.FILLED


def test_unknown_time_in_force_and_an_oco_that_is_not_gtc_are_refused() -> None:
    desk = Desk(BIDS, ASKS, balances={"BTC": D(1)})
    order, _ = desk.place(buy(OrderType.MARKET, "1", time_in_force="GTD"))
    assert order.status is S.REJECTED
    assert order.reason == "Time in force 'GTD' is unknown: expected GTC, IOC or FOK"
    desk.trade("100.00", "1")
    oco, _ = desk.place(
        sell(OrderType.OCO, "1", take_profit="110", stop_price="90", time_in_force="IOC")
    )
    assert oco.status is S.REJECTED
    assert oco.reason_code == ReasonCode.INVALID_PARAMS.value


def test_a_rebuilt_account_continues_a_partly_filled_order_from_the_book() -> None:
    desk = Desk(BIDS, ASKS)
    order, events = desk.place(buy(OrderType.MARKET, "10"))
    rebuilt = Account(desk.account.config)
    for event in events:
        rebuilt.apply(event)  # what a journal rebuild does
    assert rebuilt.order(order.id) == desk.account.order(order.id)
    assert rebuilt.balances() == desk.account.balances()
    # after a restart the engine's books are rebuilt from a snapshot: a new object, so
    # what the orders took from the old one counts no more, for both accounts
    t = desk.tick()
    book = book_of(BIDS, [("102.00", "1"), ("103.00", "5")])
    book.event_ms = t
    live = desk.account.on_book(SYMBOL, book, t)
    again = rebuilt.on_book(SYMBOL, book, t)
    assert msgspec.msgpack.encode(live) == msgspec.msgpack.encode(again)
    assert [(p, q) for p, q, _, _ in fills_of(live)] == [(D(102), D(1)), (D(103), D(1))]
    assert rebuilt.order(order.id).status is S.FILLED


def test_an_order_lists_its_executions_per_price_and_each_fill_stays_an_event() -> None:
    desk = Desk(BIDS, ASKS)
    order, _ = desk.place(buy(OrderType.LIMIT, "1", price="98.50"))
    events: list[AccountEvent] = []
    for _ in range(3):
        events += desk.trade("98.00", "0.1", buyer_took=False)
    assert len(fills_of(events)) == 3
    current = desk.account.order(order.id)
    assert [(e.price, e.quantity, e.fee, e.maker) for e in current.executions] == [
        (D("98.50"), D("0.3"), D("0.3") * D("98.50") * FEE, True)
    ]
    assert current.executions[0].ts_ms == desk.t  # the latest of them
    assert current.avg_price == D("98.50")


def test_closing_a_holding_while_its_bracket_entry_still_works() -> None:
    desk = Desk(BIDS, [("100.00", "1")])
    desk.trade("99.50", "0.1", buyer_took=False)
    group, _ = desk.place(buy(OrderType.BRACKET, "3", take_profit="120", stop_loss="90"))
    assert desk.balance("BTC") == (D(0), D(1))  # the exits hold the 1 bought
    position = desk.account.positions[0]
    # half of it: the exits shrink to what is left, and hold back only that
    desk.account.close_position(position.id, D("0.5"), desk.tick())
    assert desk.balance("BTC") == (D(0), D("0.5"))
    group = desk.account.order(group.id)
    exits = [leg for leg in group.legs if leg.role is not LegRole.ENTRY]
    assert [leg.remaining for leg in exits] == [D("0.5"), D("0.5")]
    assert group.leg_by_role(LegRole.ENTRY).status is S.PARTIALLY_FILLED  # type: ignore[union-attr]
    # all of it: the bracket gives way, its working entry with it
    desk.account.close_position(position.id, None, desk.tick())
    group = desk.account.order(group.id)
    assert group.status is S.CANCELED
    assert group.reason_code == ReasonCode.HOLDING_CLOSED.value
    assert desk.balance("BTC") == (D(0), D(0))
    assert desk.balance("USDT")[1] == 0


def test_the_account_says_book_only_when_every_symbol_it_trades_has_a_fresh_book() -> None:
    desk = Desk(BIDS, ASKS)
    account = desk.account
    assert (account.fill_model(), account.fill_models()) == ("book", {SYMBOL: "book"})
    # an open order on a symbol without a book: that symbol fills at the top of the book
    t = desk.tick()
    account.on_market(printed("20.00", "1", t, symbol="ETHUSDT"), t)
    order, _ = account.place(buy(OrderType.LIMIT, "1", price="19", symbol="ETHUSDT"), t)
    assert order.status is S.NEW
    assert account.fill_models() == {"BTCUSDT": "book", "ETHUSDT": "top_of_book"}
    assert account.fill_model() == "top_of_book"
    account.cancel(order.id, desk.tick())
    assert account.fill_model() == "book"
    account.on_book(SYMBOL, None, desk.tick())  # the engine lost the book (a gap)
    assert (account.fill_model(), account.book(SYMBOL)) == ("top_of_book", None)


def test_a_margin_style_short_walks_the_bids() -> None:
    desk = Desk(BIDS, ASKS, allow_short=True)
    order, events = desk.place(sell(OrderType.MARKET, "4"))
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [(D(99), D(2)), (D(98), D(2))]
    position = desk.account.positions[0]
    assert (position.type.value, position.quantity) == ("sell", D(4))
    assert position.entry_price == D("98.5")
    # buying back walks the asks and closes it
    _, events = desk.account.close_position(position.id, None, desk.tick())
    assert [(p, q) for p, q, _, _ in fills_of(events)] == [
        (D(100), D(1)),
        (D(101), D(2)),
        (D(102), D(1)),
    ]
    assert desk.account.positions == []
    assert order.status is S.FILLED


def test_a_walk_the_journal_refuses_is_taken_back_with_the_liquidity_it_took() -> None:
    calm, stormy = Desk(BIDS, ASKS), Desk(BIDS, ASKS)
    stormy.account.attach_journal(Refusing(2))
    expected_order, expected = calm.place(buy(OrderType.MARKET, "10"))
    before = (stormy.account.balances(), stormy.account.open_orders)
    for _ in range(2):  # the walk and its fills never happened, nor did what they took
        try:
            stormy.account.place(buy(OrderType.MARKET, "10"), calm.t)
        except OSError:
            pass
        else:
            raise AssertionError("the step should have been refused")
        assert (stormy.account.balances(), stormy.account.open_orders) == before
    order, events = stormy.account.place(buy(OrderType.MARKET, "10"), calm.t)
    assert msgspec.msgpack.encode(events) == msgspec.msgpack.encode(expected)
    assert order == expected_order
    # the rest waits for the book: the same next change gives the same fills
    stormy.account.attach_journal(Refusing(1))
    t = calm.tick()
    for desk in (calm, stormy):
        change(desk.book, asks=[("103.00", "5")], event_ms=t)
    live = calm.account.on_book(SYMBOL, calm.book, t)
    try:
        stormy.account.on_book(SYMBOL, stormy.book, t)
    except OSError:
        pass
    else:
        raise AssertionError("the step should have been refused")
    assert stormy.account.order(order.id).status is S.PARTIALLY_FILLED
    again = stormy.account.on_book(SYMBOL, stormy.book, t)
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(live)
