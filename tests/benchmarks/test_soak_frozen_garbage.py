"""The soak's count of the cyclic garbage a frozen heap hides (benchmarks/soak.py)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import soak


class StartUpThing:
    """An object made before the freeze."""

    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can reclaim it


class LaterThing(StartUpThing):
    """An object made after the freeze."""


def test_a_frozen_object_that_became_a_garbage_cycle_is_counted(unfrozen: None) -> None:
    thing: StartUpThing | None = StartUpThing()
    gc.freeze()
    thing = None  # garbage now, but frozen: no collection sees it
    assert thing is None
    later: LaterThing | None = LaterThing()  # a cycle made after the freeze
    later = None  # collected as usual
    assert later is None
    found = soak.frozen_garbage(gc)
    assert found["StartUpThing"] == 1
    assert found["LaterThing"] == 0  # the collector could see it: not hidden
    assert gc.get_freeze_count() == 0  # the heap is back in the collector's view


def test_without_such_garbage_nothing_is_counted(unfrozen: None) -> None:
    kept = StartUpThing()
    gc.freeze()
    found = soak.frozen_garbage(gc)
    assert found["StartUpThing"] == 0
    assert kept.me is kept
