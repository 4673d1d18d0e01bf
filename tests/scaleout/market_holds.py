"""Asking the market engine what gateways and other shards hold of it (``holds``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workspace.bus.keys import BusKeys
from workspace.bus.rpc import CommandClient


async def holds_when(
    bus: CommandClient, condition: Callable[[dict[str, Any]], object], within: float = 20.0
) -> dict[str, Any]:
    """The market engine's ``holds`` once ``condition`` accepts them (asked again after
    each answer), within ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            reply: dict[str, Any] = await bus.call(BusKeys().market_commands, "holds")
            if condition(reply):
                return reply
