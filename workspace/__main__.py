"""``python -m workspace <command>``: each command lives in ``workspace/cli/<name>.py``
and exposes ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

import workspace.cli


def _commands() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(workspace.cli.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"workspace.cli.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            found[info.name] = module
    return found


def main(argv: list[str] | None = None) -> int:
    commands = _commands()
    parser = argparse.ArgumentParser(prog="python -m workspace")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in sorted(commands.items()):
        command_parser = sub.add_parser(name, help=getattr(module, "HELP", None))
        module.add_arguments(command_parser)
    args = parser.parse_args(argv)
    result: int = commands[args.command].run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
