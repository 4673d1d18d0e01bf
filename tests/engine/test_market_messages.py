"""Ticker (+ book) -> MARKET_UPDATE, the PROTOCOL.md shape."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from workspace.engine.market_messages import MarketMessages
from workspace.engine.ticks import Tick
from workspace.market.records import BookTicker, Ticker, Trade

TICKER = (
    b'{"e":"24hrTicker","E":1737510248866,"s":"BTCUSDT","p":"4434.00000000",'
    b'"P":"4.376","w":"98412.56689980","x":"101372.11000000","c":"105766.00000000",'
    b'"Q":"0.00015000","b":"105498.24000000","B":"0.00172000","a":"105766.00000000",'
    b'"A":"0.00025000","o":"101332.00000000","h":"108228.00000000",'
    b'"l":"25262.00000000","v":"310.58183000","q":"30565155.12273710",'
    b'"O":1737423848866,"C":1737510248866,"F":1029731,"L":1174610,"n":144880}'
)
BOOK = (
    b'{"u":5119060,"s":"BTCUSDT","b":"104965.00000000","B":"0.00358000",'
    b'"a":"104965.01000000","A":"0.00393000"}'
)


def test_market_update_has_the_protocol_fields_and_exchange_event_time() -> None:
    ticker = msgspec.json.decode(TICKER, type=Ticker)
    message = MarketMessages(wall_ms=lambda: 1737510248901.25).on_ticker(ticker)
    assert message == {
        "type": "MARKET_UPDATE",
        "symbol": "BTCUSDT",
        "price": 105766.0,
        "priceChange": 4434.0,
        "priceChangePercent": 4.376,
        "high": 108228.0,
        "low": 25262.0,
        "volume": 310.58183,
        "timestamp": 1737510248866,
        "quoteVolume": 30565155.1227371,
        "bid": 105498.24,
        "ask": 105766.0,
        "received_ms": 1737510248901.25,
    }


def test_latest_book_ticker_overrides_the_tickers_own_bid_and_ask() -> None:
    messages = MarketMessages()
    messages.on_book(msgspec.json.decode(BOOK, type=BookTicker))
    message = messages.on_ticker(msgspec.json.decode(TICKER, type=Ticker))
    assert (message["bid"], message["ask"]) == (104965.0, 104965.01)


def test_latest_market_update_is_kept_per_symbol() -> None:
    messages = MarketMessages()
    assert messages.latest("btcusdt") is None
    sent = messages.on_ticker(msgspec.json.decode(TICKER, type=Ticker))
    assert messages.latest("btcusdt") is sent


def test_rolling_window_ticker_without_bid_ask_omits_them() -> None:
    raw = msgspec.json.decode(TICKER)
    for field in ("x", "Q", "b", "B", "a", "A"):
        del raw[field]
    raw["e"] = "1hTicker"
    ticker = msgspec.convert(raw, Ticker, strict=False)
    message = MarketMessages().on_ticker(ticker)
    assert "bid" not in message
    assert "ask" not in message


def test_tick_from_a_trade_keeps_exact_decimals() -> None:
    trade = Trade(
        event_type="aggTrade",
        event_time=5,
        symbol="BTCUSDT",
        price=Decimal("0.1"),
        quantity=Decimal("0.3"),
        trade_time=4,
        buyer_is_maker=False,
    )
    tick = Tick.from_trade(trade, Decimal("0.09"), None)
    assert (tick.price, tick.quantity, tick.bid, tick.source) == (
        Decimal("0.1"),
        Decimal("0.3"),
        Decimal("0.09"),
        "trade",
    )
