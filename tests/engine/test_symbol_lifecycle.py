"""What the engine holds for whom: feed symbols, the notebook session, server clients.

Embedded simulator, real sockets.  Each wait is for an event, with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.trading.config import AccountConfig

from .conftest import FAST_SIM, make_workspace, started


async def next_message(queue: asyncio.Queue[Message], kind: str, **match: object) -> Message:
    while True:
        message = await asyncio.wait_for(queue.get(), timeout=10)
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


async def priced(ws: Workspace, symbol: str) -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    subscription = ws.engine.subscribe_messages([symbol], listener=queue.put_nowait)
    await ws.subscribe(symbol)
    await next_message(queue, "MARKET_UPDATE")
    subscription.close()


def streaming(ws: Workspace) -> frozenset[str]:
    feed = ws.engine.feed
    assert feed is not None
    return feed.subscribed


async def place(ws: Workspace, **fields: object) -> Message:
    return await ws.request({"action": "place_order", "symbol": "ETHUSDT", **fields})


def waiting_up_to(
    tmp_path: Path, market_wait_ms: int, **options: object
) -> contextlib.AbstractAsyncContextManager[Workspace]:
    """A started workspace whose orders wait at most ``market_wait_ms`` for a price."""
    account = AccountConfig(market_wait_ms=market_wait_ms)
    return started(tmp_path / "j.sqlite", account=account, **options)


async def silence(ws: Workspace) -> None:
    """The exchange sends no market data (connections and replies go on)."""
    assert ws.simulator is not None
    await ws.simulator.stall(60)


async def outage(ws: Workspace) -> asyncio.Queue[Message]:
    """The feed's connection is lost and new ones refused; returns the engine's
    messages from then on (the feed says ``reconnecting`` first)."""
    messages: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(listener=messages.put_nowait)
    assert ws.simulator is not None
    await ws.simulator.refuse_connections(60)
    await ws.simulator.drop_connections()
    await next_message(messages, "STATUS", feed="reconnecting")
    return messages


async def test_a_closed_position_releases_its_symbol_when_nobody_else_needs_it(
    ws: Workspace,
) -> None:
    await priced(ws, "ETHUSDT")
    assert ws.buy("ETHUSDT", "0.01").status == "FILLED"
    await ws.unsubscribe("ETHUSDT")
    assert "ETHUSDT" in streaming(ws)  # the open position still needs prices
    (position,) = ws.engine.account.positions
    ws.close_position(position.id)
    await ws.engine.symbols_settled()
    assert "ETHUSDT" not in streaming(ws)


async def test_a_closed_position_keeps_its_symbol_while_someone_subscribes_it(
    ws: Workspace,
) -> None:
    await priced(ws, "ETHUSDT")
    ws.buy("ETHUSDT", "0.01")
    (position,) = ws.engine.account.positions
    ws.close_position(position.id)
    await ws.engine.symbols_settled()
    assert "ETHUSDT" in streaming(ws)
    await ws.unsubscribe("ETHUSDT")
    assert "ETHUSDT" not in streaming(ws)


async def test_a_cancelled_order_releases_its_symbol_but_another_open_order_keeps_it(
    ws: Workspace,
) -> None:
    await priced(ws, "SOLUSDT")
    price = ws.engine.account.quote("SOLUSDT").last
    assert price is not None
    # prices on the symbol's tick (the exchange's PRICE_FILTER)
    first = ws.limit("SOLUSDT", "BUY", "1", ws.round_price("SOLUSDT", price / 2))
    second = ws.limit("SOLUSDT", "BUY", "1", ws.round_price("SOLUSDT", price / 3))
    await ws.unsubscribe("SOLUSDT")
    ws.cancel(first.id)
    await ws.engine.symbols_settled()
    assert "SOLUSDT" in streaming(ws)
    ws.cancel(second.id)
    await ws.engine.symbols_settled()
    assert "SOLUSDT" not in streaming(ws)


async def test_an_order_placed_without_a_subscription_streams_its_symbol_until_it_ends(
    ws: Workspace,
) -> None:
    await priced(ws, "BTCUSDT")
    price = ws.engine.account.quote("BTCUSDT").last
    assert price is not None
    await ws.unsubscribe("BTCUSDT")
    order = ws.limit("BTCUSDT", "BUY", "0.001", ws.round_price("BTCUSDT", price / 2))
    await ws.engine.symbols_settled()
    assert "BTCUSDT" in streaming(ws)
    ws.cancel(order.id)
    await ws.engine.symbols_settled()
    assert "BTCUSDT" not in streaming(ws)


async def test_stop_closes_the_session_and_releases_what_it_held(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "journal.sqlite")
    await ws.start()
    session = ws.session
    heard: list[Message] = []
    ws.listen(heard.append)
    stream = session.stream()
    first = asyncio.ensure_future(anext(stream))
    reply = await ws.request({"action": "subscribe_ticker", "symbol": "ETHUSDT", "id": 1})
    assert reply["type"] != "ERROR"
    await asyncio.wait_for(first, 10)
    assert session.symbols == {"ETHUSDT"}
    engine = ws.engine
    feed = engine.feed
    assert feed is not None

    await ws.stop()

    assert session.closed
    assert session.symbols == frozenset()
    assert "ETHUSDT" not in engine.symbols
    assert "ETHUSDT" not in feed.subscribed

    async def rest() -> list[Message]:
        return [message async for message in stream]

    await asyncio.wait_for(rest(), 10)  # the stream ends (what was queued, then the end)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_server_clients_are_live_in_metrics_and_status_goes_out_at_once(
    tmp_path: Path,
) -> None:
    from websockets.asyncio.client import connect

    from workspace.engine.config import EngineConfig

    # A STATUS cadence far longer than the test: only the prompt one can arrive.
    ws = make_workspace(tmp_path / "journal.sqlite", engine=EngineConfig(status_interval_s=3600))
    await ws.start()
    try:
        statuses: asyncio.Queue[Message] = asyncio.Queue()
        ws.engine.subscribe_messages(
            listener=lambda m: statuses.put_nowait(m) if m["type"] == "STATUS" else None
        )
        server = await ws.serve(port=0)
        assert ws.metrics["server_clients"] == 0
        client = await connect(f"ws://127.0.0.1:{server.port}/api/ws/realtime")
        status = await next_message(statuses, "STATUS")
        assert status["clients"] == 1
        assert ws.metrics["server_clients"] == 1
        await client.close()
        status = await next_message(statuses, "STATUS")
        assert status["clients"] == 0
        assert ws.metrics["server_clients"] == 0
    finally:
        await ws.stop()


async def test_client_count_changes_within_one_loop_turn_give_one_status_with_the_final_count(
    tmp_path: Path,
) -> None:
    from workspace.engine.config import EngineConfig

    ws = make_workspace(tmp_path / "journal.sqlite", engine=EngineConfig(status_interval_s=3600))
    await ws.start()
    try:
        statuses: asyncio.Queue[Message] = asyncio.Queue()
        ws.engine.subscribe_messages(
            listener=lambda m: statuses.put_nowait(m) if m["type"] == "STATUS" else None
        )
        for count in (1, 2, 3):  # as a server does when three clients connect at once
            ws.engine.server_clients = count
        status = await next_message(statuses, "STATUS")
        assert status["clients"] == 3
        assert statuses.empty()
    finally:
        await ws.stop()


async def test_a_quote_sized_market_order_on_an_unwatched_symbol_waits_for_its_first_price(
    ws: Workspace,
) -> None:
    """Nobody watches ETHUSDT: a MARKET order by its quote quantity (sized against the
    market at once) waits for the symbol's first price instead of being refused
    NO_MARKET_DATA, then fills; the position it opened keeps the symbol streaming."""
    assert "ETHUSDT" not in streaming(ws)
    reply = await place(ws, symbol="ethusdt", side="BUY", type="MARKET", quote_quantity="50", id=7)
    assert reply["id"] == 7
    assert reply["order"]["status"] == "NEW", reply["order"]  # the reply is its first event
    order = ws.order(reply["order"]["id"])  # it executed in the same step
    assert order.status == "FILLED", order.reason
    assert order.quote_quantity == 50
    assert 0 < order.filled_quantity * (order.avg_price or 0) <= 50
    await ws.engine.symbols_settled()
    assert "ETHUSDT" in streaming(ws)  # its position needs prices


async def test_a_quote_sized_sell_that_is_refused_after_its_wait_releases_the_symbol(
    ws: Workspace,
) -> None:
    """The wait follows the symbol only while it lasts: an order refused once it has a
    price (nothing to sell) leaves nothing streaming."""
    reply = await place(ws, side="SELL", type="MARKET", quote_quantity="50")
    assert reply["order"]["status"] == "REJECTED"
    assert reply["order"]["reason_code"] != "NO_MARKET_DATA", reply["order"]["reason"]
    await ws.engine.symbols_settled()
    assert "ETHUSDT" not in streaming(ws)


async def test_a_quote_sized_order_on_an_unlisted_symbol_is_refused_without_waiting(
    ws: Workspace,
) -> None:
    reply = await place(ws, symbol="NOPEUSDT", side="BUY", type="MARKET", quote_quantity="50")
    assert reply["type"] == "ERROR" or reply["order"]["status"] == "REJECTED", reply
    assert "NOPEUSDT" not in streaming(ws)


async def test_a_quote_sized_order_whose_symbol_sends_nothing_is_refused_after_the_wait(
    tmp_path: Path,
) -> None:
    """The wait is bounded by market_wait_ms: on a silent exchange the order is refused
    NO_MARKET_DATA as before, and the symbol it followed for the wait is let go."""
    async with waiting_up_to(tmp_path, 300) as ws:
        await silence(ws)
        reply = await place(ws, side="BUY", type="MARKET", quote_quantity="50")
        assert reply["order"]["status"] == "REJECTED"
        assert reply["order"]["reason_code"] == "NO_MARKET_DATA"
        await ws.engine.symbols_settled()
        assert "ETHUSDT" not in streaming(ws)


async def test_a_quote_sized_order_waiting_when_the_engine_stops_is_answered_and_not_placed(
    tmp_path: Path,
) -> None:
    waiting = asyncio.Event()
    async with waiting_up_to(tmp_path, 60_000) as ws:
        engine = ws.engine
        first_market = engine._first_market
        wait = first_market.wait

        async def noted(symbol: str, ready: Callable[[], bool], timeout_s: float) -> bool:
            waiting.set()
            return await wait(symbol, ready, timeout_s)

        first_market.wait = noted  # type: ignore[method-assign]
        await silence(ws)
        reply = asyncio.ensure_future(place(ws, side="BUY", type="MARKET", quote_quantity="50"))
        await asyncio.wait_for(waiting.wait(), 10)
    answer = await asyncio.wait_for(reply, 10)  # not the 60 s wait
    assert (answer["type"], answer["code"]) == ("ERROR", "ENGINE_UNAVAILABLE")
    assert "nothing was placed" in answer["message"]
    assert engine.account.open_orders == []
    assert engine.seq == 0  # nothing journaled


async def test_an_engine_announcing_its_stop_answers_a_waiting_order_at_once(
    tmp_path: Path,
) -> None:
    """A scale-out engine announces its stop to its accounts before it lets its
    commands finish (``EngineNode.stop``): an order waiting for a first price is
    answered then, placed nowhere, instead of holding the stop up for the wait."""
    waiting = asyncio.Event()
    async with waiting_up_to(tmp_path, 60_000) as ws:
        engine = ws.engine
        wait = engine._first_market.wait

        async def noted(symbol: str, ready: Callable[[], bool], timeout_s: float) -> bool:
            waiting.set()
            return await wait(symbol, ready, timeout_s)

        engine._first_market.wait = noted  # type: ignore[method-assign]
        await silence(ws)
        reply = asyncio.ensure_future(place(ws, side="BUY", type="MARKET", quote_quantity="50"))
        await asyncio.wait_for(waiting.wait(), 10)
        engine.announce_stop()
        answer = await asyncio.wait_for(reply, 10)  # not the 60 s wait
        assert (answer["type"], answer["code"]) == ("ERROR", "ENGINE_UNAVAILABLE")
        assert "nothing was placed" in answer["message"]
        assert engine.account.open_orders == []


async def test_a_limit_on_an_unwatched_symbol_is_judged_against_its_first_price(
    ws: Workspace,
) -> None:
    """Binance judges a limit's price against the market (PERCENT_PRICE_BY_SIDE: a buy
    at most 5x, at least 0.2x the average price).  Nobody watched ETHUSDT: a buy at
    100 USDT (ETH near 3,500) rested unjudged; it now waits for the first price."""
    assert "ETHUSDT" not in streaming(ws)
    far = await place(ws, side="BUY", type="LIMIT", quantity="0.1", price="100")
    assert (far["order"]["status"], far["order"]["reason_code"]) == (
        "REJECTED",
        "PERCENT_PRICE",
    )
    await ws.engine.symbols_settled()
    assert "ETHUSDT" not in streaming(ws)  # the wait let it go: nothing rests
    near = await place(ws, side="BUY", type="LIMIT", quantity="0.1", price="3000")
    assert near["order"]["status"] == "NEW"
    await ws.engine.symbols_settled()
    assert "ETHUSDT" in streaming(ws)  # the resting order needs its prices


async def test_a_market_order_on_an_unwatched_symbol_below_the_minimum_is_rejected(
    ws: Workspace,
) -> None:
    """It waited in the account and, judged at its first price, EXPIRED; Binance
    REJECTS it at once, and now so do we: it is placed once the price is known."""
    reply = await place(ws, side="BUY", type="MARKET", quantity="0.001")  # ~3.5 USDT
    assert (reply["order"]["status"], reply["order"]["reason_code"]) == (
        "REJECTED",
        "MIN_NOTIONAL",
    )


async def test_an_awaited_subscribe_returns_with_a_price_an_order_can_be_sized_at(
    ws: Workspace,
) -> None:
    """``await ws.subscribe(...)`` then ``ws.buy(..., quote_quantity=)`` in the next line
    was REJECTED NO_MARKET_DATA: subscribe returned before the symbol's first price."""
    await ws.subscribe("ETHUSDT")
    order = ws.buy("ETHUSDT", quote_quantity=50)
    assert order.status == "FILLED", order.reason


async def test_an_awaited_subscribe_returns_with_the_symbols_quote(tmp_path: Path) -> None:
    """``await ws.subscribe("SOLUSDT")`` then ``ws.quote("SOLUSDT")["price"]`` failed on
    ``None``: subscribe returned at the symbol's first trade or book ticker, and the
    quote (the symbol's ``MARKET_UPDATE``) comes from its ticker, once a second on
    Binance (here every 0.5 s, trades every 10 ms).  The quickstart polled for it."""
    sim = dataclasses.replace(FAST_SIM, ticker_interval_s=0.5)
    async with started(tmp_path / "journal.sqlite", sim=sim) as ws:
        await ws.subscribe("SOLUSDT", "ETHUSDT")
        for symbol in ("SOLUSDT", "ETHUSDT"):
            quote = ws.quote(symbol)
            assert quote is not None, symbol
            assert quote["price"] > 0, quote


async def test_subscribing_to_a_silent_symbol_returns_after_the_wait_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with waiting_up_to(tmp_path, 300) as ws:
        await silence(ws)
        with caplog.at_level(logging.WARNING, logger="workspace"):
            assert await ws.subscribe("ETHUSDT") == ["ETHUSDT"]
        assert "no price of ETHUSDT yet (within 0.3 s of subscribing)" in caplog.text
        assert "ETHUSDT" in streaming(ws)


async def test_subscribing_to_a_symbol_whose_ticker_is_late_says_only_its_quote_is_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Trades but no ticker yet: the warning names the quote, not a missing price (an
    order placed then is judged at once)."""
    sim = dataclasses.replace(FAST_SIM, ticker_interval_s=60)
    async with waiting_up_to(tmp_path, 300, sim=sim) as ws:
        with caplog.at_level(logging.WARNING, logger="workspace"):
            await ws.subscribe("ETHUSDT")
        assert "no quote of ETHUSDT yet (within 0.3 s of subscribing)" in caplog.text
        assert "no price of" not in caplog.text
        order = ws.buy("ETHUSDT", quote_quantity=50)  # it has a price: sized at once
        assert order.status == "FILLED", order.reason


async def test_while_the_feed_is_down_an_order_is_placed_at_once_and_judged_later(
    tmp_path: Path,
) -> None:
    """No price is on its way while the feed reconnects: the order is not held for
    market_wait_ms (it was); it is placed and judged at the symbol's first price."""
    async with waiting_up_to(tmp_path, 60_000) as ws:
        messages = await outage(ws)
        reply = await asyncio.wait_for(
            place(ws, side="BUY", type="LIMIT", quantity="0.1", price="100"), 10
        )
        assert reply["order"]["status"] == "NEW"
        assert ws.simulator is not None
        await ws.simulator.refuse_connections(0)
        expired = await next_message(messages, "ORDER_UPDATE")
        while expired["order"]["status"] == "NEW":  # its own NEW, published
            expired = await next_message(messages, "ORDER_UPDATE")
        assert (expired["order"]["status"], expired["order"]["reason_code"]) == (
            "EXPIRED",
            "PERCENT_PRICE",
        )


async def test_subscribing_while_the_feed_is_down_returns_at_once_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with waiting_up_to(tmp_path, 60_000) as ws:
        await outage(ws)
        with caplog.at_level(logging.WARNING, logger="workspace"):
            assert await asyncio.wait_for(ws.subscribe("ETHUSDT"), 10) == ["ETHUSDT"]
        assert "no price of ETHUSDT yet (the feed is reconnecting)" in caplog.text
