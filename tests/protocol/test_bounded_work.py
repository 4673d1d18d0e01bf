"""Bounded work in a session: a resume from 0 reads the journal a page at a time and
queues at the consumer's pace (the outbox never holds the whole history), live events
published meanwhile wait behind it; an engine bug repeated per frame logs one
traceback, not one per frame."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.protocol.test_protocol_session import next_of, place
from workspace.protocol.session import ProtocolSession
from workspace.protocol.throttled_log import ThrottledLog, failure_key
from workspace.session import Message

EVENTS = 120
PAGE = 10
SNAPSHOT = 4


async def test_a_resume_from_0_streams_in_pages_at_the_consumers_pace(engine: Any) -> None:
    for _ in range(EVENTS):
        place(engine)
    session = ProtocolSession(engine, page_size=PAGE)
    opening = asyncio.create_task(session.open(since=0, journal_id=engine.journal_id))
    got: list[Message] = []
    most_queued = 0
    while not got or got[-1]["type"] != "RESUMED":
        most_queued = max(most_queued, session.outbox.pending)
        got.append(await next_of(session))
        if len(got) == SNAPSHOT + EVENTS // 2:
            engine.fill("order-1")  # live, published mid-resume: after RESUMED
    await asyncio.wait_for(opening, 5)
    seqs = [m["seq"] for m in got[SNAPSHOT:-1]]
    assert seqs == list(range(1, EVENTS + 1))
    assert got[-1]["count"] == EVENTS
    assert engine.pages_read == EVENTS // PAGE
    # Never the whole history at once: about two pages beyond the snapshot.
    assert most_queued <= SNAPSHOT + 2 * PAGE
    live = await next_of(session)
    assert (live["seq"], live["order"]["status"]) == (EVENTS + 1, "FILLED")
    await session.close()


async def test_a_resume_command_streams_in_pages_too_and_counts_what_it_sent(
    engine: Any,
) -> None:
    session = ProtocolSession(engine, page_size=PAGE)
    session.snapshot()
    for _ in range(EVENTS // 2):
        place(engine)  # live events of this connection, queued and not yet taken
    await session.handle({"action": "resume", "since": 0, "id": "r"})
    got = [await next_of(session) for _ in range(EVENTS // 2 + 1)]
    assert [m["seq"] for m in got[:-1]] == list(range(1, EVENTS // 2 + 1))
    assert (got[-1]["type"], got[-1]["id"], got[-1]["count"]) == ("RESUMED", "r", EVENTS // 2)
    await session.close()


async def test_a_consumer_that_goes_away_ends_a_waiting_resume(engine: Any) -> None:
    for _ in range(EVENTS):
        place(engine)
    session = ProtocolSession(engine, page_size=PAGE)
    opening = asyncio.create_task(session.open(since=0))
    await next_of(session)  # it has started, and waits for this consumer to read on
    session.outbox.close("connection closed")
    await asyncio.wait_for(opening, 5)
    assert engine.pages_read < EVENTS // PAGE
    await session.close()


class Broken:
    """An engine whose position snapshot has a bug."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def positions_message(self) -> Message:
        raise RuntimeError("a bug in the engine")


async def test_a_bug_hit_by_every_frame_logs_one_traceback(
    engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = ProtocolSession(Broken(engine))
    with caplog.at_level(logging.ERROR, logger="workspace.protocol"):
        for n in range(200):
            await session.handle({"action": "get_positions", "id": n})
            reply = await next_of(session)
            assert (reply["type"], reply["code"], reply["id"]) == ("ERROR", "INTERNAL", n)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1
    assert len(caplog.records) == 1
    await session.close()


def test_the_throttled_log_reports_what_it_held_back() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.throttled")
    logger.propagate = False
    logger.addHandler(Keep())
    log = ThrottledLog(logger, interval_s=60, clock=lambda: now[0])
    with pytest.raises(ValueError, match="bad") as caught:
        raise ValueError("bad")
    error = caught.value
    key = failure_key(error)
    assert log.failure(key, "failed", error)
    assert not any(log.failure(key, "failed", error) for _ in range(50))
    now[0] = 61.0
    assert log.failure(key, "failed", error)
    other = TypeError("other")
    assert log.failure(failure_key(other), "failed", other)  # another kind: its own
    assert records[0].exc_info is not None
    assert records[1].exc_info is None
    assert "50 more since the last report" in records[1].getMessage()
    assert len(records) == 3
