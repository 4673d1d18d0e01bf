"""Every setting of a config is of its declared kind, checked by name when the config is
made: a string where seconds go failed as "'>' not supported between 'str' and 'int'",
naming no field, and ``keep_books="no"`` was taken as true.

``check_field_types(self)`` opens the ``__post_init__`` of the dataclass configs
(``EngineConfig``, ``SimConfig``, ``FeedConfig``, ``ServerLimits``, ``ReconnectPolicy``);
their own checks (ranges, NaN) follow it.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from os import PathLike
from pathlib import PurePath
from typing import Any

_WORDS = {bool: "True or False", int: "a whole number", float: "a number", str: "a string"}


def check_field_types(config: Any, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first field whose value is not of its kind."""
    cls: type = type(config)
    for name, expected in _hints(cls).items():
        value = getattr(config, name)
        if not _matches(value, expected):
            words = f"{cls.__name__}.{name} must be {_words(expected)}, got {value!r:.40}"
            if isinstance(value, str) and typing.get_origin(expected) is tuple:
                words += " (a string is not a tuple)"  # (it would be read letter by letter)
            raise error(words)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _matches(value: object, expected: Any) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is type(None):
        return value is None
    if expected is PurePath or (isinstance(expected, type) and issubclass(expected, PurePath)):
        return isinstance(value, str | PathLike)  # (a path given as text is a path)
    origin = typing.get_origin(expected)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is tuple:
        args = typing.get_args(expected)
        if not isinstance(value, tuple | list):  # (a list of symbols is fine too)
            return False
        return len(args) != 2 or args[1] is not Ellipsis or all(_matches(v, args[0]) for v in value)
    if isinstance(expected, type) and not getattr(expected, "_is_protocol", False):
        return isinstance(value, expected)
    return True  # a Protocol or a construct not used by the configs: checked where used


def _words(expected: Any) -> str:
    if expected in _WORDS:
        return _WORDS[expected]
    if isinstance(expected, type) and issubclass(expected, PurePath):
        return "a path"
    origin = typing.get_origin(expected)
    if origin in (types.UnionType, typing.Union):
        kinds = [arg for arg in typing.get_args(expected) if arg is not type(None)]
        words = " or ".join(_words(arg) for arg in kinds)
        return f"{words} or None" if len(kinds) < len(typing.get_args(expected)) else words
    if origin is tuple:
        return f"a tuple (or list) whose items are each {_words(typing.get_args(expected)[0])}"
    return getattr(expected, "__name__", str(expected))
