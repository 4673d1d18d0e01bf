"""Candles from the exchange, live: backfilled from REST on first use, kept current by
the kline stream, answered as CANDLES, checked, and let go when nobody asks."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from workspace.errors import InvalidParams, InvalidSymbol
from workspace.market.records import Kline
from workspace.notebook.workspace import Workspace

from .conftest import FAST_ENGINE, make_workspace
from .waiting import until


async def test_first_use_backfills_the_history_and_the_stream_keeps_it_exact(
    ws: Workspace,
) -> None:
    frame = await asyncio.wait_for(ws.candles("BTCUSDT", "1s", 1000), 10)
    assert len(frame) == 1000
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert list(frame.columns) == [
        "open", "high", "low", "close", "volume", "quote_volume", "trades", "closed",
    ]  # fmt: skip
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert frame["closed"].iloc[:-1].all()
    assert ws.simulator is not None
    assert ws.simulator.subscribers("btcusdt@kline_1s") == 1
    backfilled = int(frame.index[-1].timestamp() * 1000)

    # candles that closed after the backfill came from the stream: the exchange's own
    # history (REST) must say exactly the same of them
    newer: list[Kline] = []

    async def closed_after_backfill() -> None:
        while not newer:
            rows = await ws.engine.candles("BTCUSDT", "1s", 10)
            newer.extend(k for k in rows if k.open_time > backfilled and k.closed)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(closed_after_backfill(), 10)
    feed = ws.engine.feed
    assert feed is not None
    for kline in newer:
        assert kline.event_time is not None  # from the stream, not from REST
        (rest,) = await feed.klines(
            "BTCUSDT", "1s", limit=1, start_ms=kline.open_time, end_ms=kline.open_time
        )
        assert rest.open_time == kline.open_time
        assert (rest.open_price, rest.high_price, rest.low_price, rest.close_price) == (
            kline.open_price,
            kline.high_price,
            kline.low_price,
            kline.close_price,
        )
        assert (rest.volume, rest.trade_count) == (kline.volume, kline.trade_count)
    exact = await ws.candles("BTCUSDT", "1s", 3, exact=True)
    assert isinstance(exact["close"].iloc[-1], Decimal)


async def test_candles_message_is_protocol_v2_candles_oldest_first(ws: Workspace) -> None:
    message = await ws.engine.candles_message("btcusdt", "1m", 500)
    assert message["type"] == "CANDLES"
    assert (message["symbol"], message["interval"]) == ("BTCUSDT", "1m")
    assert message["source"] == "exchange"
    rows = message["candles"]
    assert len(rows) == 500
    times = [row[0] for row in rows]
    assert times == sorted(times)
    assert len(set(times)) == 500
    assert all(t2 - t1 == 60_000 for t1, t2 in itertools.pairwise(times))
    for open_time, o, h, low, c, v in rows:
        assert isinstance(open_time, int)
        assert low <= min(o, c) <= max(o, c) <= h
        assert v >= 0
    assert message["gaps"] == []
    one = await ws.engine.candles_message("BTCUSDT", "1m", 2)
    assert one["candles"][0][0] in times


async def test_bad_requests_are_refused_and_keep_nothing(ws: Workspace) -> None:
    for interval in ("2m", "1H", "", None):
        with pytest.raises(InvalidParams, match="interval"):
            await ws.candles("BTCUSDT", interval)  # type: ignore[arg-type]
    for limit in (0, 1001, -5, True, 2.5, "10"):
        with pytest.raises(InvalidParams, match="limit"):
            await ws.candles("BTCUSDT", "1m", limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidSymbol):
        await ws.candles("NOPEUSDT", "1m")
    with pytest.raises(InvalidSymbol):
        await ws.candles("btc/usdt", "1m")
    keeper = ws.engine.live_candles
    assert keeper is not None
    await until(lambda: not keeper.keys, what="the failed series dropped")


async def test_a_series_nobody_asks_for_is_dropped_and_its_stream_unsubscribed(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "j.sqlite", engine=replace(FAST_ENGINE, candle_idle_s=0.4))
    await ws.start()
    try:
        simulator = ws.simulator
        assert simulator is not None
        await ws.candles("ETHUSDT", "5m", 10)
        assert simulator.subscribers("ethusdt@kline_5m") == 1
        await asyncio.wait_for(simulator.wait_for_subscribers("ethusdt@kline_5m", 0), 10)
        keeper = ws.engine.live_candles
        assert keeper is not None
        assert keeper.keys == []
        again = await ws.candles("ETHUSDT", "5m", 10)  # backfilled anew
        assert len(again) == 10
        assert keeper.backfills == 2
    finally:
        await ws.stop()
