"""The account core compiled with mypyc (workspace/native.py, scripts/build_native.py).

- The suite runs on the compiled core (``make test`` builds it); a stale or missing
  build fails here, with the reason, instead of passing on plain Python unnoticed.
  ``WORKSPACE_PURE=1`` runs the whole suite on plain Python on purpose.
- A build is used only when its stamp vouches for the current sources and this Python.
- Both forms make the same events, byte for byte, over a thousand random sessions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workspace import native

HERE = Path(__file__).resolve().parent
PURE = os.environ.get(native.PURE_ENV, "") not in ("", "0")
SESSIONS = "1000"


@pytest.mark.skipif(PURE, reason="WORKSPACE_PURE=1: the suite runs on plain Python")
def test_the_suite_runs_on_the_compiled_core() -> None:
    import workspace.trading.fills as fills

    state = native.state()
    assert state.compiled, f"the account core is not compiled: {state.reason}"
    assert Path(fills.__file__).suffix == ".so", fills.__file__
    assert Path(fills.__file__).is_relative_to(native.NATIVE_DIR)
    import workspace.market.book_ingest as book_ingest  # the book's diffs: compiled too

    assert Path(book_ingest.__file__).is_relative_to(native.NATIVE_DIR), book_ingest.__file__


SPAWNS = """
import importlib, multiprocessing, sys
import workspace.trading  # the compiled core (when current) is in place in the parent
ctx = multiprocessing.get_context("spawn")
child = ctx.Process(target=importlib.import_module, args=("workspace.trading.fills",))
child.start()
child.join(120)
sys.exit(child.exitcode)
"""


def test_a_spawned_child_of_a_script_outside_the_repo_imports_the_package(
    tmp_path: Path,
) -> None:
    """``multiprocessing`` children start with the parent's ``sys.path``; in a script
    run outside the repo (the package found through its editable install, as
    benchmarks/engine.py's simulator process is) nothing the compiled core did may
    shadow the ``workspace`` package there (a ``.native/`` on ``sys.path`` once did)."""
    done = subprocess.run(
        [sys.executable, "-c", SPAWNS], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _stamp(tmp_path: Path, **fields: object) -> Path:
    stamp = tmp_path / "stamp.json"
    stamp.write_text(
        json.dumps(
            {"sources": native.source_digest(), "interpreter": native.interpreter_tag()} | fields
        )
    )
    return stamp


def test_a_build_is_used_only_for_the_sources_and_python_it_was_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    monkeypatch.setattr(native, "STAMP", _stamp(tmp_path))
    assert native._decide().compiled

    monkeypatch.setattr(native, "STAMP", _stamp(tmp_path, sources="0" * 64))
    stale = native._decide()
    assert not stale.compiled
    assert "sources changed" in stale.reason

    monkeypatch.setattr(native, "STAMP", _stamp(tmp_path, interpreter="cpython-399-linux"))
    other = native._decide()
    assert not other.compiled
    assert "not this Python" in other.reason

    monkeypatch.setattr(native, "STAMP", tmp_path / "missing.json")
    assert native._decide().reason.startswith("not built")

    (tmp_path / "garbage.json").write_text("{not json")
    monkeypatch.setattr(native, "STAMP", tmp_path / "garbage.json")
    assert "unreadable" in native._decide().reason

    monkeypatch.setattr(native, "STAMP", _stamp(tmp_path))
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert native._decide() == native.NativeState(False, f"{native.PURE_ENV} is set")


def test_any_edit_to_the_account_or_market_sources_changes_the_digest(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for folder in ("workspace/trading", "workspace/market"):
        (root / folder).mkdir(parents=True)
        (root / folder / "a.py").write_text("X = 1\n")
    (root / "workspace/errors.py").write_text("")
    before = native.source_digest(root)
    (root / "workspace/market/a.py").write_text("X = 2\n")
    edited = native.source_digest(root)
    (root / "workspace/trading/b.py").write_text("")
    added = native.source_digest(root)
    assert len({before, edited, added}) == 3


def _session(pure: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, str(HERE / "native_session.py"), SESSIONS],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


@pytest.mark.skipif(PURE, reason="WORKSPACE_PURE=1: no compiled core to compare")
def test_the_compiled_and_the_plain_core_make_the_same_events() -> None:
    compiled = _session(pure=False)
    plain = _session(pure=True)
    assert compiled[0] == "compiled", native.state().reason
    assert plain[0] == "plain"
    assert int(plain[2]) > 50_000  # sessions that did things: orders, fills, books
    assert compiled[1:] == plain[1:]
