"""``python -m workspace record``: record raw frames to JSONL for ``sim --replay``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path

from workspace.sim.recorder import DEFAULT_KINDS, record, streams_for

HELP = "record raw Binance stream frames with receive times to a JSONL file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S s")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N")
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


def run(args: argparse.Namespace) -> int:
    symbols = [s.strip().lower() for s in args.symbols.split(",") if s.strip()]
    kinds = [k.strip() for k in args.streams.split(",") if k.strip()]
    try:
        streams = streams_for(symbols, kinds)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    written = 0
    with contextlib.suppress(KeyboardInterrupt):
        written = asyncio.run(
            record(
                args.url,
                streams,
                args.out,
                duration_s=args.duration,
                max_frames=args.max_frames,
            )
        )
    print(f"recorded {written} frames to {args.out}")
    return 0
