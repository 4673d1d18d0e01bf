"""``settle_heap``: start-up objects leave the collector's view (workspace/heap.py)."""

from __future__ import annotations

import gc

from workspace.heap import settle_heap


def test_what_lives_after_start_up_is_frozen_and_later_objects_are_not(
    unfrozen: None,
) -> None:
    # start-up state: containers the collector tracks
    kept: list[list[int]] = [[] for _ in range(1_000)]
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count()
    assert frozen >= len(kept)
    tracked = {id(o) for o in gc.get_objects()}
    assert id(kept[0]) not in tracked  # out of the collector's view
    later: list[object] = []
    later.append(later)  # a cycle made after start-up
    assert id(later) in {id(o) for o in gc.get_objects()}
    del later
    assert gc.collect() >= 1  # still collected
