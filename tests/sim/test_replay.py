"""Serving recordings: the JSONL session and real kline CSVs, through the socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from workspace.market.records import Trade
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.klines import read_klines
from workspace.sim.replay import ReplayFileError, load_replay

from .conftest import FIXTURES, TIMEOUT, http_get, request, run_workspace

SESSION = FIXTURES / "replay" / "session.combined.mainnet-2021-08-14.jsonl"
BTC_DAY = FIXTURES / "replay" / "klines" / "BTCUSDT-1m-2020-01-01.csv"


class _Line(msgspec.Struct):
    recv_ts: float
    frame: msgspec.Raw


def recorded_frames(path: Path) -> list[bytes]:
    decoder = msgspec.json.Decoder(_Line)
    return [bytes(decoder.decode(line).frame) for line in path.read_bytes().splitlines() if line]


async def replay_sim(path: Path, speed: float = 0) -> ExchangeSimulator:
    sim = ExchangeSimulator(SimConfig(replay=path, speed=speed, max_control_messages_per_s=1000))
    await sim.start()
    return sim


@pytest.fixture
async def session_sim() -> AsyncIterator[ExchangeSimulator]:
    sim = await replay_sim(SESSION)
    yield sim
    await sim.stop()


@pytest.fixture
def short_btc_csv(tmp_path: Path) -> Path:
    """The first 20 minutes of the real BTC day (a whole day takes seconds to tick)."""
    path = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    path.write_text("".join(BTC_DAY.read_text().splitlines(keepends=True)[:20]))
    return path


async def receive(ws: ClientConnection, count: int) -> list[bytes]:
    frames = []
    for _ in range(count):
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        frames.append(message.encode() if isinstance(message, str) else message)
    return frames


async def test_jsonl_replay_serves_the_recorded_frames_in_order(
    session_sim: ExchangeSimulator,
) -> None:
    recorded = recorded_frames(SESSION)
    streams = sorted({msgspec.json.decode(f)["stream"] for f in recorded})
    async with connect(
        f"{session_sim.stream_url}/stream?streams={'/'.join(streams)}", max_size=None
    ) as ws:
        served = await receive(ws, len(recorded))
    assert served == recorded


async def test_jsonl_replay_filters_by_subscription_and_raw_gets_bare_payloads(
    session_sim: ExchangeSimulator,
) -> None:
    recorded = [msgspec.json.decode(f) for f in recorded_frames(SESSION)]
    expected = [f["data"] for f in recorded if f["stream"] == "ftmusdt@aggTrade"]
    async with connect(f"{session_sim.stream_url}/ws/ftmusdt@aggTrade") as ws:
        served = [msgspec.json.decode(f) for f in await receive(ws, len(expected))]
        still_open = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
    assert served == expected
    assert still_open == {"result": ["ftmusdt@aggTrade"], "id": 1}


async def test_replay_exchange_info_lists_the_recorded_symbols(
    session_sim: ExchangeSimulator,
) -> None:
    body = (await http_get(session_sim, "/api/v3/exchangeInfo")).json()
    by_symbol = {s["symbol"]: s for s in body["symbols"]}
    assert set(by_symbol) == {"FTMUSDT", "SXPBTC", "BADGERBTC", "XMRBTC"}
    ftm = by_symbol["FTMUSDT"]
    assert (ftm["baseAsset"], ftm["quoteAsset"], ftm["status"]) == ("FTM", "USDT", "TRADING")
    unknown = await http_get(session_sim, "/api/v3/exchangeInfo?symbol=BTCUSDT")
    assert unknown.status_code == 400


async def test_kline_replay_trades_end_each_minute_on_its_close(short_btc_csv: Path) -> None:
    candles = read_klines(short_btc_csv)
    sim = await replay_sim(short_btc_csv)
    try:
        last_price: dict[int, Decimal] = {}
        async with connect(f"{sim.stream_url}/ws/btcusdt@aggTrade", max_queue=None) as ws:
            while len(last_price) < len(candles) or last_price.get(candles[-1].open_time) != (
                candles[-1].close
            ):
                trade = msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT), type=Trade)
                minute = next(k for k in candles if k.open_time <= trade.event_time <= k.close_time)
                assert minute.low <= trade.price <= minute.high
                last_price[minute.open_time] = trade.price
    finally:
        await sim.stop()
    assert list(last_price.values()) == [k.close for k in candles]


async def test_kline_replay_event_times_come_from_the_candles(short_btc_csv: Path) -> None:
    candles = read_klines(short_btc_csv)
    sim = await replay_sim(short_btc_csv)
    try:
        async with connect(f"{sim.stream_url}/stream?streams=btcusdt@ticker", max_queue=None) as ws:
            frames = [msgspec.json.decode(f) for f in await receive(ws, 120)]
    finally:
        await sim.stop()
    times = [f["data"]["E"] for f in frames]
    assert times == [candles[0].open_time + 1000 * i for i in range(120)]
    assert {f["stream"] for f in frames} == {"btcusdt@ticker"}


async def test_two_kline_replays_serve_identical_frames(short_btc_csv: Path) -> None:
    runs = []
    for _ in range(2):
        sim = await replay_sim(short_btc_csv)
        try:
            async with connect(
                f"{sim.stream_url}/ws/btcusdt@bookTicker/btcusdt@trade", max_queue=None
            ) as ws:
                runs.append(await receive(ws, 200))
        finally:
            await sim.stop()
    assert runs[0] == runs[1]


async def test_replay_at_real_speed_paces_by_recorded_times(short_btc_csv: Path) -> None:
    from workspace.sim import ManualClock

    clock = ManualClock(1_000_000)
    sim = ExchangeSimulator(SimConfig(replay=short_btc_csv, speed=1.0, clock=clock))
    await sim.start()
    try:
        async with connect(f"{sim.stream_url}/ws/btcusdt@ticker") as ws:
            first = msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
            await clock.advance(2000)
            later = [msgspec.json.decode(f) for f in await receive(ws, 2)]
    finally:
        await sim.stop()
    assert [t["E"] - first["E"] for t in later] == [1000, 2000]


# -- the recording's own klines and trades over REST -----------------------------------


async def test_a_replayed_session_serves_its_own_trades_and_klines(
    session_sim: ExchangeSimulator,
) -> None:
    recorded = [
        msgspec.json.decode(f)["data"] for f in recorded_frames(SESSION) if b"@aggTrade" in f[:60]
    ]
    symbol = recorded[0]["s"]
    mine = [t for t in recorded if t["s"] == symbol]
    trades = (await http_get(session_sim, f"/api/v3/aggTrades?symbol={symbol}&limit=1000")).json()
    assert [t["a"] for t in trades] == [t["a"] for t in mine][-1000:]
    assert [t["p"] for t in trades] == [t["p"] for t in mine][-1000:]
    minutes = (await http_get(session_sim, f"/api/v3/klines?symbol={symbol}&interval=1m")).json()
    assert minutes[0][1] == mine[0]["p"]  # opens on the first recorded trade
    assert minutes[-1][4] == mine[-1]["p"]  # closes on the last
    assert sum(m[8] for m in minutes) == len(mine)
    assert sum(Decimal(m[5]) for m in minutes) == sum(Decimal(t["q"]) for t in mine)
    depth = await http_get(session_sim, f"/api/v3/depth?symbol={symbol}")
    assert depth.json()["code"] == -1112  # a recording has no book to serve


async def test_a_replayed_kline_csv_serves_the_days_candles(short_btc_csv: Path) -> None:
    sim = await replay_sim(short_btc_csv)
    try:
        minutes = (await http_get(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m")).json()
        hour = (await http_get(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1h")).json()
        price = (await http_get(sim, "/api/v3/ticker/price?symbol=BTCUSDT")).json()
    finally:
        await sim.stop()
    rows = read_klines(short_btc_csv)
    assert len(minutes) == len(rows) == 20
    for served, original in zip(minutes, rows, strict=True):
        assert served[0] == original.open_time
        assert [Decimal(v) for v in served[1:6]] == [
            original.open,
            original.high,
            original.low,
            original.close,
            original.volume,
        ]
        assert served[8] == original.trades
    assert len(hour) == 1
    assert Decimal(hour[0][2]) == max(r.high for r in rows)
    assert Decimal(price["price"]) == rows[-1].close


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "no frame of a market stream in it"),
        (b"\n\n", "no frame of a market stream in it"),
        (b"garbage\n", "1 bad line skipped, the first at line 1: JSON is malformed"),
        (
            b'\n{"a": 1}\n',
            "skipped, the first at line 2: Object missing required field `recv_ts`",
        ),
        # a reply to SUBSCRIBE and nothing else: no stream's frame
        (b'{"recv_ts": 1.0, "frame": {"result": null, "id": 1}}\n', "no frame of a market"),
    ],
)
def test_a_file_with_nothing_to_replay_is_refused_in_words(
    tmp_path: Path, content: bytes, said: str
) -> None:
    """An empty recording was served as a market that never ticks, until stopped; a
    malformed line ended the command with a traceback.  A file of nothing but bad
    lines says how many there were and what the first one is."""
    path = tmp_path / "session.jsonl"
    path.write_bytes(content)
    with pytest.raises(ReplayFileError, match=said):
        load_replay(path)


def test_a_folder_without_kline_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no klines here")
    with pytest.raises(ReplayFileError, match="no kline file"):
        load_replay(tmp_path)


async def test_the_sim_command_says_why_a_replay_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, _, stderr = await run_workspace("sim", "--port", "0", "--replay", str(path))
    assert code == 1
    assert b"no frame of a market stream in it" in stderr
    assert b"Traceback" not in stderr


def test_a_recording_cut_short_by_a_killed_recorder_replays_what_it_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``record`` killed with -9 leaves its last line cut mid-frame.  ``sim --replay``
    refused the whole file for it ("not a recorded frame: Input data was truncated")
    while ``Workspace(feed="replay:...")`` replayed it; both now skip a bad line with a
    warning naming it, and serve every good frame around it."""
    lines = SESSION.read_bytes().splitlines(keepends=True)
    whole = load_replay(SESSION)
    # a price that is no number in the middle, and the last line cut short
    bad_price = b'{"recv_ts": 1.5, "frame": {"e": "trade", "s": "BTCUSDT", "p": "abc", "q": "1"}}\n'
    damaged = tmp_path / "killed.jsonl"
    damaged.write_bytes(b"".join(lines[:3]) + bad_price + b"".join(lines[3:]) + lines[0][:-40])
    with caplog.at_level(logging.WARNING, logger="workspace.sim.replay"):
        replay = load_replay(damaged)
    assert [e.payload for e in replay.events()] == [e.payload for e in whole.events()]
    assert [s.symbol for s in replay.specs()] == [s.symbol for s in whole.specs()]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert warned[0].endswith(
        ":4: skipped a line that is not a recorded frame: a price or quantity in it is not a number"
    )
    assert f":{len(lines) + 2}: skipped a line" in warned[1]
    assert "truncated" in warned[1]
