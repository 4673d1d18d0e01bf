"""Positions and portfolio panels: state from POSITION_UPDATE / PORTFOLIO_UPDATE,
closing a position from its row."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.widgets.panel_session import ScriptedSession
from widgets import PortfolioPanel, PositionsPanel
from widgets.state import PortfolioState, PositionsState


def position(pid: str = "pos-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "symbol": "BTCUSDT",
        "type": "buy",
        "quantity": 0.5,
        "entry_price": 40000.0,
        "current_price": 40100.0,
        "current_pnl": 50.0,
        "timestamp": "2026-01-01T00:00:00Z",
        "status": "open",
        **extra,
    }


def positions_message(*positions: dict[str, Any], ts: int = 1) -> dict[str, Any]:
    return {"type": "POSITION_UPDATE", "positions": list(positions), "timestamp": ts}


def portfolio_message(ts: int = 1, **fields: Any) -> dict[str, Any]:
    portfolio = {
        "balance": 10_000.0,
        "total_pnl": 0.0,
        "positions_count": 0,
        "realized_pnl": 0.0,
        **fields,
    }
    return {"type": "PORTFOLIO_UPDATE", "portfolio": portfolio, "timestamp": ts}


def test_open_positions_become_rows_with_pnl_percent_of_cost() -> None:
    state = PositionsState()
    assert state.apply(positions_message(position()))
    [row] = state.rows()
    assert row["symbol"] == "BTCUSDT"
    assert row["side"] == "buy"
    assert row["pnl"] == 50.0
    assert row["pnl_pct"] == 50.0 / (40000.0 * 0.5) * 100


def test_closed_positions_are_not_listed() -> None:
    state = PositionsState()
    state.apply(positions_message(position("a"), position("b", status="closed")))
    assert [r["id"] for r in state.rows()] == ["a"]


def test_open_positions_are_newest_first_and_stale_marks_are_flagged() -> None:
    state = PositionsState()
    state.apply(
        positions_message(
            position("old", opened_at=1_000),
            position("new", opened_at=5_000, stale=True, price_ms=4_000),
        )
    )
    rows = state.rows()
    assert [r["id"] for r in rows] == ["new", "old"]
    assert (rows[0]["stale"], rows[0]["price_ms"]) == (True, 4_000)
    assert rows[1]["stale"] is False


def test_a_position_that_leaves_the_list_is_closed_at_its_real_exit_fill() -> None:
    state = PositionsState()
    state.apply(positions_message(position("p", opened_at=1_000, realized_pnl=0.0)))
    # the closing order's fill (a bracket's take-profit leg): the exit price
    leg = {
        "id": "b-1-tp",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "status": "FILLED",
        "fills": [{"price": 40200.0, "quantity": 0.5, "timestamp": 9_000}],
    }
    group = {
        "id": "b-1",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "BRACKET",
        "status": "FILLED",
        "fill_price": 40000.0,
        "legs": [leg],
    }
    state.apply({"type": "ORDER_UPDATE", "order": group, "timestamp": 9_000})
    assert state.apply(positions_message(ts=9_500))
    assert state.rows() == []
    [closed] = state.closed_rows()
    assert (closed["exit_price"], closed["pnl"], closed["closed_ms"]) == (40200.0, 100.0, 9_000)
    assert state.counts() == {"open": 0, "closed": 1}


def test_a_closed_position_without_a_seen_exit_fill_has_no_guessed_pnl() -> None:
    state = PositionsState()
    state.apply(positions_message(position("p", opened_at=1_000)))
    state.apply(positions_message(ts=2_000))
    [closed] = state.closed_rows()
    assert (closed["exit_price"], closed["pnl"], closed["closed_ms"]) == (None, None, 2_000)


def test_an_identical_position_update_changes_nothing() -> None:
    state = PositionsState()
    assert state.apply(positions_message(position(), ts=1))
    assert not state.apply(positions_message(position(), ts=2))


def test_portfolio_keeps_every_figure_and_an_equity_history() -> None:
    state = PortfolioState()
    state.apply(
        portfolio_message(
            1_000, equity=10_050.0, unrealized_pnl=50.0, total_pnl=50.0, positions_count=1
        )
    )
    state.apply(
        portfolio_message(
            2_000, equity=10_020.0, unrealized_pnl=20.0, total_pnl=20.0, positions_count=1
        )
    )
    assert state.snapshot() == {
        "balance": 10_000.0,
        "equity": 10_020.0,
        "realized_pnl": 0.0,
        "unrealized_pnl": 20.0,
        "total_pnl": 20.0,
        "initial_balance": None,
        "fees_paid": None,
        "available": None,
        "positions_count": 1,
        "locked": None,
        "quote": "USDT",
        "adds_up": None,  # a version-1 engine reports no fees: unknown, not "yes"
    }
    assert state.equity_history() == [10_050.0, 10_020.0]


def test_the_v2_portfolio_shows_fees_available_and_locked_and_adds_up() -> None:
    state = PortfolioState()
    state.apply(
        portfolio_message(
            1,
            equity=9_983.10,
            realized_pnl=-3.91,
            unrealized_pnl=0.0,
            fees_paid=12.99,
            total_pnl=-16.90,
            available=7_080.89,
            balances={
                "USDT": {"free": 7_080.89, "locked": 100.0},
                "BTC": {"free": 0.03, "locked": 0},
            },
        )
    )
    snapshot = state.snapshot()
    assert (snapshot["fees_paid"], snapshot["available"], snapshot["locked"]) == (
        12.99,
        7_080.89,
        100.0,
    )
    assert snapshot["adds_up"] is True
    assert state.balances["BTC"] == {"free": 0.03, "locked": 0.0}
    # a total that leaves the fees out does not add up, and the panel says so
    state.apply(
        portfolio_message(
            2, realized_pnl=-3.91, unrealized_pnl=0.0, fees_paid=12.99, total_pnl=-3.91
        )
    )
    assert state.adds_up() is False


def test_core_only_portfolio_gets_equity_from_balance() -> None:
    state = PortfolioState()
    state.apply(portfolio_message(1, balance=9_000.0))
    assert state.values["equity"] == 9_000.0


def test_equity_history_is_bounded() -> None:
    state = PortfolioState(points=10)
    for ts in range(50):
        state.apply(portfolio_message(ts * 1_000, equity=10_000.0 + ts))
    assert state.equity_history() == [10_000.0 + ts for ts in range(40, 50)]


def test_a_burst_of_portfolios_within_a_second_is_one_sparkline_point() -> None:
    # the engine sends a portfolio soon after every fill: ten fills in a second must not
    # push ten points (the sparkline's minutes would shrink to seconds)
    state = PortfolioState(points=10)
    state.apply(portfolio_message(5_000, equity=10_000.0))
    for i in range(10):
        assert state.apply(portfolio_message(6_000 + i * 90, equity=10_001.0 + i))
    assert not state.apply(portfolio_message(6_950, equity=10_010.0))  # same figure
    state.apply(portfolio_message(7_000, equity=10_020.0))
    assert state.equity_history() == [10_000.0, 10_010.0, 10_020.0]


async def test_positions_panel_loads_the_snapshot_on_start() -> None:
    session = ScriptedSession({"get_positions": lambda c: positions_message(position())})
    panel = PositionsPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert [r["id"] for r in panel.rows] == ["pos-1"]
    panel.close()


async def test_close_button_sends_close_position_and_refreshes_the_rows() -> None:
    open_positions = [position()]

    def close_position(command: dict[str, Any]) -> dict[str, Any]:
        open_positions.clear()
        return {
            "type": "ORDER_UPDATE",
            "order": {"id": "o-9", "status": "FILLED"},
            "timestamp": 2,
        }

    session = ScriptedSession(
        {
            "get_positions": lambda c: positions_message(*open_positions),
            "close_position": close_position,
        }
    )
    panel = PositionsPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    panel._on_front_message(panel, {"action": "close", "position_id": "pos-1"}, None)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert {"action": "close_position", "position_id": "pos-1"} in session.requests
    assert panel.rows == []
    assert panel.closing == []
    assert panel.notice == "closing pos-1: o-9 FILLED"
    panel.close()


async def test_closing_an_unknown_position_shows_the_error() -> None:
    session = ScriptedSession(
        {
            "close_position": lambda c: {
                "type": "ERROR",
                "code": "NOT_FOUND",
                "message": "no position nope",
            },
        }
    )
    panel = PositionsPanel(session)
    await asyncio.wait_for(panel.close_position("nope"), 10)
    assert panel.error == "close_position: NOT_FOUND: no position nope"
    panel.close()


async def test_portfolio_panel_pushes_values_and_sparkline() -> None:
    session = ScriptedSession()
    panel = PortfolioPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    session.emit(portfolio_message(5, equity=10_100.0, total_pnl=100.0))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.values["equity"] == 10_100.0
    assert panel.values["total_pnl"] == 100.0
    assert panel.equity[-1] == 10_100.0
    panel.close()
