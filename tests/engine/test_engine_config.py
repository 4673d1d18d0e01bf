"""EngineConfig refuses what would stop the engine's timers from ever firing (or
firing all the time): every interval > 0, the start's wait >= 0, and never a NaN,
which fails every comparison and so passed a check written as ``x < 0``."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from workspace.engine.config import EngineConfig

SECONDS = [f.name for f in fields(EngineConfig) if f.name.endswith("_s")]


@pytest.mark.parametrize("name", SECONDS)
def test_a_nan_or_negative_duration_is_refused(name: str) -> None:
    for value in (math.nan, -1.0):
        with pytest.raises(ValueError, match=f"EngineConfig.{name} must be"):
            EngineConfig(**{name: value})  # type: ignore[arg-type]


def test_the_start_may_wait_zero_seconds_but_intervals_may_not() -> None:
    assert EngineConfig(start_timeout_s=0).start_timeout_s == 0
    with pytest.raises(ValueError, match="positions_interval_s must be > 0"):
        EngineConfig(positions_interval_s=0)
