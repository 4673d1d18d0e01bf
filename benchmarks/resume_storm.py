"""Is the server still answering while 50 clients resume from 0 at once?

A ``serve`` subprocess runs on a journal prefilled with ``--orders`` orders (each
placed and canceled: two order events).  One client pings it, one ping in flight at
a time, every 60 ms (within the rate limit): first alone (the baseline), then while a
child process opens ``--clients`` connections with ``?since=0`` at once and reads
every resume to its ``RESUMED`` (only the pings from the child's first connect to its
last ``RESUMED`` count).
Printed: the ping round trip (p50 / p99 / max) alone and during the storm, the storm's
total time (first connect to the last ``RESUMED``) and the order events it delivered
per second.  ``--before-ref REF`` runs the same against a ``serve`` of REF's code
(``git archive``), side by side, for a before/after ratio (the issue measured a 5.9 s
freeze with the whole resume built in one go); ``--before-ref ''`` skips it.

    .venv/bin/python benchmarks/resume_storm.py [--clients 50] [--orders 2000]
        [--before-ref 790a84a]

Absolute figures on a busy 2-core machine are noise (the server, the storm's clients
and the pinger share the cores); compare the two variants of one run.  The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PINGS = 40
# One ping every 60 ms: under the server's 20 commands/s (a faster pinger is closed
# for flooding, as any client would be).
PING_EVERY_S = 0.06


# -- roles run in child processes ------------------------------------------------------
async def prefill(db: Path, orders: int) -> int:
    """``orders`` resting limit buys placed and canceled on the journal ``db``."""
    from decimal import ROUND_DOWN, Decimal

    from workspace import Workspace
    from workspace.trading.requests import OrderRequest, OrderType, Side

    workspace = Workspace(feed="sim", db=db)
    await workspace.start()
    try:
        engine = workspace.engine
        await engine.acquire_symbol("BTCUSDT")
        prices = engine.subscribe_messages(["BTCUSDT"])
        while (latest := engine.market_update("BTCUSDT")) is None:
            await asyncio.wait_for(prices.get(), 30)
        prices.close()
        price = (Decimal(str(latest["price"])) * Decimal("0.9")).quantize(
            Decimal("0.01"), ROUND_DOWN
        )
        request = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.0002"),
            price=price,
        )
        for _ in range(orders):
            placed = engine.place_order(request)
            if placed["order"]["status"] != "NEW":
                raise RuntimeError(f"the prefill's order did not rest: {placed}")
            engine.cancel_order(placed["order"]["id"])
        return engine.seq
    finally:
        await workspace.stop()


async def storm(url: str, clients: int) -> dict[str, Any]:
    """``clients`` connections resuming from 0 at once; each read to RESUMED."""

    async def resume(started: float) -> tuple[int, float]:
        async with connect(
            url + "?since=0", max_queue=None, max_size=None, open_timeout=60
        ) as websocket:
            events = 0
            while True:
                message = json.loads(await websocket.recv())
                if message["type"] == "ORDER_UPDATE":
                    events += 1
                elif message["type"] == "RESUMED":
                    if message["count"] != events:
                        raise RuntimeError(f"RESUMED says {message['count']}, got {events}")
                    return events, time.perf_counter() - started

    print("start", flush=True)  # the pinger counts from here
    started = time.perf_counter()
    results = await asyncio.gather(*(resume(started) for _ in range(clients)))
    total = time.perf_counter() - started
    events = [count for count, _ in results]
    return {
        "total_s": round(total, 3),
        "events": sum(events),
        "events_per_client": sorted(set(events)),
        "slowest_client_s": round(max(t for _, t in results), 3),
        "fastest_client_s": round(min(t for _, t in results), 3),
    }


# -- the main process -------------------------------------------------------------------
def export(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def child_env(code: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSPACE_TOKEN", None)
    env.pop("CORS_ORIGINS", None)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def run_role(role: list[str], code: Path | None) -> Any:
    output = subprocess.run(
        [sys.executable, __file__, "--role", *role],
        check=True,
        capture_output=True,
        text=True,
        env=child_env(code),
        cwd=code if code is not None else ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


async def ping_once(websocket: ClientConnection, n: int) -> float:
    sent = time.perf_counter()
    await websocket.send(json.dumps({"action": "ping", "id": n}))
    while json.loads(await websocket.recv()).get("id") != n:
        pass
    return time.perf_counter() - sent


def figures(rtts: list[float]) -> dict[str, float]:
    ordered = sorted(rtts)
    return {
        "pings": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def variant(code: Path | None, clients: int, orders: int, scratch: Path) -> dict[str, Any]:
    db = scratch / "journal.db"
    seq = run_role(["prefill", "--db", str(db), "--orders", str(orders)], code)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "serve",
        "--feed",
        "sim",
        "--port",
        "0",
        "--db",
        str(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=child_env(code),
        cwd=code if code is not None else ROOT,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line.startswith(b"serving "):
            raise RuntimeError(f"serve did not start: {line!r}")
        url = line.split()[1].decode()
        async with connect(url) as pinger:
            for _ in range(4):  # the snapshot
                await pinger.recv()
            alone: list[float] = []
            for n in range(BASELINE_PINGS):
                alone.append(await ping_once(pinger, n))
                await asyncio.sleep(PING_EVERY_S)  # the pinger's pace
            stormer = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--role",
                "storm",
                "--url",
                url,
                "--clients",
                str(clients),
                stdout=asyncio.subprocess.PIPE,
                env=child_env(None),
            )
            assert stormer.stdout is not None
            if await asyncio.wait_for(stormer.stdout.readline(), 60) != b"start\n":
                raise RuntimeError("the storm did not start")
            waiting = asyncio.ensure_future(stormer.stdout.read())
            during: list[float] = []
            n = BASELINE_PINGS
            while not waiting.done():
                during.append(await ping_once(pinger, n))
                n += 1
                await asyncio.wait([waiting], timeout=PING_EVERY_S)  # the pinger's pace
            out = await waiting
            if await stormer.wait() != 0:
                raise RuntimeError(f"the storm failed ({stormer.returncode})")
        result = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
    return {
        "journal_seq": seq,
        "ping_alone": figures(alone),
        "ping_during_storm": figures(during),
        "storm": result,
        "events_per_s": round(result["events"] / result["total_s"]),
    }


def report(name: str, result: dict[str, Any]) -> None:
    alone, during, storm_ = result["ping_alone"], result["ping_during_storm"], result["storm"]
    print(
        f"{name:>6}: ping alone p50 {alone['p50_ms']:.2f} ms, p99 {alone['p99_ms']:.2f} ms, "
        f"max {alone['max_ms']:.2f} ms",
        flush=True,
    )
    print(
        f"{'':>6}  during the storm p50 {during['p50_ms']:.2f} ms, p99 {during['p99_ms']:.2f} ms, "
        f"max {during['max_ms']:.2f} ms ({during['pings']} pings)",
        flush=True,
    )
    print(
        f"{'':>6}  storm: {storm_['events']} order events to {len(storm_['events_per_client'])} "
        f"distinct count(s) per client in {storm_['total_s']:.2f} s "
        f"({result['events_per_s']} events/s; fastest client {storm_['fastest_client_s']:.2f} s, "
        f"slowest {storm_['slowest_client_s']:.2f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["main", "prefill", "storm"], default="main")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--orders", type=int, default=2000, help="orders in the journal")
    parser.add_argument(
        "--before-ref",
        default="790a84a",  # main before the bounded resume: the freeze the issue measured
        help="'' to skip the before run",
    )
    parser.add_argument("--db", default=None)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    if args.role == "prefill":
        print(json.dumps(asyncio.run(prefill(Path(args.db), args.orders))))
        return
    if args.role == "storm":
        print(json.dumps(asyncio.run(storm(args.url, args.clients))))
        return
    print(
        f"{args.clients} clients resuming from 0 at once, journal of {args.orders} orders "
        f"({2 * args.orders} order events); ping round trips on another connection"
        + (f"; before = {args.before_ref}, after = this tree" if args.before_ref else ""),
        flush=True,
    )
    summary: dict[str, Any] = {"clients": args.clients, "orders": args.orders}
    with tempfile.TemporaryDirectory(prefix="resume-storm-") as scratch:
        runs: list[tuple[str, Path | None]] = []
        if args.before_ref:
            (Path(scratch) / "before").mkdir()
            runs.append(("before", export(args.before_ref, Path(scratch) / "before")))
        runs.append(("after", None))
        for name, code in runs:
            work = Path(scratch) / f"{name}-run"
            work.mkdir()
            result = asyncio.run(variant(code, args.clients, args.orders, work))
            summary[name] = result
            report(name, result)
    if "before" in summary:
        before, after = summary["before"], summary["after"]
        summary["max_ping_ratio_before_over_after"] = round(
            before["ping_during_storm"]["max_ms"] / after["ping_during_storm"]["max_ms"], 2
        )
        print(
            f"max ping during the storm: before/after = "
            f"{summary['max_ping_ratio_before_over_after']}x",
            flush=True,
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
