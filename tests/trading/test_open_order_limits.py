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
