"""Running a benchmark in another process and reading its figures: every benchmark
prints its figures last, as one JSON object on one line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def figures_of(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    """Run ``args`` (a benchmark) to the end; the JSON object on its last line."""
    done = subprocess.run(
        list(args), cwd=cwd, env=None if env is None else dict(env), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
