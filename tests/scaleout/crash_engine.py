"""``python tests/scaleout/crash_engine.py ARGS...`` is ``python -m workspace engine
ARGS...``, except that the process dies (``os._exit``: no cleanup, no flush, as after
``kill -9``) at the one instant a test cannot reach with a signal: right after the
journal took its first order command, before the command is acknowledged on the bus
and before its events reach Redis."""

from __future__ import annotations

import os
import sys
from typing import Any

from workspace.__main__ import main
from workspace.scaleout import engine_node

_journalled = engine_node.EngineNode._execute_order


def _order_then_die(self: Any, user: str, engine: Any, command: Any, parsed: Any) -> Any:
    _journalled(self, user, engine, command, parsed)
    print("crashing after the journal took the command", flush=True)
    os._exit(137)


engine_node.EngineNode._execute_order = _order_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(["engine", *sys.argv[1:]]))
