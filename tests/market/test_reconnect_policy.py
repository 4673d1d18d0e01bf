"""The reconnect policy: backoff delays and the retryable/fatal verdict."""

from __future__ import annotations

import itertools
import random
import socket
import ssl

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosedError,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from websockets.http11 import Response

from workspace.market.reconnect import ReconnectPolicy, StaleConnection, Verdict


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers()))


@pytest.mark.parametrize("seed", range(20))
def test_first_retry_comes_within_half_a_second(seed: int) -> None:
    policy = ReconnectPolicy(rng=random.Random(seed))
    assert 0 < next(policy.delays()) <= 0.5


@pytest.mark.parametrize("seed", range(5))
def test_delays_grow_and_never_exceed_the_cap(seed: int) -> None:
    policy = ReconnectPolicy(rng=random.Random(seed))
    delays = list(itertools.islice(policy.delays(), 40))
    assert max(delays) <= 30.0
    assert delays[-1] >= 15.0  # jitter stays within [cap / 2, cap] once capped
    bases = [min(30.0, 0.5 * 2**n) for n in range(40)]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases, strict=True))


def test_jitter_spreads_clients_dropped_at_the_same_moment() -> None:
    firsts = {round(next(ReconnectPolicy(rng=random.Random(s)).delays()), 6) for s in range(50)}
    assert len(firsts) > 40


def test_a_fresh_delay_iterator_starts_again_at_the_initial_delay() -> None:
    policy = ReconnectPolicy(rng=random.Random(1))
    worn = policy.delays()
    for _ in range(10):
        next(worn)
    assert next(worn) > 0.5
    assert next(policy.delays()) <= 0.5


def test_same_seed_gives_the_same_delays() -> None:
    a = list(itertools.islice(ReconnectPolicy(rng=random.Random(3)).delays(), 10))
    b = list(itertools.islice(ReconnectPolicy(rng=random.Random(3)).delays(), 10))
    assert a == b


def test_healthy_period_decides_the_reset() -> None:
    policy = ReconnectPolicy(healthy_after_s=60.0)
    assert not policy.is_healthy(59.9)
    assert policy.is_healthy(60.0)


def test_nonsense_policy_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        ReconnectPolicy(initial_s=0)
    with pytest.raises(ValueError, match="initial_s"):
        ReconnectPolicy(initial_s=40, cap_s=30)
    with pytest.raises(ValueError, match="factor"):
        ReconnectPolicy(factor=0.5)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        socket.gaierror(-3, "temporary failure in name resolution"),
        ConnectionClosedError(None, None),
        InvalidMessage("did not receive a valid HTTP response"),
        _status(500),
        _status(503),
        _status(429),
        StaleConnection("stalled"),
        EOFError(),
    ],
    ids=repr,
)
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert ReconnectPolicy.classify(exc) is Verdict.RETRY


@pytest.mark.parametrize(
    "exc",
    [
        InvalidURI("http://x", "scheme isn't ws or wss"),
        _status(400),
        _status(403),
        _status(404),
        _status(418),
        ssl.SSLCertVerificationError("certificate verify failed"),
        TypeError("a bug in our own code"),
        KeyError("stream"),
    ],
    ids=repr,
)
def test_failures_that_would_repeat_forever_are_fatal(exc: BaseException) -> None:
    assert ReconnectPolicy.classify(exc) is Verdict.FATAL
