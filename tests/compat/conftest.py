"""Real Binance client libraries against the simulator, pointed at it by URL only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.tls import self_signed

TIMEOUT = 20.0
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def fast_config(**overrides: Any) -> SimConfig:
    """Wall clock, frequent events: libraries run their own loops and timers."""
    settings: dict[str, Any] = {
        "symbols": SYMBOLS,
        "seed": 21,
        "ticker_interval_s": 0.2,
        "trade_interval_s": 0.02,
        "book_interval_s": 0.05,
        "max_control_messages_per_s": 50,
    }
    settings.update(overrides)
    return SimConfig(**settings)


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    simulator = ExchangeSimulator(fast_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def tls_sim(tmp_path: Path) -> AsyncIterator[tuple[ExchangeSimulator, Path]]:
    """The simulator on wss:// and https:// with a throwaway certificate."""
    cert, key = self_signed(tmp_path / "tls")
    simulator = ExchangeSimulator(fast_config(tls_cert=cert, tls_key=key))
    await simulator.start()
    yield simulator, cert
    await simulator.stop()


def assert_book_sane(bids: list[Any], asks: list[Any], tick: Decimal) -> None:
    """Sorted, uncrossed, on the tick grid, positive sizes."""
    bid_prices = [Decimal(str(b[0])) for b in bids]
    ask_prices = [Decimal(str(a[0])) for a in asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert bid_prices[0] < ask_prices[0]
    assert all(p % tick == 0 for p in bid_prices + ask_prices)
    assert all(Decimal(str(level[1])) > 0 for level in [*bids, *asks])
