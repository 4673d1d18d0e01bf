"""Orders panel: open and recent orders, trailing stop and peak, cancel, rejections."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.widgets.panel_session import ScriptedSession, order_update
from widgets import OrdersPanel
from widgets.state import OrdersState


def order(oid: str, status: str = "NEW", **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "symbol": "ETHUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "quantity": 1.0,
        "filled_quantity": 0.0,
        "status": status,
        "price": 2300.0,
        **extra,
    }


def test_order_update_adds_an_open_order() -> None:
    state = OrdersState()
    assert state.apply(order_update(order("o-1"), seq=3))
    [row] = state.open_rows()
    assert (row["id"], row["status"], row["price"]) == ("o-1", "NEW", 2300.0)
    assert state.seq == 3


def test_filled_order_moves_from_open_to_recent() -> None:
    state = OrdersState()
    state.apply(order_update(order("o-1")))
    state.apply(order_update(order("o-1", "FILLED", fill_price=2301.0, fee=0.9), seq=2))
    assert state.open_rows() == []
    [row] = state.recent_rows()
    assert row["fill_price"] == 2301.0


def test_an_order_placed_by_its_quote_amount_shows_it() -> None:
    from widgets.state.orders import order_row

    row = order_row(
        {"id": "order-9", "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
         "status": "FILLED", "quantity": 0.00103, "filled_quantity": 0.00103,
         "quote_quantity": 100.0}
    )  # fmt: skip
    assert row["quote_amount"] == "100.00 USDT"
    assert order_row({"id": "order-1", "symbol": "BTCUSDT"})["quote_amount"] == ""


def test_rejected_order_carries_its_reason() -> None:
    state = OrdersState()
    state.apply(order_update(order("o-2", "REJECTED", reason="insufficient balance")))
    assert state.get("o-2")["reason"] == "insufficient balance"  # type: ignore[index]


def test_trailing_stop_shows_live_stop_and_peak() -> None:
    state = OrdersState()
    trailing = order("t-1", type="TRAILING_STOP", trail_percent=1.0, price=None)
    state.apply(order_update({**trailing, "current_stop_price": 2227.5, "peak_price": 2250.0}))
    state.apply(order_update({**trailing, "current_stop_price": 2237.4, "peak_price": 2260.0}))
    row = state.get("t-1")
    assert row is not None
    assert (row["current_stop_price"], row["peak_price"]) == (2237.4, 2260.0)
    assert row["trail_percent"] == 1.0


def test_orders_snapshot_and_live_updates_merge_by_id() -> None:
    state = OrdersState()
    state.apply(
        {"type": "ORDERS", "orders": [order("o-1"), order("o-2")], "seq": 7, "timestamp": 1}
    )
    state.apply(order_update(order("o-2", "CANCELED"), seq=8))
    assert [r["id"] for r in state.open_rows()] == ["o-1"]
    assert [r["id"] for r in state.rows()] == ["o-1", "o-2"]
    assert state.seq == 8


def test_bracket_legs_are_kept_with_their_status() -> None:
    state = OrdersState()
    legs = [
        order("b-1-tp", type="TAKE_PROFIT", stop_price=2400.0),
        order("b-1-sl", type="STOP_LOSS", stop_price=2200.0),
    ]
    state.apply(order_update(order("b-1", "FILLED", type="BRACKET", legs=legs)))
    row = state.get("b-1")
    assert row is not None
    assert [(leg["id"], leg["status"]) for leg in row["legs"]] == [
        ("b-1-tp", "NEW"),
        ("b-1-sl", "NEW"),
    ]


def test_only_the_most_recent_finished_orders_are_kept() -> None:
    state = OrdersState(recent_limit=3)
    for i in range(10):
        state.apply(order_update(order(f"o-{i}", "FILLED")))
    state.apply(order_update(order("open-1")))
    assert [r["id"] for r in state.recent_rows()] == ["o-7", "o-8", "o-9"]
    assert [r["id"] for r in state.open_rows()] == ["open-1"]


async def test_cancel_button_cancels_and_shows_the_canceled_order() -> None:
    session = ScriptedSession(
        {
            "get_orders": lambda c: {
                "type": "ORDERS",
                "orders": [order("o-1")],
                "seq": 1,
                "timestamp": 1,
            },
            "cancel_order": lambda c: order_update(order(c["order_id"], "CANCELED"), seq=2),
        }
    )
    panel = OrdersPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    panel._on_front_message(panel, {"action": "cancel", "order_id": "o-1"}, None)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert panel.rows == []  # the open tab is empty now
    assert panel.counts == {"open": 0, "history": 1}
    panel.tab = "history"
    panel.flush()
    assert [(r["id"], r["status"]) for r in panel.rows] == [("o-1", "CANCELED")]
    assert panel.canceling == []
    assert panel.notice == "canceled o-1"
    panel.close()


async def test_cancelling_a_final_order_shows_the_engine_error() -> None:
    session = ScriptedSession(
        {
            "cancel_order": lambda c: {
                "type": "ERROR",
                "code": "INVALID_PARAMS",
                "message": "order o-1 is FILLED",
            },
        }
    )
    panel = OrdersPanel(session)
    await asyncio.wait_for(panel.cancel("o-1"), 10)
    assert panel.error == "cancel_order: INVALID_PARAMS: order o-1 is FILLED"
    panel.close()


async def test_unknown_browser_action_is_reported_in_the_panel() -> None:
    panel = OrdersPanel(ScriptedSession())
    panel._on_front_message(panel, {"action": "explode"}, None)
    assert "unknown action 'explode'" in panel.error
    panel.close()


async def test_a_command_without_reply_times_out_into_the_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    class Silent(ScriptedSession):
        async def request(self, command: dict[str, Any]) -> dict[str, Any]:
            if command["action"] == "cancel_order":
                return await never
            return await super().request(command)

    monkeypatch.setattr("widgets.panel.COMMAND_TIMEOUT_S", 0.01)
    panel = OrdersPanel(Silent())
    reply = await asyncio.wait_for(panel.cancel("o-1"), 10)
    assert reply["type"] == "ERROR"
    assert panel.error.startswith("cancel_order failed: TimeoutError")
    assert panel.canceling == []
    panel.close()


def test_legs_carry_their_role_so_the_panel_can_name_them() -> None:
    state = OrdersState()
    legs = [
        order("b-2-entry", "FILLED", type="MARKET", role="entry", fill_price=2300.5),
        order("b-2-tp", type="LIMIT", role="take_profit", price=2400.0),
        order("b-2-sl", type="STOP_LOSS", role="stop_loss", stop_price=2200.0),
    ]
    state.apply(order_update(order("b-2", "NEW", type="BRACKET", legs=legs)))
    row = state.get("b-2")
    assert row is not None
    assert [(leg["role"], leg["status"]) for leg in row["legs"]] == [
        ("entry", "FILLED"),
        ("take_profit", "NEW"),
        ("stop_loss", "NEW"),
    ]
    assert row["role"] == ""  # a top-level order has no role


def test_each_tab_is_sorted_by_time_newest_first_or_oldest_first() -> None:
    state = OrdersState()
    state.apply(order_update(order("late", created_at=3_000, updated_at=3_000)))
    state.apply(order_update(order("early", created_at=1_000, updated_at=1_000)))
    state.apply(order_update(order("done-a", "FILLED", created_at=500, updated_at=4_000)))
    state.apply(order_update(order("done-b", "CANCELED", created_at=2_000, updated_at=2_500)))
    assert [r["id"] for r in state.tab_rows("open")] == ["late", "early"]
    assert [r["id"] for r in state.tab_rows("open", newest_first=False)] == ["early", "late"]
    # the history by the time each order ended
    assert [r["id"] for r in state.tab_rows("history")] == ["done-a", "done-b"]
    assert state.counts() == {"open": 2, "history": 2}
    with pytest.raises(ValueError, match="tab"):
        state.tab_rows("closed")


def test_partial_fills_show_average_price_and_each_fill() -> None:
    state = OrdersState()
    fills = [
        {
            "price": 100.0,
            "quantity": 0.4,
            "fee": 0.04,
            "fee_asset": "USDT",
            "maker": False,
            "timestamp": 10,
        },
        {
            "price": 101.0,
            "quantity": 0.2,
            "fee": 0.0202,
            "fee_asset": "USDT",
            "maker": True,
            "timestamp": 20,
        },
    ]
    partly = order("p-1", "PARTIALLY_FILLED", filled_quantity=0.6, avg_price=100.3333, fills=fills)
    state.apply(order_update(partly))
    [row] = state.open_rows()  # still open: the rest may fill later
    assert (row["filled_quantity"], row["quantity"], row["avg_price"]) == (0.6, 1.0, 100.3333)
    assert [(f["price"], f["quantity"], f["maker"]) for f in row["fills"]] == [
        (100.0, 0.4, False),
        (101.0, 0.2, True),
    ]
    # a version-1 engine: one fill price, which is the average
    state.apply(order_update(order("v1", "FILLED", fill_price=99.5)))
    assert state.get("v1")["avg_price"] == 99.5  # type: ignore[index]


def test_a_rejection_reason_reads_like_the_ui() -> None:
    state = OrdersState()
    reason = "needs 97151574520000.000000000000 USDT for stop_price 96000.00000"
    state.apply(order_update(order("r-1", "REJECTED", reason=reason, reason_code="X")))
    row = state.get("r-1")
    assert row is not None
    assert row["reason"] == "needs 97,151,574,520,000.00 USDT for stop price 96,000"
    assert row["reason_code"] == "X"


async def test_cancel_all_cancels_every_open_order() -> None:
    open_orders = [order("o-1"), order("o-2"), order("o-3", "FILLED")]
    session = ScriptedSession(
        {
            "get_orders": lambda c: {
                "type": "ORDERS",
                "orders": open_orders,
                "seq": 1,
                "timestamp": 1,
            },
            "cancel_order": lambda c: order_update(order(c["order_id"], "CANCELED"), seq=2),
        }
    )
    panel = OrdersPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    panel._on_front_message(panel, {"action": "cancel_all"}, None)
    await asyncio.wait_for(panel.settle(), 10)
    cancels = sorted(c["order_id"] for c in session.requests if c["action"] == "cancel_order")
    assert cancels == ["o-1", "o-2"]
    panel.flush()
    assert panel.counts == {"open": 0, "history": 3}
    assert panel.notice == "canceled 2 of 2 open orders"
    panel.close()
