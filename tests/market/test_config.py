"""Feed configuration: defaults, environment variables, flags, validation."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest

from workspace.errors import InvalidParams
from workspace.market.config import (
    DEFAULT_REST_URL,
    DEFAULT_STREAM_URL,
    FeedConfig,
    add_feed_arguments,
    rest_left_at_binance,
)


def test_defaults_are_binance_public_spot_endpoints() -> None:
    config = FeedConfig.from_env({})
    assert config.stream_url == DEFAULT_STREAM_URL == "wss://stream.binance.com:9443"
    assert config.rest_url == DEFAULT_REST_URL == "https://api.binance.com"
    assert config.combined_stream_url == "wss://stream.binance.com:9443/stream"


def test_environment_variables_override_the_defaults() -> None:
    config = FeedConfig.from_env(
        {
            "WORKSPACE_BINANCE_URL": "ws://127.0.0.1:9443",
            "WORKSPACE_BINANCE_REST_URL": "http://127.0.0.1:9443",
        }
    )
    assert config.combined_stream_url == "ws://127.0.0.1:9443/stream"
    assert config.rest_url == "http://127.0.0.1:9443"


def test_flags_override_environment_variables() -> None:
    parser = argparse.ArgumentParser()
    add_feed_arguments(parser)
    args = parser.parse_args(
        ["--binance-url", "ws://127.0.0.1:1", "--binance-rest-url", "http://127.0.0.1:2"]
    )
    config = FeedConfig.from_args(args, {"WORKSPACE_BINANCE_URL": "ws://elsewhere:9"})
    assert (config.stream_url, config.rest_url) == ("ws://127.0.0.1:1", "http://127.0.0.1:2")


def test_absent_flags_leave_environment_values() -> None:
    parser = argparse.ArgumentParser()
    add_feed_arguments(parser)
    config = FeedConfig.from_args(parser.parse_args([]), {"WORKSPACE_BINANCE_URL": "ws://h:9"})
    assert config.stream_url == "ws://h:9"
    assert config.rest_url == DEFAULT_REST_URL


@pytest.mark.parametrize(
    ("base", "combined"),
    [
        ("ws://h:1/", "ws://h:1/stream"),
        ("ws://h:1/ws", "ws://h:1/stream"),
        ("ws://h:1/stream", "ws://h:1/stream"),
    ],
)
def test_combined_stream_url_is_derived_from_the_base(base: str, combined: str) -> None:
    assert FeedConfig(stream_url=base).combined_stream_url == combined


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"streams": ()}, "at least one"),
        ({"streams": "ticker"}, "a string is not a tuple"),
        ({"streams": ("depth15",)}, "not one the feed normalises"),
        ({"streams": ("kline_2m",)}, "not one the feed normalises"),
        ({"streams": ("ticker_2h",)}, "not one the feed normalises"),
        ({"streams": ("ticker", "ticker")}, "twice"),
        ({"streams": ("depth", "depth@100ms")}, "one diff depth"),
        ({"book_stream": "depth5"}, "book_stream"),
        ({"book_snapshot_limit": 5001}, "book_snapshot_limit"),
        ({"book_snapshot_limit": 0}, "book_snapshot_limit"),
        ({"silence_timeout_s": 0}, "silence_timeout_s"),
        ({"max_params_per_request": 0}, "max_params_per_request"),
        ({"control_messages_per_s": 6}, "control_messages_per_s"),
    ],
)
def test_nonsense_configuration_is_refused_with_a_clear_error(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParams, match=message):
        FeedConfig(**changes)  # type: ignore[arg-type]


SECONDS_FIELDS = [f.name for f in dataclasses.fields(FeedConfig) if f.name.endswith("_s")]


@pytest.mark.parametrize("name", SECONDS_FIELDS)
@pytest.mark.parametrize("value", [math.nan, -1.0, 0.0])
def test_every_duration_must_be_positive_and_a_nan_is_refused(name: str, value: float) -> None:
    """``x <= 0`` let a NaN through (it fails every comparison), and the timeouts were
    not checked at all: a NaN watchdog would never have fired."""
    with pytest.raises(InvalidParams, match=name):
        FeedConfig(**{name: value})  # type: ignore[arg-type]


def test_rolling_window_tickers_are_accepted_stream_kinds() -> None:
    assert FeedConfig(streams=("ticker_1h", "trade")).streams == ("ticker_1h", "trade")


@pytest.mark.parametrize(
    "kind",
    ["depth", "depth@100ms", "depth5", "depth10@100ms", "depth20", "kline_1s", "kline_1M",
     "kline_15m", "ticker_4h", "ticker_1d", "miniTicker"],
)  # fmt: skip
def test_depth_and_kline_stream_kinds_are_accepted(kind: str) -> None:
    assert FeedConfig(streams=(kind,)).streams == (kind,)


def test_with_refuses_unknown_fields() -> None:
    with pytest.raises(InvalidParams, match="unknown"):
        FeedConfig().with_(nonsense=1)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("stream_url", "notaurl"),
        ("stream_url", "http://127.0.0.1:9443"),
        ("stream_url", "wss://"),
        ("stream_url", "ws://host:99999"),
        ("rest_url", "ws://127.0.0.1:9443"),
        ("rest_url", "api.binance.com"),
    ],
)
def test_a_url_the_client_cannot_use_is_refused_naming_its_flag(field: str, url: str) -> None:
    """``serve --binance-url notaurl`` served a feed that never came up."""
    flag = {"stream_url": "--binance-url", "rest_url": "--binance-rest-url"}[field]
    with pytest.raises(InvalidParams, match=f"{field} \\({flag}, WORKSPACE_BINANCE_"):
        FeedConfig().with_(**{field: url})


def test_streams_moved_off_binance_with_the_rest_left_there_are_pointed_out() -> None:
    assert rest_left_at_binance(FeedConfig()) is None
    assert rest_left_at_binance(FeedConfig(stream_url="wss://stream.binance.com:443")) is None
    both = FeedConfig(stream_url="ws://127.0.0.1:9443", rest_url="http://127.0.0.1:9443")
    assert rest_left_at_binance(both) is None
    said = rest_left_at_binance(FeedConfig(stream_url="ws://127.0.0.1:9443"))
    assert said == (
        "the streams come from ws://127.0.0.1:9443 but the exchange's rules and book "
        "snapshots from https://api.binance.com (the default): set the REST URL too "
        "(--binance-rest-url / WORKSPACE_BINANCE_REST_URL) if they are not the same "
        "exchange's"
    )
