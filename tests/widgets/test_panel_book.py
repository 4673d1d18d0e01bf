"""Order book panel: the ladder from crafted BOOK_UPDATEs (cumulative sizes, spread,
last price), the ticker fallback of an engine without books, a clicked price."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.widgets.panel_session import ScriptedSession, market
from widgets import BookPanel
from widgets.state import BookState


def book(update_id: int, bids: list[list[object]], asks: list[list[object]]) -> dict[str, Any]:
    """A BOOK_UPDATE with the levels as given (bad ones too: the wire is not trusted)."""
    return {
        "type": "BOOK_UPDATE",
        "symbol": "BTCUSDT",
        "bids": bids,
        "asks": asks,
        "lastUpdateId": update_id,
        "timestamp": 1_000 + update_id,
    }


def test_the_ladder_has_cumulative_sizes_and_the_spread() -> None:
    state = BookState("BTCUSDT", depth=2)
    assert state.apply(
        book(7, [[100.0, 1.0], [99.5, 2.0], [99.0, 5.0]], [[100.5, 0.5], [101.0, 1.5]])
    )
    snap = state.snapshot()
    assert snap["bids"] == [
        {"price": 100.0, "qty": 1.0, "cum": 1.0},
        {"price": 99.5, "qty": 2.0, "cum": 3.0},  # depth 2: the third level is left out
    ]
    assert [level["cum"] for level in snap["asks"]] == [0.5, 2.0]
    assert (snap["spread"], snap["max_cum"], snap["source"]) == (0.5, 3.0, "book")
    assert snap["spread_pct"] == pytest.approx(0.5 / 100.25 * 100)


def test_an_older_book_or_another_symbol_changes_nothing() -> None:
    state = BookState("BTCUSDT")
    state.apply(book(9, [[100.0, 1.0]], [[101.0, 1.0]]))
    assert not state.apply(book(8, [[1.0, 1.0]], [[2.0, 1.0]]))
    assert not state.apply({**book(10, [[1.0, 1.0]], [[2.0, 1.0]]), "symbol": "ETHUSDT"})
    assert state.snapshot()["bids"][0]["price"] == 100.0


def test_bad_levels_are_skipped_not_fatal() -> None:
    state = BookState("BTCUSDT")
    state.apply(book(1, [[100.0, 1.0], ["x", 1], [99.0, 0.0], [98.0]], [[101.0, "2"]]))
    snap = state.snapshot()
    assert [level["price"] for level in snap["bids"]] == [100.0]
    assert snap["asks"] == [{"price": 101.0, "qty": 2.0, "cum": 2.0}]


def test_last_price_and_its_direction_come_from_the_market() -> None:
    state = BookState("BTCUSDT")
    state.apply(market("BTCUSDT", 100.0, 1))
    state.apply(market("BTCUSDT", 99.0, 2))
    snap = state.snapshot()
    assert (snap["last"], snap["direction"]) == (99.0, -1)


def test_the_last_trade_a_book_carries_wins_over_the_tickers_price() -> None:
    state = BookState("BTCUSDT")
    state.apply(market("BTCUSDT", 100.0, 1))
    state.apply({**book(1, [[100.4, 1.0]], [[100.6, 1.0]]), "last_price": 100.5})
    assert (state.snapshot()["last"], state.snapshot()["direction"]) == (100.5, 1)
    # the 24 h ticker's last price is up to a second old: it no longer moves the ladder
    state.apply(market("BTCUSDT", 98.0, 2))
    assert state.snapshot()["last"] == 100.5
    state.apply({**book(2, [[100.1, 1.0]], [[100.3, 1.0]]), "last_price": 100.2})
    assert (state.snapshot()["last"], state.snapshot()["direction"]) == (100.2, -1)
    state.apply({**book(3, [[100.1, 1.0]], [[100.3, 1.0]]), "last_price": "nan?"})
    assert state.snapshot()["last"] == 100.2  # a bad field changes nothing
    state.reset("ETHUSDT")  # another symbol: its ticker counts again until its book
    state.apply(market("ETHUSDT", 3_000.0, 3))
    assert state.snapshot()["last"] == 3_000.0


def test_without_books_the_best_bid_and_ask_of_the_ticker_show() -> None:
    state = BookState("BTCUSDT")
    state.apply(market("BTCUSDT", 100.0, 1, bid=99.9, ask=100.1))
    snap = state.snapshot()
    assert (snap["source"], snap["bids"][0]["price"], snap["asks"][0]["price"]) == (
        "ticker",
        99.9,
        100.1,
    )
    state.apply(book(1, [[99.0, 1.0]], [[101.0, 1.0]]))
    state.apply(market("BTCUSDT", 100.0, 3, bid=50.0, ask=150.0))  # the book wins now
    assert state.snapshot()["bids"][0]["price"] == 99.0


async def test_panel_subscribes_the_book_and_shows_updates() -> None:
    session = ScriptedSession(
        {
            "subscribe_book": lambda c: {
                "type": "SUBSCRIBED",
                "symbol": c["symbol"],
                "book": True,
                "timestamp": 1,
            }
        }
    )
    panel = BookPanel(session, "btcusdt", depth=5)
    await asyncio.wait_for(panel.settle(), 10)
    assert {"action": "subscribe_book", "symbol": "BTCUSDT", "depth": 5} in session.requests
    session.emit(book(3, [[100.0, 1.0]], [[100.5, 2.0]]))
    await asyncio.wait_for(panel.next_flush(), 10)
    assert panel.book["spread"] == 0.5
    assert panel.note == ""
    assert panel.assets == ["BTC", "USDT"]
    panel.symbol = "ethusdt"
    await asyncio.wait_for(panel.settle(), 10)
    assert {"action": "unsubscribe_book", "symbol": "BTCUSDT"} in session.requests
    assert panel.state.symbol == "ETHUSDT"
    assert panel.state.bids == []  # nothing of the old book stays
    panel.close()


async def test_an_engine_without_books_is_said_plainly() -> None:
    panel = BookPanel(ScriptedSession(), "BTCUSDT")  # subscribe_book -> UNKNOWN_ACTION
    await asyncio.wait_for(panel.settle(), 10)
    assert "no order book" in panel.note
    assert panel.error == ""
    panel.close()


async def test_a_clicked_price_goes_to_the_pick_callbacks() -> None:
    panel = BookPanel(ScriptedSession(), "BTCUSDT")
    picked: list[tuple[float, str]] = []
    panel.on_pick(lambda price, symbol: picked.append((price, symbol)))
    panel._on_front_message(panel, {"action": "pick", "price": 100.5}, None)
    panel._on_front_message(panel, {"action": "pick", "price": "nan"}, None)
    assert picked == [(100.5, "BTCUSDT")]
    assert "not a price" in panel.error
    with pytest.raises(ValueError, match="depth"):
        BookPanel(ScriptedSession(), "BTCUSDT", depth=7)
    panel.close()


async def test_sizes_take_the_decimals_of_the_symbols_lot_step() -> None:
    info = {"base_asset": "BTC", "quote_asset": "USDT", "quantity_precision": 5}
    session = ScriptedSession(
        {
            "subscribe_ticker": lambda c: {
                "type": "SUBSCRIBED",
                "symbol": c["symbol"].upper(),
                "symbol_info": info,
                "timestamp": 1,
            }
        }
    )
    panel = BookPanel(session, "BTCUSDT")
    await asyncio.wait_for(panel.settle(), 10)
    assert panel.qty_digits == 5
    panel.symbol = "ETHUSDT"  # unknown again until its own info arrives
    assert panel.qty_digits == -1
    panel.close()
