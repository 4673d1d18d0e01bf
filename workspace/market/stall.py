"""Stall detection: does each stream still arrive at its own pace?

Streams differ: a ``@ticker`` comes every second, a ``@depth5`` every second or 100 ms,
trades and book tickers whenever the market moves (many a second on BTCUSDT, a few an
hour on a quiet pair).  So each stream's expected interval is **learned** from what it
does (a moving average of the time between its messages), starting from the interval
Binance documents for the kinds that have one.  A stream is *silent* once it has sent
nothing for ``max(stall_after_s, factor x its interval)``; the feed is *stalled* when
every stream it can judge is silent: nothing it expects is arriving.  One silent
stream among flowing ones (a halted symbol) is reported, not a stall.

Sans-I/O: the feed counts records per stream key as they arrive (one dict increment)
and calls :meth:`CadenceWatch.tick` from its watchdog with the time.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

__all__ = ["CadenceWatch", "StreamPace"]

_SMOOTHING: Final = 0.3
"""Weight of the newest interval in the moving average."""


@dataclass(slots=True)
class StreamPace:
    count: int
    """The stream's message count when it last changed."""
    last_change_s: float
    """When (monotonic) the count was last seen to change."""
    interval_s: float | None
    """The time between messages: documented until measured, then learned (``None``:
    not known yet)."""
    measured: bool = False


class CadenceWatch(Generic[Key]):
    def __init__(
        self,
        *,
        stall_after_s: float = 3.0,
        factor: float = 3.0,
        nominal_interval_s: Mapping[object, float] | None = None,
    ) -> None:
        if stall_after_s <= 0 or factor < 1:
            raise ValueError("need stall_after_s > 0 and factor >= 1")
        self.stall_after_s = stall_after_s
        self.factor = factor
        self._nominal = dict(nominal_interval_s or {})
        self._paces: dict[Key, StreamPace] = {}

    def nominal(self, key: Key) -> float | None:
        """The documented interval of a stream key's kind (a tuple key's first item),
        if it has one."""
        kind: object = key[0] if isinstance(key, tuple) else key
        return self._nominal.get(kind)

    def tick(self, now_s: float, counts: Mapping[Key, int]) -> None:
        """Look at the cumulative message counts per stream key at ``now_s``."""
        paces = self._paces
        for key, count in counts.items():
            pace = paces.get(key)
            if pace is None:
                paces[key] = StreamPace(count, now_s, self.nominal(key))
                continue
            if count == pace.count:
                continue
            sample = (now_s - pace.last_change_s) / (count - pace.count)
            previous = pace.interval_s
            if previous is None or not pace.measured:
                pace.interval_s = sample  # a measurement replaces the documented beat
                pace.measured = True
            else:
                pace.interval_s = previous + _SMOOTHING * (sample - previous)
            pace.count = count
            pace.last_change_s = now_s

    def threshold_s(self, key: Key) -> float | None:
        """How long the stream may stay quiet before it is silent (``None``: unknown)."""
        pace = self._paces.get(key)
        interval = pace.interval_s if pace is not None else self.nominal(key)
        if interval is None:
            return None
        return max(self.stall_after_s, self.factor * interval)

    def silent(self, now_s: float) -> list[Key]:
        """The streams that are quiet for longer than they should be."""
        quiet = []
        for key, pace in self._paces.items():
            limit = self.threshold_s(key)
            if limit is not None and now_s - pace.last_change_s > limit:
                quiet.append(key)
        return quiet

    def judged(self) -> int:
        """How many streams have a known pace."""
        return sum(1 for key in self._paces if self.threshold_s(key) is not None)

    def stalled(self, now_s: float) -> bool:
        """Every stream with a known pace is silent (and there is at least one)."""
        judged = self.judged()
        return judged > 0 and len(self.silent(now_s)) == judged

    def restart(self, now_s: float) -> None:
        """A new connection: silence is counted from now (paces are kept)."""
        for pace in self._paces.values():
            pace.last_change_s = now_s

    def forget(self, keep: Collection[Key]) -> None:
        """Drop the streams no longer subscribed."""
        for key in [k for k in self._paces if k not in keep]:
            del self._paces[key]
