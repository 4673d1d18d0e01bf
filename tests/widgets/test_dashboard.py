"""dashboard(): every panel on one session, in one widget, closed together."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

import ipywidgets
import pytest
import traitlets

import widgets
from tests.widgets.panel_session import ScriptedSession, market
from widgets.book import BookPanel
from widgets.chart import ChartPanel
from widgets.orders import OrdersPanel
from widgets.portfolio import PortfolioPanel
from widgets.positions import PositionsPanel
from widgets.status import StatusPanel
from widgets.tickers import TickersPanel
from widgets.ticket import TicketPanel
from workspace.errors import InvalidParams
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
        # "no" is truthy: the chart it meant to leave out was shown
        ({"chart": "no"}, ValueError, "chart must be True or False, got 'no'"),
        ({"book": 0}, ValueError, "book must be True or False, got 0"),
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


def _build(kind: str, session: Any, argument: Any) -> Any:
    if kind == "book":
        return BookPanel(session, argument)
    if kind == "chart":
        return ChartPanel(session, argument, poll=None)
    if kind == "chart_poll":
        return ChartPanel(session, "BTCUSDT", poll=argument)
    if kind == "chart_mode":
        return ChartPanel(session, "BTCUSDT", mode=argument, poll=None)
    if kind == "tickers":
        return TickersPanel(session, argument)
    if kind == "ticket":
        return TicketPanel(session, symbol=argument)
    if kind == "ticket_known":
        return TicketPanel(session, known_symbols=argument)
    if kind == "status_metrics":
        return StatusPanel(session, metrics=argument)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "argument", "error", "words"),
    [
        # these raised AttributeError ('int' object has no attribute 'upper'), or took a
        # malformed symbol and asked the engine for it, or failed later in a background
        # task ("'<=' not supported between 'str' and 'int'" every poll)
        ("book", 5, MalformedSymbolError, "symbol must be a string, got int"),
        ("book", "btc/usdt", MalformedSymbolError, "malformed symbol 'btc/usdt'"),
        ("chart", None, MalformedSymbolError, "symbol must be a string, got NoneType"),
        ("chart_poll", "1", ValueError, "poll must be seconds > 0 or None, got '1'"),
        ("chart_poll", float("nan"), ValueError, "poll must be seconds > 0 or None"),
        ("chart_mode", "bars", ValueError, "mode must be one of candles, line, got 'bars'"),
        ("tickers", 5, InvalidParams, "symbols must be a list of symbols"),
        ("tickers", [5], MalformedSymbolError, "symbol must be a string, got int"),
        ("ticket", ["BTCUSDT"], MalformedSymbolError, "symbol must be a string, got list"),
        ("ticket_known", 5, InvalidParams, "symbols must be a list of symbols"),
        ("status_metrics", 5, TypeError, "metrics must be a function returning a dict"),
    ],
)
async def test_each_panel_refuses_a_bad_argument_before_it_listens(
    kind: str, argument: Any, error: type[Exception], words: str
) -> None:
    session = ScriptedSession()
    unraisable: list[Any] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(error) as refused:
            _build(kind, session, argument)
        assert words in str(refused.value)
        gc.collect()  # the half-built panel's __del__ closes it: that must not raise
    finally:
        sys.unraisablehook = hook
    assert session.listeners == []
    assert unraisable == []


async def test_a_panel_needs_a_session_and_takes_symbols_as_the_dashboard_does() -> None:
    for panel_type in (OrdersPanel, StatusPanel, PositionsPanel, PortfolioPanel):
        with pytest.raises(TypeError, match=f"{panel_type.__name__} needs a trading session"):
            panel_type(None)  # type: ignore[arg-type]
    session = ScriptedSession()
    tickers = TickersPanel(session, "btcusdt")  # one symbol, not the letters B, T, C ...
    book = BookPanel(session, " ethusdt ")
    await asyncio.wait_for(asyncio.gather(tickers.settle(), book.settle()), 10)
    assert [row["symbol"] for row in tickers.rows] == ["BTCUSDT"]
    assert book.symbol == "ETHUSDT"
    tickers.close()
    book.close()


async def test_the_panels_python_actions_refuse_arguments_of_the_wrong_kind() -> None:
    """A number for an id was a TraitError about the panel's own list of pending ids, a
    number for a symbol an AttributeError, a quantity 'x' a decimal.InvalidOperation;
    a book took a callback it could not call, and a depth of 7 it would never show."""
    session = ScriptedSession()
    orders, positions = OrdersPanel(session), PositionsPanel(session)
    tickers, book = TickersPanel(session), BookPanel(session, "BTCUSDT")
    with pytest.raises(InvalidParams, match="order_id must be a string like 'order-7', got 5"):
        await orders.cancel(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="position_id must be a string like 'pos-1'"):
        await positions.close_position(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="quantity must be a number, got 'x'"):
        await positions.close_position("pos-1", "x")  # type: ignore[arg-type]
    for action in (tickers.add, tickers.remove):
        with pytest.raises(MalformedSymbolError, match="symbol must be a string, got int"):
            await action(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_pick takes a function"):
        book.on_pick(5)  # type: ignore[arg-type]
    with pytest.raises(traitlets.TraitError):
        book.depth = 7
    # nothing went out for any of them
    assert not [r for r in session.requests if r["action"] in ("cancel_order", "close_position")]
    for panel in (orders, positions, tickers, book):
        panel.close()
