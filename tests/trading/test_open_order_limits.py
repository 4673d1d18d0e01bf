"""MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS (filters.md of binance-spot-api-docs): the
open orders an account may have on one symbol, read from the real exchangeInfo
answers (200 and 5 for BTCUSDT) and counted as the exchange counts them: an OCO or a
bracket is each of its live legs, and stop-loss, take-profit and trailing stops are
the "algo" orders."""

from __future__ import annotations

import msgspec

from workspace.market.exchange_info import parse_exchange_info
from workspace.trading import Account, OrderStatus, OrderType
from workspace.trading.reasons import ReasonCode

from .scripted import D, Script, buy, listing, sell

S = OrderStatus
BTC = listing()["BTCUSDT"]


def spot(btc: str = "10") -> Script:
    s = Script(binance=True, initial_balance=D(10) ** 7, balances={"BTC": D(btc)})
    s.trades("97000")
    return s


def test_the_limits_are_read_from_the_exchange_s_answers() -> None:
    assert (BTC.max_num_orders, BTC.max_num_algo_orders) == (200, 5)
    eth_btc = listing("exchangeInfo.ETHBTC.mainnet-2025-06.json")["ETHBTC"]
    assert (eth_btc.max_num_orders, eth_btc.max_num_algo_orders) == (200, 5)


def test_the_201st_open_order_on_a_symbol_is_refused_and_a_cancel_frees_a_place() -> None:
    s = spot()
    placed = []
    for i in range(200):
        order, _ = s.place(buy(OrderType.LIMIT, "0.001", price=str(90000 - i)))
        assert order.status is S.NEW, order.reason
        placed.append(order)
    assert s.account.store.open_count("BTCUSDT") == (200, 0)
    refused, _ = s.place(buy(OrderType.LIMIT, "0.001", price="80000"))
    assert refused.status is S.REJECTED
    assert refused.reason_code == ReasonCode.MAX_NUM_ORDERS.value
    assert refused.reason == (
        "BTCUSDT has 200 open orders and this LIMIT adds 1: the exchange allows at most "
        "200 open orders on one symbol"
    )
    # a MARKET order is an order too, for as long as it takes to fill
    market, _ = s.place(buy(OrderType.MARKET, "0.001"))
    assert market.reason_code == ReasonCode.MAX_NUM_ORDERS.value
    # another symbol counts its own
    s.trades("3000", symbol="ETHUSDT")
    other, _ = s.place(buy(OrderType.LIMIT, "0.01", price="2900", symbol="ETHUSDT"))
    assert other.status is S.NEW, other.reason
    s.cancel(placed[0].id)
    again, _ = s.place(buy(OrderType.LIMIT, "0.001", price="80000"))
    assert again.status is S.NEW, again.reason
    assert s.account.store.open_count("BTCUSDT") == (200, 0)


def test_a_sixth_stop_order_is_refused_whatever_its_kind() -> None:
    s = spot()
    kinds = [
        sell(OrderType.STOP_LOSS, "0.01", stop_price="96000"),
        sell(OrderType.TAKE_PROFIT, "0.01", stop_price="98000"),
        sell(OrderType.TRAILING_STOP, "0.01", trail_percent="1"),
        sell(OrderType.OCO, "0.01", take_profit="99000", stop_price="95000"),  # 1 of 2
        sell(OrderType.STOP_LOSS, "0.01", stop_price="95500", price="95400"),  # stop-limit
    ]
    for request in kinds:
        order, _ = s.place(request)
        assert order.status is S.NEW, order.reason
    assert s.account.store.open_count("BTCUSDT") == (6, 5)
    limit, _ = s.place(buy(OrderType.LIMIT, "0.001", price="90000"))  # not an algo order
    assert limit.status is S.NEW, limit.reason
    refused, _ = s.place(sell(OrderType.STOP_LOSS, "0.01", stop_price="94000"))
    assert refused.reason_code == ReasonCode.MAX_NUM_ALGO_ORDERS.value
    assert refused.reason == (
        "BTCUSDT has 5 open stop orders (stop-loss, take-profit, trailing stop) and this "
        "STOP_LOSS adds 1: the exchange allows at most 5 on one symbol"
    )
    bracket, _ = s.place(
        buy(OrderType.BRACKET, "0.001", price="90000", take_profit="99000", stop_loss="89000")
    )
    assert bracket.reason_code == ReasonCode.MAX_NUM_ALGO_ORDERS.value


def test_a_group_counts_each_live_leg_and_frees_them_as_they_end() -> None:
    s = spot(btc="0")
    bracket, _ = s.place(
        buy(OrderType.BRACKET, "0.001", price="96000", take_profit="99000", stop_loss="95000")
    )
    assert bracket.status is S.NEW, bracket.reason
    # the entry and its two pending exits, as an order list counts from its placement
    assert s.account.store.open_count("BTCUSDT") == (3, 1)
    s.trades("95990")  # the entry fills: the exits work
    assert s.account.order(bracket.id).legs[0].status is S.FILLED
    assert s.account.store.open_count("BTCUSDT") == (2, 1)
    s.trades("99000")  # the take-profit fills, the stop-loss is canceled
    assert s.account.store.open_count("BTCUSDT") == (0, 0)


def test_a_rebuilt_account_counts_the_same_open_orders() -> None:
    s = spot()
    s.place(sell(OrderType.OCO, "0.01", take_profit="99000", stop_price="95000"))
    s.place(buy(OrderType.LIMIT, "0.001", price="90000"))
    gone, _ = s.place(sell(OrderType.STOP_LOSS, "0.01", stop_price="96000"))
    s.cancel(gone.id)
    rebuilt = Account(s.account.config, rules=listing())
    for event in s.events:
        rebuilt.apply(event)  # what a journal rebuild does
    assert rebuilt.store.open_count("BTCUSDT") == s.account.store.open_count("BTCUSDT") == (3, 1)


def test_a_limit_of_zero_is_off_as_binance_disables_a_rule() -> None:
    def parsed(orders: int, algo: int) -> tuple[int | None, int | None]:
        filters = [
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": algo},
        ]
        symbol = {"symbol": "BTCUSDT", "status": "TRADING", "filters": filters}
        body = msgspec.json.encode({"symbols": [symbol]})
        info = parse_exchange_info(body)["BTCUSDT"]
        return info.max_num_orders, info.max_num_algo_orders

    assert parsed(0, 5) == (None, 5)
    assert parsed(200, 0) == (200, None)


def capped(**limits: object) -> Script:
    """BTCUSDT with its real filters and the newer limits of ``limits``
    (MAX_NUM_ORDER_LISTS, on since 2025-08-28; MAX_POSITION, which some symbols have)."""
    s = spot(btc="0")
    rules = {**listing(), "BTCUSDT": msgspec.structs.replace(BTC, **limits)}
    s.account = Account(s.account.config, rules=rules)
    s.trades("97000")
    return s


def test_the_order_list_limits_are_read_from_the_exchange_s_answer() -> None:
    filters = [
        {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20},
        {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
        {"filterType": "MAX_POSITION", "maxPosition": "10.00000000"},
    ]
    body = msgspec.json.encode(
        {"symbols": [{"symbol": "X", "status": "TRADING", "filters": filters}]}
    )
    info = parse_exchange_info(body)["X"]
    assert (info.max_num_order_lists, info.max_position) == (20, D(10))
    off = [{"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 0}]
    body = msgspec.json.encode({"symbols": [{"symbol": "X", "status": "TRADING", "filters": off}]})
    assert parse_exchange_info(body)["X"].max_num_order_lists is None


def test_the_21st_open_order_list_on_a_symbol_is_refused() -> None:
    """MAX_NUM_ORDER_LISTS (20 per symbol on Binance since 2025-08-28) was not read:
    a paper account took any number of OCOs and brackets on one symbol."""
    s = capped(max_num_order_lists=20, max_num_orders=None, max_num_algo_orders=None)
    lists = []
    for i in range(10):
        oco, _ = s.place(
            buy(OrderType.OCO, "0.001", take_profit=str(90000 - i), stop_price=str(98000 + i))
        )
        bracket, _ = s.place(
            buy(OrderType.BRACKET, "0.001", price=str(91000 - i), take_profit="99000",
                stop_loss="89000")
        )  # fmt: skip
        assert (oco.status, bracket.status) == (S.NEW, S.NEW), (oco.reason, bracket.reason)
        lists += [oco, bracket]
    assert s.account.store.open_lists("BTCUSDT") == 20
    refused, _ = s.place(buy(OrderType.OCO, "0.001", take_profit="80000", stop_price="99999"))
    assert refused.reason_code == ReasonCode.MAX_NUM_ORDER_LISTS.value
    assert refused.reason == (
        "BTCUSDT has 20 open order lists (OCO, bracket) and this OCO is one more: the "
        "exchange allows at most 20 on one symbol"
    )
    # an order that is no list still goes in
    limit, _ = s.place(buy(OrderType.LIMIT, "0.001", price="80000"))
    assert limit.status is S.NEW, limit.reason
    s.cancel(lists[0].id)
    again, _ = s.place(buy(OrderType.OCO, "0.001", take_profit="80000", stop_price="99999"))
    assert again.status is S.NEW, again.reason
    rebuilt = Account(s.account.config, rules=s.account.rules.listing)
    for event in s.events:
        rebuilt.apply(event)
    assert rebuilt.store.open_lists("BTCUSDT") == 20


def test_a_buy_past_the_max_position_is_refused() -> None:
    """MAX_POSITION: the base asset held (free and locked), plus what open buys may
    still add, plus this order's buys, at most ``maxPosition``."""
    s = capped(max_position=D("0.01"))
    first, _ = s.place(buy(OrderType.MARKET, "0.004"))
    assert first.status is S.FILLED, first.reason
    resting, _ = s.place(buy(OrderType.LIMIT, "0.003", price="90000"))
    assert resting.status is S.NEW, resting.reason
    over, _ = s.place(buy(OrderType.LIMIT, "0.004", price="90000"))
    assert over.reason_code == ReasonCode.MAX_POSITION.value
    assert over.reason == (
        "Buying 0.004 BTC would take the position to 0.011 BTC (0.004 held, 0.003 in open "
        "buys): the exchange allows at most 0.01 BTC on BTCUSDT"
    )
    exact, _ = s.place(buy(OrderType.MARKET, "0.003"))
    assert exact.status is S.FILLED, exact.reason  # 0.004 + 0.003 + 0.003 = 0.01
    # each buy leg of an OCO is an order on the exchange: both count
    s.cancel(resting.id)
    oco, _ = s.place(buy(OrderType.OCO, "0.002", take_profit="90000", stop_price="98000"))
    assert oco.reason_code == ReasonCode.MAX_POSITION.value
    # selling is never capped
    sold, _ = s.place(sell(OrderType.MARKET, "0.007"))
    assert sold.status is S.FILLED, sold.reason
    oco, _ = s.place(buy(OrderType.OCO, "0.002", take_profit="90000", stop_price="98000"))
    assert oco.status is S.NEW, oco.reason
