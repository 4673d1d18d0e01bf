"""A fill reaches POSITION_UPDATE and PORTFOLIO_UPDATE at once, not at the next cadence:
with the periodic cadences an hour long, the only way these messages can arrive is the
publication an order event schedules (the dashboard showed a new position beside the
old balance for up to two seconds)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from workspace.engine.config import EngineConfig
from workspace.session import Message

from .conftest import make_workspace

SLOW_CADENCES = EngineConfig(
    positions_interval_s=3600,
    portfolio_interval_s=3600,
    status_interval_s=3600,
    tick_flush_interval_s=0.05,
)


async def first(queue: asyncio.Queue[Message], accept: Callable[[Message], bool]) -> Message:
    async def scan() -> Message:
        while True:
            message = await queue.get()
            seen.add(message["type"])
            if accept(message):
                return message

    seen: set[str] = set()
    try:
        return await asyncio.wait_for(scan(), timeout=10)
    except TimeoutError:
        raise AssertionError(f"no such message in 10 s; saw {sorted(seen)}") from None


async def test_a_fill_publishes_positions_and_portfolio_without_waiting_for_the_cadence(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "journal.sqlite", engine=SLOW_CADENCES)
    await ws.start()
    try:
        await ws.subscribe("BTCUSDT")
        queue: asyncio.Queue[Message] = asyncio.Queue()
        ws.engine.subscribe_messages(None, listener=queue.put_nowait)
        before = ws.engine.portfolio_message()["portfolio"]
        assert before["positions_count"] == 0
        order = ws.buy("BTCUSDT", "0.01")
        await first(
            queue,
            lambda m: (
                m["type"] == "ORDER_UPDATE"
                and m["order"]["id"] == order.id
                and m["order"]["status"] == "FILLED"
            ),
        )

        # positions first, then the portfolio, in the same publication
        positions = await first(
            queue, lambda m: m["type"] == "POSITION_UPDATE" and len(m["positions"]) == 1
        )
        assert positions["positions"][0]["symbol"] == "BTCUSDT"
        portfolio = await first(
            queue,
            lambda m: m["type"] == "PORTFOLIO_UPDATE" and m["portfolio"]["positions_count"] == 1,
        )
        assert portfolio["portfolio"]["available"] < before["available"]
        assert portfolio["portfolio"]["fees_paid"] > 0
    finally:
        await ws.stop()
