"""Record raw frames, with their receive times, from any Binance-compatible endpoint.

The output is JSON Lines, one ``{"recv_ts": <unix seconds>, "frame": <frame>}`` per
frame, the frame's bytes embedded unchanged: exactly what ``--replay`` serves back
(and the format of the fixture ``session.combined.mainnet-2021-08-14.jsonl``).
The connection uses the combined endpoint, so every frame names its stream.
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

from workspace.sim.clock import Clock, WallClock
from workspace.sim.streams import parse_stream, stream_name

logger = logging.getLogger(__name__)

DEFAULT_KINDS = ("ticker", "bookTicker", "aggTrade")


def streams_for(symbols: Sequence[str], kinds: Sequence[str] = DEFAULT_KINDS) -> list[str]:
    """``(["btcusdt"], ["ticker"])`` -> ``["btcusdt@ticker"]``; raises on a malformed name."""
    names = [stream_name(symbol, kind) for symbol in symbols for kind in kinds]
    bad = [n for n in names if parse_stream(n) is None]
    if bad:
        raise ValueError(f"invalid stream name(s): {', '.join(bad)}")
    return names


def jsonl_line(recv_ts: float, frame: bytes) -> bytes:
    return b'{"recv_ts":' + f"{recv_ts:.6f}".encode() + b',"frame":' + frame + b"}\n"


class Recorder:
    """Writes every frame of one combined-stream connection to a JSONL sink.

    ``await recorder.run()`` records until ``duration_s`` passes (by the clock),
    ``max_frames`` are written, :meth:`stop` is called or the server closes the
    connection.  Frames that are not JSON are counted in ``skipped``, not written.
    """

    def __init__(
        self,
        url: str,
        streams: Sequence[str],
        sink: BinaryIO,
        *,
        clock: Clock | None = None,
        max_frames: int | None = None,
    ) -> None:
        self._url = f"{url.rstrip('/')}/stream?streams={'/'.join(streams)}"
        self._sink = sink
        self._clock = clock or WallClock()
        self._max_frames = max_frames
        self._stop = asyncio.Event()
        self.written = 0
        self.skipped = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> int:
        deadline = None if duration_s is None else self._clock.time_ms() + round(duration_s * 1000)
        async with connect(self._url, max_size=None, compression=None) as ws:
            reader = asyncio.create_task(self._read(ws), name="recorder-read")
            waits: list[asyncio.Task[object]] = [asyncio.create_task(self._stop.wait())]
            if deadline is not None:
                waits.append(asyncio.create_task(self._clock.sleep_until(deadline)))
            try:
                await asyncio.wait([reader, *waits], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, *waits):
                    task.cancel()
                for task in (reader, *waits):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        self._sink.flush()
        return self.written

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                frame = message.encode() if isinstance(message, str) else message
                recv_ts = self._clock.time_ms() / 1000
                try:
                    msgspec.json.decode(frame)
                except msgspec.DecodeError:
                    self.skipped += 1
                    continue
                self._sink.write(jsonl_line(recv_ts, frame))
                self.written += 1
                if self._max_frames is not None and self.written >= self._max_frames:
                    return
        except ConnectionClosed:
            logger.info("recorder: connection closed after %d frames", self.written)


async def record(
    url: str,
    streams: Sequence[str],
    out: Path,
    *,
    duration_s: float | None = None,
    max_frames: int | None = None,
    clock: Clock | None = None,
) -> int:
    """Record ``streams`` from ``url`` into ``out`` (JSONL); returns frames written."""
    with out.open("wb") as sink:
        recorder = Recorder(url, streams, sink, clock=clock, max_frames=max_frames)
        return await recorder.run(duration_s)
