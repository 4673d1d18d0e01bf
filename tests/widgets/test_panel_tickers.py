"""Tickers panel: rows from MARKET_UPDATE, direction of change, add and remove."""

from __future__ import annotations

import asyncio

from tests.widgets.panel_session import ScriptedSession, market
from widgets import TickersPanel
from widgets.state import TickersState


def test_market_update_creates_a_row_with_every_column() -> None:
    state = TickersState()
    assert state.apply(
        market(
            "BTCUSDT",
            43250.5,
            1000,
            priceChange=125.3,
            priceChangePercent=0.29,
            high=43500.0,
            low=42800.0,
            volume=12345.67,
        )
    )
    assert state.row("btcusdt") == {
        "symbol": "BTCUSDT",
        "price": 43250.5,
        "direction": 0,
        "change": 125.3,
        "change_pct": 0.29,
        "high": 43500.0,
        "low": 42800.0,
        "volume": 12345.67,
        "quote_volume": None,
        "bid": None,
        "ask": None,
        "timestamp": 1000,
        # the volume's unit and the quote: from the name until SUBSCRIBED says
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "price_precision": None,
    }


def test_symbol_info_names_the_assets_and_the_price_precision() -> None:
    state = TickersState()
    info = {"base_asset": "DOGE", "quote_asset": "USDT", "price_precision": 5}
    assert state.apply({"type": "SUBSCRIBED", "symbol": "DOGEUSDT", "symbol_info": info})
    row = state.row("DOGEUSDT")
    assert row is not None
    assert (row["base_asset"], row["quote_asset"], row["price_precision"]) == ("DOGE", "USDT", 5)


def test_direction_follows_the_last_price_change() -> None:
    state = TickersState()
    state.apply(market("BTCUSDT", 100.0, 1))
    state.apply(market("BTCUSDT", 101.0, 2))
    assert state.row("BTCUSDT")["direction"] == 1  # type: ignore[index]
    state.apply(market("BTCUSDT", 99.5, 3))
    assert state.row("BTCUSDT")["direction"] == -1  # type: ignore[index]


def test_rows_keep_the_order_symbols_were_added() -> None:
    state = TickersState()
    state.add("ethusdt")
    state.apply(market("BTCUSDT", 1.0, 1))
    state.apply(market("ETHUSDT", 2.0, 1))
    assert [r["symbol"] for r in state.rows()] == ["ETHUSDT", "BTCUSDT"]


def test_a_removed_symbol_is_not_revived_by_a_late_update() -> None:
    state = TickersState()
    state.apply(market("BTCUSDT", 1.0, 1))
    assert state.remove("BTCUSDT")
    assert not state.apply(market("BTCUSDT", 2.0, 2))
    assert state.rows() == []


def test_unsubscribed_message_removes_the_row() -> None:
    state = TickersState()
    state.apply(market("BTCUSDT", 1.0, 1))
    assert state.apply({"type": "UNSUBSCRIBED", "symbol": "BTCUSDT", "timestamp": 2})
    assert state.symbols == []


def test_non_numeric_fields_become_none_instead_of_failing() -> None:
    state = TickersState()
    state.apply(market("BTCUSDT", 1.0, 1, high="n/a", volume=float("nan")))
    row = state.row("BTCUSDT")
    assert row is not None
    assert row["high"] is None
    assert row["volume"] is None


async def test_panel_subscribes_its_initial_symbols_and_shows_their_rows() -> None:
    session = ScriptedSession()
    panel = TickersPanel(session, ["btcusdt", "ETHUSDT"])
    await asyncio.wait_for(panel.settle(), 10)
    assert [c for c in session.requests if c["action"] == "subscribe_ticker"] == [
        {"action": "subscribe_ticker", "symbol": "BTCUSDT"},
        {"action": "subscribe_ticker", "symbol": "ETHUSDT"},
    ]
    session.emit(market("BTCUSDT", 100.0, 5))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert [r["symbol"] for r in panel.rows] == ["BTCUSDT", "ETHUSDT"]
    assert panel.rows[0]["price"] == 100.0
    panel.close()


async def test_a_burst_of_updates_is_coalesced_into_one_flush_with_the_latest_price() -> None:
    session = ScriptedSession()
    panel = TickersPanel(session)
    flushes_before = panel.coalescer.flushes  # type: ignore[union-attr]
    for i in range(500):
        session.emit(market("BTCUSDT", 100.0 + i, 10 + i))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.coalescer.flushes == flushes_before + 1  # type: ignore[union-attr]
    assert panel.rows[0]["price"] == 599.0
    panel.close()


async def test_a_bad_symbol_is_shown_under_the_input_until_the_next_add() -> None:
    def subscribe(command: dict[str, object]) -> dict[str, object]:
        if command["symbol"] == "NOPE":
            return {"type": "ERROR", "code": "INVALID_SYMBOL", "message": "unknown symbol NOPE"}
        return {"type": "SUBSCRIBED", "symbol": command["symbol"], "timestamp": 1}

    session = ScriptedSession({"subscribe_ticker": subscribe})
    panel = TickersPanel(session)
    reply = await asyncio.wait_for(panel.add("NOPE"), 10)
    assert reply["type"] == "ERROR"
    assert panel.add_error == "NOPE: unknown symbol NOPE"
    assert panel.error == ""  # not the panel's sticky error bar
    assert panel.state.symbols == []
    await asyncio.wait_for(panel.add("ETHUSDT"), 10)
    assert panel.add_error == ""  # the next add clears it
    await asyncio.wait_for(panel.add("NOPE"), 10)
    panel._on_front_message(panel, {"action": "clear_add_error"}, None)  # the user types
    assert panel.add_error == ""
    panel.close()


async def test_remove_button_unsubscribes_and_drops_the_row() -> None:
    session = ScriptedSession()
    panel = TickersPanel(session, ["BTCUSDT"])
    await asyncio.wait_for(panel.settle(), 10)
    panel._on_front_message(panel, {"action": "remove", "symbol": "BTCUSDT"}, None)
    await asyncio.wait_for(panel.settle(), 10)
    panel.flush()
    assert session.requests[-1] == {"action": "unsubscribe_ticker", "symbol": "BTCUSDT"}
    assert panel.rows == []
    assert panel.notice == "unsubscribed BTCUSDT"
    panel.close()


async def test_a_request_that_raises_is_shown_in_the_panel_not_lost() -> None:
    def broken(_command: dict[str, object]) -> dict[str, object]:
        raise ConnectionError("server went away")

    session = ScriptedSession({"subscribe_ticker": broken})
    panel = TickersPanel(session)
    panel._on_front_message(panel, {"action": "add", "symbol": "BTCUSDT"}, None)
    await asyncio.wait_for(panel.settle(), 10)
    assert "ConnectionError: server went away" in panel.error
    panel._on_front_message(panel, {"action": "dismiss_error"}, None)
    assert panel.error == ""
    panel.close()


async def test_closed_panel_stops_listening() -> None:
    session = ScriptedSession()
    panel = TickersPanel(session)
    panel.close()
    assert session.listeners == []
