"""The long-running commands refuse bad flags and an unreachable bus with one line on
stderr and an exit code, never a traceback: a port out of range used to pass the
parser (``serve`` started its engine, then failed to bind with "Servname not
supported"; ``sim`` died with an OverflowError), and a gateway or engine whose Redis
was not there printed redis' own traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

UNREACHABLE_BUS = "redis://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["serve", "--port", "-1"], 2, "argument --port: -1 is not a port: 0 (any free port)"),
        (["sim", "--port", "99999"], 2, "argument --port: 99999 is not a port"),
        (["lab", "--port", "x", "--no-browser"], 2, "argument --port: not a whole number: 'x'"),
        (["gateway", "--bus", UNREACHABLE_BUS, "--port", "65536"], 2, "65536 is not a port"),
        (
            ["gateway", "--bus", UNREACHABLE_BUS, "--port", "0"],
            1,
            f"gateway: cannot reach the bus at {UNREACHABLE_BUS}: ",
        ),
        (
            ["engine", "--bus", UNREACHABLE_BUS],
            1,
            f"engine: cannot reach the bus at {UNREACHABLE_BUS}: ",
        ),
    ],
)
def test_a_bad_flag_or_an_unreachable_bus_is_one_clear_line(
    args: list[str], code: int, words: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workspace", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
