"""``python -m workspace record``: record raw frames to JSONL for ``sim --replay``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from websockets.exceptions import WebSocketException

from workspace.cli.args import count, positive_seconds
from workspace.errors import WorkspaceError
from workspace.market.config import is_url
from workspace.market.errors import ExchangeInfoError
from workspace.market.exchange_info import exchange_info_url, fetch_url, parse_exchange_info
from workspace.sim.recorder import DEFAULT_KINDS, record, refuse_overwrite, streams_for

HELP = "record raw Binance stream frames with receive times to a JSONL file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")
    parser.add_argument(
        "--force", action="store_true", help="overwrite FILE.jsonl if it holds something"
    )
    parser.add_argument(
        "--duration", type=positive_seconds, default=None, metavar="S", help="stop after S s"
    )
    parser.add_argument("--max-frames", type=count, default=None, metavar="N")
    parser.add_argument(
        "--streams",
        default=",".join(DEFAULT_KINDS),
        help=f"stream kinds per symbol (default {','.join(DEFAULT_KINDS)})",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("WORKSPACE_BINANCE_URL", "wss://stream.binance.com:9443"),
        help="stream base URL (default $WORKSPACE_BINANCE_URL or Binance's)",
    )
    parser.add_argument(
        "--rest-url",
        default=os.environ.get("WORKSPACE_BINANCE_REST_URL"),
        help="REST base URL for the depth snapshots and kline history a replay needs "
        "(default $WORKSPACE_BINANCE_REST_URL; else Binance's for Binance's stream URL, "
        "the stream's own host for another one, e.g. the simulator; 'none': streams only)",
    )
    parser.add_argument(
        "--book-depth",
        type=int,
        default=1000,
        metavar="N",
        help="levels a side of each depth snapshot (default 1000)",
    )


BINANCE_STREAM_HOST = "stream.binance.com"
BINANCE_REST_URL = "https://api.binance.com"


def rest_url_for(stream_url: str, given: str | None) -> str | None:
    """The REST base URL to record snapshots and history from (``None``: none)."""
    if given is not None:
        return None if given.lower() == "none" else given
    parts = urlsplit(stream_url)
    if parts.hostname is None or parts.hostname.endswith(BINANCE_STREAM_HOST):
        return BINANCE_REST_URL
    # The simulator (and other single-host servers) serve REST beside the streams.
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def run(args: argparse.Namespace) -> int:
    symbols = [s.strip().lower() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        print(f"error: --symbols names no symbol: {args.symbols!r}", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.streams.split(",") if k.strip()]
    try:
        streams = streams_for(symbols, kinds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 1 <= args.book_depth <= 5000:
        print("error: --book-depth must be within 1..5000", file=sys.stderr)
        return 2
    try:
        refuse_overwrite(args.out, args.force)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not is_url(args.url, ("ws", "wss")):
        print(f"error: --url {args.url!r}: expected ws://HOST[:PORT] or wss://...", file=sys.stderr)
        return 2
    existed = args.out.exists()
    rest_url = rest_url_for(args.url, args.rest_url)
    if rest_url is not None:
        unlisted = _unlisted(rest_url, symbols)
        if unlisted:
            print(f"error: not listed by the exchange: {', '.join(unlisted)}", file=sys.stderr)
            return 2
    written = 0
    try:
        with contextlib.suppress(KeyboardInterrupt):
            written = asyncio.run(
                record(
                    args.url,
                    streams,
                    args.out,
                    duration_s=args.duration,
                    max_frames=args.max_frames,
                    rest_url=rest_url,
                    book_depth=args.book_depth,
                    overwrite=args.force,
                )
            )
    except (OSError, WorkspaceError, WebSocketException) as exc:
        # an exchange out of reach, a file that cannot be written: one line, no traceback
        network = isinstance(exc, socket.gaierror | ConnectionError | TimeoutError)
        where = f"cannot reach {args.url}: " if network else ""
        print(f"record: {where}{exc}", file=sys.stderr)
        if not existed:
            # (the empty file this run made is no recording: leave nothing behind)
            with contextlib.suppress(OSError):
                if args.out.stat().st_size == 0:
                    args.out.unlink()
        return 1
    print(f"recorded {written} frames to {args.out}")
    if not written:
        # (a file a replay refuses: say so here, where the cause is)
        print(f"record: no frame came from {args.url}: the file is empty", file=sys.stderr)
        return 1
    return 0


def _unlisted(rest_url: str, symbols: list[str]) -> list[str]:
    """The ``symbols`` the exchange's listing lacks (none when it cannot be read: the
    recording then says what went wrong on its own).  An unlisted symbol recorded
    nothing for the whole duration, and exited 0."""
    try:
        listing = parse_exchange_info(fetch_url(exchange_info_url(rest_url), 10.0))
    except ExchangeInfoError as exc:
        print(f"record: cannot check the symbols against the listing: {exc}", file=sys.stderr)
        return []
    return [s.upper() for s in symbols if s.upper() not in listing]
