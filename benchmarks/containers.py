"""Which containers grow: the census ``soak.py --probe`` takes at the end of its warm-up
and at its end.

A server whose gc-tracked objects stay flat can still grow: a long-lived dict or list
that gains strings, numbers or untracked structs gains no tracked object (and CPython
does not even track a dict that holds only such values).  So the census looks one step
further: every dict, list, set, deque and bytearray that a tracked object refers to,
with its length and where it hangs (``Owner.attribute``, or the owner's type), keyed by
``id``.  Two censuses compared give the containers that grew, largest growth first.
The frozen heap (``gc.freeze()``, ``workspace/heap.py``) is outside ``gc.get_objects()``,
and long-lived containers made at start-up live there, so the census unfreezes the heap
and leaves it so: freezing again would freeze whatever the live connections hold at that
moment too, and hide it from every later collection.  Reading an attribute dict
(``__dict__``) makes CPython build it, so the first census costs some memory once
(~20 MB of RSS with 300 clients), and a census holds the event loop for a few seconds
(the simulator's keepalive may drop the feed, which reconnects): a probe, not a
measurement of speed.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

CONTAINERS = (dict, list, set, deque, bytearray)


@dataclass(frozen=True)
class Sized:
    length: int
    where: str


Census = dict[int, Sized]


def _attributes(owner: object) -> Iterator[tuple[str, object]]:
    """``owner``'s attributes: its ``__dict__``, ``__slots__``, and a class compiled by
    mypyc's (``__mypyc_attrs__``)."""
    names: list[str] = []
    for cls in type(owner).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
        names += list(cls.__dict__.get("__mypyc_attrs__", ()))
    for name in names:
        if name in ("__dict__", "__weakref__"):
            continue
        try:
            yield name, object.__getattribute__(owner, name)
        except AttributeError:
            continue  # a slot not set
    attributes = getattr(owner, "__dict__", None)
    if isinstance(attributes, dict):
        yield from attributes.items()


def census() -> Census:
    """Every container a gc-tracked object refers to (and every tracked container), by
    ``id``: its length and where it hangs.  Unfreezes the heap."""
    gc.unfreeze()
    found: Census = {}

    def note(value: object, where: str) -> None:
        # the type itself, not isinstance(): a weak proxy whose object died raises on
        # any other look at it
        if issubclass(type(value), CONTAINERS) and id(value) not in found:
            found[id(value)] = Sized(len(value), where)  # type: ignore[arg-type]

    for owner in gc.get_objects():
        kind = type(owner).__qualname__
        try:
            attributes = dict(_attributes(owner))
        except Exception:  # an owner whose attribute access fails: its type names it
            attributes = {}
        # an attribute may sit in an instance dict the collector does not track
        for name, value in attributes.items():
            note(value, f"{kind}.{name}")
        for ref in gc.get_referents(owner):
            note(ref, f"in a {kind}")
        note(owner, f"a {kind}")
    return found


def grown(before: Census, after: Census, top: int | None = 15) -> list[tuple[str, int, int]]:
    """The containers present in both censuses that grew most: (where, length before,
    length after); ``top=None``: all of them."""
    growth = [
        (sized.where, before[key].length, sized.length)
        for key, sized in after.items()
        if key in before and before[key].where == sized.where and sized.length > before[key].length
    ]
    growth.sort(key=lambda g: g[2] - g[1], reverse=True)
    return growth if top is None else growth[:top]
