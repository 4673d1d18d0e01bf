"""Test doubles shared by the engine tests."""

from __future__ import annotations


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now_ms: int = 1_700_000_000_000, mono: float = 1000.0) -> None:
        self.now_ms = now_ms
        self.mono = mono

    def time_ms(self) -> int:
        return self.now_ms

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now_ms += int(seconds * 1000)
