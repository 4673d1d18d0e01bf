"""Order ticket: every order type's required prices, inline errors for bad input,
engine errors and rejections beside the right field."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.widgets.panel_session import ScriptedSession, market, order_update
from widgets import TicketPanel
from widgets.state import ORDER_TYPES, TicketError, build_order
from widgets.state.ticket import (
    TRAIL_LABELS,
    TYPE_LABELS,
    SizingInputs,
    size_amount,
    size_quantity,
    sizing_missing,
)


def form(**values: Any) -> dict[str, Any]:
    return {"symbol": "btcusdt", "side": "BUY", "type": "MARKET", "quantity": "0.5", **values}


def errors_of(values: dict[str, Any], known: set[str] | None = None) -> dict[str, str]:
    with pytest.raises(TicketError) as caught:
        build_order(values, known)
    return caught.value.errors


def test_market_order_needs_only_symbol_side_and_quantity() -> None:
    assert build_order(form()) == {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": 0.5,
    }


@pytest.mark.parametrize(
    ("order_type", "prices", "expected"),
    [
        ("LIMIT", {"price": "42000"}, {"price": 42000.0}),
        ("LIMIT_MAKER", {"price": "42000"}, {"price": 42000.0}),
        ("STOP_LOSS", {"stop_price": "41000"}, {"stop_price": 41000.0}),
        (
            "STOP_LOSS",
            {"stop_price": "41000", "price": "40900"},
            {"stop_price": 41000.0, "price": 40900.0},
        ),
        ("TAKE_PROFIT", {"stop_price": "45000"}, {"stop_price": 45000.0}),
        (
            "OCO",
            {"take_profit": "45000", "stop_price": "41000"},
            {"take_profit": 45000.0, "stop_price": 41000.0},
        ),
        ("TRAILING_STOP", {"trail": "1.5", "trail_kind": "trail_percent"}, {"trail_percent": 1.5}),
        (
            "TRAILING_STOP",
            {"trail": "100", "trail_kind": "trailing_delta", "activation_price": "43000"},
            {"trailing_delta": 100.0, "activation_price": 43000.0},
        ),
        ("TRAILING_STOP", {"trail": "250", "trail_kind": "trail_amount"}, {"trail_amount": 250.0}),
        (
            "BRACKET",
            {"take_profit": "45000", "stop_loss": "41000"},
            {"take_profit": 45000.0, "stop_loss": 41000.0},
        ),
        (
            "BRACKET",
            {"take_profit": "45000", "stop_loss": "41000", "price": "42000"},
            {"take_profit": 45000.0, "stop_loss": 41000.0, "price": 42000.0},
        ),
    ],
)
def test_each_order_type_sends_the_prices_it_needs(
    order_type: str, prices: dict[str, str], expected: dict[str, float]
) -> None:
    command = build_order(form(type=order_type, **prices))
    assert command == {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": order_type,
        "quantity": 0.5,
        **expected,
    }


@pytest.mark.parametrize(
    ("order_type", "missing"),
    [
        ("LIMIT", {"price"}),
        ("STOP_LOSS", {"stop_price"}),
        ("TAKE_PROFIT", {"stop_price"}),
        ("OCO", {"take_profit", "stop_price"}),
        ("TRAILING_STOP", {"trail"}),
        ("BRACKET", {"take_profit", "stop_loss"}),
    ],
)
def test_missing_required_price_is_an_inline_error_on_that_field(
    order_type: str, missing: set[str]
) -> None:
    errors = errors_of(form(type=order_type))
    assert set(errors) == missing
    # in the UI's words: "Stop price is required for a stop loss order", never STOP_LOSS
    what = TYPE_LABELS[order_type].split(" (")[0]
    assert all(
        "is required for" in text
        and what.lower() in text.lower()
        and (order_type not in text or order_type == what)
        for text in errors.values()
    ), errors


def test_every_order_type_is_offered() -> None:
    assert set(ORDER_TYPES) == {
        "MARKET",
        "LIMIT",
        "LIMIT_MAKER",
        "STOP_LOSS",
        "TAKE_PROFIT",
        "OCO",
        "TRAILING_STOP",
        "BRACKET",
    }


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("-1", "greater than 0"),
        ("0", "greater than 0"),
        ("nan", "finite"),
        (float("nan"), "finite"),
        ("inf", "finite"),
        ("abc", "must be a number"),
        ("", "must be a number"),
        ("1_000", "must be a number"),  # Python's digit separators: not 1000
    ],
)
def test_bad_quantity_gets_a_clear_inline_error(quantity: object, message: str) -> None:
    assert message in errors_of(form(quantity=quantity))["quantity"]


def test_a_price_written_as_the_panels_write_it_is_read() -> None:
    """The ladder and the tickers show "97,000.50": pasted into the ticket it was "not
    a number".  A decimal comma stays an error, with a hint (1,5 or 1,500?)."""
    order = build_order(form(type="LIMIT", price="97,000.50", quantity="1,000"))
    assert (order["price"], order["quantity"]) == (97000.5, 1000.0)
    assert (
        "must be a number (with '.' for decimals), got '1,5'"
        in (errors_of(form(quantity="1,5"))["quantity"])
    )
    assert "must be a number" in errors_of(form(quantity="97,00.5"))["quantity"]


def test_a_number_beyond_the_engines_bound_is_refused_in_the_ticket() -> None:
    """ "1e999" is a finite Decimal and went out as the float inf; "1e-40" read as
    "Quantity 0 is below the step"."""
    words = "must be within 1e-30 to 1e30 in size, got"
    assert words + " '1e999'" in errors_of(form(type="LIMIT", price="1e999"))["price"]
    assert words + " '1e-40'" in errors_of(form(quantity="1e-40"))["quantity"]
    long = errors_of(form(quantity="9" * 60))["quantity"]
    assert words in long
    assert len(long) < 120  # the value is cut


def test_negative_price_is_refused() -> None:
    assert "greater than 0" in errors_of(form(type="LIMIT", price="-5"))["price"]


def test_malformed_and_unknown_symbols_are_refused() -> None:
    assert "is not a symbol" in errors_of(form(symbol="btc/usdt"))["symbol"]
    assert "required" in errors_of(form(symbol=" "))["symbol"]
    assert errors_of(form(symbol="DOGEUSDT"), {"BTCUSDT"}) == {"symbol": "Unknown symbol DOGEUSDT"}


def test_all_bad_fields_are_reported_at_once() -> None:
    errors = errors_of({"symbol": "", "side": "HOLD", "type": "FOO", "quantity": "-1"})
    assert set(errors) == {"symbol", "side", "type", "quantity"}


async def test_submit_places_the_order_and_remembers_it() -> None:
    session = ScriptedSession(
        {
            "place_order": lambda c: order_update(
                {"id": "o-1", "type": c["type"], "status": "NEW", **c}
            ),
        }
    )
    panel = TicketPanel(session, symbol="BTCUSDT")
    panel._on_front_message(
        panel, {"action": "submit", "form": form(type="LIMIT", price="100")}, None
    )
    await asyncio.wait_for(panel.settle(), 10)
    assert session.requests[-1]["type"] == "LIMIT"
    assert panel.errors == {}
    assert panel.last_order["id"] == "o-1"
    assert panel.notice == "o-1 LIMIT NEW"
    assert not panel.busy
    panel.close()


async def test_bad_input_is_shown_inline_and_nothing_is_sent() -> None:
    session = ScriptedSession()
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form(quantity="-3")), 10)
    assert "quantity" in panel.errors
    assert "place_order" not in session.actions()
    panel.close()


async def test_unknown_symbol_from_the_engine_is_shown_beside_the_symbol() -> None:
    session = ScriptedSession(
        {
            "place_order": lambda c: {
                "type": "ERROR",
                "code": "INVALID_SYMBOL",
                "message": "unknown symbol NOPEUSDT",
            },
        }
    )
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form(symbol="NOPEUSDT")), 10)
    assert panel.errors == {"symbol": "INVALID_SYMBOL: unknown symbol NOPEUSDT"}
    panel.close()


async def test_rejected_order_shows_its_reason_on_the_form() -> None:
    session = ScriptedSession(
        {
            "place_order": lambda c: order_update(
                {"id": "o-2", "status": "REJECTED", "reason": "insufficient balance"}
            ),
        }
    )
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form(quantity="1000")), 10)
    assert panel.errors == {"form": "Rejected: insufficient balance"}
    panel.close()


async def test_a_failing_request_is_shown_on_the_form() -> None:
    def broken(_command: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionResetError("lost connection")

    panel = TicketPanel(ScriptedSession({"place_order": broken}))
    await asyncio.wait_for(panel.submit(form()), 10)
    assert panel.errors == {"form": "ConnectionResetError: lost connection"}
    assert not panel.busy
    panel.close()


async def test_ticket_learns_symbols_and_last_prices_from_the_market() -> None:
    session = ScriptedSession()
    panel = TicketPanel(session)
    session.emit(market("ETHUSDT", 2250.0, 1), market("BTCUSDT", 43000.0, 1))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.symbols == ["BTCUSDT", "ETHUSDT"]
    assert panel.prices == {"ETHUSDT": 2250.0, "BTCUSDT": 43000.0}
    panel.close()


async def test_type_fields_trait_matches_the_validation_table() -> None:
    panel = TicketPanel(ScriptedSession())
    assert panel.type_fields["OCO"] == {"required": ["take_profit", "stop_price"], "optional": []}
    assert panel.type_fields["TRAILING_STOP"]["required"] == ["trail"]
    panel.close()


def placed_new(command: dict[str, Any]) -> dict[str, Any]:
    return order_update({"id": "order-11", "type": command["type"], "status": "NEW"})


async def test_the_last_order_line_follows_the_order_to_filled() -> None:
    session = ScriptedSession({"place_order": placed_new})
    panel = TicketPanel(session, symbol="BNBUSDT")
    await asyncio.wait_for(panel.submit(form(symbol="BNBUSDT")), 10)
    assert panel.notice == "order-11 MARKET NEW"
    session.emit(order_update({"id": "order-99", "type": "LIMIT", "status": "FILLED"}))
    assert panel.notice == "order-11 MARKET NEW"  # another order: not this line
    session.emit(
        order_update(
            {"id": "order-11", "type": "MARKET", "status": "FILLED", "fill_price": 649.93}, 2
        )
    )
    assert panel.notice == "order-11 MARKET FILLED @ 649.93"
    assert panel.last_order["status"] == "FILLED"
    panel.close()


async def test_the_last_order_line_shows_a_later_rejection_with_its_reason() -> None:
    session = ScriptedSession({"place_order": placed_new})
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form(type="LIMIT", price="600")), 10)
    session.emit(
        order_update({"id": "order-11", "type": "LIMIT", "status": "REJECTED", "reason": "no"}, 2)
    )
    assert panel.errors == {"form": "Rejected: no"}
    assert panel.last_order["status"] == "REJECTED"
    panel.close()


async def test_a_fill_seen_before_the_reply_is_not_hidden_by_the_reply() -> None:
    # the engine may publish the fill to listeners before place_order returns
    def fill_first(command: dict[str, Any]) -> dict[str, Any]:
        filled = {"id": "order-11", "type": "MARKET", "status": "FILLED", "fill_price": 97000.0}
        panel.feed(order_update(filled, 2))
        return placed_new(command)

    session = ScriptedSession({"place_order": fill_first})
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form()), 10)
    assert panel.notice == "order-11 MARKET FILLED @ 97,000.00"
    panel.close()


BTC_INFO = {
    "base_asset": "BTC",
    "quote_asset": "USDT",
    "tick_size": "0.01",
    "step_size": "0.00001",
    "min_qty": "0.00001",
    "max_qty": "9000",
    "min_notional": "5",
    "price_precision": 2,
    "quantity_precision": 5,
    "status": "TRADING",
}


def subscribed_with_info(command: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "SUBSCRIBED",
        "symbol": command["symbol"].upper(),
        "symbol_info": BTC_INFO,
        "timestamp": 1,
    }


def test_quantity_rounds_down_to_the_step_and_prices_to_the_nearest_tick() -> None:
    command = build_order(
        form(type="LIMIT", quantity="0.0123456", price="97000.006"), None, BTC_INFO
    )
    assert command["quantity"] == 0.01234
    assert command["price"] == 97000.01


def test_an_order_under_the_minimum_value_is_refused_in_the_uis_words() -> None:
    with pytest.raises(TicketError) as caught:
        build_order(form(type="LIMIT", quantity="0.00003", price="97000"), None, BTC_INFO)
    errors = caught.value.errors
    assert errors == {
        "quantity": "Order value 2.91 USDT is below the minimum 5.00 USDT (at 97,000.00)"
    }
    with pytest.raises(TicketError) as caught:
        build_order(form(quantity="0.000004"), None, BTC_INFO)
    assert caught.value.errors["quantity"] == "Quantity 0.000004 is below the step 0.00001 BTC"


def test_a_market_order_may_be_given_as_an_amount_of_the_quote_asset() -> None:
    command = build_order(form(quantity="250.5", quantity_unit="quote"), None, BTC_INFO)
    assert command == {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quote_quantity": 250.5,
    }
    # the amount is not rounded to the lot step: the engine sizes it to the step
    assert "quantity" not in command
    with pytest.raises(TicketError) as caught:
        build_order(form(quantity="3", quantity_unit="quote"), None, BTC_INFO)
    assert caught.value.errors == {
        "quantity": "Amount 3.00 USDT is below the minimum order value 5.00 USDT"
    }
    with pytest.raises(TicketError) as caught:
        build_order(form(type="LIMIT", price="90000", quantity_unit="quote"), None, BTC_INFO)
    assert caught.value.errors == {
        "quantity": "An amount in the quote asset is for market orders only"
    }
    with pytest.raises(TicketError) as caught:
        build_order(form(quantity="abc", quantity_unit="quote"))
    assert caught.value.errors["quantity"].startswith("Amount must be a number")


def test_percent_buttons_size_an_amount_when_the_quantity_is_one() -> None:
    from decimal import Decimal as D

    # a buy: the share of the quote balance, room kept for the taker fee, to the cent
    assert size_amount(D("0.5"), "BUY", quote_free=D(1000), base_free=None, price=None) == D(
        "499.50"
    )
    # a sell: the share of the base balance at the price
    assert size_amount(
        D("0.25"), "SELL", quote_free=None, base_free=D("0.02"), price=D("97000")
    ) == D("485.00")
    assert size_amount(D(1), "SELL", quote_free=D(1), base_free=D(1), price=None) is None


def test_every_trail_type_has_its_full_label() -> None:
    assert TRAIL_LABELS == {
        "trail_percent": "Trail %",
        "trail_amount": "Trail amount (price)",
        "trailing_delta": "Trailing delta (bips)",
    }


def test_percent_buttons_size_a_share_of_what_the_order_spends() -> None:
    from decimal import Decimal as D

    # a buy spends the quote at the price, with room for the 0.1 % taker fee
    assert size_quantity(
        D("0.5"), "BUY", quote_free=D("1000"), base_free=None, price=D("100"), step=D("0.01")
    ) == D("4.99")
    # a sell spends the base asset
    assert size_quantity(
        D("0.25"), "SELL", quote_free=None, base_free=D("0.0123"), price=None, step=D("0.0001")
    ) == D("0.0030")
    unknown = size_quantity(D(1), "SELL", quote_free=D(1), base_free=None, price=None, step=None)
    assert unknown is None


def test_percent_buttons_name_what_they_lack_in_words() -> None:
    """It said "the base balance are not known yet" for a sell, whatever it lacked,
    and never named the asset."""
    from decimal import Decimal as D

    def lacking(side: str, in_quote: bool, **known: Any) -> str:
        inputs = {"base_free": None, "quote_free": None, "price": None, **known}
        return sizing_missing(
            SizingInputs(
                side=side, base="BTC", quote="USDT", step=None, in_quote=in_quote, **inputs
            )
        )

    assert lacking("BUY", False) == "a price and the USDT balance are"
    assert lacking("BUY", False, quote_free=D(5)) == "a price is"
    assert lacking("BUY", True) == "the USDT balance is"  # an amount needs no price
    assert lacking("SELL", False, price=D(1)) == "the BTC balance is"
    assert lacking("SELL", True, base_free=D(1)) == "a price is"  # to value what it sells
    assert lacking("SELL", True) == "a price and the BTC balance are"


async def test_ticket_learns_symbol_info_and_sizes_from_the_wallet() -> None:
    session = ScriptedSession(
        {
            "subscribe_ticker": subscribed_with_info,
            "get_portfolio": lambda c: {
                "type": "PORTFOLIO_UPDATE",
                "portfolio": {
                    "balance": 7080.89,
                    "available": 7080.89,
                    "balances": {
                        "USDT": {"free": 7080.89, "locked": 100.0},
                        "BTC": {"free": 0.05, "locked": 0.0},
                    },
                    "fees_paid": 1.5,
                },
                "timestamp": 1,
            },
        }
    )
    panel = TicketPanel(session, symbol="BTCUSDT")
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert panel.infos["BTCUSDT"]["step_size"] == "0.00001"
    assert panel.wallet["balances"]["USDT"]["free"] == 7080.89
    session.emit(market("BTCUSDT", 97000.0, 5))
    panel.size(0.5, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"})
    assert panel.form["quantity"] == "0.03646"
    panel.size(1, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET"})
    assert panel.form["quantity"] == "0.05"
    # given as an amount of USDT, the buttons size an amount
    panel.size(
        0.5, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity_unit": "quote"}
    )
    assert panel.form["quantity"] == "3536.90"  # 7,080.89 / 2 / 1.001, down to the cent
    nonce = panel.form["nonce"]
    panel.set_price(96999.5)
    assert panel.form["type"] == "LIMIT"  # a picked price makes a market ticket a limit one
    assert panel.form["price"] == "96999.50"
    assert panel.form["nonce"] > nonce
    panel.close()


async def test_an_unknown_symbol_is_flagged_beside_the_symbol_input() -> None:
    session = ScriptedSession(
        {
            "subscribe_ticker": lambda c: {
                "type": "ERROR",
                "code": "INVALID_SYMBOL",
                "message": "unknown symbol NOPEUSDT",
            }
        }
    )
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.learn_symbol("nopeusdt"), 10)
    assert panel.errors == {"symbol": "unknown symbol NOPEUSDT"}
    assert panel.error == ""
    panel.close()


async def test_rejection_reasons_read_like_the_ui_beside_their_field() -> None:
    session = ScriptedSession(
        {
            "place_order": lambda c: order_update(
                {
                    "id": "o-3",
                    "type": "STOP_LOSS",
                    "status": "REJECTED",
                    "reason_code": "INSUFFICIENT_BALANCE",
                    "reason": "needs 97151574520000.000000000000 USDT, available "
                    "7080.8929805000000 USDT for stop_price 96000.000",
                }
            ),
        }
    )
    panel = TicketPanel(session)
    await asyncio.wait_for(panel.submit(form(type="STOP_LOSS", stop_price="96000")), 10)
    assert panel.errors == {
        "quantity": "Rejected: needs 97,151,574,520,000.00 USDT, available 7,080.89 USDT "
        "for stop price 96,000"
    }
    panel.close()


async def test_a_stopped_workspace_disables_the_ticket_with_a_reason() -> None:
    session = ScriptedSession()
    panel = TicketPanel(session)
    assert panel.disabled == ""
    session.emit({"type": "STATUS", "feed": "stopped", "source": "sim", "timestamp": 9})
    assert panel.disabled.startswith("Workspace stopped")
    reply = await panel.submit(form())
    assert reply["type"] == "ERROR"
    assert "place_order" not in session.actions()
    panel.close()


async def test_a_remote_session_without_its_server_disables_the_ticket() -> None:
    class Remote(ScriptedSession):
        state = "connected"

        def on_state(self, callback: Any) -> Any:
            self.state_callback = callback
            return lambda: None

    session = Remote()
    panel = TicketPanel(session)
    assert panel.disabled == ""
    session.state_callback("reconnecting")
    assert "reconnecting" in panel.disabled
    session.state_callback("connected")
    assert panel.disabled == ""
    panel.close()


async def test_a_fill_moves_the_tickets_available_balance_as_soon_as_the_portfolio() -> None:
    """The ticket refreshes last prices twice a second; the wallet a fill changed and
    its last order's status show within 0.1 s, with the portfolio panel."""
    delays: list[float] = []
    loop = asyncio.get_running_loop()

    def scheduler(delay: float, callback: Any) -> asyncio.TimerHandle:
        delays.append(delay)
        return loop.call_later(delay, callback)

    session = ScriptedSession({"subscribe_ticker": subscribed_with_info})
    panel = TicketPanel(session, symbol="BTCUSDT", scheduler=scheduler)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    session.emit(market("BTCUSDT", 97000.0, 5))  # a price: the ticket's own cadence
    assert delays[-1] > 0.4
    flushed = panel.next_flush()
    session.emit(
        {
            "type": "PORTFOLIO_UPDATE",
            "portfolio": {"available": 7477.65, "balances": {"USDT": {"free": 7477.65}}},
            "timestamp": 6,
        }
    )
    assert delays[-1] <= 0.1
    await asyncio.wait_for(flushed, 10)
    assert panel.wallet["available"] == 7477.65
    panel.close()
