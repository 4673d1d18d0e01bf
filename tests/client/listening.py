"""What a ``RealtimeClient`` listener heard, and waiting on it.  A listener drains its
own queue in its own task, so a ``stream()`` reader can see a message before a
listener does: a test that checks what a listener got waits on the listener itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workspace.client import RealtimeClient
from workspace.session import Message

TIMEOUT = 15.0


async def until(predicate: Callable[[], bool], messages: asyncio.Queue[Message]) -> None:
    """Wait for the client's messages until ``predicate()`` holds."""

    async def scan() -> None:
        while not predicate():
            await messages.get()

    await asyncio.wait_for(scan(), TIMEOUT)


def collector(client: RealtimeClient) -> tuple[list[Message], asyncio.Queue[Message]]:
    """A listener on ``client``: what it heard, and a queue woken by each message."""
    received: list[Message] = []
    woken: asyncio.Queue[Message] = asyncio.Queue()

    def hear(message: Message) -> None:
        received.append(message)
        woken.put_nowait(message)

    client.listen(hear)
    return received, woken
