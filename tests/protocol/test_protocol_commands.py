"""parse_command: every failure is a ProtocolError with a stable code and the id echoed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace.decimals import read_decimal
from workspace.protocol.commands import (
    ACTIONS,
    GetCandles,
    GetOrders,
    PlaceOrder,
    ProtocolError,
    Replay,
    Resume,
    SetAlert,
    SubscribeBook,
    SubscribeTicker,
    UnsubscribeBook,
    parse_command,
)
from workspace.trading.requests import OrderType, Side, TimeInForce

STABLE_CODES = {None, "INVALID_JSON", "UNKNOWN_ACTION", "INVALID_PARAMS", "INVALID_SYMBOL"}


def code_of(raw: Any) -> str | None:
    """None when ``raw`` parses, else the error's code."""
    try:
        parse_command(raw)
    except ProtocolError as error:
        return error.code
    return None


def error_of(raw: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_command(raw)
    return info.value


def test_guide_commands_parse_from_text_bytes_and_dicts() -> None:
    assert parse_command('{"action": "subscribe_ticker", "symbol": "BTCUSDT"}') == SubscribeTicker(
        symbol="BTCUSDT"
    )
    assert parse_command(b'{"action": "get_positions"}').id is None
    assert parse_command({"action": "get_portfolio", "id": 7}).id == 7


def test_symbols_are_case_insensitive_and_upper_cased() -> None:
    command = parse_command({"action": "subscribe_ticker", "symbol": " btcUsdt "})
    assert command == SubscribeTicker(symbol="BTCUSDT")


@pytest.mark.parametrize("symbol", ["", "B", "BTC-USDT", "btc usdt", "X" * 21, "ÄBC"])
def test_malformed_symbol_is_invalid_symbol_with_id_echoed(symbol: str) -> None:
    error = error_of({"action": "subscribe_ticker", "symbol": symbol, "id": "s1"})
    assert (error.code, error.id) == ("INVALID_SYMBOL", "s1")


@pytest.mark.parametrize("symbol", [None, 5, ["BTCUSDT"], True])
def test_missing_or_non_string_symbol_is_invalid_params(symbol: Any) -> None:
    error = error_of({"action": "subscribe_ticker", "symbol": symbol, "id": 3})
    assert (error.code, error.id) == ("INVALID_PARAMS", 3)


@pytest.mark.parametrize("frame", ["", "{", "not json", b"\xff\xfe", "[1, 2]", "42", '"x"', "null"])
def test_non_object_frames_are_invalid_json(frame: str | bytes) -> None:
    assert error_of(frame).code == "INVALID_JSON"


@pytest.mark.parametrize("action", [None, "", "SUBSCRIBE_TICKER", "drop_tables", 5, ["ping"]])
def test_unknown_or_missing_action_is_unknown_action(action: Any) -> None:
    error = error_of({"action": action, "id": "a"})
    assert (error.code, error.id) == ("UNKNOWN_ACTION", "a")
    words = "'action' is required" if action is None else "unknown action "
    assert error.message.startswith(words)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\uD83D\\u0041"])
def test_half_a_surrogate_pair_is_named_not_called_a_truncated_frame(escape: str) -> None:
    """The decoder's own words were "Input data was truncated"."""
    text = '{"action": "ping", "id": "' + escape + '"}'
    for frame in (text, text.encode()):
        error = error_of(frame)
        assert error.code == "INVALID_JSON"
        assert "is half of a UTF-16 surrogate pair, not a character" in error.message
    # a whole pair is a character, and another fault is not blamed on it
    assert parse_command('{"action": "ping", "id": "\\ud83d\\ude00"}').id == "\U0001f600"
    other = error_of('{"action": "ping", "id": "\\ud83d\\ude00", "x": 1.5e999}')
    assert "Number out of range" in other.message


@pytest.mark.parametrize("bad_id", [True, 1.5, [1], {"a": 1}, "x" * 200])
def test_malformed_id_is_invalid_params_and_not_echoed(bad_id: Any) -> None:
    error = error_of({"action": "ping", "id": bad_id})
    assert (error.code, error.id) == ("INVALID_PARAMS", None)


def test_market_order_numbers_become_exact_decimals() -> None:
    command = parse_command(
        {"action": "place_order", "symbol": "ethusdt", "side": "buy", "quantity": 0.1, "id": 1}
    )
    assert isinstance(command, PlaceOrder)
    request = command.request
    assert (request.symbol, request.side, request.type) == ("ETHUSDT", Side.BUY, OrderType.MARKET)
    assert request.quantity == Decimal("0.1")


def test_numeric_strings_are_accepted_like_binance() -> None:
    command = parse_command(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "quantity": "0.001",
            "price": "50000.10",
        }
    )
    assert isinstance(command, PlaceOrder)
    assert command.request.price == Decimal("50000.10")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"time_in_force": "IOC"}, TimeInForce.IOC),
        ({"time_in_force": "fok"}, TimeInForce.FOK),
        ({"timeInForce": "GTC"}, TimeInForce.GTC),  # Binance's name for the same field
        ({"time_in_force": "IOC", "timeInForce": "IOC"}, TimeInForce.IOC),
    ],
)
def test_time_in_force_parses_under_either_name(
    fields: dict[str, Any], expected: TimeInForce | None
) -> None:
    command = parse_command(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1, **fields}
    )
    assert isinstance(command, PlaceOrder)
    assert command.request.time_in_force == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"time_in_force": "GTD"},
        {"time_in_force": 1},
        {"timeInForce": ""},
        {"time_in_force": "IOC", "timeInForce": "FOK"},
        {"type": "OCO", "take_profit": 110, "stop_price": 90, "time_in_force": "IOC"},
    ],
)
def test_a_bad_time_in_force_is_invalid_params(fields: dict[str, Any]) -> None:
    base = {"action": "place_order", "symbol": "BTCUSDT", "side": "SELL", "quantity": 1, "id": 4}
    error = error_of({**base, **fields})
    assert (error.code, error.id) == ("INVALID_PARAMS", 4)


@pytest.mark.parametrize("name", ["quote_quantity", "quoteOrderQty"])
def test_a_market_order_may_give_its_quote_amount_instead(name: str) -> None:
    command = parse_command(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", name: "100.5"}
    )
    assert isinstance(command, PlaceOrder)
    assert (command.request.quantity, command.request.quote_quantity) == (None, Decimal("100.5"))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"quantity": 1, "quote_quantity": 100}, "give 'quantity' or 'quote_quantity', not both"),
        (
            {"quote_quantity": 100, "quoteOrderQty": 90},
            "'quote_quantity' and 'quoteOrderQty' differ",
        ),
        (
            {"type": "LIMIT", "price": 90_000, "quoteOrderQty": 100},
            "'quoteOrderQty' is for MARKET orders only",
        ),
        ({"quote_quantity": 0}, "'quote_quantity' must be positive"),
        ({"quote_quantity": "NaN"}, "'quote_quantity' must be a finite number"),
        ({}, "'quantity' is required"),
    ],
)
def test_a_quote_amount_is_refused_where_it_does_not_belong(
    fields: dict[str, Any], words: str
) -> None:
    base = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "id": 3}
    error = error_of({**base, **fields})
    assert (error.code, error.id) == ("INVALID_PARAMS", 3)
    assert words in error.message


@pytest.mark.parametrize(
    "quantity", [0, -1, "NaN", "Infinity", "-inf", True, None, "abc", [1], {}, "1e99", 10**31]
)
def test_quantity_must_be_a_positive_finite_number(quantity: Any) -> None:
    error = error_of(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": quantity, "id": 9}
    )
    assert (error.code, error.id) == ("INVALID_PARAMS", 9)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("abc", "'quantity' must be a number, got \"abc\""),
        ("1_000", "'quantity' must be a number, got \"1_000\""),  # not Python's 1000
        (True, "'quantity' must be a number, got true"),
        ("NaN", "'quantity' must be a finite number, got \"NaN\""),
        ("1e99", "'quantity' must be within 1e-30 to 1e30 in size, got \"1e99\""),
        ("9" * 60, "'quantity' must be a number of 1 to 40 characters, got \"99999"),
        # an integer is judged by its size like any number (it said "between
        # -9223372036854775807 and 9223372036854775807", and took 1e20 but not 10**20)
        (10**40, "'quantity' must be within 1e-30 to 1e30 in size, got 1000000000"),
        (2**100, "'quantity' must be within 1e-30 to 1e30 in size, got 1267650600"),
        # MessagePack's own kinds of value: their str() quoted a memory address
        (b"12", "'quantity' must be a number, got \"<2 bytes of MessagePack binary>\""),
        (
            msgspec.msgpack.Ext(5, b"x"),
            "'quantity' must be a number, got \"<a MessagePack extension of type 5>\"",
        ),
    ],
)
def test_a_refused_number_says_why_and_quotes_what_came(quantity: Any, message: str) -> None:
    error = error_of(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": quantity}
    )
    assert error.message.startswith(message)
    assert len(error.message) < 120  # a long value is cut


def test_an_integer_within_the_bound_reads_as_exactly_as_its_text() -> None:
    for value in (10**20, -(10**29), 10**30, 2**64):
        assert read_decimal(value) == read_decimal(str(value)) == Decimal(str(value))


@pytest.mark.parametrize(
    ("order_type", "fields"),
    [
        ("LIMIT", {}),
        ("STOP_LOSS", {}),
        ("TAKE_PROFIT", {"price": 1}),
        ("OCO", {"take_profit": 2}),
        ("BRACKET", {"take_profit": 2}),
        ("TRAILING_STOP", {}),
        ("TRAILING_STOP", {"trail_percent": 1, "trail_amount": 5}),
    ],
)
def test_each_order_type_requires_its_prices(order_type: str, fields: dict[str, Any]) -> None:
    command = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    error = error_of({**command, "type": order_type, **fields})
    assert error.code == "INVALID_PARAMS"


@pytest.mark.parametrize(
    ("order_type", "fields"),
    [
        ("LIMIT", {"price": 1}),
        ("STOP_LOSS", {"stop_price": 1, "price": 0.9}),
        ("TAKE_PROFIT", {"stop_price": 1}),
        ("OCO", {"take_profit": 2, "stop_price": 1}),
        ("TRAILING_STOP", {"trailing_delta": 100, "activation_price": 3}),
        ("BRACKET", {"take_profit": 2, "stop_loss": 1, "price": 1.5}),
    ],
)
def test_every_order_type_of_the_table_parses(order_type: str, fields: dict[str, Any]) -> None:
    command = parse_command(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": 1,
            "type": order_type.lower(),
            **fields,
        }
    )
    assert isinstance(command, PlaceOrder)
    assert command.request.type == OrderType(order_type)


@pytest.mark.parametrize(
    ("order_type", "fields", "unused"),
    [
        ("MARKET", {"price": 1}, "price"),
        ("MARKET", {"stop_price": 1}, "stop_price"),
        ("LIMIT", {"price": 1, "take_profit": 2}, "take_profit"),
        ("LIMIT", {"price": 1, "trail_percent": 1}, "trail_percent"),
        ("STOP_LOSS", {"stop_price": 1, "stop_loss": 1}, "stop_loss"),
        ("OCO", {"take_profit": 2, "stop_price": 1, "price": 1.5}, "price"),
        ("TRAILING_STOP", {"trailing_delta": 100, "stop_price": 3}, "stop_price"),
        ("BRACKET", {"take_profit": 2, "stop_loss": 1, "stop_price": 1}, "stop_price"),
    ],
)
def test_a_price_the_order_type_does_not_use_is_refused(
    order_type: str, fields: dict[str, Any], unused: str
) -> None:
    # as Binance does ("Parameter 'price' sent when not required."): a MARKET order
    # with a price was taken and carried it on every event as if it had a limit
    command = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    error = error_of({**command, "type": order_type, **fields})
    assert (error.code, error.message) == (
        "INVALID_PARAMS",
        f"{order_type} order takes no '{unused}'",
    )


def test_a_brackets_activation_price_needs_a_trailing_stop_leg() -> None:
    command = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    fields = {"type": "BRACKET", "take_profit": 2, "stop_loss": 1, "activation_price": 1.5}
    error = error_of({**command, **fields})
    assert error.message.startswith("'activation_price' is for a BRACKET's trailing stop leg")
    parsed = parse_command({**command, **fields, "trail_percent": 1})
    assert isinstance(parsed, PlaceOrder)
    assert parsed.request.activation_price == Decimal("1.5")


def test_set_alert_needs_exactly_one_of_above_or_below() -> None:
    assert parse_command({"action": "set_alert", "symbol": "btcusdt", "above": 5}) == SetAlert(
        symbol="BTCUSDT", condition="above", price=Decimal(5)
    )
    assert error_of({"action": "set_alert", "symbol": "BTCUSDT"}).code == "INVALID_PARAMS"
    both = {"action": "set_alert", "symbol": "BTCUSDT", "above": 5, "below": 4}
    assert error_of(both).code == "INVALID_PARAMS"


@pytest.mark.parametrize("since", [-1, "5.5", "-5", "x", 1.5, True, None, 2**64])
def test_resume_since_must_be_a_non_negative_integer(since: Any) -> None:
    assert error_of({"action": "resume", "since": since}).code == "INVALID_PARAMS"


def test_resume_and_replay_and_get_orders_parse() -> None:
    assert parse_command({"action": "resume", "since": 0}) == Resume(since=0)
    assert parse_command(
        {"action": "replay", "symbol": "btcusdt", "start": 1, "end": 2, "speed": 0}
    ) == Replay(symbol="BTCUSDT", start=1, end=2, speed=0.0)
    assert parse_command({"action": "get_orders", "status": "filled"}) == GetOrders(status="FILLED")
    assert error_of({"action": "replay", "symbol": "BTCUSDT", "start": 5, "end": 2}).code == (
        "INVALID_PARAMS"
    )
    assert error_of({"action": "get_orders", "status": "bogus"}).code == "INVALID_PARAMS"


@pytest.mark.parametrize("field", ["order_id", "alert_id"])
@pytest.mark.parametrize("value", [None, "", True, 1.5, ["x"], "x" * 65])
def test_references_must_be_short_non_empty_strings(field: str, value: Any) -> None:
    action = "cancel_order" if field == "order_id" else "cancel_alert"
    assert error_of({"action": action, field: value}).code == "INVALID_PARAMS"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    action=st.sampled_from(sorted(ACTIONS)) | st.text(max_size=20),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "symbol",
                "side",
                "type",
                "quantity",
                "price",
                "stop_price",
                "since",
                "start",
                "end",
                "speed",
                "above",
                "below",
                "order_id",
                "alert_id",
                "position_id",
                "id",
                "status",
                "take_profit",
                "stop_loss",
                "trail_percent",
            ]
        ),
        json_values,
    ),
)
def test_any_object_either_parses_or_fails_with_a_stable_code(
    action: str, fields: dict[str, Any]
) -> None:
    assert code_of({**fields, "action": action}) in STABLE_CODES


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_frame_either_parses_or_fails_with_a_stable_code(frame: bytes | str) -> None:
    assert code_of(frame) in STABLE_CODES


def test_client_order_id_and_binances_new_client_order_id_are_one_field() -> None:
    base = {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    for field in ("client_order_id", "newClientOrderId"):
        command = parse_command({**base, field: "my-1"})
        assert isinstance(command, PlaceOrder)
        assert command.request.client_order_id == "my-1"
    both = parse_command({**base, "client_order_id": "a", "newClientOrderId": "a"})
    assert isinstance(both, PlaceOrder)
    assert both.request.client_order_id == "a"
    assert code_of({**base, "client_order_id": "a", "newClientOrderId": "b"}) == "INVALID_PARAMS"
    assert code_of({**base, "newClientOrderId": ""}) == "INVALID_PARAMS"
    assert code_of({**base, "newClientOrderId": 5}) == "INVALID_PARAMS"


def test_book_candles_and_resume_commands_parse_and_validate() -> None:
    book = parse_command({"action": "subscribe_book", "symbol": "btcusdt", "depth": 10})
    assert book == SubscribeBook(symbol="BTCUSDT", depth=10)
    assert parse_command({"action": "subscribe_book", "symbol": "BTCUSDT"}) == SubscribeBook(
        symbol="BTCUSDT", depth=20
    )
    assert code_of({"action": "subscribe_book", "symbol": "BTCUSDT", "depth": 7}) == (
        "INVALID_PARAMS"
    )
    for depth in (7, -1, 0, 10**30):
        with pytest.raises(ProtocolError, match="'depth' must be 5, 10 or 20"):
            parse_command({"action": "subscribe_book", "symbol": "BTCUSDT", "depth": depth})
    assert parse_command({"action": "unsubscribe_book", "symbol": "ethusdt"}) == (
        UnsubscribeBook(symbol="ETHUSDT")
    )
    candles = parse_command({"action": "get_candles", "symbol": "BTCUSDT", "interval": "1h"})
    assert candles == GetCandles(symbol="BTCUSDT", interval="1h", limit=500)
    bad_fields: list[dict[str, Any]] = [
        {"interval": "2m"},
        {"interval": "1m", "limit": 0},
        {"interval": "1m", "limit": 1001},
    ]
    for bad in bad_fields:
        assert code_of({"action": "get_candles", "symbol": "BTCUSDT", **bad}) == "INVALID_PARAMS"
    for limit in (0, -5, 1001):
        # every value out of range names the range the field takes, a negative one too
        with pytest.raises(ProtocolError, match="'limit' must be between 1 and 1000"):
            parse_command(
                {"action": "get_candles", "symbol": "BTCUSDT", "interval": "1m", "limit": limit}
            )
    resume = parse_command({"action": "resume", "since": 4, "journal_id": "j1"})
    assert resume == Resume(since=4, journal_id="j1")
    assert code_of({"action": "resume", "since": 4, "journal_id": 7}) == "INVALID_PARAMS"


def test_whole_number_fields_take_numeric_strings_as_every_number_may_be() -> None:
    """docs/protocol.md: numbers may be JSON numbers or numeric strings.  A count or a
    time given as ``"20"`` used to be refused "'depth' must be an integer" while a price
    given the same way was taken."""
    assert parse_command({"action": "subscribe_book", "symbol": "BTCUSDT", "depth": "10"}) == (
        SubscribeBook(symbol="BTCUSDT", depth=10)
    )
    candles = parse_command(
        {"action": "get_candles", "symbol": "BTCUSDT", "interval": "1m", "limit": "1e2"}
    )
    assert candles == GetCandles(symbol="BTCUSDT", interval="1m", limit=100)
    assert parse_command({"action": "resume", "since": "42"}) == Resume(since=42)
    with pytest.raises(ProtocolError, match="'limit' must be between 1 and 1000"):
        parse_command(
            {"action": "get_candles", "symbol": "BTCUSDT", "interval": "1m", "limit": "0"}
        )
    # what is not a whole number is refused and quoted
    for bad, shown in (
        (True, "true"),
        ("2.5", '"2.5"'),
        ("abc", '"abc"'),
        ([20], "[20]"),
        (2.5, "2.5"),
    ):
        with pytest.raises(ProtocolError) as refused:
            parse_command({"action": "subscribe_book", "symbol": "BTCUSDT", "depth": bad})
        assert refused.value.message == f"'depth' must be an integer, got {shown}"


def test_an_id_out_of_range_names_the_range() -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_command({"action": "ping", "id": 10**30})
    assert refused.value.message == (
        "'id' must be an integer from -9223372036854775807 to 9223372036854775807"
    )
