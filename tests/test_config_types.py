"""Every config names the field given a value of the wrong kind (workspace/config_types.py).

A string where seconds go failed as "'>' not supported between 'str' and 'int'", naming
no field; a string where a flag goes (``keep_books="no"``) was taken as true."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from workspace.engine.config import EngineConfig
from workspace.market.config import FeedConfig
from workspace.reconnect import ReconnectPolicy
from workspace.server.limits import ServerLimits
from workspace.sim import SimConfig

CONFIGS: tuple[type, ...] = (EngineConfig, SimConfig, FeedConfig, ServerLimits, ReconnectPolicy)


def _typed_fields(kinds: tuple[type, ...]) -> list[tuple[type, str]]:
    found = []
    for config in CONFIGS:
        hints = typing.get_type_hints(config)
        for field in dataclasses.fields(config):
            hint = hints[field.name]
            parts = typing.get_args(hint) or (hint,)
            if any(part in kinds for part in parts):
                found.append((config, field.name))
    return found


@pytest.mark.parametrize(("config", "name"), _typed_fields((int, float, bool)))
def test_a_string_for_a_number_or_a_flag_is_refused_by_name(config: type, name: str) -> None:
    with pytest.raises(ValueError, match=rf"{config.__name__}\.{name} must be .*, got 'no'"):
        config(**{name: "no"})


@pytest.mark.parametrize(
    ("config", "fields", "words"),
    [
        (EngineConfig, {"keep_books": 1}, "EngineConfig.keep_books must be True or False, got 1"),
        (EngineConfig, {"max_pending": 2.5}, "EngineConfig.max_pending must be a whole number"),
        (SimConfig, {"symbols": "BTCUSDT"}, "(a string is not a tuple)"),
        (SimConfig, {"symbols": [5]}, "SimConfig.symbols must be a tuple (or list)"),
        (FeedConfig, {"stall_after_s": "3"}, "FeedConfig.stall_after_s must be a number or None"),
    ],
)
def test_the_words_name_the_field_the_kind_and_the_value(
    config: type, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        config(**fields)


def test_what_was_right_before_still_is() -> None:
    for config in CONFIGS:
        config()  # every default is of its kind
    listed: Any = ["BTCUSDT"]  # (a list of symbols is taken, as before)
    assert SimConfig(symbols=listed, replay=Path("x.csv")).symbols == listed
    text: Any = "x.csv"  # (so is a path given as text)
    assert SimConfig(symbols=("BTCUSDT",), replay=text).replay == text
    assert EngineConfig(positions_interval_s=1).positions_interval_s == 1  # an int is seconds
    assert ServerLimits(max_connections_per_address=None).max_connections_per_address is None
