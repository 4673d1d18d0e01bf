"""Symbols, stream names, batched control messages and the control-message pace."""

from __future__ import annotations

import json

import pytest

from workspace.errors import InvalidSymbol
from workspace.market.errors import MalformedSymbolError
from workspace.market.subscriptions import (
    ControlRateLimiter,
    control_messages,
    normalize_symbol,
    stream_names,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("btcusdt", "BTCUSDT"),
        ("ETHUSDT", "ETHUSDT"),
        (" bnbBtc ", "BNBBTC"),
        ("1000satsusdt", "1000SATSUSDT"),
    ],
)
def test_symbols_are_normalised_to_upper_case(given: str, expected: str) -> None:
    assert normalize_symbol(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "B", "btc usdt", "btc/usdt", "btcusdt@ticker", "A" * 21, 42, None]
)
def test_malformed_symbols_are_an_invalid_symbol_error(bad: object) -> None:
    with pytest.raises(MalformedSymbolError, match="symbol"):
        normalize_symbol(bad)
    assert issubclass(MalformedSymbolError, InvalidSymbol)


def test_stream_names_use_the_lower_case_symbol_and_the_exact_kind() -> None:
    assert stream_names("BTCUSDT", ["ticker", "bookTicker"]) == [
        "btcusdt@ticker",
        "btcusdt@bookTicker",
    ]


def test_many_streams_are_batched_into_few_messages_with_consecutive_ids() -> None:
    streams = [f"s{i}@ticker" for i in range(450)]
    messages = list(control_messages("SUBSCRIBE", streams, first_id=10, max_params=200))
    assert [request_id for request_id, _ in messages] == [10, 11, 12]
    bodies = [json.loads(body) for _, body in messages]
    assert [len(b["params"]) for b in bodies] == [200, 200, 50]
    assert all(b["method"] == "SUBSCRIBE" for b in bodies)
    assert [p for b in bodies for p in b["params"]] == streams
    assert [b["id"] for b in bodies] == [10, 11, 12]


def test_rate_limiter_lets_a_burst_through_then_waits_for_the_window() -> None:
    limiter = ControlRateLimiter(limit=4, window_s=1.0)
    for t in (0.0, 0.1, 0.2, 0.3):
        assert limiter.delay(t) == 0
        limiter.record(t)
    assert limiter.delay(0.4) == pytest.approx(0.6)
    assert limiter.delay(1.0) == 0
    limiter.record(1.0)
    assert limiter.delay(1.05) == pytest.approx(0.05)


def test_rate_limiter_never_allows_more_than_the_limit_in_any_window() -> None:
    limiter = ControlRateLimiter(limit=4, window_s=1.0)
    now, sent = 0.0, []
    for _ in range(40):
        now += limiter.delay(now)
        limiter.record(now)
        sent.append(now)
        now += 0.01
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < start + 1.0 - 1e-9) <= 4


def test_rate_limiter_reset_gives_a_new_connection_a_full_budget() -> None:
    limiter = ControlRateLimiter(limit=1)
    limiter.record(0.0)
    assert limiter.delay(0.0) > 0
    limiter.reset()
    assert limiter.delay(0.0) == 0


def test_rate_limiter_refuses_a_zero_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        ControlRateLimiter(limit=0)
