"""Replay mode: the same engine and strategy code over recorded data, as fast as
possible and deterministically.

Records come straight from the file (no socket, no wall clock): a recorded session
(JSONL, one ``{"recv_ts": ..., "frame": {...}}`` per line, as ``python -m workspace
record`` writes) or Binance 1m kline CSV/ZIP files (turned into ticks by the
simulator's kline module).  Time is the data's event time (``DataClock``); position
and portfolio updates are published on data time too.

A recorded session may hold, besides the stream frames, the REST answers a replay
needs that no stream carries (written by the recorder, in the order they arrived):

- ``{"stream": "<symbol>@depthSnapshot", "data": <GET /api/v3/depth body>}``: the
  snapshot a local book starts from (``DepthSnapshot``, received at ``recv_ts``);
- ``{"stream": "<symbol>@klineHistory_<interval>", "data": <GET /api/v3/klines body>}``:
  the candles before the recording started (``Kline`` records).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from workspace.engine.clock import DataClock
from workspace.engine.core import Engine
from workspace.errors import InvalidParams
from workspace.market.decode import (
    ControlReply,
    FrameError,
    ServerShutdown,
    decode_frame,
    parse_depth_snapshot,
    parse_klines,
)
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    FeedRecord,
    Kline,
    PartialDepth,
)
from workspace.market.subscriptions import KLINE_INTERVALS

log = logging.getLogger("workspace.engine.replay")


class _Line(msgspec.Struct):
    frame: msgspec.Raw
    recv_ts: float = 0.0


class _Rest(msgspec.Struct):
    """A recorded REST answer, in a combined frame's envelope."""

    stream: str
    data: msgspec.Raw


DEPTH_SNAPSHOT = "depthSnapshot"
KLINE_HISTORY = "klineHistory_"
_REST_MARKERS = (b"@" + DEPTH_SNAPSHOT.encode(), b"@" + KLINE_HISTORY.encode())


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay run did."""

    records: int
    ticks: int
    order_events: int
    fills: int
    first_ms: int | None
    last_ms: int | None
    skipped_lines: int
    elapsed_s: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else float("inf")


@dataclass(slots=True)
class RecordedData:
    records: list[FeedRecord]
    skipped_lines: int

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(record.symbol for record in self.records)


def load(path: Path) -> RecordedData:
    """Read a recorded session (``.jsonl``) or kline files (``.csv``/``.zip``, or a
    directory of them, replayed in name order)."""
    if not path.exists():
        raise InvalidParams(f"replay file not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".zip"))
        if not files:
            raise InvalidParams(f"no kline .csv/.zip files in {path}")
        return RecordedData(_kline_records(files), 0)
    if path.suffix in (".csv", ".zip"):
        return RecordedData(_kline_records([path]), 0)
    data = _session_records(path)
    if not data.records:
        # a replay of nothing served an empty market until stopped, with no word of why
        skipped = data.skipped_lines
        lines = "1 bad line" if skipped == 1 else f"{skipped} bad lines"
        bad = f" ({lines} skipped)" if skipped else ""
        raise InvalidParams(
            f"replay file {path} holds no market records{bad}: a recording of "
            f"`python -m workspace record` is expected"
        )
    return data


def _session_records(path: Path) -> RecordedData:
    decoder = msgspec.json.Decoder(_Line)
    records: list[FeedRecord] = []
    skipped = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = decoder.decode(line)
                frame = memoryview(entry.frame)
                head = frame[:80].tobytes()
                if any(marker in head for marker in _REST_MARKERS):
                    records.extend(_rest_records(bytes(entry.frame), entry.recv_ts))
                    continue
                decoded = decode_frame(frame, all_records=True)
            except (msgspec.DecodeError, FrameError) as error:
                skipped += 1
                if skipped <= 5:  # a damaged file must not flood the log
                    log.warning("%s:%d: skipped a bad line: %s", path, number, error)
                continue
            if decoded is None or isinstance(decoded, ControlReply | ServerShutdown):
                continue  # control replies and streams the engine does not take
            if isinstance(decoded, tuple):
                records.extend(decoded)
            elif type(decoded) is not PartialDepth:  # top-of-book copies of the books
                records.append(decoded)
    return RecordedData(records, skipped)


_REST_DECODER = msgspec.json.Decoder(_Rest)


def _rest_records(frame: bytes, recv_ts: float) -> list[FeedRecord]:
    """The records of a recorded REST answer (a depth snapshot, a kline history)."""
    rest = _REST_DECODER.decode(frame)
    symbol, _, kind = rest.stream.partition("@")
    symbol = symbol.upper()
    received_ms = round(recv_ts * 1000)
    if kind == DEPTH_SNAPSHOT:
        return [parse_depth_snapshot(symbol, bytes(rest.data), received_ms)]
    interval = kind[len(KLINE_HISTORY) :]
    if kind.startswith(KLINE_HISTORY) and interval in KLINE_INTERVALS:
        klines: list[FeedRecord] = list(
            parse_klines(symbol, interval, bytes(rest.data), received_ms)
        )
        return klines
    raise FrameError(f"unknown recorded REST answer {rest.stream!r}")


def _kline_records(files: Sequence[Path]) -> list[FeedRecord]:
    """Each file's klines -> records (the simulator's pure conversion), then merged in
    event-time order across files; ties keep file order, so the merge is stable."""
    from workspace.sim.klines import kline_records, read_klines, symbol_from_filename

    streams: list[list[tuple[int, int, int, FeedRecord]]] = []
    for index, file in enumerate(files):
        stream: list[tuple[int, int, int, FeedRecord]] = []
        last_ms = 0
        for position, record in enumerate(
            kline_records(read_klines(file), symbol_from_filename(file))
        ):
            at_ms = event_ms(record)
            last_ms = last_ms if at_ms is None else at_ms  # book tickers: no time
            stream.append((last_ms, index, position, record))
        streams.append(stream)
    if len(streams) == 1:
        return [item[3] for item in streams[0]]
    return [item[3] for item in heapq.merge(*streams, key=lambda item: item[:3])]


def event_ms(record: FeedRecord) -> int | None:
    """The exchange time a record carries (book tickers, snapshots and REST klines:
    none; they take the time of the records around them)."""
    if isinstance(record, BookTicker | DepthSnapshot | PartialDepth):
        return None
    if isinstance(record, Kline):
        return record.event_time
    return record.event_time


async def run(
    engine: Engine,
    records: Sequence[FeedRecord],
    clock: DataClock,
    *,
    skipped_lines: int = 0,
    yield_every: int = 256,
) -> ReplayResult:
    """Feed ``records`` through ``engine`` in order, awaiting every callback inline.

    Yields to the event loop every ``yield_every`` records so a notebook stays
    responsive and subscribers drain; that cannot change the outcome, because nothing
    the engine does depends on when the loop runs other tasks.
    """
    started = time.perf_counter()
    ticks_before = engine.metrics.ticks.total
    orders_before = engine.metrics.order_events
    fills_before = engine.account.fill_count
    positions_every = int(engine.config.positions_interval_s * 1000)
    portfolio_every = int(engine.config.portfolio_interval_s * 1000)
    next_positions = next_portfolio = None
    first_ms: int | None = None
    last_ms: int | None = None
    for count, record in enumerate(records, 1):
        at_ms = event_ms(record)
        if at_ms is not None:
            clock.advance(at_ms)
            first_ms = at_ms if first_ms is None else first_ms
            last_ms = clock.time_ms()
        engine.replayed = count  # candles as of this record, included
        await engine.process_inline(record)
        now = clock.time_ms()
        if next_positions is None or next_portfolio is None:
            next_positions, next_portfolio = now + positions_every, now + portfolio_every
        if now >= next_positions:
            engine.publish_positions()
            next_positions = now + positions_every
        if now >= next_portfolio:
            engine.publish_portfolio()
            next_portfolio = now + portfolio_every
        if count % yield_every == 0:
            await asyncio.sleep(0)
    engine.end_of_replay()
    engine.publish_positions()
    engine.publish_portfolio()
    return ReplayResult(
        records=len(records),
        ticks=engine.metrics.ticks.total - ticks_before,
        order_events=engine.metrics.order_events - orders_before,
        fills=engine.account.fill_count - fills_before,
        first_ms=first_ms,
        last_ms=last_ms,
        skipped_lines=skipped_lines,
        elapsed_s=time.perf_counter() - started,
    )
