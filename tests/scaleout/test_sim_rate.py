"""``--sim-ticker-interval``: the embedded simulator's ticker rate, one flag for
``serve`` and for the feed-owning ``engine`` (single-user and with ``--users``),
checked on the data: consecutive tickers of a symbol are stamped (the simulator's
event time) one interval apart, or a few intervals when the hub conflated some."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scaleout.peer import Peer
from tests.scaleout.processes import ROOT, Process, engine, gateway
from workspace.bus.local_redis import LocalRedis
from workspace.users import UsersFile

pytestmark = pytest.mark.slow

INTERVAL_MS = 250


async def ticker_steps(url: str, token: str | None = None, count: int = 6) -> list[int]:
    peer = await Peer.open(url, token)
    try:
        await peer.snapshot()
        await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        stamps: list[int] = []
        while len(stamps) < count:
            message = await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
            if not stamps or message["timestamp"] > stamps[-1]:
                stamps.append(message["timestamp"])
    finally:
        await peer.close()
    return [b - a for a, b in itertools.pairwise(stamps)]


def assert_quarter_second(steps: list[int]) -> None:
    assert all(step % INTERVAL_MS == 0 for step in steps), steps
    # at Binance's default rate every step would be a whole second
    assert any(step % 1000 for step in steps), steps


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in started:
            await process.kill()


async def test_serve_runs_the_simulator_at_the_given_rate(processes: list[Process]) -> None:
    serve = Process("serve", ["serve", "--port", "0", "--sim-ticker-interval", "0.25"], "serving ")
    processes.append(await serve.start())
    assert_quarter_second(await ticker_steps(serve.url))


async def test_an_engine_alone_runs_the_simulator_at_the_given_rate(
    redis_server: LocalRedis, tmp_path: Path, processes: list[Process]
) -> None:
    processes.append(
        await engine(
            redis_server.url, tmp_path / "j.sqlite", "--sim-ticker-interval", "0.25"
        ).start()
    )
    front = await gateway(redis_server.url).start()
    processes.append(front)
    assert_quarter_second(await ticker_steps(front.url))


async def test_a_team_engine_runs_the_simulator_at_the_given_rate(
    redis_server: LocalRedis, tmp_path: Path, processes: list[Process]
) -> None:
    users = UsersFile(tmp_path / "users.json")
    _, token = users.add("alice", {"USDT": "1000"})
    processes.append(
        await engine(
            redis_server.url,
            tmp_path / "team.sqlite",
            *("--users", str(users.path), "--sim-ticker-interval", "0.25"),
        ).start()
    )
    front = await gateway(redis_server.url, "--users", str(users.path)).start()
    processes.append(front)
    assert_quarter_second(await ticker_steps(front.url, token))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "--sim-ticker-interval", "0"], "expected seconds > 0"),
        (["serve", "--sim-ticker-interval", "fast"], "is not a number of seconds"),
        (
            ["serve", "--feed", "binance", "--sim-ticker-interval", "0.5", "--port", "0"],
            "--sim-ticker-interval is a setting of --feed sim",
        ),
        (
            ["engine", "--bus", "redis://127.0.0.1:1", "--feed", "binance",
             "--sim-ticker-interval", "0.5"],
            "--sim-ticker-interval is a setting of --feed sim",
        ),
    ],
)  # fmt: skip
def test_a_bad_rate_is_refused_clearly(argv: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workspace", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert says in done.stderr, done.stderr
