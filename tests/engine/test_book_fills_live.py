"""The book fill model live, on the embedded simulator: the engine hands its books to
the account, a market order walks the levels it sees, STATUS says which model fills."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.notebook.workspace import Workspace
from workspace.session import Message

from .conftest import started
from .waiting import next_of, until


@pytest.fixture
async def rich(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with started(tmp_path / "journal.sqlite", balances={"USDT": 10_000_000}) as ws:
        yield ws


async def test_a_market_order_walks_the_live_book_and_status_says_book(rich: Workspace) -> None:
    ws = rich
    queue: asyncio.Queue[Message] = asyncio.Queue()
    ws.engine.subscribe_messages(["BTCUSDT"], listener=queue.put_nowait)
    assert ws.engine.status_message()["fill_model"] == "top_of_book"  # no book yet
    await ws.subscribe("BTCUSDT")
    book = await ws.wait_for_book("BTCUSDT")
    await until(lambda: ws.account.fill_model("BTCUSDT") == "book", what="the account's book")
    assert ws.account.book("BTCUSDT") is book
    # what the book shows now is what the order meets: nothing runs in between
    asks = book.asks(3)
    size = ws.round_qty("BTCUSDT", sum(q for _, q in asks) + Decimal("0.0001"))
    order = ws.buy("BTCUSDT", size)
    assert order.status.value == "FILLED", order.reason
    prices = [e.price for e in order.executions]
    assert prices[:3] == [p for p, _ in asks]
    assert len(prices) >= 4
    assert not any(e.maker for e in order.executions)
    assert order.avg_price is not None
    assert prices[0] < order.avg_price < prices[-1]
    update = await next_of(
        queue,
        "ORDER_UPDATE",
        where=lambda m: m["order"]["id"] == order.id and m["order"]["status"] == "FILLED",
    )
    assert len(update["order"]["fills"]) == len(prices)
    assert ws.status["fill_model"] == "book"
    assert ws.status["fill_models"]["BTCUSDT"] == "book"
    status = ws.engine.status_message()
    assert (status["fill_model"], status["fill_models"]) == ("book", {"BTCUSDT": "book"})


async def test_a_post_only_order_is_judged_against_the_live_book(rich: Workspace) -> None:
    """``ws.limit_maker`` on the simulator's book: at the best ask it would take and is
    refused WOULD_TAKE, in the symbol's precision; a tick below the best ask it rests."""
    ws = rich
    await ws.subscribe("BTCUSDT")
    book = await ws.wait_for_book("BTCUSDT")
    await until(lambda: ws.account.fill_model("BTCUSDT") == "book", what="the account's book")
    ((best_ask, _),) = book.asks(1)
    refused = ws.limit_maker("BTCUSDT", "BUY", "0.001", best_ask)
    assert (refused.status.value, refused.reason_code) == ("REJECTED", "WOULD_TAKE")
    assert f"the best ask is {best_ask:.2f} USDT" in (refused.reason or "")
    ((best_bid, _),) = book.bids(1)
    rests = ws.limit_maker("BTCUSDT", "BUY", "0.001", best_bid)
    assert (rests.status.value, rests.type.value) == ("NEW", "LIMIT_MAKER"), rests.reason


async def test_a_buy_by_its_quote_amount_spends_at_most_that_on_the_live_book(
    rich: Workspace,
) -> None:
    ws = rich
    await ws.subscribe("BTCUSDT")
    await ws.wait_for_book("BTCUSDT")
    await until(lambda: ws.account.fill_model("BTCUSDT") == "book", what="the account's book")
    book = ws.account.book("BTCUSDT")
    assert book is not None
    order = ws.buy("BTCUSDT", quote_quantity="2500.50")
    assert order.status.value == "FILLED", order.reason
    assert order.quote_quantity == Decimal("2500.50")
    value = sum((e.price * e.quantity for e in order.executions), Decimal(0))
    assert value <= Decimal("2500.50")
    # the most the amount buys on the step: one step more, at the last level's price
    # or the next one's (nothing ran in between: the book is the one it walked)
    info = ws.symbol_info("BTCUSDT")
    assert info is not None
    assert info.step_size is not None
    step = info.step_size
    last = order.executions[-1].price
    beyond = min(price for price, _ in book.asks(200) if price > last)
    assert value + step * beyond > Decimal("2500.50")
    assert order.quantity == ws.round_qty("BTCUSDT", order.quantity)
    sold = ws.sell("BTCUSDT", quote_quantity=1000)
    assert sold.status.value == "FILLED", sold.reason
    assert sum((e.price * e.quantity for e in sold.executions), Decimal(0)) <= 1000
