"""Chart panel: the exchange's candles per timeframe (crafted ``CANDLES`` replies), the
forming bar moved by last prices and replaced by exact polled klines, order/position
lines, markers from real fills only, gap bands, incremental messages to the browser."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.widgets.panel_session import ScriptedSession, market, order_update
from widgets import ChartPanel
from widgets.state import ChartState
from widgets.state.chart import HISTORY_CANDLES, INTERVALS


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


def klines(n: int, start: int = 0, step: int = 60_000, price: float = 100.0) -> list[list[float]]:
    """``n`` CANDLES rows: [open_time_ms, open, high, low, close, volume]."""
    return [
        [start + i * step, price + i, price + i + 2, price + i - 1, price + i + 1, 10.0 + i]
        for i in range(n)
    ]


def candles_reply(command: dict[str, Any], rows: list[list[float]]) -> dict[str, Any]:
    return {
        "type": "CANDLES",
        "symbol": command["symbol"],
        "interval": command["interval"],
        "candles": rows[-int(command.get("limit", 500)) :],
        "timestamp": 1,
    }


def test_candles_reply_sets_the_history_oldest_first_without_duplicates() -> None:
    state = ChartState()
    rows = klines(3)
    state.set_candles("BTCUSDT", "1m", [rows[2], rows[0], rows[1], rows[1], ["bad"]])
    assert state.candles("BTCUSDT", "1m") == rows
    assert state.source("BTCUSDT", "1m") == "exchange"


def test_history_keeps_at_most_the_thousand_newest_candles() -> None:
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", klines(HISTORY_CANDLES + 5))
    bars = state.candles("BTCUSDT", "1m")
    assert len(bars) == HISTORY_CANDLES
    assert bars[0][0] == 5 * 60_000


def test_a_last_price_moves_the_forming_bar_and_opens_the_next() -> None:
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", [[60_000, 10.0, 11.0, 9.0, 10.5, 3.0]])
    state.apply(market("BTCUSDT", 12.0, 61_000))
    state.apply(market("BTCUSDT", 8.5, 62_000))
    assert state.candles("BTCUSDT", "1m") == [[60_000, 10.0, 12.0, 8.5, 8.5, 3.0]]
    state.apply(market("BTCUSDT", 9.0, 125_000))  # the next minute: a new bar at its open
    assert state.candles("BTCUSDT", "1m")[-1] == [120_000, 9.0, 9.0, 9.0, 9.0, 0.0]


def test_polled_klines_replace_the_forming_bar_with_the_exact_one() -> None:
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", klines(2))
    state.apply(market("BTCUSDT", 500.0, 61_000))  # a last price far off the bar
    exact = [60_000, 101.0, 103.5, 99.0, 102.0, 55.5]  # the trades' OHLCV
    following = [120_000, 102.0, 102.0, 101.0, 101.5, 1.0]
    changed = state.merge_candles("BTCUSDT", "1m", [exact, following])
    assert changed == [exact, following]
    assert state.candles("BTCUSDT", "1m")[-2:] == [exact, following]
    assert state.merge_candles("BTCUSDT", "1m", [exact, following]) == []  # nothing new


def test_a_poll_older_than_the_last_price_does_not_move_the_forming_bar_back() -> None:
    """The engine's kline of the forming minute lags the ticker by up to two seconds;
    taken as it came, each poll moved the candle's close and high back and the next
    price moved them on: seen in the browser, the candle jumped to and fro every
    second."""
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", [[60_000, 101.0, 103.5, 99.0, 102.0, 50.0]])
    state.apply(market("BTCUSDT", 105.0, 61_500))  # a trade above the kline's high
    stale = [60_000, 101.0, 103.5, 99.0, 102.0, 55.5]  # the kline before that trade
    assert state.merge_candles("BTCUSDT", "1m", [stale]) == [
        [60_000, 101.0, 105.0, 99.0, 105.0, 55.5]  # its open and volume; nothing back
    ]
    state.apply(market("BTCUSDT", 104.0, 62_000))
    newer = [60_000, 101.0, 106.0, 98.5, 103.0, 60.0]  # a trade at 106 since
    state.merge_candles("BTCUSDT", "1m", [newer])
    assert state.candles("BTCUSDT", "1m") == [[60_000, 101.0, 106.0, 98.5, 104.0, 60.0]]
    # the minute closed: the next poll brings it whole, and the exchange's bar stands
    final = [60_000, 101.0, 106.0, 98.5, 103.0, 61.0]
    state.merge_candles("BTCUSDT", "1m", [final, [120_000, 103.0, 103.0, 103.0, 103.0, 0.1]])
    assert state.candles("BTCUSDT", "1m")[0] == final


def test_each_timeframe_has_its_own_candles() -> None:
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", klines(3))
    state.set_candles("BTCUSDT", "1h", klines(2, step=3_600_000))
    assert len(state.candles("BTCUSDT", "1m")) == 3
    assert state.candles("BTCUSDT", "1h")[1][0] == 3_600_000
    assert list(INTERVALS) == ["1m", "5m", "15m", "1h", "4h", "1d"]
    with pytest.raises(ValueError, match="interval"):
        state.series("BTCUSDT", "7m")


def test_without_klines_candles_are_built_from_last_prices() -> None:
    state = ChartState()
    state.use_ticks("BTCUSDT", "5m")
    for ts, price in [(0, 10.0), (100_000, 12.0), (299_000, 9.0), (300_000, 11.0)]:
        state.apply(market("BTCUSDT", price, ts))
    assert state.candles("BTCUSDT", "5m") == [
        [0, 10.0, 12.0, 9.0, 9.0, 0.0],
        [300_000, 11.0, 11.0, 11.0, 11.0, 0.0],
    ]
    assert state.source("BTCUSDT", "5m") == "ticks"


def test_out_of_order_last_prices_do_not_move_the_bar_back() -> None:
    state = ChartState()
    state.set_candles("BTCUSDT", "1m", [[60_000, 10.0, 11.0, 9.0, 10.5, 3.0]])
    state.apply(market("BTCUSDT", 10.7, 70_000))
    assert state.apply(market("BTCUSDT", 1.0, 65_000)) == set()
    assert state.candles("BTCUSDT", "1m")[-1][4] == 10.7


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
    filled = order(
        "o1",
        "MARKET",
        "FILLED",
        side="BUY",
        fill_price=101.0,
        filled_quantity=1.0,
        updated_at=5_000,
    )
    state.apply(order_update(filled, ts=5_000))
    state.apply(order_update(filled, ts=5_000))
    assert state.fills("BTCUSDT") == [
        {"t": 5_000, "price": 101.0, "side": "BUY", "id": "o1", "quantity": 1.0}
    ]


def test_a_completed_bracket_draws_its_real_fills_only_no_phantom_entry() -> None:
    state = ChartState()
    entry = order(
        "b-e",
        "MARKET",
        "FILLED",
        side="BUY",
        role="entry",
        fill_price=100.0,
        filled_quantity=1.0,
        updated_at=1_000,
    )
    tp = order(
        "b-tp",
        "LIMIT",
        "FILLED",
        side="SELL",
        role="take_profit",
        price=110.0,
        fill_price=110.0,
        filled_quantity=1.0,
        updated_at=9_000,
    )
    sl = order("b-sl", "STOP_LOSS", "CANCELED", side="SELL", role="stop_loss", stop_price=95.0)
    # the group carries its entry's fill price and ends FILLED at the exit's time
    group = order(
        "b",
        "FILLED",
        type="BRACKET",
        side="BUY",
        fill_price=100.0,
        filled_quantity=1.0,
        updated_at=9_000,
        legs=[entry, tp, sl],
    )
    state.apply(order_update(group, ts=9_000))
    assert [(f["side"], f["price"], f["t"]) for f in state.fills("BTCUSDT")] == [
        ("BUY", 100.0, 1_000),
        ("SELL", 110.0, 9_000),
    ]


def test_v2_fills_each_become_a_marker_at_their_own_time_and_price() -> None:
    state = ChartState()
    fills = [
        {"price": 100.0, "quantity": 0.4, "timestamp": 1_000},
        {"price": 100.5, "quantity": 0.6, "timestamp": 2_000},
    ]
    partly = order("o1", "MARKET", "PARTIALLY_FILLED", side="BUY", fills=fills[:1])
    state.apply(order_update(partly))
    state.apply(order_update({**partly, "status": "FILLED", "fills": fills}))
    assert [(f["t"], f["price"], f["quantity"]) for f in state.fills("BTCUSDT")] == [
        (1_000, 100.0, 0.4),
        (2_000, 100.5, 0.6),
    ]


def test_gaps_from_status_are_kept_once_and_closed_when_they_end() -> None:
    state = ChartState()
    state.apply(market("BTCUSDT", 1.0, 1))
    gap = {"start_ms": 10_000, "end_ms": None, "reason": "reconnect"}
    assert state.apply({"type": "STATUS", "feed": "reconnecting", "last_gap": gap}) == {"BTCUSDT"}
    assert state.apply({"type": "STATUS", "feed": "reconnecting", "last_gap": gap}) == set()
    closed = {**gap, "end_ms": 16_000}
    state.apply({"type": "STATUS", "feed": "connected", "last_gap": closed})
    assert state.gaps == [
        {"start_ms": 10_000, "end_ms": 16_000, "reason": "reconnect", "symbol": None}
    ]


def test_gaps_of_the_candles_reply_are_drawn_and_a_book_gap_only_on_its_symbol() -> None:
    state = ChartState()
    state.apply(market("BTCUSDT", 1.0, 1))
    state.apply(market("ETHUSDT", 1.0, 1))
    feed_gap = {"start_ms": 60_000, "end_ms": 90_000, "reason": "stalled", "symbol": None}
    book_gap = {"start_ms": 70_000, "end_ms": 70_400, "reason": "depth gap", "symbol": "ETHUSDT"}
    state.set_candles("ETHUSDT", "1m", [[0, 1, 1, 1, 1, 1]], [book_gap, feed_gap, "junk"])
    assert [g["reason"] for g in state.gaps_for("ETHUSDT")] == ["stalled", "depth gap"]
    assert [g["reason"] for g in state.gaps_for("BTCUSDT")] == ["stalled"]
    # the same gap again from STATUS changes nothing; a book gap touches its symbol only
    assert state.apply({"type": "STATUS", "last_gap": feed_gap}) == set()
    other = {**book_gap, "start_ms": 80_000, "symbol": "BTCUSDT"}
    assert state.apply({"type": "STATUS", "last_gap": other}) == {"BTCUSDT"}


class Recorder:
    def __init__(self, panel: ChartPanel) -> None:
        self.sent: list[dict[str, Any]] = []
        panel._send_custom = self.send  # type: ignore[method-assign]

    def send(self, content: dict[str, Any]) -> None:
        self.sent.append(content)


def chart_session(rows: list[list[float]]) -> ScriptedSession:
    return ScriptedSession({"get_candles": lambda c: candles_reply(c, rows)})


async def test_history_on_open_is_sent_whole_then_only_changed_bars() -> None:
    rows = klines(300)
    session = chart_session(rows)
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    sent = Recorder(panel).sent
    await asyncio.wait_for(panel.settle(), 10)
    [reset] = [m for m in sent if m["kind"] == "reset"]
    assert len(reset["candles"]) == 300
    assert (reset["interval"], reset["source"], reset["mode"]) == ("1m", "exchange", "candles")
    assert {"action": "get_candles", "symbol": "BTCUSDT", "interval": "1m", "limit": 1000} in (
        session.requests
    )
    last_open = int(rows[-1][0])
    session.emit(market("BTCUSDT", 500.0, last_open + 1_000))
    await asyncio.wait_for(panel.next_flush(), 10)
    bars = [m for m in sent if m["kind"] == "bars"]
    assert [b["bars"] for b in bars] == [
        [[last_open, *rows[-1][1:2], 500.0, rows[-1][3], 500.0, rows[-1][5]]]
    ]
    panel.close()


async def test_switching_timeframe_loads_and_resends_that_history() -> None:
    session = ScriptedSession(
        {
            "get_candles": lambda c: candles_reply(
                c, klines(120 if c["interval"] == "1h" else 50, step=INTERVALS[c["interval"]])
            )
        }
    )
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    await asyncio.wait_for(panel.settle(), 10)
    sent = Recorder(panel).sent
    panel.timeframe = "1h"
    await asyncio.wait_for(panel.settle(), 10)
    assert sent[-1]["kind"] == "reset"
    assert (sent[-1]["interval"], len(sent[-1]["candles"])) == ("1h", 120)
    assert sent[-1]["candles"][1][0] == 3_600_000
    panel.mode = "line"
    assert (sent[-1]["kind"], sent[-1]["mode"]) == ("reset", "line")
    panel.close()


async def test_an_engine_without_candles_falls_back_to_last_prices_and_says_so() -> None:
    session = ScriptedSession()  # get_candles -> ERROR UNKNOWN_ACTION
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    await asyncio.wait_for(panel.settle(), 10)
    assert panel.source == "ticks"
    assert panel.error == ""
    session.emit(market("BTCUSDT", 10.0, 60_000), market("BTCUSDT", 12.0, 61_000))
    assert panel.state.candles("BTCUSDT", "1m") == [[60_000, 10.0, 12.0, 10.0, 12.0, 0.0]]
    panel.close()


async def test_the_poll_brings_the_exact_forming_bar() -> None:
    rows = klines(10)
    session = chart_session(rows)
    panel = ChartPanel(session, "BTCUSDT", poll=0.01)
    sent = Recorder(panel).sent
    await asyncio.wait_for(panel.settle(), 10)
    rows[-1] = [rows[-1][0], 1.0, 2.0, 0.5, 1.5, 99.0]  # the exchange's bar moved

    async def polled() -> None:
        while not any(m["kind"] == "bars" for m in sent):
            await panel.next_flush()

    await asyncio.wait_for(polled(), 10)
    [bars] = [m["bars"] for m in sent if m["kind"] == "bars"][:1]
    assert bars == [rows[-1]]
    assert {"action": "get_candles", "symbol": "BTCUSDT", "interval": "1m", "limit": 2} in (
        session.requests
    )
    panel.close()


async def test_a_bad_timeframe_is_refused_before_the_panel_listens() -> None:
    """The trait refused it only after the panel had started listening to the
    session, and that listener stayed."""
    session = chart_session(klines(5))
    with pytest.raises(ValueError, match="timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1d"):
        ChartPanel(session, "BTCUSDT", timeframe="7m", poll=None)
    assert session.listeners == []


async def test_other_symbols_do_not_flush_the_displayed_chart() -> None:
    session = chart_session(klines(5))
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    sent = Recorder(panel).sent
    session.emit(market("ETHUSDT", 1.0, 1))
    await asyncio.wait_for(panel.next_flush(), 10)  # the new symbol joins the list
    session.emit(market("ETHUSDT", 2.0, 2))
    panel.flush()
    assert [m for m in sent if m["kind"] == "bars"] == []
    assert panel.symbols == ["BTCUSDT", "ETHUSDT"]
    panel.close()


async def test_fills_and_gaps_reach_the_browser() -> None:
    session = chart_session(klines(5))
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    await asyncio.wait_for(panel.settle(), 10)
    sent = Recorder(panel).sent
    filled = order("o1", "MARKET", "FILLED", side="BUY", fill_price=101.0, filled_quantity=1.0)
    session.emit(order_update(filled, ts=120_000))
    gap = {"start_ms": 60_000, "end_ms": 90_000, "reason": "reconnect"}
    session.emit({"type": "STATUS", "feed": "connected", "source": "sim", "last_gap": gap})
    panel.flush()
    assert [m["fills"] for m in sent if m["kind"] == "fills"][-1][0]["price"] == 101.0
    assert panel.gaps == [{**gap, "symbol": None}]
    panel.close()


async def test_first_symbol_seen_is_displayed_when_none_given() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, poll=None)
    session.emit(market("SOLUSDT", 150.0, 1))
    assert panel.symbol == "SOLUSDT"
    panel.close()


async def test_lines_trait_follows_orders_on_the_displayed_symbol() -> None:
    session = ScriptedSession()
    panel = ChartPanel(session, "BTCUSDT", poll=None)
    session.emit(order_update(order("o1", "STOP_LOSS", stop_price=90.0)))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.lines == [{"kind": "stop", "price": 90.0, "label": "stop o1"}]
    panel.close()
