"""How soon ``RealtimeClient`` is back after its server returns, before and after.

A server (engine on the simulator + ``RealtimeServer``) goes away for ``down`` seconds
and comes back on the same port; the time from the moment it listens again to the
moment the client reports ``connected`` is the reconnect time (the guide's target is
under 2 s).  Each down time is tried ``--trials`` times, with the client of
``--before-ref`` (default ``main``, exported with ``git archive``) and with this
tree's, in separate processes one after the other.

    .venv/bin/python benchmarks/reconnect.py [--down 1,4,10] [--trials 4] [--before-ref main]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


async def trials(downs: list[float], count: int) -> dict[str, list[float]]:
    from workspace import Workspace
    from workspace.client import RealtimeClient
    from workspace.server import RealtimeServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workspace = Workspace(feed="sim")
    await workspace.start()
    server = await RealtimeServer(workspace.engine, port=port).start()
    client = RealtimeClient(server.url, ping_interval=None)
    connected = asyncio.Event()
    client.on_state(lambda state: connected.set() if state == "connected" else None)
    await client.connect()
    results: dict[str, list[float]] = {}
    try:
        for down in downs:
            for _ in range(count):
                await server.stop()
                connected.clear()
                await asyncio.sleep(down)  # the outage being measured
                server = await RealtimeServer(workspace.engine, port=port).start()
                back = time.perf_counter()
                await asyncio.wait_for(connected.wait(), 120)
                results.setdefault(f"{down:g}", []).append(time.perf_counter() - back)
    finally:
        await client.close()
        await server.stop()
        await workspace.stop()
    return results


def export(ref: str, into: Path) -> Path:
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_variant(args: argparse.Namespace, code: Path | None) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--role",
            "trials",
            "--down",
            args.down,
            "--trials",
            str(args.trials),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, list[float]] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["main", "trials"], default="main")
    parser.add_argument("--down", default="1,4,10", help="outage lengths in seconds")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--before-ref", default="main")
    args = parser.parse_args()
    downs = [float(d) for d in args.down.split(",")]
    if args.role == "trials":
        print(json.dumps(asyncio.run(trials(downs, args.trials))))
        return
    print(
        f"reconnect time after the server is back: outages of {args.down} s, "
        f"{args.trials} trials each; before = {args.before_ref}, after = this tree"
    )
    summary: dict[str, Any] = {"target_s": 2.0}
    with tempfile.TemporaryDirectory(prefix="reconnect-before-") as scratch:
        for variant, code in (("before", export(args.before_ref, Path(scratch))), ("after", None)):
            results = run_variant(args, code)
            summary[variant] = {}
            for down, times in results.items():
                figures = {
                    "p50_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3),
                    "times_s": [round(t, 3) for t in times],
                }
                summary[variant][down] = figures
                print(
                    f"{variant:>6}, down {down:>3} s: back after p50 {figures['p50_s']:.2f} s, "
                    f"max {figures['max_s']:.2f} s  {figures['times_s']}",
                    flush=True,
                )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
