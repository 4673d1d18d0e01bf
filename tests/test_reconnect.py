"""The one reconnect policy (workspace/reconnect.py): delays, resets, the verdict."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import socket
import ssl
import statistics

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Close
from websockets.http11 import Response

from workspace.market.connection import StaleConnection
from workspace.reconnect import (
    Backoff,
    HandshakeRejected,
    ReconnectPolicy,
    ReconnectRequested,
    Verdict,
    classify,
)


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers()))


# -- delays ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_first_retry_comes_within_first_s(seed: int) -> None:
    policy = ReconnectPolicy(rng=random.Random(seed))
    assert 0 <= next(policy.delays()) <= 0.25


def test_ceilings_double_up_to_the_cap() -> None:
    policy = ReconnectPolicy(first_s=0.25, factor=2.0, cap_s=3.0)
    assert list(itertools.islice(policy.ceilings(), 6)) == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("seed", range(5))
def test_full_jitter_every_delay_lies_between_zero_and_its_ceiling(seed: int) -> None:
    policy = ReconnectPolicy(rng=random.Random(seed))
    pairs = zip(policy.delays(), policy.ceilings(), strict=False)
    for delay, ceiling in itertools.islice(pairs, 60):
        assert 0 <= delay <= ceiling <= 30.0


def test_full_jitter_uses_the_whole_range_below_the_cap() -> None:
    """Full jitter, not "equal jitter": capped delays spread over [0, cap], mean cap/2."""
    rng = random.Random(5)
    capped = [list(itertools.islice(ReconnectPolicy(rng=rng).delays(), 20))[-1] for _ in range(400)]
    assert min(capped) < 3.0  # equal jitter would never go below cap / 2 = 15
    assert max(capped) > 27.0
    assert 13.0 < statistics.mean(capped) < 17.0


def test_jitter_spreads_clients_dropped_at_the_same_moment() -> None:
    firsts = {round(next(ReconnectPolicy(rng=random.Random(s)).delays()), 6) for s in range(50)}
    assert len(firsts) > 45


def test_same_seed_gives_the_same_delays() -> None:
    a = list(itertools.islice(ReconnectPolicy(rng=random.Random(3)).delays(), 10))
    b = list(itertools.islice(ReconnectPolicy(rng=random.Random(3)).delays(), 10))
    assert a == b


def test_nonsense_policy_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="first_s"):
        ReconnectPolicy(first_s=0)
    with pytest.raises(ValueError, match="first_s"):
        ReconnectPolicy(first_s=40, cap_s=30)
    with pytest.raises(ValueError, match="factor"):
        ReconnectPolicy(factor=0.5)
    with pytest.raises(ValueError, match="healthy_after_s"):
        ReconnectPolicy(healthy_after_s=-1)
    # a NaN fails every comparison: checks written as "x < 1" let these through
    for field, words in (
        ("factor", "factor"),
        ("healthy_after_s", "healthy_after_s"),
        ("min_planned_s", "min_planned_s"),
        ("cap_s", "first_s <= cap_s"),
    ):
        with pytest.raises(ValueError, match=words):
            ReconnectPolicy(**{field: math.nan})  # type: ignore[arg-type]


# -- Backoff: when the sequence restarts -------------------------------------------------


def _ceiling_backoff(**kwargs: float) -> Backoff:
    """A backoff whose delays are their ceilings (rng.random() -> 1.0 never happens,
    so use a source that returns just below 1)."""

    class Top(random.Random):
        def random(self) -> float:
            return 0.999999

    return ReconnectPolicy(rng=Top(), **kwargs).backoff()


def test_failed_attempts_grow_the_delay() -> None:
    backoff = _ceiling_backoff(first_s=0.25, cap_s=30.0)
    delays = [backoff.failed() for _ in range(5)]
    assert delays == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0], rel=1e-5)
    assert backoff.attempts == 5


def test_a_server_that_accepts_and_drops_is_retried_ever_more_slowly() -> None:
    backoff = _ceiling_backoff(first_s=0.25, cap_s=30.0, healthy_after_s=30.0)
    delays = []
    now = 0.0
    for _ in range(8):
        backoff.connected(now)
        now += 0.1  # dropped at once after every successful handshake
        delays.append(backoff.lost(now))
    assert delays[-1] == pytest.approx(30.0, rel=1e-5)
    assert delays == sorted(delays)


def test_a_connection_that_stayed_healthy_restarts_the_sequence() -> None:
    backoff = _ceiling_backoff(first_s=0.25, cap_s=30.0, healthy_after_s=30.0)
    for _ in range(6):
        backoff.failed()
    backoff.connected(100.0)
    assert backoff.lost(129.0) == pytest.approx(16.0, rel=1e-5)  # 29 s: not yet healthy
    backoff.connected(200.0)
    assert backoff.lost(230.0) == pytest.approx(0.25, rel=1e-5)  # 30 s: healthy, reset
    assert backoff.attempts == 1


def test_a_planned_replacement_takes_no_delay_and_never_inherits_a_grown_backoff() -> None:
    backoff = _ceiling_backoff(first_s=0.25, cap_s=30.0, healthy_after_s=3600.0)
    for _ in range(6):
        backoff.failed()  # the sequence has grown to 16 s
    backoff.connected(0.0)
    assert backoff.planned(5.0) == 0.0  # a serverShutdown 5 s after connecting
    assert backoff.failed() == pytest.approx(0.25, rel=1e-5)  # starts from the beginning


def test_a_planned_cut_right_after_connecting_counts_as_a_failure() -> None:
    """A server that sends serverShutdown on every connection must not get a tight loop."""
    backoff = _ceiling_backoff(first_s=0.25, cap_s=30.0, min_planned_s=1.0)
    delays = []
    for step in range(5):
        backoff.connected(float(step))
        delays.append(backoff.planned(step + 0.01))
    assert delays == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0], rel=1e-5)


# -- the verdict ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        socket.gaierror(-3, "temporary failure in name resolution"),
        ConnectionClosedError(None, None),
        ConnectionClosedOK(Close(1001, "going away"), None),
        ConnectionClosedError(Close(1008, "too slow"), None),
        InvalidMessage("did not receive a valid HTTP response"),
        asyncio.IncompleteReadError(b"", 10),
        ssl.SSLError("record layer failure"),
        _status(500),
        _status(503),
        _status(429),
        _status(408),
        HandshakeRejected(502),
        HandshakeRejected(429),
        ReconnectRequested("the owner's choice"),
        StaleConnection("stalled"),
        StaleConnection("serverShutdown"),
        EOFError(),
    ],
    ids=repr,
)
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert classify(exc) is Verdict.RETRY
    assert ReconnectPolicy.classify(exc) is Verdict.RETRY


@pytest.mark.parametrize(
    "exc",
    [
        InvalidURI("http://x", "scheme isn't ws or wss"),
        _status(400),
        _status(401),
        _status(403),
        _status(404),
        _status(418),
        HandshakeRejected(401, "bad token"),
        ssl.SSLCertVerificationError("certificate verify failed"),
        TypeError("a bug in a message handler"),
        KeyError("stream"),
        ValueError("a bug"),
        RuntimeError("anything unknown"),
        ZeroDivisionError(),
    ],
    ids=repr,
)
def test_failures_that_would_repeat_forever_are_fatal(exc: BaseException) -> None:
    """Never "retry on any Exception": a bug in a handler must end the loop, loudly."""
    assert classify(exc) is Verdict.FATAL


def test_stale_connection_says_which_reasons_are_planned() -> None:
    assert StaleConnection("serverShutdown").planned
    assert StaleConnection("max-age").planned
    assert not StaleConnection("stalled").planned
