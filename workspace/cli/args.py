"""Argument types shared by the commands' parsers (kept apart from ``process.py``,
which imports the server: ``sim`` and ``lab`` need only these)."""

from __future__ import annotations

import argparse
import math


def port(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free one) to 65535.  Checked here, where the
    parser can say so, not at bind time after the engine has started."""
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: 0 (any free port) to 65535")
    return value


def count(text: str) -> int:
    """A count flag (``--shards``, ``--max-frames``): a whole number >= 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected 1 or more")
    return value


def positive_seconds(text: str) -> float:
    """A duration or interval flag: seconds > 0, finite (not NaN, not inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < math.inf:  # (a NaN fails both)
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds > 0")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str) -> str:
    """``--log-level``: one of logging's level names, in any case (a bad one ended the
    command in logging's own traceback, "ValueError: Unknown level")."""
    name = text.strip().upper()
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(LOG_LEVELS)}")
    return name


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
