"""The set of order-event ``seq`` numbers already delivered on one connection, kept as
a few merged intervals (live delivery is nearly contiguous, so this stays tiny)."""

from __future__ import annotations

import bisect


class SeqSet:
    def __init__(self) -> None:
        # Sorted, disjoint, non-adjacent closed intervals [lo, hi].
        self._lo: list[int] = []
        self._hi: list[int] = []

    def __contains__(self, seq: int) -> bool:
        index = bisect.bisect_right(self._lo, seq) - 1
        return index >= 0 and self._hi[index] >= seq

    def add(self, seq: int) -> bool:
        """Add ``seq``; False when it was already there."""
        index = bisect.bisect_right(self._lo, seq) - 1
        if index >= 0 and self._hi[index] >= seq:
            return False
        joins_left = index >= 0 and self._hi[index] == seq - 1
        right = index + 1
        joins_right = right < len(self._lo) and self._lo[right] == seq + 1
        if joins_left and joins_right:
            self._hi[index] = self._hi[right]
            del self._lo[right], self._hi[right]
        elif joins_left:
            self._hi[index] = seq
        elif joins_right:
            self._lo[right] = seq
        else:
            self._lo.insert(right, seq)
            self._hi.insert(right, seq)
        return True

    @property
    def intervals(self) -> list[tuple[int, int]]:
        return list(zip(self._lo, self._hi, strict=True))

    @property
    def highest(self) -> int:
        return self._hi[-1] if self._hi else 0
