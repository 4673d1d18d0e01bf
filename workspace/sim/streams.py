"""Binance stream names: which are well formed, and which the simulator fills.

Binance accepts any well-formed stream name, even for a symbol it does not list
(the subscription succeeds and stays silent), and rejects a malformed one with
``{"error":{"code":2,"msg":"Invalid request: invalid stream"}}``.  Stream names are
lower case on Binance ("All symbols for streams are lowercase").  Retired streams
(``!ticker@arr`` since 2026-03-26, ``!bookTicker``) are no longer names Binance
knows, so they get the same error.

The names (web-socket-streams.md): ``<symbol>@aggTrade``, ``@trade``,
``@kline_<interval>`` (optionally ``@+08:00``), ``@miniTicker``, ``@ticker``,
``@ticker_<1h|4h|1d>``, ``@bookTicker``, ``@avgPrice``, ``@depth<5|10|20>`` and
``@depth`` (each optionally ``@100ms`` or ``@1000ms``), ``@referencePrice``,
``@blockTrade``; ``!miniTicker@arr`` (optionally ``@1000ms``) and
``!ticker_<1h|4h|1d>@arr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Accepted but not produced: the simulator has no reference prices nor block trades.
_SILENT_KINDS = frozenset({"referencePrice", "blockTrade"})

KLINE_INTERVALS = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
_SYMBOL_STREAM = re.compile(
    r"(?P<symbol>[a-z0-9]{2,20})@(?P<kind>"
    r"aggTrade|trade|bookTicker|ticker|miniTicker|avgPrice|referencePrice|blockTrade"
    r"|ticker_(?:1h|4h|1d)"
    rf"|kline_(?:{KLINE_INTERVALS})(?:@\+08:00)?"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?"
    r")"
)
_MARKET_STREAM = re.compile(r"!(?:miniTicker@arr(?:@1000ms)?|ticker_(?:1h|4h|1d)@arr)")


@dataclass(frozen=True, slots=True)
class StreamName:
    """A well-formed stream; ``symbol`` is upper case, ``None`` for ``!...@arr`` streams."""

    name: str
    symbol: str | None
    kind: str

    @property
    def served(self) -> bool:
        """Whether the simulator produces data on it (for a listed symbol)."""
        return self.kind not in _SILENT_KINDS


def parse_stream(name: object) -> StreamName | None:
    """The parsed stream, or None if Binance would reject the name."""
    if not isinstance(name, str):
        return None
    match = _SYMBOL_STREAM.fullmatch(name)
    if match is not None:
        return StreamName(name, match["symbol"].upper(), match["kind"])
    if _MARKET_STREAM.fullmatch(name):
        return StreamName(name, None, name)
    return None


def stream_name(symbol: str, kind: str) -> str:
    """``("BTCUSDT", "ticker")`` -> ``"btcusdt@ticker"``."""
    return f"{symbol.lower()}@{kind}"
