"""The feed's configuration: URLs (flags / environment variables), streams and timings."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final
from urllib.parse import urlsplit

from workspace.config_types import check_field_types
from workspace.errors import InvalidParams
from workspace.market.subscriptions import (
    CONTROL_MESSAGES_PER_SECOND,
    DIFF_DEPTH_STREAMS,
    TICK_STREAMS,
    check_stream_kind,
)

DEFAULT_STREAM_URL: Final = "wss://stream.binance.com:9443"
DEFAULT_REST_URL: Final = "https://api.binance.com"
ENV_STREAM_URL: Final = "WORKSPACE_BINANCE_URL"
ENV_REST_URL: Final = "WORKSPACE_BINANCE_REST_URL"

NORMALIZED_STREAMS: Final = TICK_STREAMS
"""Stream kinds that become tickers and trades (see ``subscriptions.STREAM_KINDS`` for all)."""


@dataclass(frozen=True, kw_only=True)
class FeedConfig:
    """Everything :class:`~workspace.market.feed.BinanceFeed` can be told.

    Use :meth:`from_env` to honour ``WORKSPACE_BINANCE_URL`` /
    ``WORKSPACE_BINANCE_REST_URL``, and :func:`add_feed_arguments` +
    :meth:`from_args` for the ``--binance-url`` / ``--binance-rest-url`` flags.
    """

    stream_url: str = DEFAULT_STREAM_URL
    """Base of the stream endpoint; the feed connects to ``<stream_url>/stream``."""
    rest_url: str = DEFAULT_REST_URL
    """Base of the REST API, for ``/api/v3/exchangeInfo``."""
    streams: tuple[str, ...] = ("ticker", "bookTicker", "aggTrade")
    """Stream kinds subscribed for every symbol: ``ticker``, ``miniTicker``,
    ``bookTicker``, ``aggTrade``, ``trade``, ``ticker_<1h|4h|1d>``, ``depth@100ms`` /
    ``depth`` (a synchronised local book per symbol), ``depth<5|10|20>[@100ms]``,
    ``kline_<interval>``."""
    book_stream: str = "depth@100ms"
    """The diff depth stream :meth:`BinanceFeed.subscribe_book` uses (or ``depth``: 1 s)."""
    book_snapshot_limit: int = 1000
    """Levels a side of the REST snapshot a book starts from (Binance: up to 5000; the
    request weight is 50 up to 1000 levels, 250 above)."""
    book_buffer_limit: int = 10_000
    """Diff events kept while a snapshot is on its way (the oldest go first)."""
    book_snapshot_retry_s: float = 0.5
    """First wait before asking again for a snapshot that was too old or failed
    (doubling up to 10 s, or Binance's ``Retry-After``)."""
    validate_symbols: bool = True
    """Check symbols against exchangeInfo before subscribing (Binance would accept an
    unknown one and then send nothing)."""
    silence_timeout_s: float = 60.0
    """Watchdog: reconnect when subscribed streams send nothing for this long."""
    stall_after_s: float | None = 3.0
    """Stall detection: a stream is silent after ``max(stall_after_s, stall_factor x
    its usual interval)`` without data; the feed is ``stalled`` when every stream it
    can judge is silent.  ``None`` turns stall detection off."""
    stall_factor: float = 3.0
    max_future_skew_s: float | None = 300.0
    """Records with an event time further ahead of the local clock are dropped as bad."""
    max_event_age_s: float | None = None
    """Records with an older event time are dropped as bad (``None``: no limit; a
    replaying simulator serves recorded times)."""
    watchdog_interval_s: float = 1.0
    """How often the watchdog and the connection-age check look."""
    max_connection_age_s: float = 23.5 * 3600
    """Reconnect proactively before Binance's 24 h disconnect."""
    handover_grace_s: float = 5.0
    """A planned replacement keeps the old connection at most this long after the new
    one is subscribed (less once the new one has caught up with it)."""
    transport: str = "picows"
    """The WebSocket client: ``"picows"`` (C frame parsing, the fast one) or
    ``"websockets"`` (pure Python; parses in bounded slices per loop turn)."""
    open_timeout_s: float = 10.0
    reply_timeout_s: float = 10.0
    """How long a SUBSCRIBE/UNSUBSCRIBE waits for its reply."""
    start_timeout_s: float | None = 60.0
    """``start()`` gives up (and raises) if not connected within this; ``None`` = wait."""
    max_params_per_request: int = 200
    control_messages_per_s: int = CONTROL_MESSAGES_PER_SECOND - 1
    """Kept one below Binance's 5: the library's automatic PONGs count too."""
    exchange_info_ttl_s: float = 3600.0
    rest_timeout_s: float = 10.0
    max_frame_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        check_field_types(self, InvalidParams)
        # a URL the client cannot use failed only inside the reconnect loop, retried
        # for good ("--binance-url notaurl" served a feed that never connects)
        _check_url(f"stream_url (--binance-url, {ENV_STREAM_URL})", self.stream_url, ("ws", "wss"))
        _check_url(
            f"rest_url (--binance-rest-url, {ENV_REST_URL})", self.rest_url, ("http", "https")
        )
        if isinstance(self.streams, str):
            raise InvalidParams("streams must be a tuple of stream kinds, not a string")
        if not self.streams:
            raise InvalidParams("streams must name at least one stream kind")
        for kind in self.streams:
            check_stream_kind(kind)
        if len(set(self.streams)) != len(self.streams):
            raise InvalidParams(f"streams names a kind twice: {self.streams}")
        if sum(kind in DIFF_DEPTH_STREAMS for kind in self.streams) > 1:
            raise InvalidParams("streams may name one diff depth stream (depth or depth@100ms)")
        if self.transport not in ("picows", "websockets"):
            raise InvalidParams(
                f"transport must be 'picows' or 'websockets', got {self.transport!r}"
            )
        if self.book_stream not in DIFF_DEPTH_STREAMS:
            raise InvalidParams(
                f"book_stream must be one of {DIFF_DEPTH_STREAMS}, got {self.book_stream!r}"
            )
        if not 1 <= self.book_snapshot_limit <= 5000:
            raise InvalidParams("book_snapshot_limit must be between 1 and 5000")
        if self.book_buffer_limit < 1:
            raise InvalidParams("book_buffer_limit must be > 0")
        # "not x > 0", not "x <= 0": a NaN fails every comparison, and would pass
        for name in (
            "book_snapshot_retry_s",
            "silence_timeout_s",
            "watchdog_interval_s",
            "max_connection_age_s",
            "handover_grace_s",
            "open_timeout_s",
            "reply_timeout_s",
            "exchange_info_ttl_s",
            "rest_timeout_s",
        ):
            if not getattr(self, name) > 0:
                raise InvalidParams(f"{name} must be > 0")
        for name in ("stall_after_s", "max_future_skew_s", "max_event_age_s", "start_timeout_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InvalidParams(f"{name} must be > 0 or None")
        if not self.stall_factor >= 1:
            raise InvalidParams("stall_factor must be >= 1")
        if not 1 <= self.max_params_per_request <= 1024:
            raise InvalidParams("max_params_per_request must be between 1 and 1024")
        if not 1 <= self.control_messages_per_s <= CONTROL_MESSAGES_PER_SECOND:
            raise InvalidParams(
                f"control_messages_per_s must be between 1 and {CONTROL_MESSAGES_PER_SECOND}"
            )

    @property
    def combined_stream_url(self) -> str:
        """``wss://host:9443`` -> ``wss://host:9443/stream`` (the combined endpoint)."""
        base = self.stream_url.rstrip("/")
        if base.endswith("/stream"):
            return base
        if base.endswith("/ws"):
            base = base[: -len("/ws")]
        return base + "/stream"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> FeedConfig:
        """Defaults, then the environment variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get(ENV_STREAM_URL):
            values["stream_url"] = env[ENV_STREAM_URL]
        if env.get(ENV_REST_URL):
            values["rest_url"] = env[ENV_REST_URL]
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> FeedConfig:
        """Flags beat environment variables, which beat the defaults."""
        config = cls.from_env(environ, **overrides)
        changes: dict[str, Any] = {}
        if getattr(args, "binance_url", None):
            changes["stream_url"] = args.binance_url
        if getattr(args, "binance_rest_url", None):
            changes["rest_url"] = args.binance_rest_url
        return replace(config, **changes) if changes else config

    def with_(self, **changes: Any) -> FeedConfig:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise InvalidParams(f"unknown FeedConfig field(s): {sorted(unknown)}")
        return replace(self, **changes)


def is_url(url: str, schemes: tuple[str, ...]) -> bool:
    """``url`` has one of ``schemes``, a host, and a well-formed port if any: what a
    client can connect to (the feed's URLs, ``record --url``)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in schemes and bool(parts.hostname)


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    if not is_url(url, schemes):
        expected = " or ".join(f"{scheme}://HOST[:PORT]" for scheme in schemes)
        raise InvalidParams(f"{name} must be {expected}, got {url!r}")


def rest_left_at_binance(config: FeedConfig) -> str | None:
    """Why the REST half may not match the stream half: a stream URL moved off
    Binance (a simulator, a proxy) with the REST URL left at Binance's, so the rules
    and book snapshots come from another exchange than the streams; ``None`` if not."""
    host = urlsplit(config.stream_url).hostname or ""
    if config.rest_url != DEFAULT_REST_URL or host.endswith("binance.com"):
        return None
    return (
        f"the streams come from {config.stream_url} but the exchange's rules and book "
        f"snapshots from {config.rest_url} (the default): set the REST URL too "
        f"(--binance-rest-url / {ENV_REST_URL}) if they are not the same exchange's"
    )


def add_feed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--binance-url`` and ``--binance-rest-url`` to a CLI command's parser."""
    parser.add_argument(
        "--binance-url",
        default=None,
        help=f"stream endpoint base (env {ENV_STREAM_URL}; default {DEFAULT_STREAM_URL})",
    )
    parser.add_argument(
        "--binance-rest-url",
        default=None,
        help=f"REST endpoint base (env {ENV_REST_URL}; default {DEFAULT_REST_URL})",
    )
