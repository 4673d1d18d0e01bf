"""Record raw frames, with their receive times, from any Binance-compatible endpoint.

The output is JSON Lines, one ``{"recv_ts": <unix seconds>, "frame": <frame>}`` per
frame, the frame's bytes embedded unchanged: exactly what ``--replay`` serves back
(and the format of the fixture ``session.combined.mainnet-2021-08-14.jsonl``).
The connection uses the combined endpoint, so every frame names its stream.

What no stream carries, a replay still needs; with a REST URL the recorder adds it,
as lines of their own in the order the answers arrived (``--replay`` serves them to
nobody: their stream names are not Binance's):

- for each diff depth stream (``<s>@depth``, ``<s>@depth@100ms``), the REST snapshots
  the book needs (``{"stream": "<s>@depthSnapshot", "data": <GET /api/v3/depth>}``):
  the recorder follows Binance's synchronisation procedure as the engine does
  (``BookSync``), so it asks for a snapshot when a book starts and after every
  sequence gap, and a replay rebuilds exactly the books a live engine had;
- for each kline stream, the candles before the recording started
  (``{"stream": "<s>@klineHistory_<interval>", "data": <GET /api/v3/klines>}``),
  written before the first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from workspace.market.book import BookSync
from workspace.market.decode import FrameError, decode_frame, parse_depth_snapshot
from workspace.market.errors import RestError
from workspace.market.records import DepthUpdate
from workspace.market.rest import DEPTH_PATH, KLINES_PATH, MAX_KLINES, RestClient
from workspace.sim.clock import Clock, WallClock
from workspace.sim.streams import parse_stream, stream_name

logger = logging.getLogger(__name__)

DEFAULT_KINDS = ("ticker", "bookTicker", "aggTrade", "depth@100ms", "kline_1m")
"""What a replay of the engine uses: prices, trades, an order book and candles."""
DEPTH_KINDS = frozenset({"depth", "depth@100ms"})
SNAPSHOT_SUFFIX = "depthSnapshot"
HISTORY_PREFIX = "klineHistory_"
SNAPSHOT_RETRY_S = 0.5


def streams_for(symbols: Sequence[str], kinds: Sequence[str] = DEFAULT_KINDS) -> list[str]:
    """``(["btcusdt"], ["ticker"])`` -> ``["btcusdt@ticker"]``; raises on a malformed name."""
    names = [stream_name(symbol, kind) for symbol in symbols for kind in kinds]
    bad = [n for n in names if parse_stream(n) is None]
    if bad:
        raise ValueError(f"invalid stream name(s): {', '.join(bad)}")
    return names


def jsonl_line(recv_ts: float, frame: bytes) -> bytes:
    return b'{"recv_ts":' + f"{recv_ts:.6f}".encode() + b',"frame":' + frame + b"}\n"


def rest_frame(symbol: str, kind: str, body: bytes) -> bytes:
    """A recorded REST answer in a combined frame's envelope."""
    return b'{"stream":"' + stream_name(symbol, kind).encode() + b'","data":' + body + b"}"


class Recorder:
    """Writes every frame of one combined-stream connection to a JSONL sink.

    ``await recorder.run()`` records until ``duration_s`` passes (by the clock),
    ``max_frames`` are written, :meth:`stop` is called or the server closes the
    connection.  Frames that are not JSON are counted in ``skipped``, not written.
    With ``rest_url``, the depth snapshots and kline histories a replay needs are
    written too (module docstring); ``snapshots`` and ``histories`` count them.
    """

    def __init__(
        self,
        url: str,
        streams: Sequence[str],
        sink: BinaryIO,
        *,
        clock: Clock | None = None,
        max_frames: int | None = None,
        rest_url: str | None = None,
        book_depth: int = 1000,
        kline_history: int = MAX_KLINES,
    ) -> None:
        self._url = f"{url.rstrip('/')}/stream?streams={'/'.join(streams)}"
        self._sink = sink
        self._clock = clock or WallClock()
        self._max_frames = max_frames
        self._stop = asyncio.Event()
        self._rest = RestClient(rest_url) if rest_url is not None else None
        self._book_depth = book_depth
        self._kline_history = kline_history
        parsed = [p for p in (parse_stream(s) for s in streams) if p is not None]
        self._depth_streams = {
            p.name: p.symbol for p in parsed if p.kind in DEPTH_KINDS and p.symbol is not None
        }
        self._kline_streams = [
            (p.symbol, p.kind.removeprefix("kline_"))
            for p in parsed
            if p.kind.startswith("kline_") and "@" not in p.kind and p.symbol is not None
        ]
        self._books: dict[str, BookSync] = {}
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self.written = 0
        self.skipped = 0
        self.snapshots = 0
        self.histories = 0
        self.book_gaps = 0

    def stop(self) -> None:
        self._stop.set()

    async def settled(self) -> None:
        """Return once no depth snapshot is being asked for (every book the recording
        started has its snapshot line written)."""
        while pending := [task for task in self._fetches.values() if not task.done()]:
            await asyncio.wait(pending)

    async def run(self, duration_s: float | None = None) -> int:
        deadline = None if duration_s is None else self._clock.time_ms() + round(duration_s * 1000)
        await self._record_histories()
        async with connect(self._url, max_size=None, compression=None) as ws:
            reader = asyncio.create_task(self._read(ws), name="recorder-read")
            waits: list[asyncio.Task[object]] = [asyncio.create_task(self._stop.wait())]
            if deadline is not None:
                waits.append(asyncio.create_task(self._clock.sleep_until(deadline)))
            try:
                await asyncio.wait([reader, *waits], return_when=asyncio.FIRST_COMPLETED)
            finally:
                tasks = [reader, *waits, *self._fetches.values()]
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        self._sink.flush()
        return self.written

    async def _record_histories(self) -> None:
        if self._rest is None:
            return
        for symbol, interval in self._kline_streams:
            params = {"symbol": symbol, "interval": interval, "limit": self._kline_history}
            try:
                body = await self._rest.get(KLINES_PATH, params)
            except RestError as error:
                logger.warning("recorder: no kline history for %s %s: %s", symbol, interval, error)
                continue
            self._write(rest_frame(symbol, HISTORY_PREFIX + interval, body))
            self.histories += 1

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                frame = message.encode() if isinstance(message, str) else message
                try:
                    stream = _stream_of(frame)
                except msgspec.DecodeError:
                    self.skipped += 1
                    continue
                self._write(frame)
                self.written += 1
                symbol = self._depth_streams.get(stream) if stream is not None else None
                if symbol is not None:
                    self._follow_book(symbol, frame)
                if self._max_frames is not None and self.written >= self._max_frames:
                    return
        except ConnectionClosed:
            logger.info("recorder: connection closed after %d frames", self.written)

    def _write(self, frame: bytes) -> None:
        self._sink.write(jsonl_line(self._clock.time_ms() / 1000, frame))

    # -- books -------------------------------------------------------------------------
    def _follow_book(self, symbol: str, frame: bytes) -> None:
        """Keep the symbol's book in step as a replay will, to know when it needs a
        snapshot (its start, every sequence gap)."""
        if self._rest is None:
            return
        try:
            update = decode_frame(frame, all_records=True)
        except FrameError:
            return  # written as received; the replay counts it as a bad line
        if type(update) is not DepthUpdate:
            return
        sync = self._books.get(symbol)
        if sync is None:
            sync = self._books[symbol] = BookSync(symbol)
        step = sync.on_update(update)
        if step.gap is not None:
            self.book_gaps += 1
            logger.warning("recorder: %s", step.gap)
        if step.need_snapshot:
            self._want_snapshot(sync)

    def _want_snapshot(self, sync: BookSync) -> None:
        task = self._fetches.get(sync.symbol)
        if task is None or task.done():
            self._fetches[sync.symbol] = asyncio.create_task(
                self._snapshots(sync), name=f"recorder-snapshot-{sync.symbol}"
            )

    async def _snapshots(self, sync: BookSync) -> None:
        assert self._rest is not None
        delay = SNAPSHOT_RETRY_S
        while True:
            params = {"symbol": sync.symbol, "limit": self._book_depth}
            try:
                body = await self._rest.get(DEPTH_PATH, params)
                snapshot = parse_depth_snapshot(sync.symbol, body, self._clock.time_ms())
            except (RestError, FrameError) as error:
                logger.warning("recorder: depth snapshot for %s failed: %s", sync.symbol, error)
            else:
                self._write(rest_frame(sync.symbol, SNAPSHOT_SUFFIX, body))
                self.snapshots += 1
                step = sync.on_snapshot(snapshot)
                again = step.need_snapshot
                for update in step.replay:
                    again = sync.on_update(update).need_snapshot or again
                if not again:
                    return
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)


class _Envelope(msgspec.Struct):
    stream: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def _stream_of(frame: bytes) -> str | None:
    """The frame's stream name (``None`` for a reply or a raw frame); raises
    ``msgspec.DecodeError`` for a frame that is not JSON."""
    try:
        return _ENVELOPE.decode(frame).stream
    except msgspec.ValidationError:
        msgspec.json.decode(frame)  # JSON of another shape: recorded as it is
        return None


def refuse_overwrite(out: Path, overwrite: bool) -> None:
    """Raise ``FileExistsError`` when ``out`` already holds something and may not be
    overwritten: a recording is of a market that will not come again, and the file
    was emptied on opening, before the exchange was even reached (a wrong ``--url``
    left an earlier recording empty)."""
    if overwrite or not out.is_file() or out.stat().st_size == 0:
        return
    raise FileExistsError(
        f"{out} already holds {out.stat().st_size:,} bytes (an earlier recording?): give "
        "another --out, or --force to overwrite it"
    )


async def record(
    url: str,
    streams: Sequence[str],
    out: Path,
    *,
    duration_s: float | None = None,
    max_frames: int | None = None,
    clock: Clock | None = None,
    rest_url: str | None = None,
    book_depth: int = 1000,
    overwrite: bool = False,
) -> int:
    """Record ``streams`` from ``url`` into ``out`` (JSONL); returns frames written.
    With ``rest_url``, also what a replay needs that no stream carries (depth
    snapshots, kline history).  A file already holding something is refused
    (``FileExistsError``) unless ``overwrite``."""
    refuse_overwrite(out, overwrite)
    with out.open("wb") as sink:
        recorder = Recorder(
            url,
            streams,
            sink,
            clock=clock,
            max_frames=max_frames,
            rest_url=rest_url,
            book_depth=book_depth,
        )
        return await recorder.run(duration_s)
