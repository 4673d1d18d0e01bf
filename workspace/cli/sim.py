"""``python -m workspace sim``: serve Binance's stream protocol on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys
import tempfile
from pathlib import Path

from workspace.cli.args import port
from workspace.errors import WorkspaceError
from workspace.sim import ExchangeSimulator, SimConfig
from workspace.sim.tls import TlsError, self_signed
from workspace.tls import TlsFilesError, server_context

HELP = "run the exchange simulator (Binance spot streams + REST market data on loopback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=9443, help="port (0 = any free port)")
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
        "--speed",
        type=float,
        default=None,
        help="with --replay: its speed (1 = real time, the default; 0 = flat out)",
    )
    parser.add_argument(
        "--firehose", type=int, default=0, metavar="N", help="send N frames on subscribe"
    )
    parser.add_argument(
        "--book-depth", type=int, default=1000, metavar="N", help="price levels kept per side"
    )
    parser.add_argument(
        "--history-days", type=int, default=400, metavar="D", help="days of seeded kline history"
    )
    tls = parser.add_argument_group("TLS (wss:// and https://)")
    tls.add_argument("--tls-cert", type=Path, default=None, metavar="PEM", help="certificate")
    tls.add_argument("--tls-key", type=Path, default=None, metavar="PEM", help="private key")
    tls.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="make a throwaway certificate in a temporary directory and print how to trust it",
    )


def config_from_args(args: argparse.Namespace, tls: tuple[Path, Path] | None = None) -> SimConfig:
    """The simulator's configuration; ``tls`` (cert, key) overrides ``--tls-cert/-key``."""
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
        speed=1.0 if args.speed is None else args.speed,
        firehose=args.firehose,
        book_depth=args.book_depth,
        history_days=args.history_days,
        tls_cert=tls[0] if tls else args.tls_cert,
        tls_key=tls[1] if tls else args.tls_key,
    )


async def _serve(config: SimConfig, host: str, port: int, trust: Path | None) -> None:
    sim = ExchangeSimulator(config)
    await sim.start(host=host, port=port)
    print(f"simulator: {sim.stream_url}  (REST {sim.rest_url}/api/v3/...)", flush=True)
    print(f"symbols: {', '.join(sim.symbols)}", flush=True)
    if trust is not None:
        quoted = shlex.quote(str(trust))
        print(f"self-signed certificate: {trust} (deleted when the simulator stops)", flush=True)
        print(
            f"trust it in clients: export SSL_CERT_FILE={quoted} REQUESTS_CA_BUNDLE={quoted}"
            f"  (ccxt: cafile={quoted})",
            flush=True,
        )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM stops cleanly (and removes a self-signed certificate) like Ctrl-C does.
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.speed is not None and args.replay is None:
        # it was taken and did nothing: the random walk keeps its own pace
        print(
            "error: --speed is a replay's speed (give --replay FILE); the random walk's pace "
            "is --ticker-interval, --trade-interval and --book-interval",
            file=sys.stderr,
        )
        return 2
    if args.tls_self_signed and (args.tls_cert or args.tls_key):
        print(
            "error: --tls-self-signed makes its own certificate: drop --tls-cert/--tls-key",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        tls: tuple[Path, Path] | None = None
        if args.tls_self_signed:
            # Outside the repository, gone when the simulator stops.
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sim-tls-")))
            hosts = [args.host] if args.host not in ("0.0.0.0", "::") else []
            try:
                tls = self_signed(folder, hosts)
            except TlsError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        try:
            config = config_from_args(args, tls)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if config.tls_cert is not None and config.tls_key is not None:
            try:
                server_context(config.tls_cert, config.tls_key)  # refused before anything starts
            except TlsFilesError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_serve(config, args.host, args.port, tls[0] if tls else None))
        except (WorkspaceError, OSError) as exc:
            # a replay file that is not one, a port already taken: one line, no traceback
            print(f"sim: {exc}", file=sys.stderr)
            return 1
    return 0
