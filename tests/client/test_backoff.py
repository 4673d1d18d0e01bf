"""The client's reconnect policy: exponential backoff with full jitter."""

from __future__ import annotations

import itertools
import random

from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response

from workspace.protocol.backoff import backoff_delays, is_retryable


def test_first_retry_comes_within_half_a_second() -> None:
    for seed in range(200):
        assert 0 <= next(backoff_delays(rng=random.Random(seed))) <= 0.5


def test_delays_grow_exponentially_and_are_capped_at_30_s() -> None:
    delays = list(itertools.islice(backoff_delays(rng=random.Random(1)), 200))
    assert max(delays) <= 30
    assert max(delays[:3]) <= 2.0  # ceilings 0.5, 1, 2
    assert max(delays[-50:]) > 15  # the ceiling reached the cap


def test_jitter_spreads_clients_apart() -> None:
    firsts = {round(next(backoff_delays(rng=random.Random(seed))), 6) for seed in range(50)}
    assert len(firsts) > 40


def status_error(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers()))


def test_refused_handshakes_are_fatal_and_network_errors_retryable() -> None:
    assert not is_retryable(status_error(401))
    assert not is_retryable(status_error(403))
    assert is_retryable(status_error(503))
    assert is_retryable(ConnectionRefusedError())
    assert is_retryable(TimeoutError())
    assert is_retryable(EOFError())  # a server that is still starting
    assert not is_retryable(InvalidURI("http://x", "not a ws URL"))
