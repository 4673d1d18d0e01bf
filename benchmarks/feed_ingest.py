"""Feed ingest throughput: frames/s through BinanceFeed vs a bare websockets+json loop.

The exchange simulator runs in a subprocess (its own core) in firehose mode: on the
first SUBSCRIBE it sends N pre-encoded ``@ticker`` / ``@aggTrade`` frames as fast as
the socket takes them.  Each round connects once with the feed client (decode into
frozen msgspec records with Decimal prices, a no-op consumer) and once with a bare
``websockets`` + ``json.loads`` loop, on the same stream, and times first frame to
N-th frame.  The best round of each is reported.

    .venv/bin/python benchmarks/feed_ingest.py [--frames 200000] [--rounds 3] [--profile]

Last line: ``{"msgs_per_s": ..., "baseline_msgs_per_s": ..., "ratio": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import websockets

from workspace.market.config import FeedConfig
from workspace.market.feed import BinanceFeed
from workspace.market.records import MarketRecord

SYMBOLS = ("BTCUSDT", "ETHUSDT")
STREAMS = ("ticker", "aggTrade")
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def simulator(frames: int) -> Iterator[str]:
    """Start ``python -m workspace sim --firehose N`` and yield its stream URL."""
    command = [
        sys.executable, "-m", "workspace", "sim", "--port", "0", "--firehose", str(frames),
        "--symbols", ",".join(SYMBOLS), "--ticker-interval", "3600", "--trade-interval",
        "3600", "--book-interval", "3600",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1)
                return
        raise RuntimeError("simulator exited before announcing its port")
    finally:
        process.terminate()
        process.wait(timeout=10)


class Rate(NamedTuple):
    msgs_per_s: float
    cpu_us_per_msg: float
    """This process's CPU time per frame: the client's own cost, whatever else the
    machine (or the simulator) is doing."""


async def run_feed(url: str, frames: int, profile: cProfile.Profile | None) -> Rate:
    done = asyncio.Event()
    count = 0
    first = first_cpu = 0.0

    def consume(record: MarketRecord) -> None:
        nonlocal count, first, first_cpu
        count += 1
        if count == 1:
            first, first_cpu = time.perf_counter(), time.process_time()
        elif count == frames:
            done.set()

    config = FeedConfig(
        stream_url=url,
        rest_url=url.replace("ws://", "http://"),
        streams=STREAMS,
        reply_timeout_s=120.0,  # the reply queues behind a firehose being built
    )
    feed = BinanceFeed(config, on_record=consume)
    await feed.start()
    try:
        if profile is not None:
            profile.enable()
        await feed.subscribe(*SYMBOLS)
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - first
        cpu = time.process_time() - first_cpu
        if profile is not None:
            profile.disable()
    finally:
        await feed.stop()
    if feed.stats.parse_errors:
        raise RuntimeError(f"{feed.stats.parse_errors} parse errors")
    return Rate((frames - 1) / elapsed, cpu / (frames - 1) * 1e6)


async def warm_up(url: str) -> None:
    """Have the simulator build (and cache) its firehose before anything is timed."""
    params = [f"{s.lower()}@{k}" for s in SYMBOLS for k in STREAMS]
    async with websockets.connect(f"{url}/stream", open_timeout=60) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}))
        async for message in ws:
            if "stream" in json.loads(message):
                return


async def run_baseline(url: str, frames: int) -> Rate:
    params = [f"{s.lower()}@{k}" for s in SYMBOLS for k in STREAMS]
    async with websockets.connect(f"{url}/stream") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}))
        count = 0
        first = first_cpu = 0.0
        async for message in ws:
            payload = json.loads(message)
            if "stream" not in payload:
                continue  # the subscribe reply
            count += 1
            if count == 1:
                first, first_cpu = time.perf_counter(), time.process_time()
            elif count == frames:
                break
        elapsed = time.perf_counter() - first
        cpu = time.process_time() - first_cpu
        return Rate((frames - 1) / elapsed, cpu / (frames - 1) * 1e6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile the feed rounds")
    args = parser.parse_args()

    profile = cProfile.Profile() if args.profile else None
    feed_rates: list[Rate] = []
    base_rates: list[Rate] = []
    with simulator(args.frames) as url:
        print(f"simulator {url}: firehose of {args.frames} ticker/aggTrade frames per connection")
        started = time.perf_counter()
        asyncio.run(warm_up(url))
        print(f"simulator built its firehose in {time.perf_counter() - started:.1f} s")
        for round_no in range(1, args.rounds + 1):
            # Alternate the order so neither side always gets the warmer machine.
            order = ("feed", "base") if round_no % 2 else ("base", "feed")
            for side in order:
                if side == "feed":
                    feed_rates.append(asyncio.run(run_feed(url, args.frames, profile)))
                else:
                    base_rates.append(asyncio.run(run_baseline(url, args.frames)))
            ours, bare = feed_rates[-1], base_rates[-1]
            print(
                f"round {round_no}: feed {ours.msgs_per_s:>9,.0f} msg/s "
                f"({ours.cpu_us_per_msg:.1f} us CPU/msg)   bare websockets+json.loads "
                f"{bare.msgs_per_s:>9,.0f} msg/s ({bare.cpu_us_per_msg:.1f} us CPU/msg)"
            )
    best = max(r.msgs_per_s for r in feed_rates)
    base = max(r.msgs_per_s for r in base_rates)
    best_cpu = min(r.cpu_us_per_msg for r in feed_rates)
    base_cpu = min(r.cpu_us_per_msg for r in base_rates)
    print(f"best: feed {best:,.0f} msg/s, baseline {base:,.0f} msg/s, ratio {best / base:.2f}")
    print(
        f"client CPU per frame: feed {best_cpu:.2f} us, baseline {base_cpu:.2f} us, "
        f"ratio (baseline/feed) {base_cpu / best_cpu:.2f}"
    )
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())
    print(
        json.dumps(
            {
                "frames": args.frames,
                "msgs_per_s": round(best),
                "baseline_msgs_per_s": round(base),
                "ratio": round(best / base, 3),
                "cpu_us_per_msg": round(best_cpu, 2),
                "baseline_cpu_us_per_msg": round(base_cpu, 2),
                "cpu_ratio": round(base_cpu / best_cpu, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
