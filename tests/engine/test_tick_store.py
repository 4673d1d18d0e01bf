"""The tick store: bounded, batched, serving frames and recorded market updates."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from workspace.engine.tick_store import TickStore
from workspace.engine.ticks import Tick


def tick(n: int, symbol: str = "BTCUSDT") -> Tick:
    return Tick(symbol=symbol, price=Decimal(100 + n), timestamp=1000 + n, source="trade")


def market(n: int) -> dict[str, object]:
    return {"type": "MARKET_UPDATE", "symbol": "BTCUSDT", "price": 100.0 + n, "timestamp": 1000 + n}


def test_ticks_are_written_in_batches_on_flush(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks.sqlite")
    for n in range(5):
        store.add(tick(n))
    assert store.pending == 5
    assert store.flush() == 5
    assert store.pending == 0
    assert store.count("btcusdt") == 5
    store.close()


def test_each_symbol_keeps_only_its_newest_rows(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks.sqlite", per_symbol=100)
    for n in range(500):
        store.add(tick(n))
        store.add(tick(n, "ETHUSDT"))
        if n % 50 == 0:
            store.flush()
    store.flush()
    assert store.count("BTCUSDT") <= 110  # trimmed with 10 % slack
    frame = store.frame("BTCUSDT")
    assert frame["price"].iloc[-1] == 599.0
    assert list(frame["timestamp"]) == sorted(frame["timestamp"])
    store.close()


def test_frame_limit_returns_the_most_recent_ticks_oldest_first() -> None:
    store = TickStore()
    for n in range(10):
        store.add(tick(n))
    frame = store.frame("BTCUSDT", limit=3)
    assert list(frame["price"]) == [107.0, 108.0, 109.0]
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    store.close()


def test_market_updates_page_through_a_time_range() -> None:
    store = TickStore()
    for n in range(10):
        store.add(tick(n), market(n))
        store.add(tick(n))  # trades have no MARKET_UPDATE and are not replayed
    store.flush()
    first = store.market_updates("btcusdt", 1002, 1008, limit=3)
    assert [m["timestamp"] for _, m in first] == [1002, 1003, 1004]
    rest = store.market_updates("BTCUSDT", 1002, 1008, after_id=first[-1][0])
    assert [m["timestamp"] for _, m in rest] == [1005, 1006, 1007, 1008]
    store.close()


def test_ticks_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ticks.sqlite"
    store = TickStore(path)
    store.add(tick(1))
    store.close()
    again = TickStore(path)
    assert again.count("BTCUSDT") == 1
    again.close()


def test_flush_some_writes_at_most_max_rows_per_step_until_nothing_is_left(
    tmp_path: Path,
) -> None:
    store = TickStore(tmp_path / "ticks.sqlite")
    for n in range(250):
        store.add(tick(n))
    assert store.flush_some(max_rows=100) is True
    assert store.pending == 150
    assert store.flush_some(max_rows=100) is True
    assert store.flush_some(max_rows=100) is False
    assert store.pending == 0
    assert store.count("BTCUSDT") == 250
    store.close()


def test_flush_some_trims_an_over_full_symbol_in_steps_keeping_its_newest_rows(
    tmp_path: Path,
) -> None:
    store = TickStore(tmp_path / "ticks.sqlite", per_symbol=100)
    for n in range(100):
        store.add(tick(n))
        store.add(tick(n, "ETHUSDT"))
    store.flush()
    for n in range(100, 150):  # 150 BTCUSDT rows: over the bound of 110
        store.add(tick(n))
    steps = 0
    while store.flush_some(max_rows=20):
        steps += 1
    assert steps >= 1 + 50 // 20  # the write, then the trim in 20-row steps
    assert store.count("BTCUSDT") == 100
    assert store.count("ETHUSDT") == 100
    frame = store.frame("BTCUSDT")
    assert frame["price"].iloc[0] == 150.0  # the 50 oldest went
    assert frame["price"].iloc[-1] == 249.0
    store.close()
