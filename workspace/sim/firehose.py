"""Pre-encoded frames for throughput benchmarks (``SimConfig(firehose=N)``).

A connection that subscribes first gets N valid frames of its ``@ticker`` and
``@aggTrade`` streams as fast as its socket takes them, then the normal live data.
The frames are built and encoded before the first one is sent, so a benchmark
measures the client, not the simulator.  They come from their own seeded random
walk stepping 1 ms at a time, so the numbers are as consistent as the live ones.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from workspace.sim.config import SymbolSpec
from workspace.sim.market import RandomWalkMarket
from workspace.sim.wire import combine, encode_record


def build_firehose(
    specs: Mapping[str, SymbolSpec],
    streams: Sequence[str],
    count: int,
    *,
    combined: bool,
    seed: int,
    start_ms: int,
) -> list[bytes]:
    """``count`` encoded frames of ``streams`` (``<symbol>@ticker`` / ``@aggTrade``)."""
    wanted = set(streams)
    symbols = sorted({name.split("@", 1)[0].upper() for name in wanted})
    market = RandomWalkMarket(
        [specs[s] for s in symbols if s in specs],
        random.Random(seed),
        start_ms,
        trade_interval_ms=1,
        book_interval_ms=3_600_000,
        ticker_interval_ms=1,
    )
    frames: list[bytes] = []
    while len(frames) < count:
        for emission in market.step(wanted.__contains__):
            raw = encode_record(emission.record)
            frames.append(combine(emission.stream, raw) if combined else raw)
            if len(frames) == count:
                break
    return frames
