"""``python -m workspace serve``: the engine and the ``/api/ws/realtime`` server,
headless.  Prints one line ``serving ws://HOST:PORT/api/ws/realtime`` as soon as the
port is bound: the feed connects in the background (an unreachable exchange never
delays the server; STATUS says how the feed is doing).  SIGINT/SIGTERM close every
connection, stop the engine and close the journal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from workspace.cli.args import port
from workspace.cli.process import (
    add_connection_caps,
    add_log_level,
    add_sim_rate,
    configure_logging,
    run_command,
    server_limits,
    server_security,
    sim_config,
    stop_signals,
    warn_if_temporary_journal,
)
from workspace.errors import WorkspaceError
from workspace.heap import settle_heap
from workspace.server import RealtimeServer
from workspace.server.auth import is_loopback

HELP = "run the engine and the WebSocket server (PROTOCOL.md) headless"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--feed", default="sim", help="sim (default), binance or replay:PATH")
    add_sim_rate(parser)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument("--port", type=port, default=8000, help="port, 0 = any free port")
    parser.add_argument("--db", default=None, help="journal file (SQLite); default: in memory")
    parser.add_argument(
        "--balance",
        action="append",
        default=None,
        metavar="ASSET=AMOUNT,...",
        help="what a new account starts with, e.g. USDT=10000,BTC=0.5 (default USDT=10000; "
        "may be repeated, each asset once)",
    )
    parser.add_argument(
        "--allow-short",
        action="store_true",
        help="a margin-style account that may sell what it does not hold (default: spot)",
    )
    parser.add_argument(
        "--final-orders-in-memory",
        type=int,
        default=None,
        metavar="N",
        help="final orders the account keeps in memory; older ones are read from the journal "
        "(default 10000)",
    )
    parser.add_argument("--binance-url", default=None, help="Binance stream URL override")
    parser.add_argument("--binance-rest-url", default=None, help="Binance REST URL override")
    parser.add_argument(
        "--token",
        default=os.environ.get("WORKSPACE_TOKEN"),
        help="clients must send it (?token= or Authorization: Bearer); env WORKSPACE_TOKEN",
    )
    parser.add_argument(
        "--origins",
        default=os.environ.get("CORS_ORIGINS"),
        help="comma-separated allowed Origins (others get 403); env CORS_ORIGINS.  Without "
        "it, a browser page may connect only from a loopback origin (localhost, 127.0.0.1, "
        "[::1], JupyterLab's own page); clients that send no Origin always may",
    )
    add_connection_caps(parser)
    parser.add_argument(
        "--users",
        default=None,
        metavar="FILE",
        help="multi-user mode: one account per user of this users file (python -m workspace "
        "users add ...), authenticated by their tokens; --db names the team's journal",
    )
    parser.add_argument("--tls-cert", default=None, help="certificate file: serve wss://")
    parser.add_argument("--tls-key", default=None, help="private key file for --tls-cert")
    parser.add_argument(
        "--no-compression", action="store_true", help="do not negotiate permessage-deflate"
    )
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    if args.users and (args.token or args.balance):
        print(
            "--users: tokens and balances come from the users file (no --token, --balance)",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(args.host) and not args.token and not args.users:
        print(
            f"refusing to bind {args.host} without a token: set --token or WORKSPACE_TOKEN",
            file=sys.stderr,
        )
        return 2
    refused = server_security(args, "serve")
    if refused is not None:
        return refused
    try:
        args.balances = parse_balances(args.balance)
    except ValueError as error:
        print(f"--balance: {error}", file=sys.stderr)
        return 2
    if args.final_orders_in_memory is not None and args.final_orders_in_memory < 1:
        print("--final-orders-in-memory must be >= 1", file=sys.stderr)
        return 2
    return run_command("serve", _serve(args), errors=(WorkspaceError, OSError))


def parse_balances(text: str | list[str] | None) -> dict[str, str] | None:
    """``"USDT=10000,BTC=0.5"`` -> ``{"USDT": "10000", "BTC": "0.5"}`` (``None`` stays
    ``None``: the default account, or the one the journal stored); a list is the values
    of a repeated ``--balance``, taken together.  An asset given twice is refused: with
    the last one winning, ``--balance USDT=5000 --balance BTC=1`` started an account
    with no USDT at all."""
    if text is None:
        return None
    parts = [
        part for value in ([text] if isinstance(text, str) else text) for part in value.split(",")
    ]
    balances: dict[str, str] = {}
    for part in parts:
        asset, sep, amount = part.strip().partition("=")
        if not sep or not asset.strip() or not amount.strip():
            raise ValueError(f"expected ASSET=AMOUNT[,ASSET=AMOUNT...], got {part.strip()!r}")
        name = asset.strip().upper()
        if name in balances:
            raise ValueError(
                f"{name} is given twice ({balances[name]} and {amount.strip()}): give each "
                f"asset once"
            )
        balances[name] = amount.strip()
    return balances


async def _serve(args: argparse.Namespace) -> int:
    from workspace import Workspace  # the engine; imported late so --help stays fast
    from workspace.engine.config import EngineConfig
    from workspace.market.config import FeedConfig

    # Flags win over WORKSPACE_BINANCE_URL / WORKSPACE_BINANCE_REST_URL.
    overrides = {
        name: value
        for name, value in (("stream_url", args.binance_url), ("rest_url", args.binance_rest_url))
        if value
    }
    feed_config = FeedConfig.from_env(**overrides) if overrides else None
    if args.users:
        return await _serve_team(args, feed_config)
    workspace = Workspace(
        feed=args.feed,
        db=args.db,
        feed_config=feed_config,
        sim=sim_config(args),
        balances=args.balances,
        allow_short=True if args.allow_short else None,
        engine=EngineConfig(final_orders_in_memory=args.final_orders_in_memory)
        if args.final_orders_in_memory is not None
        else None,
    )
    await workspace.start(connect_timeout=0)  # bind now; the feed connects meanwhile
    server = RealtimeServer(
        workspace.engine,
        args.host,
        args.port,
        token=args.token,
        origins=args.allowed_origins,
        ssl_context=args.ssl_context,
        limits=server_limits(args),
        compression=not args.no_compression,
    )
    try:
        with stop_signals() as stop:
            try:
                await server.start()
                settle_heap()
                warn_if_temporary_journal(args, "server")
                print(f"serving {server.url}", flush=True)
                await stop.wait()
            finally:
                await server.stop()
    finally:
        with contextlib.suppress(Exception):
            await workspace.stop()  # flushes and closes the journal
    print("stopped", flush=True)
    return 0


async def _serve_team(args: argparse.Namespace, feed_config: object) -> int:
    """``serve --users FILE``: every user's account on one shared feed."""
    from workspace.engine.config import EngineConfig
    from workspace.notebook.team import Team
    from workspace.trading.config import AccountConfig

    engine_config = (
        EngineConfig(final_orders_in_memory=args.final_orders_in_memory)
        if args.final_orders_in_memory is not None
        else None
    )
    team = Team(
        args.users,
        feed=args.feed,
        db=args.db,
        account=AccountConfig(allow_short=True) if args.allow_short else None,
        engine=engine_config,
        feed_config=feed_config,
        sim_config=sim_config(args),
    )
    await team.start(connect_timeout=0)
    try:
        if not team.accounts:
            raise WorkspaceError(f"{args.users} has no user: python -m workspace users add NAME")
        first = team.accounts[sorted(team.accounts)[0]]
        server = RealtimeServer(
            first.engine,  # answers /health (without any account's seq)
            args.host,
            args.port,
            origins=args.allowed_origins,
            ssl_context=args.ssl_context,
            limits=server_limits(args),
            compression=not args.no_compression,
            accounts=team,
        )
        with stop_signals() as stop:
            try:
                await server.start()
                settle_heap()
                warn_if_temporary_journal(args, "server")
                print(f"serving {server.url} for {len(team.accounts)} users", flush=True)
                await stop.wait()
            finally:
                await server.stop()
    finally:
        await team.stop()
    print("stopped", flush=True)
    return 0
