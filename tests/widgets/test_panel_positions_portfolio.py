"""Positions and portfolio panels: state from POSITION_UPDATE / PORTFOLIO_UPDATE,
closing a position from its row."""

from __future__ import annotations

import asyncio
from typing import Any

from panel_session import ScriptedSession

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


def test_an_identical_position_update_changes_nothing() -> None:
    state = PositionsState()
    assert state.apply(positions_message(position(), ts=1))
    assert not state.apply(positions_message(position(), ts=2))


def test_portfolio_keeps_every_figure_and_an_equity_history() -> None:
    state = PortfolioState()
    state.apply(
        portfolio_message(
            1, equity=10_050.0, unrealized_pnl=50.0, total_pnl=50.0, positions_count=1
        )
    )
    state.apply(
        portfolio_message(
            2, equity=10_020.0, unrealized_pnl=20.0, total_pnl=20.0, positions_count=1
        )
    )
    assert state.snapshot() == {
        "balance": 10_000.0,
        "equity": 10_020.0,
        "realized_pnl": 0.0,
        "unrealized_pnl": 20.0,
        "total_pnl": 20.0,
        "initial_balance": None,
        "positions_count": 1,
    }
    assert state.equity_history() == [10_050.0, 10_020.0]


def test_core_only_portfolio_gets_equity_from_balance() -> None:
    state = PortfolioState()
    state.apply(portfolio_message(1, balance=9_000.0))
    assert state.values["equity"] == 9_000.0


def test_equity_history_is_bounded() -> None:
    state = PortfolioState(points=10)
    for ts in range(50):
        state.apply(portfolio_message(ts, equity=10_000.0 + ts))
    assert state.equity_history() == [10_000.0 + ts for ts in range(40, 50)]


async def test_positions_panel_loads_the_snapshot_on_start() -> None:
    session = ScriptedSession({"get_positions": lambda c: positions_message(position())})
    panel = PositionsPanel(session)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert [r["id"] for r in panel.rows] == ["pos-1"]
    panel.close()


async def test_close_button_sends_close_position_and_refreshes_the_rows() -> None:
    open_positions = [position()]
    session = ScriptedSession(
        {
            "get_positions": lambda c: positions_message(*open_positions),
            "close_position": lambda c: (
                open_positions.clear(),
                {
                    "type": "ORDER_UPDATE",
                    "order": {"id": "o-9", "status": "FILLED"},
                    "timestamp": 2,
                },
            )[1],
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
