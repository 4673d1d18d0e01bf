"""The spot account inside a running workspace (issue 10): the exchange's rules from
the feed's exchangeInfo, a start that never hangs, a restore that one bad symbol cannot
block, fresh prices after a restart, ticker-only recordings, idempotent orders."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from tests.ports import quiet_port
from workspace.engine.config import EngineConfig
from workspace.journal import Journal
from workspace.market.config import FeedConfig
from workspace.market.records import Trade
from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.recorder import record, streams_for
from workspace.trading import (
    Account,
    AccountConfig,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)

from .conftest import FAST_ENGINE, make_workspace

KLINES = Path(__file__).parents[1] / "fixtures" / "binance" / "replay" / "klines"
QUIET_SIM = SimConfig(
    symbols=("BTCUSDT", "ETHUSDT"),
    ticker_interval_s=3600,
    trade_interval_s=3600,
    book_interval_s=3600,
)


async def next_message(queue: asyncio.Queue[Message], kind: str) -> Message:
    while True:
        message = await asyncio.wait_for(queue.get(), timeout=10)
        if message["type"] == kind:
            return message


def collect(ws: Workspace, symbols: list[str] | None = None) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(symbols, listener=queue.put_nowait)
    return queue


async def test_a_start_that_does_not_wait_for_the_feed_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # serve starts this way to bind at once: every start logged "the feed is not
    # connected yet (waited 0.0 s: down)" as a WARNING, with nothing wrong
    ws = Workspace(feed="sim")
    caplog.set_level(logging.INFO, logger="workspace.engine")
    await ws.start(connect_timeout=0)
    try:
        await ws.subscribe("BTCUSDT")
        await ws.wait_for_book("BTCUSDT")  # connected, rules loaded, streaming
        engine_records = [r for r in caplog.records if r.name == "workspace.engine"]
        assert [r.levelno for r in engine_records if r.levelno >= logging.WARNING] == []
        assert any(r.message == "the feed connects in the background" for r in engine_records)
    finally:
        await ws.stop()


async def test_start_against_a_dead_exchange_returns_in_bounded_time_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = quiet_port()  # nobody listens there (and no client's own port can be it)
    ws = Workspace(
        feed="binance",
        feed_config=FeedConfig(
            stream_url=f"ws://127.0.0.1:{dead}", rest_url=f"http://127.0.0.1:{dead}"
        ),
        engine=EngineConfig(start_timeout_s=0.5),
    )
    caplog.set_level(logging.WARNING, logger="workspace.engine")
    await asyncio.wait_for(ws.start(), timeout=30)  # never hangs
    try:
        assert ws.running
        assert ws.status["feed"] in {"down", "reconnecting"}
        assert ws.status["exchange_info"] == "pending"
        assert any("the feed is not connected yet" in r.message for r in caplog.records)
        order = ws.buy("BTCUSDT", "0.001")
        assert (order.status, order.reason_code) == ("REJECTED", "NO_MARKET_DATA")
    finally:
        await ws.stop()
    assert not ws.running


async def test_symbol_info_comes_from_the_feeds_exchange_info_and_rides_on_subscribed(
    ws: Workspace,
) -> None:
    reply = await ws.request({"action": "subscribe_ticker", "symbol": "btcusdt"})
    assert reply["type"] == "SUBSCRIBED"
    info = reply["symbol_info"]
    assert (info["base_asset"], info["quote_asset"], info["status"]) == ("BTC", "USDT", "TRADING")
    assert (info["tick_size"], info["step_size"]) == ("0.01", "0.00001")
    assert (info["price_precision"], info["quantity_precision"]) == (2, 5)
    assert ws.engine.symbol_info("BTCUSDT") == info
    assert ws.round_qty("BTCUSDT", "0.123456789") == Decimal("0.12345")
    assert ws.round_price("BTCUSDT", 97151.574) == Decimal("97151.57")
    refused = ws.limit("BTCUSDT", "BUY", "0.00000001", "50000")
    assert refused.reason == "Quantity 0.00000001 BTC is below the minimum 0.00001 BTC"
    unlisted = ws.limit("NOPEUSDT", "BUY", "1", "10")
    assert (unlisted.reason_code, unlisted.reason) == (
        "UNKNOWN_SYMBOL",
        "NOPEUSDT is not listed by the exchange",
    )


async def test_a_workspace_with_balances_is_a_spot_account_unless_allowed_to_short(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "spot.sqlite", balances={"USDT": 5000, "BTC": "0.5"})
    await ws.start()
    try:
        assert ws.account.config.allow_short is False
        assert ws.account.config.balances == {"BTC": Decimal("0.5")}
        queue = collect(ws, ["ETHUSDT"])
        await ws.subscribe("ETHUSDT")
        await next_message(queue, "MARKET_UPDATE")
        short = ws.sell("ETHUSDT", "0.1")
        assert short.reason_code == "WOULD_SHORT"
        portfolio = ws.engine.portfolio_message()["portfolio"]
        assert portfolio["balances"]["BTC"] == {"free": 0.5, "locked": 0.0}
        assert portfolio["available"] == 5000.0
    finally:
        await ws.stop()
    margin = make_workspace(None, allow_short=True)
    await margin.start()
    try:
        assert margin.account.config.allow_short is True
    finally:
        await margin.stop()


async def test_a_restart_with_an_unlisted_symbol_in_the_journal_still_streams_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "journal.sqlite"
    with Journal.open(db, config=AccountConfig()) as journal:
        account = Account(AccountConfig())  # a first version accepted any USDT symbol
        t = 1_700_000_000_000
        for symbol, price in (("BTCUSDT", "97000"), ("NOPEUSDT", "1")):
            trade = Trade(
                event_type="trade",
                event_time=t,
                symbol=symbol,
                price=Decimal(price),
                quantity=Decimal(1),
                trade_time=t,
                buyer_is_maker=False,
            )
            journal.append(account.on_market(trade, t))
        for request in (
            OrderRequest(
                symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal("0.01")
            ),
            OrderRequest(
                symbol="NOPEUSDT",
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=Decimal(10),
                price=Decimal("0.5"),
            ),
        ):
            _, events = account.place(request, t)
            journal.append(events)
    caplog.set_level(logging.ERROR, logger="workspace.engine")
    ws = make_workspace(db)
    await ws.start()
    try:
        feed = ws.engine.feed
        assert feed is not None
        assert "BTCUSDT" in feed.subscribed
        assert "NOPEUSDT" not in feed.subscribed
        assert any(
            "restore: NOPEUSDT is not listed by the exchange: 1 open order will not be "
            "marked or triggered" in r.message
            for r in caplog.records
        )
        (position,) = ws.account.positions_at(ws.engine.clock.time_ms())
        queue = collect(ws)
        while True:  # the BTCUSDT position is marked by live prices again
            update = await next_message(queue, "POSITION_UPDATE")
            (wire,) = update["positions"]
            if not wire["stale"]:
                break
        assert wire["id"] == position.id
        assert wire["price_ms"] is not None
    finally:
        await ws.stop()


async def test_a_market_order_right_after_a_restart_never_fills_at_the_journals_price(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    first = make_workspace(db, account=AccountConfig(market_wait_ms=300))
    await first.start()
    queue = collect(first, ["BTCUSDT"])
    await first.subscribe("BTCUSDT")
    await next_message(queue, "MARKET_UPDATE")
    assert first.buy("BTCUSDT", "0.001").status == "FILLED"
    await first.stop()

    # the exchange is quiet after the restart: only the journal knows a price
    second = make_workspace(db, sim=QUIET_SIM)
    await second.start()
    try:
        assert second.account.quote("BTCUSDT").last is not None  # restored ...
        (position,) = second.account.positions
        assert position.stale  # ... and flagged
        order = second.buy("BTCUSDT", "0.001")
        assert order.status == "NEW"  # waits for a fresh price instead of filling
        updates = collect(second)
        expired = await next_message(updates, "ORDER_UPDATE")
        assert expired["order"]["status"] == "EXPIRED"
        assert expired["order"]["reason_code"] == "NO_MARKET_DATA"
        assert second.portfolio.positions_count == 1
        frame = second.positions
        assert bool(frame.loc[position.id, "stale"]) is True
    finally:
        await second.stop()


async def test_a_repeated_client_order_id_answers_with_the_order_as_it_stands(
    ws: Workspace,
) -> None:
    queue = collect(ws, ["BTCUSDT"])
    await ws.subscribe("BTCUSDT")
    await next_message(queue, "MARKET_UPDATE")
    request = {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": 0.001,
        "price": 50000,
        "client_order_id": "cell-7",
    }
    first = await ws.request(request)
    again = await ws.request(request)
    assert first["order"]["status"] == "NEW"
    assert again["order"]["id"] == first["order"]["id"]
    assert again["seq"] == first["seq"]  # no new event: the order's latest one
    assert len(ws.open_orders) == 1
    again_in_python = ws.limit("BTCUSDT", "BUY", "0.001", "50000", client_order_id="cell-7")
    assert again_in_python.id == first["order"]["id"]


async def test_a_ticker_only_recording_replays_and_triggers_a_trailing_stop(
    tmp_path: Path,
) -> None:
    # record what `python -m workspace record --streams ticker` records, from the
    # simulator replaying real BTCUSDT klines (2020-01-01)
    klines = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    source = (KLINES / "BTCUSDT-1m-2020-01-01.csv").read_text().splitlines(keepends=True)
    klines.write_text("".join(source[:5]))
    # paced (3000x), not speed 0: at speed 0 the simulator is too busy to answer the
    # recorder's closing handshake, which then waits out its 10 s close timeout
    exchange = ExchangeSimulator(SimConfig(replay=klines, speed=3000))
    await exchange.start(host="127.0.0.1", port=0)
    recording = tmp_path / "tickers.jsonl"
    try:
        frames = await record(
            exchange.stream_url,
            streams_for(["btcusdt"], ["ticker"]),
            recording,
            duration_s=30,
            max_frames=150,
        )
    finally:
        await exchange.stop()
    assert frames > 0
    assert '"e":"24hrTicker"' in recording.read_text()
    assert '"e":"trade"' not in recording.read_text()
    assert '"e":"aggTrade"' not in recording.read_text()

    ws = Workspace(feed=f"replay:{recording}", engine=FAST_ENGINE)
    placed: list[str] = []

    @ws.on_tick("BTCUSDT")
    def enter(tick: object) -> None:
        if not placed:
            assert ws.buy("BTCUSDT", "0.01").status == "FILLED"
            stop = ws.trailing_stop("BTCUSDT", "SELL", "0.01", trail_amount="1")
            assert stop.status == "NEW", stop.reason
            placed.append(stop.id)

    await ws.start()
    try:
        await ws.run()
        (stop_id,) = placed
        stop = ws.order(stop_id)
        assert stop.status is OrderStatus.FILLED
        assert stop.peak_price is not None
        assert stop.fill_price is not None
        assert stop.fill_price <= stop.peak_price - 1 + Decimal("0.01")  # the ticker's bid
        assert ws.portfolio.positions_count == 0
    finally:
        await ws.stop()
