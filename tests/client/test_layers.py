"""The client sits beside the server, above the protocol layer: it must not pull in
the engine, the server or anything above them (a bot or another notebook imports the
client alone)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_client_does_not_import_the_engine() -> None:
    probe = (
        "import sys, workspace.client; "
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'workspace.engine', 'workspace.server', 'workspace.notebook', 'widgets'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
