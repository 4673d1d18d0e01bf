"""Klines: a seeded history joined to the live trades, every interval an exact aggregate,
REST and stream agreeing to the last unit."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

from workspace.sim import ExchangeSimulator
from workspace.sim.candle import DAY_MS, INTERVALS, bucket_start, next_bucket

from .conftest import FIXTURES, START_MS, advance_and_drain, data_of, http_get

FIELDS = ("t", "o", "h", "l", "c", "v", "T", "q", "n", "V", "Q", "B")


async def klines(sim: ExchangeSimulator, query: str, path: str = "klines") -> list[list[Any]]:
    response = await http_get(sim, f"/api/v3/{path}?{query}")
    assert response.status_code == 200, response.text
    rows = response.json()
    assert isinstance(rows, list)
    return rows


def row(values: list[Any]) -> dict[str, Any]:
    return dict(zip(FIELDS, values, strict=True))


def aggregate(rows: list[list[Any]]) -> dict[str, Any]:
    """Merge consecutive kline rows the way an exchange would (traded rows only)."""
    parts = [row(r) for r in rows]
    traded = [p for p in parts if p["n"] > 0] or parts[:1]
    return {
        "o": traded[0]["o"],
        "h": max(traded, key=lambda p: Decimal(p["h"]))["h"],
        "l": min(traded, key=lambda p: Decimal(p["l"]))["l"],
        "c": traded[-1]["c"],
        "v": f"{sum(Decimal(p['v']) for p in parts):.8f}",
        "q": f"{sum(Decimal(p['q']) for p in parts):.8f}",
        "n": sum(p["n"] for p in parts),
        "V": f"{sum(Decimal(p['V']) for p in parts):.8f}",
        "Q": f"{sum(Decimal(p['Q']) for p in parts):.8f}",
    }


def ohlcv(values: list[Any]) -> dict[str, Any]:
    r = row(values)
    return {k: r[k] for k in ("o", "h", "l", "c", "v", "q", "n", "V", "Q")}


@pytest.mark.parametrize("interval", INTERVALS)
async def test_every_interval_has_history_reaching_30_days_back(
    sim: ExchangeSimulator, interval: str
) -> None:
    start = START_MS - 30 * DAY_MS
    rows = await klines(sim, f"symbol=BTCUSDT&interval={interval}&startTime={start}&limit=1000")
    latest = await klines(sim, f"symbol=BTCUSDT&interval={interval}")
    first = bucket_start(interval, start)
    expected_first = first if first == start else next_bucket(interval, first)
    assert rows[0][0] == expected_first  # open times from startTime on
    assert 1 <= len(latest) <= 500
    assert latest[-1][0] == bucket_start(interval, START_MS)  # the open candle is last
    for values in rows[:50] + latest[-50:]:
        r = row(values)
        assert r["T"] == next_bucket(interval, r["t"]) - 1
        low, high = Decimal(r["l"]), Decimal(r["h"])
        assert low <= Decimal(r["o"]) <= high
        assert low <= Decimal(r["c"]) <= high
        assert Decimal(r["V"]) <= Decimal(r["v"])
        assert r["B"] == "0"
    opens = [r[0] for r in rows]
    assert opens == sorted(set(opens))


@pytest.mark.parametrize(
    ("coarse", "fine", "count"),
    [("1h", "1m", 60), ("1d", "1h", 24), ("4h", "15m", 16), ("1m", "1s", 60), ("1w", "1d", 7)],
)
async def test_each_interval_is_the_exact_aggregate_of_a_finer_one(
    sim: ExchangeSimulator, coarse: str, fine: str, count: int
) -> None:
    when = START_MS - 20 * DAY_MS
    opened = bucket_start(coarse, when)
    big = await klines(sim, f"symbol=ETHUSDT&interval={coarse}&startTime={opened}&limit=1")
    small = await klines(sim, f"symbol=ETHUSDT&interval={fine}&startTime={opened}&limit={count}")
    assert big[0][0] == opened
    assert small[0][0] == opened
    assert len(small) == count
    assert ohlcv(big[0]) == aggregate(small)


async def test_months_and_days_agree(sim: ExchangeSimulator) -> None:
    month = bucket_start("1M", START_MS - 40 * DAY_MS)
    days_in = (next_bucket("1M", month) - month) // DAY_MS
    big = await klines(sim, f"symbol=BTCUSDT&interval=1M&startTime={month}&limit=1")
    days = await klines(sim, f"symbol=BTCUSDT&interval=1d&startTime={month}&limit={days_in}")
    assert ohlcv(big[0]) == aggregate(days)


async def test_history_joins_the_live_trades_without_a_gap(sim: ExchangeSimulator) -> None:
    live_minute = START_MS - START_MS % 60_000  # the minute the live walk starts in
    async with connect(f"{sim.stream_url}/ws/btcusdt@aggTrade") as ws:
        trades = await advance_and_drain(sim, ws, 3000)
    before = await klines(sim, f"symbol=BTCUSDT&interval=1m&endTime={live_minute - 1}&limit=1")
    live = await klines(sim, f"symbol=BTCUSDT&interval=1m&startTime={live_minute}&limit=1")
    history, now = row(before[0]), row(live[0])
    assert history["t"] == live_minute - 60_000
    assert now["t"] == live_minute
    ids = [t["a"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    # The live minute holds exactly the live trades; the history ends just before them.
    assert now["n"] == len(trades)
    assert (now["o"], now["c"]) == (trades[0]["p"], trades[-1]["p"])
    seconds = await klines(sim, f"symbol=BTCUSDT&interval=1s&startTime={live_minute}&limit=60")
    assert all(row(s)["n"] == 0 for s in seconds if s[0] < START_MS)
    assert row(seconds[0])["o"] == history["c"]  # idle seconds sit at the last price


async def test_live_kline_is_exactly_the_trades_of_its_period(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m") as ws:
        messages = await advance_and_drain(sim, ws, 61_000)
    trades = [m["data"] for m in messages if m["stream"] == "btcusdt@aggTrade"]
    closed = [
        m["data"]["k"] for m in messages if m["stream"].endswith("kline_1m") and m["data"]["k"]["x"]
    ]
    assert len(closed) == 1
    k = closed[0]
    inside = [t for t in trades if k["t"] <= t["T"] <= k["T"]]
    assert k["o"] == inside[0]["p"]
    assert k["c"] == inside[-1]["p"]
    assert k["h"] == max(inside, key=lambda t: Decimal(t["p"]))["p"]
    assert k["l"] == min(inside, key=lambda t: Decimal(t["p"]))["p"]
    assert Decimal(k["v"]) == sum(Decimal(t["q"]) for t in inside)
    assert k["n"] == len(inside)
    assert (k["f"], k["L"]) == (inside[0]["f"], inside[-1]["l"])
    taker = sum(Decimal(t["q"]) for t in inside if not t["m"])
    assert Decimal(k["V"]) == taker


async def test_stream_kline_and_rest_kline_agree(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/ethusdt@kline_1h") as ws:
        events = await advance_and_drain(sim, ws, 4000)
        rest = await klines(sim, "symbol=ETHUSDT&interval=1h&limit=1")
    assert [e["E"] for e in events] == [START_MS + 2000, START_MS + 4000]  # on even seconds
    k = events[-1]["k"]
    assert k["x"] is False
    r = row(rest[0])
    assert (k["t"], k["T"]) == (r["t"], r["T"])
    assert {key: k[key] for key in ("o", "h", "l", "c", "v", "q", "n", "V", "Q")} == ohlcv(rest[0])
    assert set(events[-1]) == set(
        data_of(json.loads((FIXTURES / "kline_1m.raw.testnet-2025-01.json").read_text()))
    )
    assert set(k) == set(
        json.loads((FIXTURES / "kline_1m.raw.testnet-2025-01.json").read_text())["k"]
    )


async def test_one_second_klines_come_closed_every_second(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@kline_1s") as ws:
        events = await advance_and_drain(sim, ws, 5000)
    assert [e["k"]["t"] for e in events] == [START_MS + 1000 * i for i in range(5)]
    assert all(e["k"]["x"] for e in events)
    for event in events:
        k = event["k"]
        assert k["T"] == k["t"] + 999
        if k["n"] == 0:  # an idle second: flat, ids -1, as Binance sends it
            assert (k["f"], k["L"]) == (-1, -1)
            assert k["o"] == k["h"] == k["l"] == k["c"]


async def test_a_closed_candle_is_sent_at_the_boundary_with_x_true(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@kline_1m") as ws:
        events = await advance_and_drain(sim, ws, 60_000)
    boundary = START_MS - START_MS % 60_000 + 60_000
    closed = [e for e in events if e["k"]["x"]]
    assert len(closed) == 1
    assert closed[0]["E"] == boundary
    k = closed[0]["k"]
    assert (k["t"], k["T"]) == (boundary - 60_000, boundary - 1)
    rest = await klines(sim, f"symbol=BTCUSDT&interval=1m&startTime={k['t']}&limit=1")
    assert {key: k[key] for key in ("o", "h", "l", "c", "v", "q", "n", "V", "Q")} == ohlcv(rest[0])


async def test_time_zone_shifts_the_buckets_and_the_08_stream_uses_it(
    sim: ExchangeSimulator,
) -> None:
    utc = await klines(sim, "symbol=BTCUSDT&interval=1d&limit=3")
    plus8 = await klines(sim, "symbol=BTCUSDT&interval=1d&limit=3&timeZone=8")
    minus = await klines(sim, "symbol=BTCUSDT&interval=1h&limit=2&timeZone=-1:00")
    quarter = await klines(sim, "symbol=BTCUSDT&interval=1d&limit=2&timeZone=05:45")
    assert all(r[0] % DAY_MS == 0 for r in utc)
    assert all((r[0] + 8 * 3_600_000) % DAY_MS == 0 for r in plus8)
    assert all(r[0] % 3_600_000 == 0 for r in minus)
    assert all((r[0] + 345 * 60_000) % DAY_MS == 0 for r in quarter)
    async with connect(f"{sim.stream_url}/ws/btcusdt@kline_1d@+08:00") as ws:
        events = await advance_and_drain(sim, ws, 2000)
    assert events[-1]["k"]["t"] == plus8[-1][0]
    assert ohlcv(plus8[-1])["o"] == events[-1]["k"]["o"]


async def test_start_and_end_time_select_by_open_time(sim: ExchangeSimulator) -> None:
    hour = bucket_start("1h", START_MS)
    start = hour - 10 * 3_600_000 + 1  # mid-hour: the next hour is the first
    rows = await klines(sim, f"symbol=BTCUSDT&interval=1h&startTime={start}&limit=3")
    assert [r[0] for r in rows] == [hour - h * 3_600_000 for h in (9, 8, 7)]
    end = hour - 5 * 3_600_000
    upto = await klines(sim, f"symbol=BTCUSDT&interval=1h&endTime={end}&limit=2")
    assert [r[0] for r in upto] == [end - 3_600_000, end]
    both = await klines(
        sim, f"symbol=BTCUSDT&interval=1h&startTime={start}&endTime={end}&limit=1000"
    )
    assert [r[0] for r in both] == [hour - h * 3_600_000 for h in range(9, 4, -1)]
    micro = await klines(sim, f"symbol=BTCUSDT&interval=1h&startTime={start * 1000}&limit=3")
    assert micro == rows  # microsecond timestamps are accepted too
    clamped = await klines(sim, "symbol=BTCUSDT&interval=1m&limit=5000")
    assert len(clamped) == 1000


async def test_ui_klines_serve_the_same_candles(sim: ExchangeSimulator) -> None:
    query = "symbol=ETHUSDT&interval=15m&limit=20"
    assert await klines(sim, query, "uiKlines") == await klines(sim, query)


async def test_history_is_reproducible_and_depends_on_the_seed() -> None:
    from .conftest import manual_config

    async def first_rows(seed: int) -> list[list[Any]]:
        simulator = ExchangeSimulator(manual_config(seed=seed))
        await simulator.start()
        try:
            return await klines(simulator, "symbol=BTCUSDT&interval=1d&limit=30")
        finally:
            await simulator.stop()

    assert await first_rows(5) == await first_rows(5)
    assert await first_rows(5) != await first_rows(6)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("interval=1m", -1102),
        ("symbol=BTCUSDT", -1102),
        ("symbol=BTCUSDT&interval=2m", -1120),
        ("symbol=BTCUSDT&interval=1m&timeZone=15", -1130),
        ("symbol=BTCUSDT&interval=1m&timeZone=abc", -1130),
        ("symbol=BTCUSDT&interval=1m&limit=0", -1130),
        ("symbol=BTCUSDT&interval=1m&startTime=yesterday", -1100),
        ("symbol=NOPEUSDT&interval=1m", -1121),
    ],
)
async def test_kline_errors_are_binances(sim: ExchangeSimulator, query: str, code: int) -> None:
    response = await http_get(sim, f"/api/v3/klines?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code
