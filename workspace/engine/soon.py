"""A publication asked for many times that runs once, a short delay after the first
ask: the engine's STATUS after clients come and go, and its positions and portfolio
after order events, each one message per delay however many asks a burst makes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Soon:
    """Calls ``action`` ``delay_s`` after the first :meth:`ask` since it last ran."""

    def __init__(self, delay_s: float, action: Callable[[], None]) -> None:
        self.delay_s = delay_s
        self.action = action
        self._handle: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def ask(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # asked from outside the loop: the cadences cover it
            return
        self._handle = loop.call_later(self.delay_s, self._run)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        self._handle = None
        self.action()
