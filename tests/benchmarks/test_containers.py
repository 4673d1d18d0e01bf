"""The soak probe's census of growing containers (benchmarks/containers.py)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import containers


class Registry:
    """A long-lived object whose dict holds only strings: CPython does not track such a
    dict, so a count of tracked objects never sees it grow."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.steady: dict[str, str] = {"a": "b"}


class Slotted:
    __slots__ = ("recent", "unset")

    def __init__(self) -> None:
        self.recent: deque[int] = deque()


def test_a_growing_dict_of_strings_is_found_by_its_attribute(unfrozen: None) -> None:
    registry = Registry()
    slotted = Slotted()
    assert not gc.is_tracked(registry.names)
    gc.freeze()  # as serve leaves the heap: start-up objects are frozen
    before = containers.census()
    assert gc.get_freeze_count() == 0  # left unfrozen (see containers.py)
    for n in range(300):
        registry.names[f"order-{n}"] = f"client-{n}"
    slotted.recent.extend(range(40))
    # (other containers of the test process may grow meanwhile: only these are ours)
    grown = {
        where: (then, now)
        for where, then, now in containers.grown(before, containers.census(), top=None)
    }
    assert grown["Registry.names"] == (0, 300)
    assert grown["Slotted.recent"] == (0, 40)
    assert "Registry.steady" not in grown


def test_containers_that_did_not_grow_are_left_out() -> None:
    registry = Registry()
    registry.names["x"] = "y"
    before = containers.census()
    registry.names.clear()
    after = containers.census()
    assert all(where != "Registry.names" for where, _, _ in containers.grown(before, after, None))


class Peer:
    """Holds a weak proxy to an object that is gone (a closed connection's, say)."""

    def __init__(self, other: object) -> None:
        self.other = weakref.proxy(other)


def test_a_dead_weak_proxy_does_not_stop_the_census() -> None:
    gone = Registry()
    peer = Peer(gone)
    del gone  # any look at the proxy now raises ReferenceError, isinstance() included
    census = containers.census()
    assert census  # it went through the whole heap
    assert peer.other is not None
