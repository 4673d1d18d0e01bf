"""``python -m workspace sim``: serve Binance's stream protocol on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

from workspace.sim import ExchangeSimulator, SimConfig

HELP = "run the exchange simulator (Binance spot stream protocol + REST basics on loopback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9443, help="port (0 = any free port)")
    parser.add_argument("--seed", type=int, default=0, help="random-walk seed (default 0)")
    parser.add_argument(
        "--symbols",
        default=None,
        help="comma-separated symbols from the default set (default: all of them)",
    )
    parser.add_argument("--ticker-interval", type=float, default=1.0, metavar="S")
    parser.add_argument("--trade-interval", type=float, default=0.1, metavar="S")
    parser.add_argument("--book-interval", type=float, default=0.1, metavar="S")
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="serve a recorded JSONL session or Binance 1m kline CSV(s) instead",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="replay speed (1 = real time, 0 = flat out)"
    )
    parser.add_argument(
        "--firehose", type=int, default=0, metavar="N", help="send N frames on subscribe"
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    base = SimConfig()
    symbols = (
        tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
        if args.symbols
        else base.symbols
    )
    return SimConfig(
        symbols=symbols,
        seed=args.seed,
        ticker_interval_s=args.ticker_interval,
        trade_interval_s=args.trade_interval,
        book_interval_s=args.book_interval,
        replay=args.replay,
        speed=args.speed,
        firehose=args.firehose,
    )


async def _serve(config: SimConfig, host: str, port: int) -> None:
    sim = ExchangeSimulator(config)
    await sim.start(host=host, port=port)
    print(f"simulator: {sim.stream_url}  (REST {sim.rest_url}/api/v3/...)", flush=True)
    print(f"symbols: {', '.join(sim.symbols)}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, args.host, args.port))
    return 0
