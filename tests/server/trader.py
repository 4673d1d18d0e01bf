"""Order events on demand: a background task that places resting limit orders and
cancels them, so a test has live events while it resumes (shared by the server and
client tests: ``from tests.server.trader import trading``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

from workspace.errors import WorkspaceError
from workspace.protocol.engine_api import EngineApi
from workspace.trading.requests import OrderRequest, OrderType, Side


async def _trade(engine: EngineApi, pause_s: float) -> None:
    await engine.acquire_symbol("BTCUSDT")
    prices = engine.subscribe_messages(["BTCUSDT"])
    while (latest := engine.market_update("BTCUSDT")) is None:
        await prices.get()  # until the first price
    prices.close()
    price = (Decimal(str(latest["price"])) * Decimal("0.9")).quantize(Decimal("0.01"))
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.0002"),
        price=price,
    )
    while True:
        placed = engine.place_order(request)
        if placed["order"]["status"] == "NEW":
            with contextlib.suppress(WorkspaceError):
                engine.cancel_order(placed["order"]["id"])
        await asyncio.sleep(pause_s)  # the load's pace


@contextlib.asynccontextmanager
async def trading(engine: EngineApi, pause_s: float = 0.004) -> AsyncIterator[None]:
    """Two order events (NEW, CANCELED) every ``pause_s`` while the block runs."""
    task = asyncio.create_task(_trade(engine, pause_s), name="test-trader")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
