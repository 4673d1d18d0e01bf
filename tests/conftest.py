"""Fixtures shared by test folders."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """A test that freezes the heap (``gc.freeze()``) leaves it unfrozen behind it."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the test process keeps its usual collector
