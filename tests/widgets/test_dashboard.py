"""dashboard(): every panel on one session, in one widget, closed together."""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets
import pytest

import widgets
from tests.widgets.panel_session import ScriptedSession, market
from workspace.market.errors import MalformedSymbolError


async def test_dashboard_holds_every_panel_with_its_css_class() -> None:
    session = ScriptedSession()
    board = widgets.dashboard(session, symbols=["btcusdt"])
    classes = {panel.root_class for panel in board.panels}
    assert classes == {
        "tw-tickers",
        "tw-positions",
        "tw-portfolio",
        "tw-orders",
        "tw-ticket",
        "tw-status",
        "tw-chart",
        "tw-book",
    }
    assert isinstance(board, ipywidgets.Widget)
    assert "tw-dashboard" in board._dom_classes
    assert board.ticket.form["symbol"] == "BTCUSDT"
    assert board.chart is not None
    assert board.chart.symbol == "BTCUSDT"
    board.close()


async def test_one_market_update_reaches_every_interested_panel() -> None:
    session = ScriptedSession()
    board = widgets.dashboard(session, symbols=["BTCUSDT"])
    for panel in board.panels:
        await asyncio.wait_for(panel.settle(), 10)
    flushed = [board.tickers.next_flush(), board.ticket.next_flush()]
    session.emit(market("BTCUSDT", 123.0, 10))
    await asyncio.wait_for(asyncio.gather(*flushed), 10)
    assert board.tickers.rows[0]["price"] == 123.0
    assert board.ticket.prices == {"BTCUSDT": 123.0}
    assert all(panel.error == "" for panel in board.panels)
    board.close()


async def test_closing_the_dashboard_stops_every_listener() -> None:
    session = ScriptedSession()
    board = widgets.dashboard(session, chart=False)
    assert len(session.listeners) == 7
    board.close()
    assert session.listeners == []


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"timeframe": "7m"}, ValueError, "timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1d"),
        ({"depth": 7}, ValueError, "depth must be one of (5, 10, 20), got 7"),
        ({"interval": float("nan")}, ValueError, "interval must be a number of seconds >= 0"),
        ({"interval": -1}, ValueError, "interval must be a number of seconds >= 0"),
        ({"symbols": [None]}, MalformedSymbolError, "symbol must be a string, got NoneType"),
    ],
)
async def test_a_refused_argument_leaves_no_panel_listening(
    arguments: dict[str, Any], error: type[Exception], words: str
) -> None:
    """A bad timeframe used to be refused by the chart after four panels had started
    listening to the session, and they went on; a NaN interval was taken."""
    session = ScriptedSession()
    with pytest.raises(error) as refused:
        widgets.dashboard(session, **arguments)
    assert words in str(refused.value)
    assert session.listeners == []


async def test_a_dashboard_needs_a_session_and_takes_one_symbol_as_a_string() -> None:
    with pytest.raises(TypeError, match=r"dashboard needs a trading session .* got NoneType"):
        widgets.dashboard(None)  # type: ignore[arg-type]
    session = ScriptedSession()
    board = widgets.dashboard(session, symbols="btcusdt")
    assert board.book is not None
    assert board.book.symbol == "BTCUSDT"  # not the letters B, T, C ...
    board.close()


async def test_panels_are_not_recreated_by_updates() -> None:
    session = ScriptedSession()
    board = widgets.dashboard(session, symbols=["BTCUSDT"])
    ids = [panel.model_id for panel in board.panels]
    for i in range(50):
        session.emit(market("BTCUSDT", 100.0 + i, 10 + i))
    await asyncio.wait_for(board.tickers.next_flush(), 10)
    assert [panel.model_id for panel in board.panels] == ids
    board.close()


async def test_rows_wrap_in_a_narrow_notebook_and_orders_get_the_wider_share() -> None:
    board = widgets.dashboard(ScriptedSession(), symbols=["BTCUSDT"])
    rows = [child for child in board.children if isinstance(child, ipywidgets.HBox)]
    assert len(rows) == 3  # the status strip sits on top alone, full width
    assert all(row.layout.flex_flow == "row wrap" for row in rows)
    # every panel in a row has a minimum width: below it the row wraps, no squeezing
    assert all(panel.layout.min_width.endswith("px") for row in rows for panel in row.children)
    grow = {
        panel.root_class: int(panel.layout.flex.split()[0])
        for row in rows
        for panel in row.children
    }
    assert grow["tw-orders"] > grow["tw-positions"]
    board.close()


async def test_the_chart_leads_the_symbol_and_the_book_feeds_the_ticket() -> None:
    session = ScriptedSession()
    board = widgets.dashboard(session, symbols=["BTCUSDT", "ETHUSDT"])
    for panel in board.panels:
        await asyncio.wait_for(panel.settle(), 10)
    assert board.book is not None
    assert board.chart is not None
    board.chart.symbol = "ETHUSDT"
    assert board.book.symbol == "ETHUSDT"
    assert board.ticket.form["symbol"] == "ETHUSDT"
    board.book._on_front_message(board.book, {"action": "pick", "price": 2345.5}, None)
    assert (board.ticket.form["type"], board.ticket.form["price"]) == ("LIMIT", "2345.50")
    assert board.ticket.form["symbol"] == "ETHUSDT"
    await asyncio.wait_for(board.book.settle(), 10)
    assert {"action": "subscribe_book", "symbol": "ETHUSDT", "depth": 10} in session.requests
    board.close()
