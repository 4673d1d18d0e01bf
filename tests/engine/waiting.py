"""Waiting on a condition of a running engine, with a timeout (never a fixed sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workspace.session import Message


async def until(condition: Callable[[], object], within: float = 10.0, what: str = "") -> None:
    """Return once ``condition()`` is true, looking after every loop turn; fails the test
    after ``within`` seconds."""

    async def look() -> None:
        while not condition():  # noqa: ASYNC110 (state of another part, no event of its own)
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(look(), within)
    except TimeoutError:
        raise AssertionError(f"not true within {within} s: {what or condition}") from None


async def next_of(
    queue: asyncio.Queue[Message],
    kind: str,
    within: float = 10.0,
    where: Callable[[Message], object] = lambda _: True,
    **match: object,
) -> Message:
    """The next message of type ``kind`` (with the given field values, and for which
    ``where`` is true) from ``queue``; fails the test after ``within`` seconds."""

    async def find() -> Message:
        while True:
            message = await queue.get()
            if (
                message.get("type") == kind
                and all(message.get(k) == v for k, v in match.items())
                and where(message)
            ):
                return message

    try:
        return await asyncio.wait_for(find(), within)
    except TimeoutError:
        raise AssertionError(f"no {kind} {match} within {within} s") from None
