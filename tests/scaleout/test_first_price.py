"""An order on a symbol nobody watches, placed through a gateway, is judged as the
one-process server judges it (docs/trading.md, "A symbol's first price"): placed on
the symbol's first price, not before it.  A real redis-server, a real engine process
and a real gateway process.  (Two shards, an account on the one that reads the
market from the bus: ``test_shards``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scaleout.first_price import placed_on_first_prices
from tests.scaleout.peer import Peer
from tests.scaleout.processes import Process, engine, gateway
from workspace.bus.local_redis import LocalRedis

pytestmark = pytest.mark.slow


@pytest.fixture
async def trader(redis_server: LocalRedis, tmp_path: Path) -> AsyncIterator[Peer]:
    processes: list[Process] = []
    try:
        processes.append(await engine(redis_server.url, tmp_path / "journal.sqlite").start())
        processes.append(await gateway(redis_server.url).start())
        peer = await Peer.open(processes[-1].url)
        await peer.snapshot()
        yield peer
    finally:
        for process in processes:
            await process.kill()


async def test_orders_on_an_unwatched_symbol_are_placed_on_its_first_price(
    trader: Peer,
) -> None:
    await placed_on_first_prices(trader)
