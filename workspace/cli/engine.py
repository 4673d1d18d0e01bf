"""``python -m workspace engine --bus redis://HOST:PORT``: the accounts of the scale-out
(docs/scale-out.md) and, on the one engine given a real feed, the market.  Prints
``engine ready`` once it takes commands; SIGINT/SIGTERM stop it cleanly (the journal is
closed).

Who owns the market feed is said by ``--feed``: exactly one engine runs ``--feed
sim|binance|replay:PATH``; the engines of the other shards run ``--feed bus`` (their
default with ``--shard i/N``, N > 1) and take that engine's market from Redis.  Engines
given ``--feed binance --standby`` own the feed if nobody does, else follow the owner and
take the feed over when its claim lapses; prints ``engine took the market feed over``
then."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from workspace.cli.args import positive_seconds
from workspace.cli.process import (
    add_log_level,
    add_sim_rate,
    configure_logging,
    run_command,
    sim_config,
    stop_signals,
    warn_if_temporary_journal,
)
from workspace.heap import settle_heap

if TYPE_CHECKING:
    from workspace.scaleout.engine_node import EngineNode

HELP = "run the accounts (and the market feed) of the scale-out on Redis Streams"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bus", required=True, metavar="redis://HOST:PORT", help="Redis URL")
    parser.add_argument(
        "--feed",
        default=None,
        help="sim, binance or replay:PATH: this engine owns the market feed (exactly one "
        "engine does); bus: take the owner's market from Redis.  Default: sim alone, bus "
        "with --shard i/N (N > 1)",
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="with --feed binance: when another engine owns the market feed, take its "
        "market from Redis and take the feed over once its claim lapses (it stopped "
        "renewing it for 10 s); without one, own it at once",
    )
    add_sim_rate(parser)
    parser.add_argument("--users", default=None, metavar="FILE", help="the users file")
    parser.add_argument(
        "--db", default=None, help="journal file (with --users: the team's journal name)"
    )
    parser.add_argument(
        "--shard", default="0/1", metavar="i/N", help="this engine's share of the users"
    )
    parser.add_argument("--bus-prefix", default="ws", help="key prefix on Redis (default ws)")
    parser.add_argument(
        "--hold-ttl",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="the market engine releases what a gateway (or another shard's engine) held "
        "when it has not renewed its lease for this long: one killed with -9 "
        "(default %(default)s)",
    )
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    return run_command("engine", _run(args), bus=args.bus)


async def _run(args: argparse.Namespace) -> int:
    from workspace.bus.keys import BusKeys
    from workspace.bus.url import check_bus_url
    from workspace.scaleout.engine_node import EngineNode
    from workspace.scaleout.shards import Shard

    shard = Shard.parse(args.shard)
    feed = args.feed or ("sim" if shard.count == 1 else "bus")
    args.feed = feed
    node = EngineNode(
        check_bus_url(args.bus),
        feed=feed,
        db=args.db,
        users=args.users,
        shard=shard,
        keys=BusKeys(args.bus_prefix),
        sim_config=sim_config(args),
        hold_ttl_s=args.hold_ttl,
        standby=args.standby,
    )
    with stop_signals() as stop:
        try:
            await node.start()
            market = "owns the market feed" if node.owns_market else "market from the bus"
            if node.standby and not node.owns_market:
                market += ", standing by to take the feed over"
            settle_heap()
            warn_if_temporary_journal(args, "engine")
            print(
                f"engine ready: shard {node.shard}, {len(node.accounts)} accounts, {market}",
                flush=True,
            )
            say = asyncio.get_running_loop().create_task(_say_takeover(node))
            try:
                await first_of(stop.wait(), node.lost.wait())
            finally:
                say.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await say
        finally:
            await node.stop()
    if node.failure is not None:
        raise node.failure  # (printed as "engine: ...", exit status 1)
    print("stopped", flush=True)
    return 0


async def first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _say_takeover(node: EngineNode) -> None:
    """The line a supervisor (or a test) reads when this standby becomes the owner."""
    await node.took_over.wait()
    print(f"engine took the market feed over: shard {node.shard}", flush=True)
