"""PROTOCOL.md shapes of orders, positions and the portfolio (floats at the edge)."""

from __future__ import annotations

import json

from workspace.trading import (
    OrderType,
    order_to_wire,
    portfolio_to_wire,
    position_to_wire,
)

from .scripted import Script, buy, sell


def test_filled_order_wire_has_protocol_fields_fill_price_and_fee() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(buy(OrderType.MARKET, "1.5"))
    wire = order_to_wire(order)
    assert wire["id"] == order.id
    assert wire["symbol"] == "BTCUSDT"
    assert (wire["side"], wire["type"], wire["status"]) == ("BUY", "MARKET", "FILLED")
    assert (wire["quantity"], wire["filled_quantity"]) == (1.5, 1.5)
    assert (wire["fill_price"], wire["avg_price"], wire["fee"]) == (100.0, 100.0, 0.15)
    assert wire["fills"] == [
        {
            "price": 100.0,
            "quantity": 1.5,
            "fee": 0.15,
            "fee_asset": "USDT",
            "maker": False,
            "timestamp": order.updated_at,
        }
    ]
    assert wire["time_in_force"] == "GTC"
    assert isinstance(wire["created_at"], int)
    json.dumps(wire)


def test_rejected_order_wire_carries_the_reason_and_its_code() -> None:
    s = Script()
    s.trades("100")
    wire = order_to_wire(s.place(sell(OrderType.MARKET, "1"))[0])
    assert wire["status"] == "REJECTED"
    assert wire["reason_code"] == "WOULD_SHORT"
    assert wire["reason"].startswith("Selling 1 BTC needs 1 BTC but the account holds 0 BTC")


def test_bracket_wire_has_legs_with_ids_statuses_and_trailing_fields() -> None:
    s = Script()
    s.trades("100")
    order, _ = s.place(
        buy(OrderType.BRACKET, "1", take_profit="110", stop_loss="90", trail_percent="1")
    )
    wire = order_to_wire(s.account.order(order.id))
    legs = wire["legs"]
    assert [leg["status"] for leg in legs] == ["FILLED", "NEW", "NEW"]
    assert len({leg["id"] for leg in legs}) == 3
    assert legs[2]["current_stop_price"] == 99.0
    assert legs[2]["peak_price"] == 100.0
    json.dumps(wire)


def test_position_wire_shape_with_iso_timestamp_and_freshness() -> None:
    s = Script(allow_short=True)
    s.trades("100")
    s.place(sell(OrderType.MARKET, "2"))
    s.trades("90")
    wire = position_to_wire(s.account.positions[0])
    assert {"id", "symbol", "type", "quantity", "entry_price", "current_price"} <= wire.keys()
    assert (wire["type"], wire["status"], wire["current_pnl"]) == ("sell", "open", 20.0)
    assert wire["timestamp"] == "2023-11-14T22:13:20.002Z"
    assert (wire["price_ms"], wire["stale"]) == (s.t, False)
    later = position_to_wire(s.account.positions_at(s.t + 5_001)[0])
    assert (later["price_ms"], later["stale"]) == (s.t, True)


def test_portfolio_wire_shape() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    wire = portfolio_to_wire(s.account.portfolio())
    for key in ("balance", "total_pnl", "positions_count", "realized_pnl", "equity"):
        assert key in wire
    assert wire["positions_count"] == 1
    assert wire["fees_paid"] == 0.1
    assert wire["initial_balance"] == 10000.0
    assert (wire["available"], wire["locked"]) == (9899.9, 0.0)
    assert wire["balances"] == {
        "BTC": {"free": 1.0, "locked": 0.0},
        "USDT": {"free": 9899.9, "locked": 0.0},
    }
    assert wire["total_pnl"] == wire["realized_pnl"] + wire["unrealized_pnl"] - wire["fees_paid"]
