"""Panels on a real engine: Workspace(feed="sim") (embedded simulator, real sockets,
real SQLite), and a RealtimeClient on the same engine's server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import widgets
from widgets.panel import Panel
from workspace.client import RealtimeClient
from workspace.engine.config import EngineConfig
from workspace.notebook.workspace import Workspace
from workspace.sim import SimConfig

SIM = SimConfig(
    symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    seed=11,
    ticker_interval_s=0.02,
    trade_interval_s=0.01,
    book_interval_s=0.01,
)
ENGINE = EngineConfig(
    positions_interval_s=0.05,
    portfolio_interval_s=0.1,
    status_interval_s=0.2,
    loop_lag_interval_s=0.01,
    tick_flush_interval_s=0.05,
)


@pytest.fixture
async def ws(tmp_path: Path) -> AsyncIterator[Workspace]:
    workspace = Workspace(feed="sim", db=tmp_path / "journal.sqlite", sim=SIM, engine=ENGINE)
    await workspace.start()
    try:
        yield workspace
    finally:
        await workspace.stop()


async def until(panel: Panel, condition: Callable[[], bool], within: float = 20.0) -> None:
    """Wait (flush by flush) until ``condition`` holds for the panel's traits."""

    async def wait() -> None:
        while not condition():
            await panel.next_flush()

    await asyncio.wait_for(wait(), within)


async def test_dashboard_on_a_live_engine_shows_prices_status_and_portfolio(
    ws: Workspace,
) -> None:
    board = ws.dashboard(symbols=["BTCUSDT", "ETHUSDT"])
    try:
        await until(
            board.tickers,
            lambda: (
                all(r.get("price") for r in board.tickers.rows) and len(board.tickers.rows) == 2
            ),
        )
        assert [r["symbol"] for r in board.tickers.rows] == ["BTCUSDT", "ETHUSDT"]
        await until(board.portfolio, lambda: board.portfolio.values.get("balance") == 10_000.0)
        await until(board.status, lambda: board.status.status.get("feed") == "connected")
        assert board.status.status["source"] == "sim"
        await until(board.chart, lambda: board.chart.symbols != [])
        assert board.chart.symbol == "BTCUSDT"
        assert all(panel.error == "" for panel in board.panels)
    finally:
        board.close()


async def test_buy_in_the_ticket_opens_a_position_and_close_removes_it(ws: Workspace) -> None:
    board = widgets.dashboard(ws.session, symbols=["BTCUSDT"])
    try:
        await until(board.ticket, lambda: "BTCUSDT" in board.ticket.prices)
        reply = await asyncio.wait_for(
            board.ticket.submit(
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
            ),
            20,
        )
        assert reply["type"] == "ORDER_UPDATE", reply
        assert board.ticket.errors == {}
        await until(board.positions, lambda: len(board.positions.rows) == 1)
        [row] = board.positions.rows
        assert (row["symbol"], row["side"], row["quantity"]) == ("BTCUSDT", "buy", 0.01)
        await until(board.orders, lambda: board.orders.counts.get("history", 0) >= 1)
        board.orders.tab = "history"
        await until(board.orders, lambda: any(r["status"] == "FILLED" for r in board.orders.rows))
        chart = board.chart
        assert chart is not None
        await until(chart, lambda: any(line["kind"] == "entry" for line in chart.lines))
        assert chart.state.fills("BTCUSDT")[0]["side"] == "BUY"

        await asyncio.wait_for(board.positions.close_position(row["id"]), 20)
        await until(board.positions, lambda: board.positions.rows == [])
        assert board.positions.error == ""
    finally:
        board.close()


async def test_trailing_stop_shows_its_live_stop_and_cancel_works(ws: Workspace) -> None:
    board = widgets.dashboard(ws.session, symbols=["ETHUSDT"], chart=False)
    try:
        await until(board.ticket, lambda: "ETHUSDT" in board.ticket.prices)
        await asyncio.wait_for(
            board.ticket.submit(
                {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
            ),
            20,
        )
        reply = await asyncio.wait_for(
            board.ticket.submit(
                {
                    "symbol": "ETHUSDT",
                    "side": "SELL",
                    "type": "TRAILING_STOP",
                    "quantity": "0.1",
                    "trail": "5",
                    "trail_kind": "trail_percent",
                }
            ),
            20,
        )
        assert board.ticket.errors == {}, reply
        order_id = reply["order"]["id"]

        def trailing() -> dict[str, object]:
            # the open tab while it is open; the history once canceled
            rows = board.orders.rows + board.orders.state.recent_rows()
            return next((r for r in rows if r["id"] == order_id), {})

        await until(board.orders, lambda: trailing().get("current_stop_price") is not None)
        assert trailing()["status"] == "NEW"
        await asyncio.wait_for(board.orders.cancel(order_id), 20)
        await until(board.orders, lambda: trailing().get("status") == "CANCELED")
        assert board.orders.error == ""
    finally:
        board.close()


async def test_ticket_shows_the_engine_refusing_an_unknown_symbol(ws: Workspace) -> None:
    ticket = widgets.TicketPanel(ws.session)
    try:
        await asyncio.wait_for(
            ticket.submit({"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}),
            20,
        )
        assert ticket.errors, "an unknown symbol must be refused"
        text = " ".join(ticket.errors.values())
        assert "NOPEUSDT" in text or "INVALID_SYMBOL" in text or "Rejected" in text
    finally:
        ticket.close()


async def test_tickers_panel_works_on_a_remote_realtime_client(ws: Workspace) -> None:
    server = await ws.serve(port=0)
    client = RealtimeClient(f"ws://127.0.0.1:{server.port}/api/ws/realtime")
    await asyncio.wait_for(client.connect(), 20)
    tickers = widgets.TickersPanel(client, ["SOLUSDT"])
    status = widgets.StatusPanel(client)
    try:
        await until(
            tickers, lambda: bool(tickers.rows) and tickers.rows[0].get("price") is not None
        )
        assert tickers.rows[0]["symbol"] == "SOLUSDT"
        await until(status, lambda: status.status.get("clients") == 1)
        assert tickers.error == ""
    finally:
        tickers.close()
        status.close()
        await client.close()


async def test_stopping_the_workspace_says_stopped_and_disables_the_ticket(
    tmp_path: Path,
) -> None:
    workspace = Workspace(feed="sim", db=tmp_path / "journal.sqlite", sim=SIM, engine=ENGINE)
    await workspace.start()
    board = workspace.dashboard(symbols=["BTCUSDT"])
    try:
        await until(board.status, lambda: board.status.status.get("feed") == "connected")
        await workspace.stop()  # the notebook's last cell
        # the engine's last STATUS reached the panels before the session closed
        board.status.flush()
        board.ticket.flush()
        assert board.status.status["feed"] == "stopped"
        assert board.ticket.disabled.startswith("Workspace stopped")
        # the metrics poll of a stopped workspace is no error (the old red banner)
        board.status.poll_metrics()
        assert all(panel.error == "" for panel in board.panels), [p.error for p in board.panels]
        assert workspace.status["feed"] == "stopped"
        assert workspace.metrics == {"feed": "stopped", "source": "sim"}
    finally:
        board.close()
        await workspace.stop()
