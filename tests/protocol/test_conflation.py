"""The conflating queue (arrival order, latest per key): the strategy callbacks' and
RealtimeClient's listener queues."""

from __future__ import annotations

import asyncio

import pytest

from workspace.protocol.conflation import ConflatingQueue, SubscriptionClosed, conflation_key

TIMEOUT = 5


def test_a_closed_queue_refuses_puts_and_raises_on_get() -> None:
    queue: ConflatingQueue[int] = ConflatingQueue()
    queue.close()
    assert queue.put(1) is False
    with pytest.raises(SubscriptionClosed):
        queue.get_nowait()


async def test_quiet_puts_keep_order_and_conflation_until_the_consumer_is_woken() -> None:
    queue: ConflatingQueue[str] = ConflatingQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # parked in get()
    queue.put("a1", "a", wake=False)
    queue.put("event", None, wake=False)
    queue.put("a2", "a", wake=False)
    queue.wake()
    assert await asyncio.wait_for(getter, TIMEOUT) == "a2"
    assert queue.get_nowait() == "event"
    assert queue.conflated == 1


def test_keys_conflate_market_data_and_periodic_state_never_events_or_replies() -> None:
    assert conflation_key({"type": "MARKET_UPDATE", "symbol": "A"}) == ("MARKET_UPDATE", "A")
    assert conflation_key({"type": "BOOK_UPDATE", "symbol": "A"}) == ("BOOK_UPDATE", "A")
    assert conflation_key({"type": "STATUS"}) == "STATUS"
    assert conflation_key({"type": "POSITION_UPDATE", "id": 1}) is None  # a reply
    assert conflation_key({"type": "ORDER_UPDATE", "seq": 1}) is None
