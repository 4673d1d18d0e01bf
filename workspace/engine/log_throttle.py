"""Logging that cannot flood a notebook: the first record per key is logged in full,
repeats within ``interval_s`` are counted and summarised on the next one let through."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass

from workspace.engine.clock import Clock


@dataclass(slots=True)
class _KeyState:
    last_logged: float
    suppressed: int = 0


class LogThrottle:
    def __init__(self, logger: logging.Logger, clock: Clock, interval_s: float = 10.0) -> None:
        self._log = logger
        self._clock = clock
        self._interval_s = interval_s
        self._keys: dict[Hashable, _KeyState] = {}

    def log(
        self,
        level: int,
        key: Hashable,
        message: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log unless ``key`` was logged less than ``interval_s`` ago; True if logged."""
        now = self._clock.monotonic()
        state = self._keys.get(key)
        if state is not None and now - state.last_logged < self._interval_s:
            state.suppressed += 1
            return False
        suppressed = 0 if state is None else state.suppressed
        self._keys[key] = _KeyState(last_logged=now)
        if suppressed:
            message += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._log.log(level, message, *args, exc_info=exc_info)
        return True
