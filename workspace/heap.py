"""``settle_heap``: what a long-running process (``serve``, ``engine``, ``gateway``) does
with its heap once it has started.

Everything alive after start-up (modules, functions, classes, the listing, the books
just built, the journal's state) lives as long as the process.  CPython's full
collection still traverses all of it, and it does so on every pass: in the engine
benchmark at the simulator's maximum rate, one pass of 56-60 ms per run held the event
loop, which made it the loop's longest stall.  ``gc.freeze()`` moves those objects out of
the collector's view: later passes see only what came after (6.5 ms at most in the
same benchmark; docs/engine.md).

Not done inside a notebook's ``Workspace``: there the kernel holds the user's objects
too, and freezing is the process's decision, not the library's (``gc.freeze()`` is one
call).  What is frozen is never collected as cyclic garbage; acyclic garbage is freed
by reference counting as before, and cycles made later are collected as before even
when they point at frozen objects.  The start-up objects this freezes are not meant
to become garbage: ``benchmarks/soak.py --probe`` counts those that did (none in its
runs)."""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect what start-up left behind, then freeze what remains; returns how many
    objects the collector no longer traverses."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
