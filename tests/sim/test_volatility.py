"""The walk's realised volatility is the symbol's: the price moves only on the steps
that trade, each carrying the variance of the steps since the last move."""

from __future__ import annotations

import math
import random

import pytest

from workspace.sim.config import DEFAULT_SYMBOLS
from workspace.sim.market import RandomWalkMarket

START_MS = 1_700_000_000_000


@pytest.mark.parametrize("symbol", ["BTCUSDT", "SOLUSDT"])
def test_realised_volatility_matches_the_spec(symbol: str) -> None:
    (spec,) = [s for s in DEFAULT_SYMBOLS if s.symbol == symbol]
    market = RandomWalkMarket([spec], random.Random(5), START_MS, history_days=1, book_depth=20)
    every_ms = 2_000
    returns: list[float] = []
    last = math.log(float(market.ticker(symbol, START_MS).last_price))  # type: ignore[union-attr]
    edge = START_MS + every_ms
    while len(returns) < 1_000:  # 2 s returns: a standard error of ~2.2 %
        market.step(lambda _stream: False)
        if market.now_ms >= edge:
            edge += every_ms
            price = math.log(float(market.ticker(symbol, market.now_ms).last_price))  # type: ignore[union-attr]
            returns.append(price - last)
            last = price
    mean = sum(returns) / len(returns)
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    annualised = sd * math.sqrt(365 * 86_400_000 / every_ms)
    assert annualised == pytest.approx(spec.volatility, rel=0.08)
