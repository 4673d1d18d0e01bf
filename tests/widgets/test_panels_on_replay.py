"""Panels on a replayed session: recorded Binance 1 m klines through Workspace's replay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import widgets
from widgets.panel import Panel
from workspace.notebook.workspace import Workspace

KLINES = (
    Path(__file__).parents[1]
    / "fixtures"
    / "binance"
    / "replay"
    / "klines"
    / "BTCUSDT-1m-2020-01-01.csv"
)


async def until(panel: Panel, condition: Callable[[], bool], within: float = 30.0) -> None:
    async def wait() -> None:
        while not condition():
            await panel.next_flush()

    await asyncio.wait_for(wait(), within)


async def test_dashboard_follows_a_replay_to_its_last_price(tmp_path: Path) -> None:
    data = tmp_path / KLINES.name
    lines = KLINES.read_text().splitlines(keepends=True)[:30]
    data.write_text("".join(lines))
    last_close = float(lines[-1].split(",")[4])
    ws = Workspace(feed=f"replay:{data}", db=tmp_path / "journal.sqlite")
    await ws.start()
    board = widgets.dashboard(ws.session, symbols=["BTCUSDT"])
    try:
        for panel in board.panels:
            await asyncio.wait_for(panel.settle(), 30)
        await ws.run()
        await until(
            board.tickers,
            lambda: bool(board.tickers.rows) and board.tickers.rows[0]["price"] == last_close,
        )
        assert board.chart is not None
        # the forming candle ends at the replay's last price (klines from the engine, or
        # candles built from last prices by an engine without get_candles)
        assert board.chart.state.candles("BTCUSDT", "1m")[-1][4] == last_close
        assert all(panel.error == "" for panel in board.panels)
    finally:
        board.close()
        await ws.stop()
