"""Replay mode: the same strategy code over recorded data, fast and deterministic."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.engine.ticks import Tick
from workspace.errors import InvalidParams, InvalidSymbol
from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.trading.orders import Fill

FIXTURES = Path(__file__).parents[1] / "fixtures" / "binance" / "replay"
SESSION = FIXTURES / "session.combined.mainnet-2021-08-14.jsonl"
KLINES = FIXTURES / "klines" / "BTCUSDT-1m-2020-01-01.csv"


def short_klines(tmp_path: Path, rows: int = 45) -> Path:
    """The first ``rows`` minutes of a day of klines (the name carries the symbol)."""
    path = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    path.write_text("".join(KLINES.read_text().splitlines(keepends=True)[:rows]))
    return path


def attach_strategy(ws: Workspace, fills: list[Fill]) -> None:
    """A small momentum strategy using every order kind the replay must reproduce."""
    last: dict[str, Decimal] = {}
    count: dict[str, int] = {}

    @ws.on_tick
    async def momentum(tick: Tick) -> None:
        await asyncio.sleep(0)  # an async strategy, awaited in order
        n = count[tick.symbol] = count.get(tick.symbol, 0) + 1
        previous = last.get(tick.symbol)
        last[tick.symbol] = tick.price
        if previous is None or n % 60:
            return
        if tick.price > previous:
            ws.buy(tick.symbol, "0.01")
            ws.trailing_stop(tick.symbol, "SELL", "0.01", trail_percent="0.5")
        else:
            price = ws.round_price(tick.symbol, tick.price * Decimal("0.999"))  # on the tick
            ws.limit(tick.symbol, "BUY", "0.01", price)

    ws.on_fill(fills.append)


def journal_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


async def run_once(feed: str, db: Path) -> tuple[list[str], list[Fill], object]:
    fills: list[Fill] = []
    ws = Workspace(feed=feed, db=db)
    attach_strategy(ws, fills)
    await ws.start()
    try:
        result = await ws.run()
    finally:
        await ws.stop()
    return journal_dump(db), fills, result


async def test_klines_replay_twice_gives_identical_fills_and_journal(tmp_path: Path) -> None:
    data = short_klines(tmp_path)
    dump_a, fills_a, result = await run_once(f"replay:{data}", tmp_path / "a.sqlite")
    dump_b, fills_b, _ = await run_once(f"replay:{data}", tmp_path / "b.sqlite")
    assert fills_a
    assert fills_a == fills_b
    assert dump_a == dump_b
    assert (tmp_path / "a.sqlite").read_bytes() == (tmp_path / "b.sqlite").read_bytes()
    assert result.records > 0  # type: ignore[attr-defined]


async def test_recorded_session_replay_is_deterministic(tmp_path: Path) -> None:
    dump_a, fills_a, result = await run_once(f"replay:{SESSION}", tmp_path / "a.sqlite")
    dump_b, fills_b, _ = await run_once(f"replay:{SESSION}", tmp_path / "b.sqlite")
    assert dump_a == dump_b
    assert fills_a == fills_b
    assert result.ticks == 28  # type: ignore[attr-defined]  # the session's aggTrades


async def test_replay_time_comes_from_the_data(tmp_path: Path) -> None:
    data = short_klines(tmp_path, rows=3)
    ws = Workspace(feed=f"replay:{data}", db=tmp_path / "j.sqlite")
    stamps: list[int] = []
    ws.on_order(lambda order: stamps.append(order.created_at))

    @ws.on_tick
    def once(tick: Tick) -> None:
        if not stamps:
            ws.buy("BTCUSDT", "0.001")

    await ws.start()
    try:
        result = await ws.run()
    finally:
        await ws.stop()
    assert result is not None
    assert result.first_ms == 1577836800000  # 2020-01-01, the klines' own time
    assert stamps
    assert 1577836800000 <= stamps[0] <= 1577836800000 + 3 * 60_000


async def test_replay_publishes_positions_and_portfolio_on_data_time(tmp_path: Path) -> None:
    ws = Workspace(feed=f"replay:{short_klines(tmp_path, rows=2)}", db=tmp_path / "j.sqlite")
    await ws.start()
    try:
        seen: list[Message] = []
        sub = ws.engine.subscribe_messages()
        await ws.run()
        while sub.pending:
            seen.append(sub.get_nowait())
    finally:
        await ws.stop()
    kinds = {m["type"] for m in seen}
    assert {"POSITION_UPDATE", "PORTFOLIO_UPDATE", "MARKET_UPDATE"} <= kinds


async def test_a_replay_runs_once(tmp_path: Path) -> None:
    ws = Workspace(feed=f"replay:{short_klines(tmp_path, rows=1)}")
    await ws.start()
    try:
        await ws.run()
        with pytest.raises(RuntimeError, match="already ran"):
            await ws.run()
    finally:
        await ws.stop()


async def test_replay_symbols_are_the_recorded_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = Workspace(feed=f"replay:{short_klines(tmp_path, rows=1)}")
    await ws.start()
    try:
        with caplog.at_level(logging.WARNING, logger="workspace"):
            assert await ws.subscribe("btcusdt") == ["BTCUSDT"]
        # its prices come when it runs: subscribing waits for none (it waited 5 s)
        assert "no price of" not in caplog.text
        with pytest.raises(InvalidSymbol, match="not in the replayed data"):
            ws.subscribe("ETHUSDT")
    finally:
        await ws.stop()


async def test_damaged_lines_in_a_recording_are_skipped_and_counted(tmp_path: Path) -> None:
    lines = SESSION.read_text().splitlines(keepends=True)[:50]
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("".join([*lines[:10], "{not json\n", '{"frame": 42}\n', *lines[10:]]))
    ws = Workspace(feed=f"replay:{damaged}")
    await ws.start()
    try:
        result = await ws.run()
    finally:
        await ws.stop()
    assert result is not None
    assert result.skipped_lines == 2


async def test_a_file_that_is_not_a_recording_says_so(tmp_path: Path) -> None:
    """Every line is skipped: the replay is refused at start, not served as an empty
    market (whose symbols' refusals said "(it has )", and later "(it has no symbol)")."""
    log = tmp_path / "server.log"
    log.write_text("12:00:01 serving ws://127.0.0.1:8000/api/ws/realtime\n42\n")
    ws = Workspace(feed=f"replay:{log}")
    with pytest.raises(InvalidParams, match=r"holds no market records \(2 bad lines skipped\)"):
        await ws.start()
    assert not ws.running
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n")
    ws = Workspace(feed=f"replay:{empty}")
    with pytest.raises(InvalidParams, match=r"empty.jsonl holds no market records: a recording"):
        await ws.start()
    assert not ws.running


async def test_missing_replay_file_is_a_clear_error(tmp_path: Path) -> None:
    ws = Workspace(feed=f"replay:{tmp_path / 'nope.jsonl'}")
    with pytest.raises(InvalidParams, match="not found"):
        await ws.start()
    assert not ws.running


async def test_a_directory_of_kline_files_replays_in_time_order(tmp_path: Path) -> None:
    folder = tmp_path / "klines"
    folder.mkdir()
    for name in ("ETHUSDT-1m-2022-08-14.csv", "BTCUSDT-1m-2020-01-01.csv"):
        rows = (FIXTURES / "klines" / name).read_text().splitlines(keepends=True)[:2]
        (folder / name).write_text("".join(rows))
    ws = Workspace(feed=f"replay:{folder}")
    seen: list[Tick] = []
    ws.on_tick(seen.append)
    await ws.start()
    try:
        result = await ws.run()
        assert sorted(ws.engine.symbols | {t.symbol for t in seen}) == ["BTCUSDT", "ETHUSDT"]
    finally:
        await ws.stop()
    assert result is not None
    stamps = [t.timestamp for t in seen]
    assert stamps == sorted(stamps)


async def test_zipped_klines_replay_like_the_csv(tmp_path: Path) -> None:
    source = FIXTURES / "klines" / "ETHUSDT-1m-2022-08-14.zip"
    with zipfile.ZipFile(source) as archive:
        name = archive.namelist()[0]
        rows = archive.read(name).decode().splitlines(keepends=True)[:5]
    short = tmp_path / source.name
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr(name, "".join(rows))  # the archive's layout, five minutes of it
    ws = Workspace(feed=f"replay:{short}")
    await ws.start()
    try:
        await ws.subscribe("ETHUSDT")
        assert ws.quote("ETHUSDT") is None
        result = await ws.run()
        assert ws.quote("ETHUSDT") is not None
    finally:
        await ws.stop()
    assert result is not None
    assert result.ticks > 0
