"""``python -m workspace gateway --bus redis://HOST:PORT --port P``: a stateless
``/api/ws/realtime`` server in front of the scale-out's engines (docs/scale-out.md).
Prints ``serving ws://HOST:PORT/api/ws/realtime`` once the port is bound; SIGINT/SIGTERM
close every connection (clients reconnect to another gateway and resume)."""

from __future__ import annotations

import argparse
import os
import sys

from workspace.cli.args import count, port, positive_seconds
from workspace.cli.process import (
    add_connection_caps,
    add_log_level,
    configure_logging,
    run_command,
    server_limits,
    server_security,
    stop_signals,
)
from workspace.heap import settle_heap

HELP = "run a stateless WebSocket gateway of the scale-out (Redis Streams)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bus", required=True, metavar="redis://HOST:PORT", help="Redis URL")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument("--port", type=port, default=8000, help="port, 0 = any free port")
    parser.add_argument("--users", default=None, metavar="FILE", help="the users file")
    parser.add_argument(
        "--token",
        default=os.environ.get("WORKSPACE_TOKEN"),
        help="without --users: clients must send it; env WORKSPACE_TOKEN",
    )
    parser.add_argument("--shards", type=count, default=1, help="how many account engines (N)")
    parser.add_argument("--origins", default=os.environ.get("CORS_ORIGINS"))
    parser.add_argument("--tls-cert", default=None, help="certificate file: serve wss://")
    parser.add_argument("--tls-key", default=None, help="private key file for --tls-cert")
    parser.add_argument("--no-compression", action="store_true")
    add_connection_caps(parser)
    parser.add_argument("--bus-prefix", default="ws", help="key prefix on Redis (default ws)")
    parser.add_argument(
        "--held-events",
        type=int,
        default=10_000,
        metavar="N",
        help="order events a user's view keeps in memory (default 10000); a resume from "
        "further back reads the older ones from Redis, a page at a time",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=5.0,
        help="seconds to wait for an engine's reply",
    )
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    from workspace.server.auth import is_loopback

    configure_logging(args)
    if args.users and args.token:
        print("--users: tokens come from the users file (no --token)", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and not args.token and not args.users:
        print(f"refusing to bind {args.host} without --token or --users", file=sys.stderr)
        return 2
    refused = server_security(args, "gateway")
    if refused is not None:
        return refused
    return run_command("gateway", _run(args), bus=args.bus)


async def _run(args: argparse.Namespace) -> int:
    from workspace.bus.keys import BusKeys
    from workspace.bus.url import check_bus_url
    from workspace.scaleout.gateway import Gateway, GatewaySession
    from workspace.server import RealtimeServer

    gateway = Gateway(
        check_bus_url(args.bus),
        keys=BusKeys(args.bus_prefix),
        users=args.users,
        token=args.token,
        shards=args.shards,
        timeout_s=args.timeout,
        held_events=args.held_events,
    )
    await gateway.start()
    server = RealtimeServer(
        gateway.market,  # type: ignore[arg-type]  # answers /health only
        args.host,
        args.port,
        origins=args.allowed_origins,
        ssl_context=args.ssl_context,
        limits=server_limits(args),
        compression=not args.no_compression,
        accounts=gateway,
        session_factory=GatewaySession,
    )
    try:
        with stop_signals() as stop:
            try:
                await server.start()
                settle_heap()
                print(f"serving {server.url}", flush=True)
                await stop.wait()
            finally:
                await server.stop()
    finally:
        await gateway.stop()
    print("stopped", flush=True)
    return 0
