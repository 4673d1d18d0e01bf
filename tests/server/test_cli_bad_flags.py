"""The commands refuse bad flags and an unreachable bus with one line on
stderr and an exit code, never a traceback: a port out of range used to pass the
parser (``serve`` started its engine, then failed to bind with "Servname not
supported"; ``sim`` died with an OverflowError), and a gateway or engine whose Redis
was not there printed redis' own traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

UNREACHABLE_BUS = "redis://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["serve", "--port", "-1"], 2, "argument --port: -1 is not a port: 0 (any free port)"),
        (["sim", "--port", "99999"], 2, "argument --port: 99999 is not a port"),
        (["lab", "--port", "x", "--no-browser"], 2, "argument --port: not a whole number: 'x'"),
        (["gateway", "--bus", UNREACHABLE_BUS, "--port", "65536"], 2, "65536 is not a port"),
        (["gateway", "--bus", UNREACHABLE_BUS, "--shards", "0"], 2, "--shards: 0: expected 1"),
        (["record", "--symbols", "btcusdt", "--out", "x.jsonl", "--duration", "-1"], 2, "'-1'"),
        (["record", "--symbols", "btcusdt", "--out", "x.jsonl", "--max-frames", "0"], 2, "0:"),
        (
            [
                *("record", "--symbols", "btcusdt", "--out", "/nonexistent/dir/x.jsonl"),
                *("--url", "ws://127.0.0.1:9", "--rest-url", "none"),
            ],
            1,
            "record: ",
        ),
        (
            [
                *("record", "--symbols", "btcusdt", "--out", "{tmp}/x.jsonl"),
                *("--url", "ws://127.0.0.1:9", "--rest-url", "none"),
            ],
            1,
            "record: cannot reach ws://127.0.0.1:9: ",
        ),
        (["gateway", "--bus", UNREACHABLE_BUS, "--timeout", "nan"], 2, "--timeout: 'nan'"),
        # "serve: [Errno -2] Name or service not known", of no host
        (
            ["serve", "--port", "0", "--host", "no-such-host.invalid", "--token", "t"],
            1,
            "cannot listen on 'no-such-host.invalid': ",
        ),
        (
            ["record", "--symbols", "btcusdt", "--out", "{tmp}/x.jsonl", "--url", "notaurl"],
            2,
            "error: --url 'notaurl': expected ws://HOST[:PORT] or wss://...",
        ),
        # logging's own traceback, "ValueError: Unknown level: 'BOGUS'"
        (["serve", "--port", "0", "--log-level", "BOGUS"], 2, "--log-level: 'BOGUS': expected"),
        (["engine", "--bus", UNREACHABLE_BUS, "--log-level", "x"], 2, "--log-level: 'x'"),
        # an origin no browser can send let no page in, without a word at start
        (["serve", "--port", "0", "--origins", "localhost:3000"], 2, "--origins: 'localhost:3000'"),
        (
            ["gateway", "--bus", UNREACHABLE_BUS, "--origins", "http://a.example/app"],
            2,
            "--origins: 'http://a.example/app' is not an origin",
        ),
        # a NaN interval passed the simulator's check and failed deep in its start
        (["sim", "--port", "0", "--ticker-interval", "nan"], 2, "intervals must be positive"),
        (
            ["sim", "--port", "0", "--speed", "inf", "--replay", "{tmp}/session.jsonl"],
            2,
            "replay speed must be >= 0",
        ),
        # taken, and it did nothing: the random walk keeps its own pace
        (["sim", "--port", "0", "--speed", "2"], 2, "error: --speed is a replay's speed"),
        # the demo stopped at once for these, or printed as fast as it could
        (["demo", "--duration", "-5"], 2, "argument --duration: '-5': expected seconds > 0"),
        (["demo", "--duration", "nan"], 2, "argument --duration: 'nan': expected seconds > 0"),
        (["demo", "--interval", "0"], 2, "argument --interval: '0': expected seconds > 0"),
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
        (  # its password was printed in the clear
            ["engine", "--bus", "redis://:hunter2@127.0.0.1:9"],
            1,
            "engine: cannot reach the bus at redis://:***@127.0.0.1:9: ",
        ),
        (["gateway", "--bus", "redis://:hunter2@/"], 1, "gateway: --bus 'redis://:***@/': no host"),
    ],
)
def test_a_bad_flag_or_an_unreachable_bus_is_one_clear_line(
    args: list[str], code: int, words: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workspace", *(a.replace("{tmp}", str(tmp_path)) for a in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr


def test_the_simulator_refuses_a_bad_replay_and_a_taken_port_in_one_line(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    bad.write_text("a,b\n1,2\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for args, words in (
            (["--port", "0", "--replay", str(bad)], f"sim: {bad}: line 2: not a Binance kline row"),
            (["--port", str(taken.getsockname()[1])], "address already in use"),
        ):
            done = subprocess.run(
                [sys.executable, "-m", "workspace", "sim", *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 1, done.stderr
            assert words in done.stderr
            assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["serve", "sim", "gateway"])
def test_a_bad_tls_file_is_refused_before_anything_starts(command: str, tmp_path: Path) -> None:
    """``serve --tls-cert missing.pem`` started its engine and feed, then failed with
    "[Errno 2] No such file or directory" (no file named) and a traceback of its
    teardown; a file that is no PEM said "[SSL] PEM lib (_ssl.c:3905)"."""
    from workspace.sim.tls import self_signed

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cert, key = self_signed(tmp_path / "one")
    other_cert, _ = self_signed(tmp_path / "two")
    extra = ["--bus", UNREACHABLE_BUS] if command == "gateway" else []
    missing = tmp_path / "missing.pem"
    not_pem = "they are not a PEM certificate and its private key"
    cases = [
        (missing, key, f"the TLS certificate {missing} does not exist"),
        (cert, tmp_path, f"the TLS key {tmp_path} is not a file"),
        (junk, junk, f"cannot serve TLS with {junk} and {junk}: {not_pem}"),
        (other_cert, key, f"with {other_cert} and {key}: the key is not the certificate's"),
    ]
    for cert_file, key_file, words in cases:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "workspace", command, "--port", "0", *extra),
                *("--tls-cert", str(cert_file), "--tls-key", str(key_file)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().endswith(words), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "serving" not in done.stdout
