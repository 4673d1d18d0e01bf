"""Compile the account core with mypyc into .native/ (see workspace/native.py).

    .venv/bin/python scripts/build_native.py [--force] [--check]

Skipped when .native/stamp.json already records the current sources and this Python.
The build runs in a temporary copy of the package (mypyc writes its C files and a
setup script beside what it compiles; the repo stays clean) and writes only .native/.
A failed build leaves no stamp: the workspace then runs the same modules as plain
Python, and says so (``ws.status``, the engine's ``STATUS``).  ``--check`` exits 1 when
the compiled core is not current (the test suite's own check is
tests/trading/test_native.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workspace import native  # noqa: E402

GROUP = native.GROUP_MODULE.removesuffix("__mypyc")  # the shared library of them all

_MYPY_INI = """\
[mypy]
python_version = {version}
ignore_missing_imports = True
strict = True
"""

_SETUP = """\
import sys
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="workspace-native",
    ext_modules=mypycify({modules!r}, opt_level="3", group_name={group!r}),
    script_args=["build_ext", "--build-lib", sys.argv[1], "--build-temp", "tmp", "-j", "2"],
)
"""


def build() -> None:
    digest = native.source_digest()  # before copying: what the stamp will vouch for
    out = native.NATIVE_DIR
    with tempfile.TemporaryDirectory(prefix="workspace-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(
            ROOT / "workspace",
            work / "workspace",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        (work / "mypy.ini").write_text(_MYPY_INI.format(version=version))
        (work / "setup_native.py").write_text(
            _SETUP.format(modules=list(native.COMPILED), group=GROUP)
        )
        staged = work / "out"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "setup_native.py", str(staged)],
            cwd=work,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPY_FORCE_COLOR": "0"},
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(
                "[native] mypyc build failed: the workspace runs the account core as plain "
                "Python (correct, slower)"
            )
        stamp = {
            "sources": digest,
            "interpreter": native.interpreter_tag(),
            "modules": list(native.COMPILED),
            "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        (staged / native.STAMP.name).write_text(json.dumps(stamp, indent=2) + "\n")
        # the new build goes in whole, by renames beside the old one: a process starting
        # meanwhile finds the old build, none, or the new one, never half of one
        fresh = out.with_name(f"{out.name}.new")
        old = out.with_name(f"{out.name}.old")
        for leftover in (fresh, old):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(staged, fresh)
        if out.exists():
            out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        print(
            f"[native] compiled {len(native.COMPILED)} modules with mypyc in "
            f"{time.monotonic() - started:.0f} s -> {out.relative_to(ROOT)}/"
        )


def main() -> int:
    status = native.built()
    if "--check" in sys.argv:
        print(f"[native] {status.describe()}")
        return 0 if status.compiled else 1
    if status.compiled and "--force" not in sys.argv:
        return 0
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
