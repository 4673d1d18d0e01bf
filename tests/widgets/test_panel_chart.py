"""Chart panel: price points and 1 m candles, order/position lines, fills as markers,
incremental messages to the browser."""

from __future__ import annotations

import asyncio
from typing import Any

from panel_session import ScriptedSession, market, order_update

from widgets import ChartPanel
from widgets.state import ChartState
from widgets.state.chart import HISTORY_POINTS


def order(oid: str, otype: str, status: str = "NEW", **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": otype,
        "quantity": 1.0,
        "filled_quantity": 0.0,
        "status": status,
        **extra,
    }


def test_market_updates_append_points_and_build_one_minute_candles() -> None:
    state = ChartState()
    for ts, price in [(60_000, 10.0), (80_000, 12.0), (100_000, 9.0), (120_000, 11.0)]:
        state.apply(market("BTCUSDT", price, ts))
    points, next_index, reset = state.points_since("BTCUSDT", 0)
    assert points == [(60_000, 10.0), (80_000, 12.0), (100_000, 9.0), (120_000, 11.0)]
    assert (next_index, reset) == (4, False)
    assert state.candles("BTCUSDT") == [
        [60_000, 10.0, 12.0, 9.0, 9.0],
        [120_000, 11.0, 11.0, 11.0, 11.0],
    ]


def test_points_since_returns_only_the_new_ones() -> None:
    state = ChartState()
    for ts in range(1, 6):
        state.apply(market("BTCUSDT", float(ts), ts))
    assert state.points_since("BTCUSDT", 3) == ([(4, 4.0), (5, 5.0)], 5, False)


def test_an_index_older_than_the_kept_history_asks_for_a_reset() -> None:
    state = ChartState()
    for ts in range(1, HISTORY_POINTS + 11):
        state.apply(market("BTCUSDT", float(ts), ts))
    points, _, reset = state.points_since("BTCUSDT", 0)
    assert reset
    assert len(points) == HISTORY_POINTS


def test_stale_or_duplicate_ticks_do_not_go_back_in_time() -> None:
    state = ChartState()
    state.apply(market("BTCUSDT", 1.0, 10))
    assert state.apply(market("BTCUSDT", 2.0, 10)) == set()
    assert state.apply(market("BTCUSDT", 2.0, 5)) == set()


def test_entry_stop_take_profit_and_trailing_lines_for_the_symbol() -> None:
    state = ChartState()
    state.apply(
        {
            "type": "POSITION_UPDATE",
            "timestamp": 1,
            "positions": [
                {
                    "id": "p1",
                    "symbol": "BTCUSDT",
                    "type": "buy",
                    "quantity": 0.5,
                    "entry_price": 100.0,
                    "current_price": 101.0,
                    "current_pnl": 0.5,
                    "status": "open",
                }
            ],
        }
    )
    state.apply(order_update(order("o1", "OCO", take_profit=120.0, stop_price=90.0)))
    state.apply(
        order_update(
            order(
                "o2", "TRAILING_STOP", trail_percent=1.0, current_stop_price=99.0, peak_price=100.0
            )
        )
    )
    state.apply(order_update({**order("o3", "STOP_LOSS", stop_price=80.0), "symbol": "ETHUSDT"}))
    assert [(line["kind"], line["price"]) for line in state.lines("BTCUSDT")] == [
        ("entry", 100.0),
        ("take_profit", 120.0),
        ("stop", 90.0),
        ("trailing_stop", 99.0),
    ]


def test_trailing_stop_line_moves_with_the_order() -> None:
    state = ChartState()
    trailing = order("o2", "TRAILING_STOP", trail_percent=1.0)
    state.apply(order_update({**trailing, "current_stop_price": 99.0}))
    state.apply(order_update({**trailing, "current_stop_price": 99.5}, seq=2))
    assert [line["price"] for line in state.lines("BTCUSDT")] == [99.5]


def test_lines_of_finished_orders_disappear() -> None:
    state = ChartState()
    state.apply(order_update(order("o1", "STOP_LOSS", stop_price=90.0)))
    state.apply(order_update(order("o1", "CANCELED", stop_price=90.0), seq=2))
    assert state.lines("BTCUSDT") == []


def test_bracket_open_legs_draw_their_lines() -> None:
    state = ChartState()
    legs = [
        order("b-tp", "TAKE_PROFIT", stop_price=130.0),
        order("b-sl", "STOP_LOSS", stop_price=95.0),
    ]
    state.apply(
        order_update(
            order("b", "FILLED", type="BRACKET", take_profit=130.0, stop_loss=95.0, legs=legs)
        )
    )
    assert [(line["kind"], line["price"]) for line in state.lines("BTCUSDT")] == [
        ("take_profit", 130.0),
        ("stop", 95.0),
    ]


def test_bracket_limit_leg_is_drawn_as_the_take_profit() -> None:
    state = ChartState()
    legs = [
        order("b-tp", "LIMIT", price=130.0),
        order("b-sl", "STOP_LOSS", stop_price=95.0),
        order("b-entry", "MARKET", "FILLED"),
    ]
    state.apply(order_update(order("b", "NEW", type="BRACKET", legs=legs)))
    assert state.lines("BTCUSDT") == [
        {"kind": "take_profit", "price": 130.0, "label": "take profit b-tp"},
        {"kind": "stop", "price": 95.0, "label": "stop b-sl"},
    ]


def test_fills_become_markers_once_each() -> None:
    state = ChartState()
    filled = order("o1", "MARKET", "FILLED", side="BUY", fill_price=101.0, filled_quantity=1.0)
    state.apply(order_update(filled, ts=5_000))
    state.apply(order_update(filled, ts=5_000))
    assert state.fills("BTCUSDT") == [{"t": 5_000, "price": 101.0, "side": "BUY", "id": "o1"}]


class Recorder:
    def __init__(self, panel: ChartPanel) -> None:
        self.sent: list[dict[str, Any]] = []
        panel._send_custom = self.sent.append  # type: ignore[method-assign]


async def test_panel_sends_a_reset_then_only_new_points() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT")
    await asyncio.wait_for(panel.settle(), 10)
    sent = Recorder(panel).sent
    panel._on_front_message(panel, {"action": "snapshot"}, None)
    assert sent[-1]["kind"] == "reset"
    session.emit(market("BTCUSDT", 100.0, 1_000), market("BTCUSDT", 101.0, 2_000))
    await asyncio.wait_for(panel.next_flush(), 10)
    session.emit(market("BTCUSDT", 102.0, 3_000))
    await asyncio.wait_for(panel.next_flush(), 10)
    extends = [m for m in sent if m["kind"] == "extend"]
    assert [m["points"] for m in extends] == [
        {"t": [1_000, 2_000], "y": [100.0, 101.0]},
        {"t": [3_000], "y": [102.0]},
    ]
    panel.close()


async def test_other_symbols_do_not_flush_the_displayed_chart() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT")
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    sent = Recorder(panel).sent
    session.emit(market("ETHUSDT", 1.0, 1))
    await asyncio.wait_for(panel.next_flush(), 10)  # the new symbol joins the list
    session.emit(market("ETHUSDT", 2.0, 2))
    panel.flush()
    assert sent == []
    assert panel.symbols == ["BTCUSDT", "ETHUSDT"]
    panel.close()


async def test_switching_symbol_or_mode_resends_the_history() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT")
    session.emit(market("BTCUSDT", 1.0, 1), market("ETHUSDT", 2.0, 1))
    panel.flush()
    sent = Recorder(panel).sent
    panel.symbol = "ethusdt"
    assert sent[-1]["kind"] == "reset"
    assert sent[-1]["symbol"] == "ETHUSDT"
    assert sent[-1]["points"] == {"t": [1], "y": [2.0]}
    panel.mode = "candles"
    assert sent[-1]["mode"] == "candles"
    assert sent[-1]["candles"] == [[0, 2.0, 2.0, 2.0, 2.0]]
    panel.close()


async def test_candle_mode_resends_the_forming_candle() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT", mode="candles")
    session.emit(market("BTCUSDT", 10.0, 60_000))
    panel.flush()
    sent = Recorder(panel).sent
    session.emit(market("BTCUSDT", 12.0, 61_000))
    panel.flush()
    assert sent[-1]["candles"] == [[60_000, 10.0, 12.0, 10.0, 12.0]]
    assert sent[-1]["replace_last"]
    panel.close()


async def test_first_symbol_seen_is_displayed_when_none_given() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session)
    session.emit(market("SOLUSDT", 150.0, 1))
    assert panel.symbol == "SOLUSDT"
    panel.close()


async def test_lines_trait_follows_orders_on_the_displayed_symbol() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT")
    session.emit(order_update(order("o1", "STOP_LOSS", stop_price=90.0)))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.lines == [{"kind": "stop", "price": 90.0, "label": "stop o1"}]
    panel.close()
