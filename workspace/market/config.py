"""The feed's configuration: URLs (flags / environment variables), streams and timings."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from workspace.errors import InvalidParams
from workspace.market.subscriptions import CONTROL_MESSAGES_PER_SECOND

DEFAULT_STREAM_URL: Final = "wss://stream.binance.com:9443"
DEFAULT_REST_URL: Final = "https://api.binance.com"
ENV_STREAM_URL: Final = "WORKSPACE_BINANCE_URL"
ENV_REST_URL: Final = "WORKSPACE_BINANCE_REST_URL"

NORMALIZED_STREAMS: Final = frozenset({"ticker", "miniTicker", "bookTicker", "aggTrade", "trade"})
"""Stream kinds the feed turns into records (plus rolling-window ``ticker_1h`` etc.)."""


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
    """Stream kinds subscribed for every symbol."""
    validate_symbols: bool = True
    """Check symbols against exchangeInfo before subscribing (Binance would accept an
    unknown one and then send nothing)."""
    silence_timeout_s: float = 60.0
    """Watchdog: reconnect when subscribed streams send nothing for this long."""
    watchdog_interval_s: float = 1.0
    """How often the watchdog and the connection-age check look."""
    max_connection_age_s: float = 23.5 * 3600
    """Reconnect proactively before Binance's 24 h disconnect."""
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
        if isinstance(self.streams, str):
            raise InvalidParams("streams must be a tuple of stream kinds, not a string")
        if not self.streams:
            raise InvalidParams("streams must name at least one stream kind")
        for kind in self.streams:
            if kind not in NORMALIZED_STREAMS and not kind.startswith("ticker_"):
                raise InvalidParams(
                    f"stream kind {kind!r} is not one the feed normalises; "
                    f"choose from {sorted(NORMALIZED_STREAMS)} or ticker_<window>"
                )
        for name in ("silence_timeout_s", "watchdog_interval_s", "max_connection_age_s"):
            if getattr(self, name) <= 0:
                raise InvalidParams(f"{name} must be > 0")
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
