"""The notebook API on a live engine: embedded simulator, real sockets, real SQLite."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from workspace.engine.ticks import Tick
from workspace.errors import InvalidParams, InvalidSymbol, NotFound
from workspace.market.errors import MalformedSymbolError, UnknownSymbolError
from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.trading.orders import Fill, Order

from .conftest import make_workspace


async def next_message(queue: asyncio.Queue[Message], kind: str, **match: object) -> Message:
    while True:
        message = await asyncio.wait_for(queue.get(), timeout=10)
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


def collect(ws: Workspace, symbols: list[str] | None = None) -> asyncio.Queue[Message]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(symbols, listener=queue.put_nowait)
    return queue


async def test_start_returns_connected_and_a_second_start_is_a_no_op(ws: Workspace) -> None:
    assert ws.status["feed"] == "connected"
    engine = ws.engine
    await ws.start()
    assert ws.engine is engine


async def test_ticks_reach_on_tick_callbacks_and_market_updates_reach_subscribers(
    ws: Workspace,
) -> None:
    ticks: asyncio.Queue[Tick] = asyncio.Queue()

    @ws.on_tick("BTCUSDT")
    async def strategy(tick: Tick) -> None:
        await ticks.put(tick)

    messages = collect(ws, ["BTCUSDT"])
    assert await ws.subscribe("btcusdt") == ["BTCUSDT"]
    tick = await asyncio.wait_for(ticks.get(), timeout=10)
    assert tick.symbol == "BTCUSDT"
    assert isinstance(tick.price, Decimal)
    update = await next_message(messages, "MARKET_UPDATE")
    for field in ("price", "priceChange", "priceChangePercent", "high", "low", "volume"):
        assert isinstance(update[field], float)
    assert update["symbol"] == "BTCUSDT"
    assert ws.quote("BTCUSDT") is not None


async def test_market_order_fills_at_once_and_publishes_order_updates_with_seq(
    ws: Workspace,
) -> None:
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    await next_message(messages, "MARKET_UPDATE")
    order = ws.buy("BTCUSDT", "0.01")
    assert order.status == "FILLED"
    first = await next_message(messages, "ORDER_UPDATE")
    second = await next_message(messages, "ORDER_UPDATE")
    assert first["orderType"] == "MARKET"
    assert first["order"]["id"] == order.id
    assert 0 < first["seq"] < second["seq"] <= ws.engine.seq
    assert second["order"]["status"] == "FILLED"
    assert list(ws.orders.index) == [order.id]
    assert len(ws.fills) == 1
    assert ws.portfolio.positions_count == 1


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        (0, "Quantity must be greater than 0, got 0"),
        (-1, "Quantity must be greater than 0, got -1"),
        (float("nan"), "Quantity must be a finite number, got NaN"),
        (float("inf"), "Quantity must be a finite number, got Infinity"),
        ("-Infinity", "Quantity must be a finite number, got -Infinity"),
        (None, "Quantity is required"),
        # before, each of these became NaN and the order said "got NaN"
        ("abc", "Quantity must be a decimal number, got 'abc'"),
        ("1_000", "Quantity must be a decimal number, got '1_000'"),  # not Python's 1000
        ([1], "Quantity must be a decimal number, got '[1]'"),
        (True, "Quantity must be a decimal number, got 'True'"),
        ("1e999999", "Quantity must be within 1e-30 to 1e30 in size, got 1E+999999"),
        ("-1e999999", "Quantity must be within 1e-30 to 1e30 in size, got -1E+999999"),
        (10**40, "Quantity must be within 1e-30 to 1e30 in size, got 1"),
    ],
)
async def test_invalid_order_comes_back_rejected_with_a_reason_that_quotes_it(
    ws: Workspace, quantity: object, reason: str
) -> None:
    order = ws.buy("BTCUSDT", quantity)  # type: ignore[arg-type]
    assert order.status == "REJECTED"
    assert order.reason is not None
    assert order.reason.startswith(reason)
    assert ws.engine.running


async def test_bad_symbol_and_ids_of_the_wrong_type_are_clear(ws: Workspace) -> None:
    order = ws.buy(None, 1)  # type: ignore[arg-type]
    assert (order.status, order.reason_code) == ("REJECTED", "UNKNOWN_SYMBOL")
    for call in (ws.cancel, ws.order, ws.close_position):
        with pytest.raises(InvalidParams, match="must be a string"):
            call(None)  # type: ignore[arg-type]
    # a typo in a rounding helper's symbol is an error, not the number back unrounded
    assert ws.round_qty("btcusdt", "0.123456789") == Decimal("0.12345")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.round_qty("BTCUDST", "0.123456789")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.round_price("BTCUDST", 97_000.123)
    # and so in symbol_info, whose None also meant "no listing loaded yet"
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.symbol_info("BTCUDST")
    # the views and callbacks of an unlisted symbol answered empty (no ticks, no quote,
    # a callback never called, "subscribe first" when subscribing would fail): a typo
    # looked like a quiet market
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.ticks("BTCUDST")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.quote("btcudst")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.book("BTCUDST")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        await ws.wait_for_book("BTCUDST", 5)
    for decorator in (ws.on_tick, ws.on_fill, ws.on_order):
        with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
            decorator("BTCUSDT", "BTCUDST")
    with pytest.raises(UnknownSymbolError, match="BTCUDST is not listed"):
        ws.dashboard(symbols=["BTCUSDT", "BTCUDST"])
    # a flag given as a word ("no" is truthy) turned exact numbers on
    with pytest.raises(InvalidParams, match="exact must be True or False, got 'no'"):
        ws.book("BTCUSDT", exact="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="exact must be True or False, got 1"):
        await ws.candles("BTCUSDT", exact=1)  # type: ignore[arg-type]
    # a listed symbol nobody subscribed is not an error: it has no ticks yet
    assert ws.ticks("ETHUSDT").empty
    assert ws.on_tick("ETHUSDT")(print) is print
    ws.remove_callback(print)
    # a negative price or quantity came back rounded ('-1.00'), hiding the sign error
    for helper, name in ((ws.round_price, "price"), (ws.round_qty, "quantity")):
        with pytest.raises(InvalidParams, match=f"{name} must be >= 0, got -1"):
            helper("BTCUSDT", -1)
    assert ws.round_qty("BTCUSDT", 0) == ws.round_price("BTCUSDT", "0") == 0
    # these raised AttributeError / OverflowError
    with pytest.raises(MalformedSymbolError, match="symbol must be a string, got int"):
        ws.unsubscribe(5)  # type: ignore[arg-type]
    with pytest.raises(MalformedSymbolError, match="symbol must be a string, got NoneType"):
        ws.ticks(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="limit must be a whole number >= 1 or None"):
        ws.ticks("BTCUSDT", limit=-1)
    with pytest.raises(InvalidParams, match="port must be 0 \\(any free port\\) to 65535"):
        await ws.serve(port=-1)
    assert ws.engine.running


async def test_the_other_calls_refuse_arguments_of_the_wrong_kind_in_words(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    # each of these raised AttributeError or TypeError ("str object expected; got
    # None"), or was taken and failed later, far from the call
    with pytest.raises(MalformedSymbolError, match="got int"):
        ws.quote(5)  # type: ignore[arg-type]
    with pytest.raises(MalformedSymbolError, match="got NoneType"):
        ws.symbol_info(None)  # type: ignore[arg-type]
    assert ws.symbol_info(" btcusdt ") == ws.symbol_info("BTCUSDT") is not None
    with pytest.raises(InvalidParams, match=r"place takes an OrderRequest .* got str"):
        ws.place("BTCUSDT")  # type: ignore[arg-type]
    for timeout in ("5", None, 0, -1, float("nan")):
        with pytest.raises(InvalidParams, match="timeout_s must be a number of seconds > 0"):
            await ws.wait_for_book("BTCUSDT", timeout)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match=r"position_id .* such as position\.id"):
        ws.close_position(7)  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="quantity must be within 1e-30 to 1e30 in size"):
        ws.close_position("pos-1", 10**40)
    # a listener that cannot be called is refused now, not logged by every message
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(TypeError, match="listen takes a function"),
    ):
        ws.listen(None)  # type: ignore[arg-type]
    # a malformed symbol for a callback would have waited for ticks that never come
    with pytest.raises(MalformedSymbolError, match="malformed symbol 'btc/usdt'"):
        ws.on_tick("btc/usdt")
    with pytest.raises(InvalidParams, match="symbols must be a list of symbols"):
        ws.dashboard(symbols=5)
    assert not [r for r in caplog.records if "listener" in r.getMessage()]
    assert ws.engine.running


async def test_numbers_convert_exactly_through_their_string_form(ws: Workspace) -> None:
    await ws.subscribe("BTCUSDT")
    order = ws.limit("BTCUSDT", "buy", 0.1, 1000.1)
    assert order.quantity == Decimal("0.1")
    assert order.price == Decimal("1000.1")


async def test_bad_side_is_a_clear_error(ws: Workspace) -> None:
    with pytest.raises(InvalidParams, match="side"):
        ws.limit("BTCUSDT", "up", 1, 100)


async def test_cancel_and_unknown_ids(ws: Workspace) -> None:
    await ws.subscribe("BTCUSDT")
    order = ws.limit("BTCUSDT", "BUY", "0.001", "50000")
    assert order.status == "NEW"
    canceled = ws.cancel(order.id)
    assert canceled.status == "CANCELED"
    with pytest.raises(InvalidParams):
        ws.cancel(order.id)
    with pytest.raises(NotFound):
        ws.cancel("order-999")
    with pytest.raises(NotFound):
        ws.close_position("pos-999")


async def test_close_position_sends_a_closing_market_order(ws: Workspace) -> None:
    messages = collect(ws)
    await ws.subscribe("ETHUSDT")
    await next_message(messages, "MARKET_UPDATE")
    ws.buy("ETHUSDT", "0.1")
    position_id = str(ws.positions.index[0])
    closing = ws.close_position(position_id)
    assert closing.side == "SELL"
    assert closing.status == "FILLED"
    assert ws.portfolio.positions_count == 0


async def test_subscribe_answers_each_symbol_once_and_unsubscribe_what_it_stopped(
    ws: Workspace,
) -> None:
    assert await ws.subscribe("BTCUSDT", "btcusdt", "ETHUSDT") == ["BTCUSDT", "ETHUSDT"]
    # a symbol never subscribed is ignored, and not reported as unsubscribed
    assert await ws.unsubscribe("ETHUSDT", "SOLUSDT", "ethusdt") == ["ETHUSDT"]
    assert await ws.unsubscribe("ETHUSDT") == []
    assert ws.symbols == ["BTCUSDT"]


async def test_unknown_symbol_raises_when_awaited(ws: Workspace) -> None:
    with pytest.raises(InvalidSymbol, match="NOPEUSDT"):
        await ws.subscribe("NOPEUSDT")
    assert "NOPEUSDT" not in ws.symbols


async def test_unknown_symbol_is_logged_when_not_awaited(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="workspace.engine"):
        pending = ws.subscribe("NOPEUSDT")
        await asyncio.wait({pending.task}, timeout=10)
    assert any("NOPEUSDT" in record.getMessage() for record in caplog.records)


async def test_malformed_symbol_raises_at_once(ws: Workspace) -> None:
    with pytest.raises(InvalidSymbol):
        ws.subscribe("btc/usdt")


async def test_positions_and_portfolio_are_published_on_their_cadence(ws: Workspace) -> None:
    messages = collect(ws)
    positions = await next_message(messages, "POSITION_UPDATE")
    portfolio = await next_message(messages, "PORTFOLIO_UPDATE")
    assert positions["positions"] == []
    assert portfolio["portfolio"]["balance"] == 10000.0


async def test_feed_status_changes_are_published_at_once(ws: Workspace) -> None:
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    assert ws.simulator is not None
    await ws.simulator.drop_connections()
    assert (await next_message(messages, "STATUS", feed="reconnecting"))["source"] == "sim"
    await next_message(messages, "STATUS", feed="connected")
    # The subscription survives the reconnect.
    await next_message(messages, "MARKET_UPDATE")


async def test_garbage_from_the_exchange_does_not_stop_the_engine(ws: Workspace) -> None:
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    assert ws.simulator is not None
    await ws.simulator.send_garbage()
    await next_message(messages, "MARKET_UPDATE")
    assert ws.engine.running


async def test_a_record_the_engine_cannot_take_is_counted_not_fatal(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="workspace.engine"):
        ws.engine.on_record("not a record")  # type: ignore[arg-type]
    assert ws.metrics["bad_records"] == 1
    assert ws.engine.running


async def test_a_raising_strategy_is_reported_and_the_engine_keeps_streaming(
    ws: Workspace,
) -> None:
    calls: asyncio.Queue[Tick] = asyncio.Queue()

    @ws.on_tick("BTCUSDT")
    def broken(tick: Tick) -> None:
        calls.put_nowait(tick)
        raise RuntimeError("strategy bug")

    await ws.subscribe("BTCUSDT")
    await asyncio.wait_for(calls.get(), timeout=10)
    await asyncio.wait_for(calls.get(), timeout=10)  # called again: still alive
    assert ws.errors
    assert "strategy bug" in ws.errors[0].error
    assert "Traceback" in ws.errors[0].traceback
    assert ws.metrics["callback_errors"] >= 1


async def test_a_strategy_can_trade_from_its_callback_and_gets_fills(ws: Workspace) -> None:
    fills: asyncio.Queue[Fill] = asyncio.Queue()
    orders: asyncio.Queue[Order] = asyncio.Queue()
    placed: list[Order] = []

    @ws.on_tick("BTCUSDT")
    def strategy(tick: Tick) -> None:
        if not placed:
            placed.append(ws.buy(tick.symbol, "0.001"))

    ws.on_fill(fills.put_nowait)
    ws.on_order("BTCUSDT")(orders.put_nowait)
    await ws.subscribe("BTCUSDT")
    fill = await asyncio.wait_for(fills.get(), timeout=10)
    assert fill.order_id == placed[0].id
    assert (await asyncio.wait_for(orders.get(), timeout=10)).id == placed[0].id
    assert ws.metrics["strategy_order_p99_ms"] is not None


async def test_resting_orders_fill_from_ticks(ws: Workspace) -> None:
    fills: asyncio.Queue[Fill] = asyncio.Queue()
    ws.on_fill(fills.put_nowait)
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    quote = await next_message(messages, "MARKET_UPDATE")
    order = ws.limit("BTCUSDT", "BUY", "0.001", ws.round_price("BTCUSDT", quote["price"] * 1.05))
    fill = await asyncio.wait_for(fills.get(), timeout=10)
    assert fill.order_id == order.id


async def test_recent_ticks_are_kept_as_a_frame(ws: Workspace) -> None:
    ticks: asyncio.Queue[Tick] = asyncio.Queue()
    ws.on_tick("SOLUSDT")(ticks.put_nowait)
    await ws.subscribe("SOLUSDT")
    for _ in range(3):
        await asyncio.wait_for(ticks.get(), timeout=10)
    frame = ws.ticks("SOLUSDT")
    assert len(frame) >= 3
    assert set(frame["source"]) <= {"ticker", "trade"}
    assert (frame["symbol"] == "SOLUSDT").all()


async def test_replay_ticks_serves_recorded_market_updates(ws: Workspace) -> None:
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    seen = [await next_message(messages, "MARKET_UPDATE") for _ in range(3)]
    replayed = [
        m async for m in ws.engine.replay_ticks("btcusdt", 0, seen[-1]["timestamp"], speed=0)
    ]
    assert [m["timestamp"] for m in replayed][-3:] == [m["timestamp"] for m in seen]
    assert all(m["replay"] is True for m in replayed)
    with pytest.raises(InvalidParams):
        ws.engine.replay_ticks("BTCUSDT", 10, 0, speed=0)
    with pytest.raises(InvalidParams):
        ws.engine.replay_ticks("BTCUSDT", 0, 10, speed=-1)


async def test_symbols_are_reference_counted(ws: Workspace) -> None:
    engine = ws.engine
    feed = engine.feed
    assert feed is not None
    await engine.acquire_symbol("ETHUSDT")
    await engine.acquire_symbol("ethusdt")
    await engine.release_symbol("ETHUSDT")
    assert "ETHUSDT" in feed.subscribed
    await engine.release_symbol("ETHUSDT")
    assert "ETHUSDT" not in feed.subscribed


async def test_the_session_speaks_the_protocol(ws: Workspace) -> None:
    reply = await ws.request({"action": "get_portfolio", "id": 1})
    assert reply["type"] == "PORTFOLIO_UPDATE"
    error = await ws.request({"action": "place_order", "symbol": "BTCUSDT"})
    assert error["type"] == "ERROR"


async def test_stop_leaves_no_task_socket_or_file_behind(tmp_path: Path) -> None:
    process = psutil.Process()
    sockets_before = {c.laddr for c in process.net_connections("inet")}
    ws = make_workspace(None)
    await ws.start()
    await ws.subscribe("BTCUSDT")
    ws.buy("BTCUSDT", "0.001")
    _ = ws.session
    await ws.stop()
    await ws.stop()  # idempotent
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    leftover_sockets = {c.laddr for c in process.net_connections("inet")} - sockets_before
    assert leftover_sockets == set()
    assert not any("workspace-" in f.path for f in process.open_files())
    assert ws.status["running"] is False


async def test_restart_on_an_existing_journal_keeps_positions_and_open_orders(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    first = make_workspace(db)
    await first.start()
    messages = collect(first)
    await first.subscribe("BTCUSDT")
    await next_message(messages, "MARKET_UPDATE")  # a fresh price: the buy fills at once
    fills: asyncio.Queue[Fill] = asyncio.Queue()
    first.on_fill(fills.put_nowait)
    bought = first.buy("BTCUSDT", "0.002")
    assert bought.status == "FILLED"
    resting = first.limit("BTCUSDT", "BUY", "0.001", "50000")
    seq = first.engine.seq
    positions = first.account.positions
    await first.stop()

    second = make_workspace(db)
    await second.start()
    try:
        assert second.engine.seq == seq
        assert [p.id for p in second.account.positions] == [p.id for p in positions]
        assert [o.id for o in second.open_orders] == [resting.id]
        feed = second.engine.feed
        assert feed is not None
        assert "BTCUSDT" in feed.subscribed  # open orders keep their prices streaming
        again = second.buy("BTCUSDT", "0.001")
        assert again.id not in (bought.id, resting.id)
        assert second.engine.seq > seq
    finally:
        await second.stop()


async def test_using_a_workspace_before_start_says_what_to_do() -> None:
    ws = make_workspace(None)
    with pytest.raises(RuntimeError, match="start"):
        ws.buy("BTCUSDT", 1)
    assert "stopped" in repr(ws)


async def test_a_call_from_another_thread_is_refused_in_words(ws: Workspace) -> None:
    """``ws.buy`` from a worker thread placed the order, racing the loop's own updates
    of the account and its journal (nothing in the account is thread-safe)."""
    refused: list[BaseException] = []

    def worker() -> None:
        try:
            ws.buy("BTCUSDT", "0.001")
        except RuntimeError as error:
            refused.append(error)

    thread = threading.Thread(target=worker, name="strategy-timer")
    thread.start()
    await asyncio.to_thread(thread.join)
    assert [str(e) for e in refused] == [
        "the workspace was called from thread 'strategy-timer'; it runs on its event loop's "
        "thread and takes calls only there: from another thread, hand the call to the "
        "loop, e.g. `loop.call_soon_threadsafe(lambda: ws.buy(...))`"
    ]
    assert ws.orders.empty
    # from the loop's thread the same call goes in
    assert ws.buy("BTCUSDT", "0.001").status in ("NEW", "FILLED")


def test_feed_spec_must_be_known() -> None:
    with pytest.raises(InvalidParams, match="replay:PATH"):
        Workspace(feed="kraken")


async def test_a_failing_periodic_publisher_is_logged_and_the_cadence_goes_on(
    ws: Workspace, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ws.engine
    real = engine.positions_message
    failures = 0

    def flaky() -> Message:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("transient")
        return real()

    monkeypatch.setattr(engine, "positions_message", flaky)
    messages = collect(ws)
    with caplog.at_level(logging.ERROR, logger="workspace.engine"):
        await next_message(messages, "POSITION_UPDATE")
    assert failures == 1
    assert any("periodic" in r.getMessage() for r in caplog.records)


async def test_a_failing_tick_store_does_not_stop_trading(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> int:
        raise OSError("disk full")

    monkeypatch.setattr(ws.engine.ticks, "flush", broken)
    messages = collect(ws)
    await ws.subscribe("BTCUSDT")
    await next_message(messages, "MARKET_UPDATE")
    await next_message(messages, "POSITION_UPDATE")  # at least one flush has run and failed
    assert ws.buy("BTCUSDT", "0.001").status == "FILLED"


async def test_unsubscribe_releases_the_symbol(ws: Workspace) -> None:
    await ws.subscribe("ETHUSDT")
    assert ws.symbols == ["ETHUSDT"]
    await ws.unsubscribe("ethusdt")
    assert ws.symbols == []
    feed = ws.engine.feed
    assert feed is not None
    assert "ETHUSDT" not in feed.subscribed


async def test_a_damaged_journal_is_refused_and_nothing_is_left_running(tmp_path: Path) -> None:
    from workspace.journal import JournalError

    db = tmp_path / "journal.sqlite"
    db.write_bytes(b"this is not an SQLite file at all" * 100)
    ws = make_workspace(db)
    with pytest.raises(JournalError):
        await ws.start()
    assert not ws.running
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_reopening_with_other_account_settings_is_refused(tmp_path: Path) -> None:
    from workspace.journal import JournalError

    db = tmp_path / "journal.sqlite"
    first = make_workspace(db, initial_balance=5000)
    await first.start()
    await first.stop()
    with pytest.raises(JournalError):
        await make_workspace(db, initial_balance=7000).start()
    again = make_workspace(db)  # no settings: the stored ones
    await again.start()
    try:
        assert again.portfolio.initial_balance == Decimal(5000)
    finally:
        await again.stop()


async def test_the_subscribe_handle_shows_its_state(ws: Workspace) -> None:
    pending = ws.subscribe("BTCUSDT")
    assert "pending" in repr(pending) or "done" in repr(pending)
    await pending
    assert repr(pending) == "<subscribe(BTCUSDT): done: ['BTCUSDT']>"


async def test_a_strategy_may_stop_the_workspace_from_its_callback(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "journal.sqlite")
    stopped = asyncio.Event()

    @ws.on_tick("BTCUSDT")
    async def enough(tick: Tick) -> None:
        await ws.stop()
        stopped.set()

    await ws.start()
    await ws.subscribe("BTCUSDT")
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert not ws.running


async def test_the_binance_feed_works_against_any_server_speaking_the_protocol(
    tmp_path: Path,
) -> None:
    from workspace.market.config import FeedConfig
    from workspace.sim import ExchangeSimulator

    from .conftest import FAST_ENGINE, FAST_SIM

    simulator = ExchangeSimulator(FAST_SIM)
    await simulator.start(host="127.0.0.1", port=0)
    ws = Workspace(
        feed="binance",
        feed_config=FeedConfig(stream_url=simulator.stream_url, rest_url=simulator.rest_url),
        engine=FAST_ENGINE,
    )
    try:
        await ws.start()
        messages = collect(ws)
        await ws.subscribe("ETHUSDT")
        assert (await next_message(messages, "MARKET_UPDATE"))["symbol"] == "ETHUSDT"
        assert ws.status["source"] == "binance"
        assert ws.simulator is None
    finally:
        await ws.stop()
        await simulator.stop()


async def test_a_strategy_failing_on_every_tick_logs_one_traceback_not_a_flood(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    enough = asyncio.Event()

    @ws.on_tick
    def always_broken(tick: Tick) -> None:
        nonlocal calls
        calls += 1
        if calls >= 30:
            enough.set()
        raise KeyError("missing")

    with caplog.at_level(logging.WARNING, logger="workspace.engine.strategy"):
        await ws.subscribe("BTCUSDT", "ETHUSDT")
        await asyncio.wait_for(enough.wait(), timeout=20)
    logged = [r for r in caplog.records if r.name == "workspace.engine.strategy"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert ws.metrics["callback_errors"] >= 30
    assert len(ws.errors) >= 30


async def test_direct_sync_callbacks_trade_from_the_feed_callback(tmp_path: Path) -> None:
    from dataclasses import replace

    from .conftest import FAST_ENGINE

    ws = make_workspace(
        tmp_path / "journal.sqlite", engine=replace(FAST_ENGINE, direct_sync_callbacks=True)
    )
    fills: asyncio.Queue[Fill] = asyncio.Queue()
    placed: list[Order] = []

    @ws.on_tick("BTCUSDT")
    def strategy(tick: Tick) -> None:
        if not placed:
            placed.append(ws.buy(tick.symbol, "0.001"))

    ws.on_fill(fills.put_nowait)
    await ws.start()
    try:
        await ws.subscribe("BTCUSDT")
        fill = await asyncio.wait_for(fills.get(), timeout=10)
        assert fill.order_id == placed[0].id
        assert ws.metrics["strategy_order_p99_ms"] is not None
        assert not any(name.endswith("strategy") for name in ws.engine.task_names)
    finally:
        await ws.stop()


async def test_concurrent_symbol_requests_share_one_subscribe(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = ws.engine.feed
    assert feed is not None
    calls: list[tuple[str, ...]] = []
    real = feed.subscribe

    async def counting(*names: str) -> None:
        calls.append(names)
        await real(*names)

    monkeypatch.setattr(feed, "subscribe", counting)
    engine = ws.engine
    results = await asyncio.gather(
        engine.acquire_symbol("btcusdt"),
        engine.acquire_symbol("NOPEUSDT"),
        engine.acquire_symbol("ETHUSDT"),
        engine.acquire_symbol("SOLUSDT"),
        return_exceptions=True,
    )
    assert results[0] == "BTCUSDT"
    assert isinstance(results[1], InvalidSymbol)
    assert list(results[2:]) == ["ETHUSDT", "SOLUSDT"]
    assert calls == [("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= feed.subscribed
    assert "NOPEUSDT" not in feed.subscribed


@pytest.mark.parametrize(
    ("options", "words"),
    [
        # each failed deep in start() as an AttributeError naming none of them, or opened
        # the current folder as the journal (db=""), or took "yes" as True
        ({"db": ""}, "db must be a file path, got ''"),
        ({"db": 5}, "db must be a file path, got 5"),
        ({"account": 5}, "account takes AccountConfig(...) or None, got int"),
        ({"engine": {}}, "engine takes EngineConfig(...) or None, got dict"),
        ({"sim": "fast"}, "sim takes SimConfig(...) or None, got str"),
        ({"feed_config": 5}, "feed_config takes FeedConfig(...) or None, got int"),
        ({"clock": 5}, "clock must have time_ms() and monotonic()"),
        ({"user": 5}, "a user name is a string, got 5"),
        ({"allow_short": "no"}, "allow_short must be True or False, got 'no'"),
        ({"balances": 5}, "balances must be a dict like"),
    ],
)
def test_a_workspace_of_the_wrong_parts_is_refused_when_it_is_made(
    options: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidParams) as refused:
        Workspace("sim", **options)  # type: ignore[arg-type]
    assert words in str(refused.value)


def test_an_asset_given_twice_in_balances_is_refused() -> None:
    # {"usdt": 5, "USDT": 6} started the account with 6 USDT, silently
    with pytest.raises(InvalidParams, match="balances: USDT is given twice"):
        Workspace(feed="sim", balances={"usdt": 5, "USDT": 6})


@pytest.mark.parametrize("asset", [5, "", None])
def test_an_asset_that_is_no_name_is_refused_as_such(asset: object) -> None:
    # {5: 5} said "5: 5 is not an amount >= 0", blaming the amount
    with pytest.raises(InvalidParams) as refused:
        Workspace(feed="sim", balances={asset: 5})  # type: ignore[dict-item]
    assert str(refused.value) == f"balances: an asset is a name like 'BTC', got {asset!r}"


CELL = """
@ws.on_tick("BTCUSDT")
def strategy(tick, run=run):
    calls.append(run)
"""


async def test_a_cell_run_again_replaces_its_strategy_instead_of_adding_one(
    ws: Workspace,
) -> None:
    """Run twice, the cell registered a second callback: both functions traded on every
    tick, and ``remove_callback(strategy)`` stopped only the new one."""
    calls: list[int] = []
    called_again = asyncio.Event()
    cell: dict[str, object] = {"__name__": "__main__", "ws": ws, "calls": calls}
    for run in (1, 2):
        cell["run"] = run
        exec(CELL, cell)  # (a notebook cell, as the kernel runs it)
    assert len(ws.engine.callbacks) == 1

    @ws.on_tick("BTCUSDT")
    def watch(tick: Tick) -> None:
        if calls:
            called_again.set()

    await ws.subscribe("BTCUSDT")
    await asyncio.wait_for(called_again.wait(), 10)
    assert set(calls) == {2}
    ws.remove_callback(cell["strategy"])  # type: ignore[arg-type]
    ws.remove_callback(watch)
    assert len(ws.engine.callbacks) == 0


async def test_only_a_module_level_function_defined_again_replaces_its_registration(
    ws: Workspace,
) -> None:
    """Two closures of one factory, two bound methods of one class or two lambdas are
    different strategies: they run side by side."""

    def factory(fast: int) -> Callable[[Tick], None]:
        def strategy(tick: Tick) -> None: ...

        return strategy

    class Strategy:
        def on_tick(self, tick: Tick) -> None: ...

    for each in (factory(5), factory(10), Strategy().on_tick, Strategy().on_tick):
        ws.on_tick("BTCUSDT")(each)
    ws.on_tick("BTCUSDT")(lambda tick: None)
    ws.on_tick("BTCUSDT")(lambda tick: None)
    assert len(ws.engine.callbacks) == 6
