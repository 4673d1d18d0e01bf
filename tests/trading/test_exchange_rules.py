"""The exchange's filters, read from real ``exchangeInfo`` answers
(tests/fixtures/binance/rest) and enforced at placement on every order type and leg,
with reasons in the ticket's words and the symbol's precision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workspace.market.exchange_info import SymbolInfo
from workspace.trading import (
    Account,
    AccountConfig,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    round_price,
    round_qty,
    symbol_info_to_wire,
)
from workspace.trading.rules import inferred_info

from .scripted import ETHBTC_2025, D, Script, buy, listing, sell, trade

BTC = listing()["BTCUSDT"]
ETHBTC = listing(ETHBTC_2025)["ETHBTC"]


def test_the_2021_answer_is_read_with_its_legacy_min_notional() -> None:
    assert (BTC.base_asset, BTC.quote_asset, BTC.status) == ("BTC", "USDT", "TRADING")
    assert (BTC.tick_size, BTC.min_price, BTC.max_price) == (
        D("0.01"),
        D("0.01"),
        D("1000000"),
    )
    assert (BTC.step_size, BTC.min_qty, BTC.max_qty) == (D("0.00001"), D("0.00001"), D(9000))
    assert (BTC.min_notional, BTC.apply_min_to_market, BTC.max_notional) == (D(10), True, None)
    # MARKET_LOT_SIZE: step and min are 0 (off), the max is on
    assert (BTC.market_step_size, BTC.market_min_qty) == (None, None)
    assert BTC.market_max_qty == D("112.21108820")
    # legacy PERCENT_PRICE gives both sides the same bounds
    assert (BTC.bid_multiplier_up, BTC.ask_multiplier_down) == (D(5), D("0.2"))
    assert (BTC.price_precision, BTC.quantity_precision) == (2, 5)
    eth = listing()["ETHUSDT"]
    assert (eth.step_size, eth.min_qty, eth.quantity_precision) == (D("0.0001"), D("0.0001"), 4)


def test_the_2025_answer_is_read_with_notional_percent_price_by_side_and_trailing_delta() -> None:
    assert (ETHBTC.base_asset, ETHBTC.quote_asset) == ("ETH", "BTC")
    assert (ETHBTC.tick_size, ETHBTC.step_size) == (D("0.00001"), D("0.0001"))
    assert (ETHBTC.min_notional, ETHBTC.max_notional) == (D("0.0001"), D(9000000))
    assert (ETHBTC.apply_min_to_market, ETHBTC.apply_max_to_market) == (True, False)
    assert (ETHBTC.bid_multiplier_up, ETHBTC.bid_multiplier_down) == (D(5), D("0.2"))
    assert (ETHBTC.ask_multiplier_up, ETHBTC.ask_multiplier_down) == (D(5), D("0.2"))
    assert (ETHBTC.min_trailing_below_delta, ETHBTC.max_trailing_below_delta) == (10, 2000)
    assert ETHBTC.market_max_qty == D("985.33449583")


def test_symbol_info_wire_is_the_ticket_contract() -> None:
    wire = symbol_info_to_wire(BTC)
    assert {
        k: wire[k]
        for k in (
            "base_asset",
            "quote_asset",
            "tick_size",
            "step_size",
            "min_qty",
            "max_qty",
            "min_notional",
            "price_precision",
            "quantity_precision",
            "status",
        )
    } == {
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "tick_size": "0.01",
        "step_size": "0.00001",
        "min_qty": "0.00001",
        "max_qty": "9000",
        "min_notional": "10",
        "price_precision": 2,
        "quantity_precision": 5,
        "status": "TRADING",
    }


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("0.123456789", "0.12345"), ("0.00001", "0.00001"), ("0.000019", "0.00001"), ("5", "5")],
)
def test_round_qty_rounds_down_to_the_lot_step(quantity: str, expected: str) -> None:
    assert round_qty(BTC, D(quantity)) == D(expected)
    assert round_qty(None, D(quantity)) == D(quantity)


@pytest.mark.parametrize(
    ("price", "expected"),
    [("97151.574", "97151.57"), ("97151.575", "97151.58"), ("97151.5", "97151.50"), ("3", "3")],
)
def test_round_price_rounds_to_the_nearest_tick(price: str, expected: str) -> None:
    assert round_price(BTC, D(price)) == D(expected)
    assert str(round_price(BTC, D("97151.5"))) == "97151.50"


def _spot(balance: str = "100000") -> Script:
    s = Script(binance=True, initial_balance=D(balance))
    s.trades("97000")
    return s


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            buy(OrderType.MARKET, "0.00000001"),
            "LOT_SIZE",
            "Quantity 0.00000001 BTC is below the minimum 0.00001 BTC",
        ),
        (
            buy(OrderType.LIMIT, "0.123456", price="96000"),
            "LOT_SIZE",
            "Quantity 0.123456 BTC is not a multiple of the step 0.00001 BTC "
            "(nearest below: 0.12345 BTC)",
        ),
        (
            buy(OrderType.LIMIT, "9001", price="96000"),
            "LOT_SIZE",
            "Quantity 9001 BTC is above the maximum 9000 BTC",
        ),
        (
            buy(OrderType.MARKET, "113"),
            "LOT_SIZE",
            "Quantity 113 BTC is above the maximum 112.2110882 BTC for market orders",
        ),
        (
            buy(OrderType.LIMIT, "0.001", price="96000.005"),
            "PRICE_FILTER",
            "Limit price 96000.005 USDT is not a multiple of the tick size 0.01 USDT "
            "(nearest: 96000.01 USDT)",
        ),
        (
            sell(OrderType.STOP_LOSS, "0.001", stop_price="0.001"),
            "PRICE_FILTER",
            "Stop price 0.001 USDT is below the minimum price 0.01 USDT",
        ),
        (
            buy(OrderType.LIMIT, "0.00001", price="96000"),
            "MIN_NOTIONAL",
            "Order value 0.96 USDT (0.00001 BTC x 96000.00 USDT) is below the minimum 10 USDT",
        ),
        (
            buy(OrderType.MARKET, "0.0001"),
            "MIN_NOTIONAL",
            "Order value 9.7 USDT (0.0001 BTC x 97000.00 USDT) is below the minimum 10 USDT",
        ),
        (
            buy(OrderType.LIMIT, "0.001", price="500000"),
            "PERCENT_PRICE",
            "Limit price 500000.00 USDT is too far above the market (97000.00 USDT): a BUY "
            "may be at most 5 x the market, 485000.00 USDT",
        ),
        (
            sell(OrderType.OCO, "0.001", take_profit="100000.001", stop_price="96000"),
            "PRICE_FILTER",
            "Take-profit price 100000.001 USDT is not a multiple of the tick size",
        ),
        (
            buy(
                OrderType.BRACKET,
                "0.001",
                take_profit="98000",
                stop_loss="96000.123",
                price="97000",
            ),
            "PRICE_FILTER",
            "Stop-loss price 96000.123 USDT is not a multiple",
        ),
        (
            sell(OrderType.TRAILING_STOP, "0.001", trail_percent="1", activation_price="97000.555"),
            "PRICE_FILTER",
            "Activation price 97000.555 USDT is not a multiple",
        ),
    ],
)
def test_real_btcusdt_filters_refuse_with_a_code_and_words_at_the_symbols_precision(
    request_: OrderRequest, code: str, reason: str
) -> None:
    s = _spot()
    s.place(buy(OrderType.MARKET, "1"))  # something to sell
    order, events = s.place(request_)
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, code)
    assert order.reason is not None
    assert order.reason.startswith(reason), order.reason
    assert "E+" not in order.reason
    assert "0000000000" not in order.reason
    assert len(events) == 1


def test_orders_on_the_step_and_tick_above_the_minimum_pass_every_filter() -> None:
    s = _spot()
    for request_ in (
        buy(OrderType.MARKET, "0.00011"),  # 10.67 USDT
        buy(OrderType.LIMIT, "0.12345", price="96000.01"),
        buy(OrderType.OCO, "0.001", take_profit="96000", stop_price="98000"),
        buy(OrderType.BRACKET, "0.001", take_profit="99000", stop_loss="95000"),
        buy(OrderType.STOP_LOSS, "0.001", stop_price="98000", price="98100.5"),
        buy(OrderType.TRAILING_STOP, "0.001", trailing_delta="50"),
    ):
        order, _ = s.place(request_)
        assert order.status is not OrderStatus.REJECTED, order.reason


def test_an_unlisted_symbol_is_refused_for_every_order_type() -> None:
    s = _spot()
    for kind, prices in (
        (OrderType.MARKET, {}),
        (OrderType.LIMIT, {"price": "1"}),
        (OrderType.STOP_LOSS, {"stop_price": "1"}),
        (OrderType.TAKE_PROFIT, {"stop_price": "1"}),
        (OrderType.OCO, {"take_profit": "1", "stop_price": "2"}),
        (OrderType.TRAILING_STOP, {"trail_percent": "1"}),
        (OrderType.BRACKET, {"take_profit": "2", "stop_loss": "1"}),
    ):
        order, _ = s.place(buy(kind, "1", symbol="NOPEUSDT", **prices))
        assert (order.reason_code, order.reason) == (
            "UNKNOWN_SYMBOL",
            "NOPEUSDT is not listed by the exchange",
        )


def test_a_symbol_that_is_not_trading_is_refused_market_closed() -> None:
    halted = {
        "BTCUSDT": SymbolInfo(
            symbol="BTCUSDT", status="BREAK", base_asset="BTC", quote_asset="USDT"
        )
    }
    account = Account(AccountConfig(), rules=halted)
    request = OrderRequest(
        symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT, quantity=D(1), price=D(1)
    )
    order, _ = account.place(request, 1)
    assert (order.reason_code, order.reason) == (
        "MARKET_CLOSED",
        "BTCUSDT is not trading now (status BREAK)",
    )


def test_eth_btc_rules_on_a_btc_quoted_account() -> None:
    account = Account(
        AccountConfig(initial_balance=D(1), quote_currency="BTC"), rules=listing(ETHBTC_2025)
    )
    account.on_market(trade("0.02400", 1, "ETHBTC"), 1)

    def place(**fields: object) -> tuple[str | None, str | None]:
        request = OrderRequest(symbol="ETHBTC", side=Side.BUY, **fields)  # type: ignore[arg-type]
        order, _ = account.place(request, 2)
        return order.reason_code, order.reason

    assert place(type=OrderType.LIMIT, quantity=D("0.001"), price=D("0.024")) == (
        "MIN_NOTIONAL",
        "Order value 0.000024 BTC (0.001 ETH x 0.02400 BTC) is below the minimum 0.0001 BTC",
    )
    assert place(type=OrderType.LIMIT, quantity=D(10), price=D("0.0001")) == (
        "PERCENT_PRICE",
        "Limit price 0.00010 BTC is too far below the market (0.02400 BTC): a BUY must be at "
        "least 0.2 x the market, 0.00480 BTC",
    )
    assert place(type=OrderType.TRAILING_STOP, quantity=D("0.1"), trailing_delta=D(5)) == (
        "TRAILING_DELTA",
        "Trailing delta 5 BIPS (0.05 %) is below the minimum 10 BIPS (0.1 %)",
    )
    assert place(type=OrderType.TRAILING_STOP, quantity=D("0.1"), trail_percent=D(25)) == (
        "TRAILING_DELTA",
        "Trailing delta 2500 BIPS (25 %) is above the maximum 2000 BIPS (20 %)",
    )
    # an amount is judged as the share of the price it trails from (it was not judged:
    # a trail of 1 BTC on ETH at 0.024 BTC was taken, its stop far below 0)
    assert place(type=OrderType.TRAILING_STOP, quantity=D("0.1"), trail_amount=D(1)) == (
        "TRAILING_DELTA",
        "Trail amount 1.00000 BTC (416666.67 BIPS of 0.02400 BTC) is above the maximum "
        "2000 BIPS (20 %)",
    )
    assert place(type=OrderType.TRAILING_STOP, quantity=D("0.1"), trail_amount=D("0.00001")) == (
        "TRAILING_DELTA",
        "Trail amount 0.00001 BTC (4.17 BIPS of 0.02400 BTC) is below the minimum 10 BIPS (0.1 %)",
    )
    assert place(type=OrderType.TRAILING_STOP, quantity=D("0.1"), trail_amount=D("0.00024")) == (
        None,
        None,
    )  # 100 BIPS
    assert place(type=OrderType.MARKET, quantity=D("0.1"))[0] is None  # fills


def test_a_usdt_account_refuses_symbols_quoted_in_another_asset() -> None:
    account = Account(AccountConfig(), rules=listing(ETHBTC_2025))
    request = OrderRequest(
        symbol="ETHBTC", side=Side.BUY, type=OrderType.LIMIT, quantity=D(1), price=D("0.02")
    )
    order, _ = account.place(request, 1)
    assert (order.reason_code, order.reason) == (
        "INVALID_PARAMS",
        "ETHBTC is quoted in BTC; this account trades USDT-quoted symbols only",
    )


def test_a_full_close_sells_the_exact_holding_even_below_the_lot_and_notional_minimum() -> None:
    s = Script(binance=True, balances={"BTC": D("0.000005")})  # dust: half a lot step
    s.trades("97000")
    position = s.account.positions[0]
    order, _ = s.close(position.id)
    assert order.status is OrderStatus.FILLED
    assert s.account.balances().get("BTC") is None
    partial, _ = Script(binance=True, balances={"BTC": D(1)}), None
    partial.trades("97000")
    half, _ = partial.close(partial.account.positions[0].id, "0.000005")
    assert half.reason_code == "LOT_SIZE"


def test_inferred_rules_for_a_replay_take_the_finest_steps_the_data_shows() -> None:
    info = inferred_info(
        "BTCUSDT", "USDT", [D("97151.57"), D("97151.5"), D("97151")], [D("0.00125"), D("1.5")]
    )
    assert (info.tick_size, info.step_size, info.min_qty) == (D("0.01"), D("0.00001"), D("0.00001"))
    assert (info.min_notional, info.base_asset, info.status) == (D(5), "BTC", "TRADING")
    assert inferred_info("ETHBTC", "BTC", [D("0.024")], []).min_notional is None
    assert inferred_info("ETHBTC", "BTC", [D("0.024")], []).step_size == Decimal("1e-8")
