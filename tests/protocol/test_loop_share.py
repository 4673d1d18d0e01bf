"""LoopShare: bulk work of every connection shares each loop turn, first come first
served; nothing waits forever (a request bigger than the share gets a turn alone, a
cancelled waiter is skipped)."""

from __future__ import annotations

import asyncio

import pytest

from workspace.protocol.turns import LoopShare


async def turns_until_done(tasks: list[asyncio.Task[None]]) -> list[int]:
    """The loop turn (counted from 0) at which each task finished."""
    finished: dict[int, int] = {}
    turn = 0
    while len(finished) < len(tasks):
        await asyncio.sleep(0)
        turn += 1
        for index, task in enumerate(tasks):
            if task.done() and index not in finished:
                finished[index] = turn
        assert turn < 100
    return [finished[index] for index in range(len(tasks))]


async def test_work_beyond_the_share_waits_for_later_turns_in_arrival_order() -> None:
    share = LoopShare(per_turn=20)
    tasks = [asyncio.create_task(share.take(10)) for _ in range(6)]
    done_at = await turns_until_done(tasks)
    assert done_at == sorted(done_at)  # first come, first served
    # Two requests of 10 per turn: three distinct turns for six of them.
    assert len(set(done_at)) == 3
    assert share.waited == 4


async def test_a_request_bigger_than_the_share_gets_a_turn_alone() -> None:
    share = LoopShare(per_turn=10)
    small = asyncio.create_task(share.take(5))
    big = asyncio.create_task(share.take(50))
    after = asyncio.create_task(share.take(5))
    small_at, big_at, after_at = await turns_until_done([small, big, after])
    assert small_at < big_at < after_at


async def test_a_cancelled_waiter_is_skipped() -> None:
    share = LoopShare(per_turn=10)
    first = asyncio.create_task(share.take(10))
    gone = asyncio.create_task(share.take(10))
    last = asyncio.create_task(share.take(10))
    await asyncio.sleep(0)
    gone.cancel()
    await turns_until_done([first, last])
    assert gone.cancelled()


def test_a_share_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_turn"):
        LoopShare(0)
