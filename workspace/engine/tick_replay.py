"""A replay of recorded ``MARKET_UPDATE``s, paced as recorded: the one loop behind the
protocol's ``replay`` for the engine (pages from its own tick store) and for a gateway
(pages the market engine sends it), so both check and pace alike."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable

from workspace.errors import InvalidParams
from workspace.market.subscriptions import normalize_symbol
from workspace.session import Message

Page = list[tuple[int, Message]]
"""Recorded ticks after a row id: (row id, message), in recording order."""


def check_replay(symbol: str, start_ms: int, end_ms: int, speed: float) -> tuple[str, float]:
    """The normalized symbol and speed; raises ``InvalidParams`` before anything runs."""
    if not isinstance(speed, int | float) or math.isnan(speed) or speed < 0:
        raise InvalidParams(f"speed must be a number >= 0, got {speed!r}")
    if start_ms > end_ms:
        raise InvalidParams(f"start ({start_ms}) is after end ({end_ms})")
    return normalize_symbol(symbol), float(speed)


async def paced_replay(
    next_page: Callable[[int], Awaitable[Page]], speed: float, *, full_page: int | None = None
) -> AsyncIterator[Message]:
    """Every tick of the pages ``next_page(after_row_id)`` gives, marked ``replay``,
    spaced as recorded (scaled by ``speed``; 0: as fast as the reader takes them).
    Ends on an empty page, or on one shorter than ``full_page`` when that is given
    (a page that had to cross the bus is not asked for once more in vain)."""
    after, previous_ms = 0, None
    while True:
        page = await next_page(after)
        if not page:
            return
        for row_id, message in page:
            after = int(row_id)
            ts = message["timestamp"]
            if speed > 0 and previous_ms is not None and ts > previous_ms:
                await asyncio.sleep((ts - previous_ms) / 1000.0 / speed)
            previous_ms = ts
            message["replay"] = True
            yield message
        if full_page is not None and len(page) < full_page:
            return
        await asyncio.sleep(0)  # between pages, let the loop breathe
