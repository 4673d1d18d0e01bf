"""Bad requests become REJECTED orders with a human-readable reason and change nothing."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workspace.errors import InvalidParams, NotFound
from workspace.trading import (
    Account,
    AccountConfig,
    Balance,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    order_to_wire,
)

from .scripted import D, Script, buy, sell, trade


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        (buy(OrderType.MARKET, "1", symbol="DOGE-USD"), "unknown symbol 'DOGE-USD'"),
        (buy(OrderType.MARKET, "1", symbol="ETHBTC"), "USDT-quoted symbols only"),
        (buy(OrderType.MARKET, "0"), "Quantity must be greater than 0, got 0"),
        (buy(OrderType.MARKET, "-1"), "Quantity must be greater than 0, got -1"),
        (buy(OrderType.MARKET, "NaN"), "Quantity must be a finite number"),
        (buy(OrderType.MARKET, "Infinity"), "Quantity must be a finite number"),
        (buy(OrderType.LIMIT, "1", price="0"), "Limit price must be greater than 0"),
        (buy(OrderType.LIMIT, "1", price="-5"), "Limit price must be greater than 0, got -5"),
        (buy(OrderType.LIMIT, "1", price="sNaN"), "Limit price must be a finite number"),
        (buy(OrderType.LIMIT, "1"), "A LIMIT order needs a limit price"),
        (sell(OrderType.STOP_LOSS, "1"), "needs a stop price"),
        (sell(OrderType.OCO, "1", stop_price="90"), "needs a take-profit price"),
        (buy(OrderType.BRACKET, "1", take_profit="110"), "needs a stop-loss price"),
        (
            sell(OrderType.TRAILING_STOP, "1", trail_percent="100"),
            "Trail percent must be below 100",
        ),
        # a price the type does not use (Binance: "sent when not required")
        (buy(OrderType.MARKET, "1", price="1"), "A MARKET order takes no limit price (price)"),
        (
            buy(OrderType.LIMIT, "1", price="90", take_profit="120"),
            "A LIMIT order takes no take-profit price (take_profit)",
        ),
        (
            buy(OrderType.BRACKET, "1", take_profit="110", stop_loss="90", activation_price="95"),
            "A BRACKET's activation price is for a trailing stop leg",
        ),
        (buy(OrderType.MARKET, "1000"), "Insufficient balance: buying 1000 BTC at 100 USDT"),
        (buy(OrderType.LIMIT, "200", price="99"), "Insufficient balance: this order needs"),
    ],
)
def test_invalid_request_is_rejected_with_a_reason_and_leaves_state_unchanged(
    req: OrderRequest, reason: str
) -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.LIMIT, "1", price="90"))
    before = (s.account.portfolio(), dict(s.account.orders), s.account.positions)
    order, events = s.place(req)
    assert order.status is OrderStatus.REJECTED
    assert order.reason is not None
    assert reason in order.reason
    assert len(events) == 1
    after = (s.account.portfolio(), dict(s.account.orders), s.account.positions)
    assert after[0] == before[0]
    assert after[2] == before[2]
    assert {k: v for k, v in after[1].items() if k != order.id} == before[1]


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"symbol": None}, "UNKNOWN_SYMBOL", "unknown symbol 'None'"),
        ({"symbol": 42}, "UNKNOWN_SYMBOL", "unknown symbol '42'"),
        ({"client_order_id": 5}, "INVALID_PARAMS", "Client order id must be 1 to 36"),
        ({"time_in_force": 5}, "INVALID_PARAMS", "Time in force '5' is unknown"),
        ({"side": "BUY"}, "INVALID_PARAMS", "Side must be Side.BUY (the enum), not the string"),
        ({"type": "market"}, "INVALID_PARAMS", "Order type must be OrderType.MARKET (the enum)"),
    ],
)
def test_fields_of_the_wrong_type_are_rejected_not_raised(
    fields: dict[str, object], code: str, reason: str
) -> None:
    """Compiled, the core read ``request.symbol`` (and the client id, the time in force)
    as their declared ``str`` and raised TypeError for ``None`` or a number, where the
    plain core rejected the order: both now reject it, with the same reason."""
    s = Script()
    s.trades("100")
    values: dict[str, object] = {
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "quantity": D(1),
        **fields,
    }
    order, events = s.place(OrderRequest(**values))  # type: ignore[arg-type]
    assert order.status is OrderStatus.REJECTED
    assert order.reason_code == code
    assert order.reason is not None
    assert order.reason.startswith(reason)
    assert len(events) == 1


def test_a_missing_quantity_is_required_not_zero() -> None:
    s = Script()
    s.trades("100")
    req = OrderRequest(symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=None)
    order, _ = s.place(req)
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "Quantity is required"


def test_symbols_outside_the_configured_set_are_unknown() -> None:
    account = Account(AccountConfig(), symbols={"ETHUSDT"})
    req = OrderRequest(symbol="btcusdt", side=Side.BUY, type=OrderType.MARKET, quantity=D(1))
    order, _ = account.place(req, 1)
    assert order.reason == "BTCUSDT is not one of the account's symbols"
    assert order.reason_code == "UNKNOWN_SYMBOL"


def test_lower_case_symbol_is_accepted_and_upper_cased() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.MARKET, "1", symbol="btcusdt"))
    assert order.symbol == "BTCUSDT"
    assert order.status is OrderStatus.FILLED


def test_insufficient_balance_counts_the_fee_exactly() -> None:
    s = Script()  # 10,000 USDT, 0.1 % taker fee
    s.trades("1001")
    fits = Decimal(10000) / (Decimal(1001) * Decimal("1.001"))
    exact, _ = s.place(buy(OrderType.MARKET, str(fits.quantize(Decimal("1e-8"), "ROUND_DOWN"))))
    assert exact.status is OrderStatus.FILLED
    too_much, _ = s.place(buy(OrderType.MARKET, "0.0001"))
    assert too_much.status is OrderStatus.REJECTED


def test_resting_buy_orders_reserve_what_they_would_spend() -> None:
    s = Script()
    s.trades("100")
    first, _ = s.place(buy(OrderType.LIMIT, "60", price="90"))
    assert first.status is OrderStatus.NEW
    second, _ = s.place(buy(OrderType.LIMIT, "60", price="90"))
    assert second.status is OrderStatus.REJECTED
    assert second.reason is not None
    assert second.reason_code == "INSUFFICIENT_BALANCE"
    assert second.reason == (
        "Insufficient balance: this order needs 5405.4 USDT (fees included) and 4594.6 USDT is free"
    )


def test_a_resting_sell_locks_the_asset_it_will_sell_not_cash() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "99"))
    order, _ = s.place(sell(OrderType.LIMIT, "99", price="150"))
    assert order.status is OrderStatus.NEW
    assert (order.reserved, order.reserved_asset) == (D(99), "BTC")
    assert s.account.balances()["BTC"] == Balance(free=D(0), locked=D(99))
    again, _ = s.place(sell(OrderType.MARKET, "1"))
    assert again.reason_code == "INSUFFICIENT_BALANCE"
    assert again.reason == (
        f"Selling 1 BTC needs 1 BTC free; 0 BTC is free, 99 BTC is locked by open orders "
        f"({order.id}): cancel them, or close the position"
    )


def test_cancelling_a_final_order_raises_invalid_params_and_unknown_raises_not_found() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.MARKET, "1"))
    with pytest.raises(InvalidParams, match="already FILLED"):
        s.cancel(order.id)
    with pytest.raises(NotFound):
        s.cancel("order-999")


def test_a_resting_order_that_cannot_be_paid_at_fill_time_expires() -> None:
    s = Script(config=AccountConfig(maker_fee=D(0), taker_fee=D(0)))
    s.trades("100")
    # a buy stop holds back what it costs at its stop price; the market gaps past it
    order, _ = s.place(buy(OrderType.STOP_LOSS, "99", stop_price="101"))
    assert order.reserved == D(9999)
    s.place(buy(OrderType.LIMIT, "1", price="1"))  # ties up the last USDT
    s.account.on_market(trade("105"), s.tick())
    expired = s.order(order.id)
    assert (expired.status, expired.reason_code) == (OrderStatus.EXPIRED, "INSUFFICIENT_BALANCE")
    assert expired.reason == (
        "Insufficient balance: buying 99 BTC at 105 USDT costs 10395 USDT (fee included) "
        "and 9999 USDT is free (when it was to fill)"
    )
    assert s.account.balances()["USDT"].locked == D(1)


def test_a_rejected_order_never_carries_nan_or_infinity_into_events_or_the_wire() -> None:
    s = Script()
    s.trades("100")
    order, events = s.place(buy(OrderType.LIMIT, "NaN", price="Infinity", stop_price="-sNaN"))
    assert order.status is OrderStatus.REJECTED
    assert order.quantity == 0
    assert order.price is None
    json.dumps(order_to_wire(events[0].order), allow_nan=False)  # type: ignore[union-attr]


def test_a_request_with_a_bogus_side_is_rejected_not_raised() -> None:
    s = Script()
    s.trades("100")
    req = OrderRequest(symbol="BTCUSDT", side="SIDEWAYS", type=OrderType.MARKET, quantity=D(1))  # type: ignore[arg-type]
    order, _ = s.place(req)
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "Side 'SIDEWAYS' is unknown: expected Side.BUY or Side.SELL"


def test_an_id_that_is_not_a_string_is_not_found_in_either_core() -> None:
    """Compiled, ``cancel(None)`` raised TypeError (the typed parameter's check) where
    plain Python said NotFound; both say NotFound now, and a close's quantity of the
    wrong type is InvalidParams in both."""
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    [position] = s.account.positions
    position_id = position.id
    for call in (
        lambda: s.account.cancel(None, s.tick()),
        lambda: s.account.cancel(5, s.tick()),
        lambda: s.account.order(None),
        lambda: s.account.position(7),
        lambda: s.account.close_position(None, None, s.tick()),
    ):
        with pytest.raises(NotFound, match=r"no (open )?(order|position) (None|5|7)"):
            call()
    with pytest.raises(InvalidParams, match=r"quantity must be > 0 and <= 1, got 0\.5$"):
        s.account.close_position(position_id, 0.5, s.tick())
    # a Decimal is written as a number ("got Decimal('3')" before)
    with pytest.raises(InvalidParams, match=r"quantity must be > 0 and <= 1, got 3$"):
        s.account.close_position(position_id, D(3), s.tick())
    assert s.account.position(position_id).quantity == D(1)


_ANY_NUMBER = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([D("0.001"), D("97000"), D("1e40"), D("-1"), D("1e-40")]),
    st.text(max_size=5),
    st.floats(),
    st.integers(),
)


@settings(max_examples=300, deadline=None)
@given(
    symbol=st.one_of(
        st.sampled_from(["BTCUSDT", "btcusdt", "NOPEUSDT", "X"]), st.none(), st.integers()
    ),
    side=st.one_of(st.sampled_from(list(Side)), st.text(max_size=4), st.none()),
    kind=st.one_of(st.sampled_from(list(OrderType)), st.text(max_size=4), st.none()),
    numbers=st.lists(_ANY_NUMBER, min_size=6, max_size=6),
    tif=st.one_of(st.none(), st.sampled_from(["GTC", "IOC", "FOK", "gtc", "x"]), st.integers()),
    cid=st.one_of(st.none(), st.text(max_size=40), st.integers()),
)
def test_any_request_comes_back_as_an_order_never_an_exception(
    symbol: object, side: object, kind: object, numbers: list[object], tif: object, cid: object
) -> None:
    """Whatever the fields hold, wrong types included, ``place`` answers with an order
    (on the compiled core, a typed read of a field used to raise TypeError)."""
    s = Script()
    s.trades("100")
    quantity, price, stop, take_profit, stop_loss, trail = numbers
    request = OrderRequest(
        symbol=symbol,  # type: ignore[arg-type]
        side=side,  # type: ignore[arg-type]
        type=kind,  # type: ignore[arg-type]
        quantity=quantity,  # type: ignore[arg-type]
        price=price,  # type: ignore[arg-type]
        stop_price=stop,  # type: ignore[arg-type]
        take_profit=take_profit,  # type: ignore[arg-type]
        stop_loss=stop_loss,  # type: ignore[arg-type]
        trail_percent=trail,  # type: ignore[arg-type]
        time_in_force=tif,  # type: ignore[arg-type]
        client_order_id=cid,  # type: ignore[arg-type]
    )
    order, events = s.place(request)
    first = events[0]
    assert isinstance(first, OrderEvent)
    assert first.order.id == order.id  # its NEW or REJECTED event comes first
    if order.status is OrderStatus.REJECTED:
        assert order.reason
        assert len(events) == 1  # a refusal changes nothing else


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        # a string was taken as truthy: "no" made a margin-style account
        ({"allow_short": "no"}, "allow_short must be True or False, got 'no'"),
        # a NaN passed "<= 0", and every price then read as fresh
        ({"max_price_age_ms": float("nan")}, "max_price_age_ms must be a whole number of ms"),
        ({"market_wait_ms": 1.5}, "market_wait_ms must be a whole number of ms"),
        ({"quote_currency": 5}, "quote_currency 5 is not an asset"),
        ({"balances": [("BTC", D(1))]}, "balances must be a dict of asset: amount"),
    ],
)
def test_an_account_config_of_the_wrong_kinds_is_refused(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        AccountConfig(**fields)
