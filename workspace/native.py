"""The account core's compiled form: used only when it was built from these very sources.

``scripts/build_native.py`` (run by ``scripts/bootstrap.sh``) compiles the account's
logic modules (:data:`COMPILED`) with mypyc into ``.native/`` at the top of the repo,
outside the package and outside git.  ``workspace/trading/__init__.py`` calls
:func:`package_path`, which puts ``.native/`` first on the package's ``__path__`` only
when ``.native/stamp.json`` records the digest of the current sources and this Python.
Otherwise (an edited file, another interpreter, no C compiler, ``WORKSPACE_PURE=1``)
the same modules run as plain Python.  Why not build beside the sources, as mypyc does
by default: a compiled module next to an edited ``.py`` is imported instead of it, and
would silently run yesterday's code.

The compiled and the plain form are the same program: the build compiles these files,
unchanged, and the test suite checks that both give the same journal, byte for byte
(``tests/trading/test_native.py``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COMPILED", "NativeState", "built", "package_path", "source_digest", "state"]

ROOT = Path(__file__).resolve().parents[1]
NATIVE_DIR = ROOT / ".native"
STAMP = NATIVE_DIR / "stamp.json"
PURE_ENV = "WORKSPACE_PURE"
GROUP_MODULE = "workspace_core__mypyc"
"""The shared library holding every compiled module (mypyc's group; each compiled
module in ``.native/workspace/trading`` is a small shim importing it by this name)."""

COMPILED: tuple[str, ...] = (
    "workspace/trading/account.py",
    "workspace/trading/average_cost.py",
    "workspace/trading/depth.py",
    "workspace/trading/execution.py",
    "workspace/trading/exits.py",
    "workspace/trading/fills.py",
    "workspace/trading/groups.py",
    "workspace/trading/ids.py",
    "workspace/trading/marks.py",
    "workspace/trading/order_state.py",
    "workspace/trading/order_store.py",
    "workspace/trading/placement.py",
    "workspace/trading/rules.py",
    "workspace/trading/trailing.py",
    "workspace/trading/trigger_index.py",
    "workspace/trading/validation.py",
    "workspace/trading/wallet.py",
    "workspace/market/book_ingest.py",
)
"""The modules mypyc compiles: the account's logic, and the local book's diff ingestion
(``workspace/market/__init__.py`` puts the build first on that package's path too).
The modules that only declare msgspec structs (orders, events, positions, ...) stay
plain: mypyc would build them as its own classes and lose msgspec's struct options;
so does ``book.py``, whose level cache relies on handing out the same tuples."""

# what the compiled code was type-checked against: a change to any of these files may
# change what mypyc generated (a constant it inlined, a signature it calls natively)
_DIGESTED = ("workspace/trading", "workspace/market")
_DIGESTED_FILES = ("workspace/errors.py",)


@dataclass(frozen=True)
class NativeState:
    """Which form of the account core this process runs, and why."""

    compiled: bool
    reason: str

    def describe(self) -> str:
        form = "compiled (mypyc)" if self.compiled else "plain Python"
        return f"{form}: {self.reason}"


def source_digest(root: Path = ROOT) -> str:
    """The digest of every source the compiled modules depend on (names and bytes)."""
    files = sorted(
        [path for folder in _DIGESTED for path in (root / folder).glob("*.py")]
        + [root / name for name in _DIGESTED_FILES]
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def interpreter_tag() -> str:
    """The interpreter an extension module was built for (its ABI)."""
    return f"{sys.implementation.cache_tag}-{sys.platform}"


def _decide() -> NativeState:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return NativeState(False, f"{PURE_ENV} is set")
    return built()


def built() -> NativeState:
    """Does ``.native/`` hold a build of the current sources for this Python (whatever
    ``WORKSPACE_PURE`` says)?  ``scripts/build_native.py`` builds when it does not."""
    try:
        stamp = json.loads(STAMP.read_text())
    except FileNotFoundError:
        return NativeState(False, "not built (scripts/build_native.py)")
    except (OSError, ValueError) as exc:
        return NativeState(False, f"unreadable build stamp ({exc})")
    if not isinstance(stamp, dict):
        return NativeState(False, "unreadable build stamp")
    if stamp.get("interpreter") != interpreter_tag():
        return NativeState(False, f"built for {stamp.get('interpreter')}, not this Python")
    if stamp.get("sources") != source_digest():
        return NativeState(False, "the sources changed since the build (rebuild: make native)")
    return NativeState(True, f"built {stamp.get('built', '?')} from the current sources")


_STATE: NativeState | None = None


def state() -> NativeState:
    """This process's choice, made once (the first import of the account core)."""
    global _STATE
    if _STATE is None:
        _STATE = _decide()
    return _STATE


def package_path(package: str, path: list[str]) -> list[str]:
    """``path`` (a package's ``__path__``) with the compiled modules' folder first, when
    they are current and load."""
    if not state().compiled or not _load_group():
        return path
    return [str(NATIVE_DIR.joinpath(*package.split("."))), *path]


def _load_group() -> bool:
    """Load the compiled modules' shared library (:data:`GROUP_MODULE`), which each
    compiled module imports by that top-level name, straight from its file.  Not by
    putting ``.native/`` on ``sys.path``: ``multiprocessing`` children inherit
    ``sys.path``, and there the ``workspace/`` folder in ``.native/`` would be imported
    as the ``workspace`` package (a namespace package found before the real one)."""
    global _STATE
    if GROUP_MODULE in sys.modules:
        return True
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        location = NATIVE_DIR / f"{GROUP_MODULE}{suffix}"
        if location.exists():
            break
    else:
        _STATE = NativeState(False, f"the build has no {GROUP_MODULE} library")
        return False
    spec = importlib.util.spec_from_file_location(GROUP_MODULE, location)
    try:
        if spec is None or spec.loader is None:
            raise ImportError(f"no loader for {location}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[GROUP_MODULE] = module
        spec.loader.exec_module(module)
    except ImportError as exc:
        sys.modules.pop(GROUP_MODULE, None)
        _STATE = NativeState(False, f"the build does not load ({exc})")
        return False
    return True
