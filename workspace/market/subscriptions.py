"""Stream names, control messages and Binance's per-connection limits, without I/O.

Binance allows at most 5 incoming messages per second on a stream connection (PING,
PONG and JSON control messages all count) and at most 1024 streams per connection;
breaking either gets the connection closed.  :class:`ControlRateLimiter` spaces the
control messages, :func:`control_messages` batches many streams into few messages.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal

import msgspec

from workspace.errors import InvalidParams
from workspace.market.errors import MalformedSymbolError

MAX_STREAMS_PER_CONNECTION: Final = 1024
CONTROL_MESSAGES_PER_SECOND: Final = 5

TICK_STREAMS: Final = frozenset({"ticker", "miniTicker", "bookTicker", "aggTrade", "trade"})
"""Per-symbol stream kinds that become tickers, book tickers and trades (plus the
rolling-window ``ticker_1h``, ``ticker_4h``, ``ticker_1d``)."""
TICKER_WINDOWS: Final = ("1h", "4h", "1d")
DIFF_DEPTH_STREAMS: Final = ("depth@100ms", "depth")
"""Diff depth: the feed keeps a synchronised local book for the symbol."""
PARTIAL_DEPTH_LEVELS: Final = (5, 10, 20)
PARTIAL_DEPTH_STREAMS: Final = frozenset(
    f"depth{n}{speed}" for n in PARTIAL_DEPTH_LEVELS for speed in ("", "@100ms")
)
KLINE_INTERVALS: Final = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1M",
)  # fmt: skip
"""Binance's kline intervals, in order (case-sensitive: ``1m`` minute, ``1M`` month)."""
KLINE_STREAMS: Final = frozenset(f"kline_{interval}" for interval in KLINE_INTERVALS)

STREAM_KINDS: Final = (
    TICK_STREAMS
    | {f"ticker_{window}" for window in TICKER_WINDOWS}
    | set(DIFF_DEPTH_STREAMS)
    | PARTIAL_DEPTH_STREAMS
    | KLINE_STREAMS
)
"""Every per-symbol stream kind the feed turns into records."""


def check_stream_kind(kind: object) -> str:
    """Return ``kind`` if the feed can subscribe it; raises :class:`InvalidParams`."""
    if isinstance(kind, str) and kind in STREAM_KINDS:
        return kind
    raise InvalidParams(
        f"stream kind {kind!r} is not one the feed normalises; choose from "
        f"{', '.join(sorted(TICK_STREAMS))}, ticker_<{'|'.join(TICKER_WINDOWS)}>, "
        f"{', '.join(DIFF_DEPTH_STREAMS)}, depth<5|10|20>[@100ms], "
        f"kline_<{'|'.join(KLINE_INTERVALS)}>"
    )


def check_kline_interval(interval: object) -> str:
    if isinstance(interval, str) and interval in KLINE_INTERVALS:
        return interval
    raise InvalidParams(
        f"kline interval {interval!r} is not one of Binance's: {', '.join(KLINE_INTERVALS)}"
    )


# Binance spot symbols are upper-case letters and digits (``BTCUSDT``, ``1000SATSUSDT``).
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")

Method = Literal["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"]


def normalize_symbol(symbol: object) -> str:
    """``"btcusdt"`` -> ``"BTCUSDT"``; raises :class:`MalformedSymbolError` otherwise."""
    if not isinstance(symbol, str):
        raise MalformedSymbolError(f"symbol must be a string, got {type(symbol).__name__}")
    upper = symbol.strip().upper()
    if not _SYMBOL.fullmatch(upper):
        raise MalformedSymbolError(
            f"malformed symbol {symbol!r}: expected 2-20 letters or digits, e.g. 'BTCUSDT'"
        )
    return upper


def stream_names(symbol: str, kinds: Iterable[str]) -> list[str]:
    """``("BTCUSDT", ["ticker", "aggTrade"])`` -> ``["btcusdt@ticker", "btcusdt@aggTrade"]``.

    Binance's stream names use the lower-case symbol and the case-sensitive kind.
    """
    lower = symbol.lower()
    return [f"{lower}@{kind}" for kind in kinds]


class _Request(msgspec.Struct):
    method: str
    params: list[str]
    id: int


_ENCODER: Final = msgspec.json.Encoder()


def control_messages(
    method: Method, streams: Sequence[str], first_id: int, max_params: int
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(id, json bytes)`` for ``streams`` in batches of at most ``max_params``."""
    request_id = first_id
    for start in range(0, len(streams), max_params):
        batch = list(streams[start : start + max_params])
        yield request_id, _ENCODER.encode(_Request(method, batch, request_id))
        request_id += 1


class ControlRateLimiter:
    """At most ``limit`` sends in any ``window_s`` window (sans-I/O: times come in).

    Call :meth:`delay` with the current time to learn how long to wait before the next
    send, then :meth:`record` when the message goes out.
    """

    def __init__(self, limit: int = CONTROL_MESSAGES_PER_SECOND - 1, window_s: float = 1.0):
        # One of Binance's 5 per second is left for the PONG frames the websockets
        # library sends on its own when the server pings (they count too).
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window_s = window_s
        self._sent: deque[float] = deque(maxlen=limit)

    def delay(self, now: float) -> float:
        if len(self._sent) < self.limit:
            return 0.0
        return max(0.0, self._sent[0] + self.window_s - now)

    def record(self, now: float) -> None:
        self._sent.append(now)

    def reset(self) -> None:
        """A new connection starts with a fresh budget."""
        self._sent.clear()
