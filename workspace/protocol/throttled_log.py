"""Logging that a client cannot turn into a flood: the first failure of a kind is
logged with its traceback (a bug must be fixable), repeats within ``interval_s`` are
only counted, and the next one let through says how many were not shown."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

MAX_KEYS = 256  # kinds of failure remembered (a key per exception site, not per client)


class ThrottledLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def failure(self, key: Hashable, message: str, error: BaseException) -> bool:
        """Log ``message`` for ``error`` unless ``key`` was logged within the interval;
        True when logged.  The first time with the traceback, later ones on one line."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if len(self._last) >= MAX_KEYS and key not in self._last:
            self._last.clear()
            self._suppressed.clear()
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        if last is None:
            self._log.error("%s", message, exc_info=error)
        else:
            self._log.error(
                "%s: %s: %s (%d more since the last report)",
                message,
                type(error).__name__,
                error,
                suppressed,
            )
        return True


def failure_key(error: BaseException) -> Hashable:
    """The kind of a failure: its type and the line that raised it."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    where = (trace.tb_frame.f_code.co_filename, trace.tb_lineno) if trace is not None else None
    return (type(error), where)
