"""``python -m workspace engine --bus redis://HOST:PORT``: the accounts (and, on shard 0,
the market feed) of the scale-out (docs/scale-out.md).  Prints ``engine ready`` once it
takes commands; SIGINT/SIGTERM stop it cleanly (the journal is closed)."""

from __future__ import annotations

import argparse
import logging

from workspace.cli.process import run_command, stop_signals

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
    return run_command("engine", _run(args))


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
    with stop_signals() as stop:
        try:
            await node.start()
            print(f"engine ready: shard {node.shard}, {len(node.accounts)} accounts", flush=True)
            await stop.wait()
        finally:
            await node.stop()
    print("stopped", flush=True)
    return 0
