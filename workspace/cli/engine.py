"""``python -m workspace engine --bus redis://HOST:PORT``: the accounts (and, on shard 0,
the market feed) of the scale-out (docs/scale-out.md).  Prints ``engine ready`` once it
takes commands; SIGINT/SIGTERM stop it cleanly (the journal is closed)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from workspace.cli.serve import loop_factory
from workspace.errors import WorkspaceError

HELP = "run the accounts (and the market feed) of the scale-out on Redis Streams"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bus", required=True, metavar="redis://HOST:PORT", help="Redis URL")
    parser.add_argument("--feed", default="sim", help="sim (default), binance or replay:PATH")
    parser.add_argument("--users", default=None, metavar="FILE", help="the users file")
    parser.add_argument(
        "--db", default=None, help="journal file (with --users: the team's journal name)"
    )
    parser.add_argument(
        "--shard", default="0/1", metavar="i/N", help="this engine's share of the users"
    )
    parser.add_argument("--bus-prefix", default="ws", help="key prefix on Redis (default ws)")
    parser.add_argument("--log-level", default="WARNING", help="logging level")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except (WorkspaceError, OSError, ValueError) as error:
        print(f"engine: {error}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    from workspace.bus.keys import BusKeys
    from workspace.bus.url import check_bus_url
    from workspace.scaleout.engine_node import EngineNode
    from workspace.scaleout.shards import Shard

    node = EngineNode(
        check_bus_url(args.bus),
        feed=args.feed,
        db=args.db,
        users=args.users,
        shard=Shard.parse(args.shard),
        keys=BusKeys(args.bus_prefix),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await node.start()
        print(f"engine ready: shard {node.shard}, {len(node.accounts)} accounts", flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await node.stop()
    print("stopped", flush=True)
    return 0
