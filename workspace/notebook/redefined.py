"""A notebook cell run again defines its functions anew: a strategy registered by that
cell (``@ws.on_tick(...)`` over ``def strategy``) must replace the one the earlier run
registered, not run beside it.

Before, the second run added a second callback: both functions were called for every
tick (two orders where one was meant), and ``ws.remove_callback(strategy)`` removed only
the new one, the old one trading on unseen.

Only a module-level function counts as the same definition (same module, same name):
two closures of one factory, two bound methods of one class, or two lambdas are
different strategies that may well run side by side.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any


def _definition(function: Any) -> tuple[str, str] | None:
    """(module, name) of a module-level function; ``None`` for anything else."""
    if not isinstance(function, FunctionType):
        return None
    name = function.__qualname__
    if "." in name or name == "<lambda>":  # nested, a method, a lambda
        return None
    return function.__module__, name


def redefines(new: Any, old: Any) -> bool:
    """Is ``new`` the same module-level function as ``old``, defined again?"""
    if new is old:
        return False
    definition = _definition(new)
    return definition is not None and definition == _definition(old)
