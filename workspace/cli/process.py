"""What the long-running commands (``serve``, ``engine``, ``gateway``) share: their
event loop, how they end (SIGINT/SIGTERM, errors as one line) and the server's limits
from their flags."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from workspace.cli.args import log_level, positive_seconds
from workspace.errors import WorkspaceError
from workspace.server import ServerLimits

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the ``server`` extra): its transports
    write in C; the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_command(
    name: str,
    main: Coroutine[Any, Any, int],
    errors: tuple[type[BaseException], ...] = (WorkspaceError, OSError, ValueError),
    *,
    bus: str | None = None,
) -> int:
    """Run ``main`` on the command's loop: its exit code; 130 for a second Ctrl-C during
    shutdown; 1 with one line on stderr (no traceback) for the ``errors`` users cause,
    and, with ``bus`` (its URL), for a Redis that cannot be reached."""
    bus_errors: tuple[type[BaseException], ...] = ()
    if bus is not None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        bus_errors = (RedisConnectionError, RedisTimeoutError)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(main)
    except KeyboardInterrupt:
        return 130
    except bus_errors as error:
        from workspace.bus.url import shown

        print(f"{name}: cannot reach the bus at {shown(bus or '')}: {error}", file=sys.stderr)
        return 1
    except errors as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def stop_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (the loop's handlers,
    installed before the block starts its work so a signal during start-up is not lost,
    and removed again on the way out)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` of ``serve``, ``gateway`` and ``engine`` (checked by the parser)."""
    parser.add_argument(
        "--log-level", type=log_level, default="WARNING", help="logging level (default WARNING)"
    )


def configure_logging(args: argparse.Namespace) -> None:
    """Log at ``--log-level`` to stderr, in the server commands' one format."""
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")


def warn_if_temporary_journal(args: argparse.Namespace, command: str) -> None:
    """Say so when the accounts' journal is a temporary file: a restart of a server (or
    an engine of the scale-out) without ``--db`` starts every account afresh, and
    clients resuming find a new journal."""
    if args.db is None:
        logging.getLogger("workspace").warning(
            "no --db: the journal is a temporary file, so orders, positions and balances "
            "are lost when this %s stops (give --db FILE to keep them)",
            command,
        )


def add_connection_caps(parser: argparse.ArgumentParser) -> None:
    """``--max-connections-per-address`` / ``--max-connections-per-token``."""
    defaults = ServerLimits()
    parser.add_argument(
        "--max-connections-per-address",
        type=_cap,
        default=defaults.max_connections_per_address,
        metavar="N",
        help="connections open at once from one IP address; beyond them a new one is closed "
        "with 1008 (default %(default)s; 0 = no cap)",
    )
    parser.add_argument(
        "--max-connections-per-token",
        type=_cap,
        default=defaults.max_connections_per_token,
        metavar="N",
        help="connections open at once with one token (default %(default)s; 0 = no cap)",
    )


def server_limits(args: argparse.Namespace) -> ServerLimits:
    """The server's limits with the connection caps of ``add_connection_caps``."""
    return ServerLimits(
        max_connections_per_address=args.max_connections_per_address,
        max_connections_per_token=args.max_connections_per_token,
    )


def server_security(args: argparse.Namespace, command: str) -> int | None:
    """Check a server command's ``--tls-cert``/``--tls-key`` and ``--origins`` before
    anything starts, and set ``args.ssl_context`` and ``args.allowed_origins`` from
    them; returns the exit code (2) after one line on stderr when one is refused, else
    ``None``.  (A bad TLS file used to fail only once the engine ran, and its teardown
    raced the feed's tasks.)"""
    from workspace.server.auth import parse_origins
    from workspace.tls import TlsFilesError, server_context

    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        args.allowed_origins = parse_origins(args.origins)
    except ValueError as error:
        print(f"--origins: {error}", file=sys.stderr)
        return 2
    try:
        args.ssl_context = server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except TlsFilesError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    return None


def _cap(text: str) -> int | None:
    """A connection cap: a positive count, or 0 for none."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a cap is 0 (none) or more")
    return value or None


def add_sim_rate(parser: argparse.ArgumentParser) -> None:
    """``--sim-ticker-interval``: the embedded simulator's 24 h ticker rate (``serve``
    and the feed-owning ``engine``, with ``--feed sim``)."""
    parser.add_argument(
        "--sim-ticker-interval",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="with --feed sim: seconds between two tickers of a symbol (default 1, Binance's "
        "rate; 0.25 = 4x)",
    )


def sim_config(args: argparse.Namespace) -> Any:
    """The simulator's configuration the flags ask for (``None``: its defaults)."""
    interval = getattr(args, "sim_ticker_interval", None)
    if interval is None:
        return None
    if getattr(args, "feed", "sim") != "sim":
        raise WorkspaceError("--sim-ticker-interval is a setting of --feed sim")
    from workspace.sim import SimConfig

    return SimConfig(ticker_interval_s=interval)
