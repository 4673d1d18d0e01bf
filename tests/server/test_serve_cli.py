"""``python -m workspace serve`` as a real subprocess: the ready line, clean SIGTERM,
SIGKILL mid-stream with exactly-once order events for a resuming client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from tests.ports import quiet_port
from tests.server.ws_peer import TIMEOUT, Peer, http_get
from workspace.client import RealtimeClient
from workspace.session import Message

STARTUP_TIMEOUT = 60.0


class ServeProcess:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url


async def start_serve(*args: str) -> ServeProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSPACE_TOKEN", None)
    env.pop("CORS_ORIGINS", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "serve",
        "--feed",
        "sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
    assert line.startswith(b"serving ws://"), line
    return ServeProcess(process, line.split()[1].decode())


@pytest.fixture
def port() -> int:
    return quiet_port()  # (serve restarts on it)


@pytest.fixture
async def processes() -> AsyncIterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for serve in started:
        if serve.process.returncode is None:
            serve.process.kill()
            await serve.process.wait()


async def all_order_seqs(url: str) -> list[int]:
    """Every order event in the journal, through the protocol (resume since 0)."""
    async with connect(url) as websocket:
        peer = Peer(websocket)
        await peer.snapshot()
        await peer.send({"action": "resume", "since": 0, "id": "all"})
        seqs: list[int] = []
        while (message := await peer.recv()).get("id") != "all":
            if message["type"] == "ORDER_UPDATE":
                seqs.append(message["seq"])
        return seqs


async def rules_loaded(url: str) -> None:
    """Wait until the server has the exchange's rules (it binds before it has them: a
    STATUS says ``exchange_info: loaded``)."""
    async with connect(url) as websocket:
        peer = Peer(websocket)
        status, *_ = await peer.snapshot()
        if status.get("exchange_info") != "loaded":
            await peer.until(lambda m: m["type"] == "STATUS" and m["exchange_info"] == "loaded")


async def place(client: RealtimeClient, **fields: Any) -> Message:
    reply = await client.request({"action": "place_order", "symbol": "BTCUSDT", **fields})
    assert reply["type"] == "ORDER_UPDATE", reply
    return reply


async def test_serve_prints_its_url_and_sigterm_stops_it_with_the_journal_intact(
    tmp_path: Path, port: int, processes: list[ServeProcess]
) -> None:
    db = str(tmp_path / "journal.db")
    serve = await start_serve("--port", str(port), "--db", db)
    processes.append(serve)
    assert serve.url == f"ws://127.0.0.1:{port}/api/ws/realtime"
    await rules_loaded(serve.url)
    async with RealtimeClient(serve.url) as client:
        placed = await place(client, side="BUY", type="LIMIT", quantity=0.001, price=50000)
        assert placed["order"]["status"] == "NEW", placed
    before = await all_order_seqs(serve.url)
    serve.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(serve.process.wait(), TIMEOUT) == 0
    again = await start_serve("--port", str(port), "--db", db)
    processes.append(again)
    assert await all_order_seqs(again.url) == before
    async with connect(again.url) as websocket:
        orders = [json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT)) for _ in range(4)]
        assert [o["id"] for o in orders[3]["orders"]] != []


async def test_serve_binds_at_once_with_the_exchange_down_and_says_so(
    port: int, processes: list[ServeProcess]
) -> None:
    dead = quiet_port()  # a port nobody listens on: the exchange is down
    serve = await start_serve(
        "--port",
        str(port),
        "--feed",
        "binance",
        "--binance-url",
        f"ws://127.0.0.1:{dead}",
        "--binance-rest-url",
        f"http://127.0.0.1:{dead}",
        "--balance",
        "USDT=5000,BTC=0.5",
    )
    processes.append(serve)
    async with connect(serve.url) as websocket:
        peer = Peer(websocket)
        status, portfolio, *_ = await peer.snapshot()
        assert status["source"] == "binance"
        assert status["feed"] in {"down", "reconnecting"}
        assert status["exchange_info"] == "pending"
        assert portfolio["portfolio"]["balances"] == {
            "BTC": {"free": 0.5, "locked": 0.0},
            "USDT": {"free": 5000.0, "locked": 0.0},
        }
        refused = await peer.reply(
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 0.001}
        )
        order = refused["order"]
        assert (order["status"], order["reason_code"]) == ("REJECTED", "NO_MARKET_DATA")
        assert "not loaded yet" in order["reason"]
        pong = await peer.reply({"action": "ping"})
        assert pong["type"] == "PONG"
    serve.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(serve.process.wait(), TIMEOUT) == 0


async def test_serve_refuses_a_balance_it_cannot_read(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "serve",
        "--port",
        "0",
        "--balance",
        "USDT10000",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)
    assert process.returncode == 2
    assert b"--balance: expected ASSET=AMOUNT" in stderr


async def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKSPACE_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)
    assert process.returncode == 2
    assert b"token" in stderr


async def test_serve_without_a_journal_file_says_the_account_is_temporary(port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "workspace", "serve", "--feed", "sim", "--port", str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
        assert line.startswith(b"serving ws://"), line
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT)
        assert (
            b"no --db: the journal is a temporary file, so orders, positions and balances "
            b"are lost when this server stops (give --db FILE to keep them)"
        ) in stderr, stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigkill_mid_stream_then_restart_loses_and_duplicates_no_order_event(
    tmp_path: Path, port: int, processes: list[ServeProcess]
) -> None:
    db = str(tmp_path / "journal.db")
    serve = await start_serve("--port", str(port), "--db", db)
    processes.append(serve)
    watcher = RealtimeClient(serve.url, first_retry=0.2, request_timeout=STARTUP_TIMEOUT)
    trader = RealtimeClient(serve.url, first_retry=0.2, request_timeout=STARTUP_TIMEOUT)
    await watcher.connect()
    await trader.connect()
    received: list[Message] = []
    watcher.listen(received.append)
    # The stream's queue exists once the generator runs: iterate it from the start, or
    # events that arrive before the wait below would never reach it.
    streamed: list[Message] = []
    more = asyncio.Event()

    async def follow_stream() -> None:
        async for message in watcher.stream():
            streamed.append(message)
            more.set()

    follower = asyncio.create_task(follow_stream())
    try:
        await trader.subscribe("BTCUSDT")
        for _ in range(3):
            await place(trader, side="BUY", quantity=0.001)
        # Resting orders on both sides of the market: some fill as prices move.
        for n in range(6):
            await place(
                trader, side="SELL", type="TRAILING_STOP", quantity=0.0005, trail_amount=0.5 + n
            )
        serve.process.kill()  # SIGKILL: no shutdown path runs at all
        await serve.process.wait()
        serve = await start_serve("--port", str(port), "--db", db)
        processes.append(serve)
        for _ in range(3):
            await place(trader, side="SELL", quantity=0.001)
        expected = await all_order_seqs(serve.url)

        async def caught_up() -> None:
            while not any(
                m["type"] == "ORDER_UPDATE" and m["seq"] >= expected[-1] for m in streamed
            ):
                more.clear()
                await more.wait()

        try:
            await asyncio.wait_for(caught_up(), TIMEOUT)
        except TimeoutError:
            got = sorted(set(order_seqs(received)))
            missing = sorted(set(expected) - set(got))
            raise AssertionError(
                f"watcher has {len(got)} of {len(expected)} events, missing {missing[:20]}, "
                f"last_seq {watcher.last_seq}, state {watcher.state}"
            ) from None
        seqs = order_seqs(received)
        assert len(seqs) == len(set(seqs)), "duplicated order events"
        assert set(expected) <= set(seqs), "lost order events"
        assert watcher.connections == 2
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await trader.close()
        await watcher.close()


def order_seqs(received: list[Message]) -> list[int]:
    return [m["seq"] for m in received if m["type"] == "ORDER_UPDATE"]


async def test_serve_on_a_binance_url_streams_and_pushes_status_when_the_feed_drops(
    port: int, processes: list[ServeProcess]
) -> None:
    from workspace.sim import ExchangeSimulator, SimConfig

    exchange = ExchangeSimulator(SimConfig(ticker_interval_s=0.2))
    await exchange.start(host="127.0.0.1", port=0)
    try:
        serve = await start_serve(
            "--port",
            str(port),
            "--feed",
            "binance",
            "--binance-url",
            exchange.stream_url,
            "--binance-rest-url",
            exchange.rest_url,
        )
        processes.append(serve)
        async with connect(serve.url) as websocket:
            peer = Peer(websocket)
            status, *_ = await peer.snapshot()
            assert status["source"] == "binance"
            if status["feed"] != "connected":  # the port is bound before the feed connects
                await peer.until(lambda m: m["type"] == "STATUS" and m["feed"] == "connected")
            await peer.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
            await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
            await exchange.drop_connections()
            down = await peer.until(lambda m: m["type"] == "STATUS" and m["feed"] != "connected")
            assert down["feed"] in {"reconnecting", "down"}
            await peer.until(lambda m: m["type"] == "STATUS" and m["feed"] == "connected")
            await peer.until(lambda m: m["type"] == "MARKET_UPDATE")
    finally:
        await exchange.stop()


async def test_serve_runs_on_uvloop_from_the_server_extra(
    processes: list[ServeProcess], port: int
) -> None:
    serve = await start_serve("--port", str(port))
    processes.append(serve)
    _, _, body = await http_get(port, "/health")
    health = json.loads(body)
    assert health["loop"] == "uvloop"
    assert health["journal_id"]


async def test_serve_caps_connections_per_address_and_keeps_foreign_pages_out(
    processes: list[ServeProcess],
) -> None:
    serve = await start_serve("--port", "0", "--max-connections-per-address", "1")
    processes.append(serve)
    async with connect(serve.url) as first:
        await Peer(first).snapshot()
        async with connect(serve.url) as second:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(second.recv(), TIMEOUT)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1008,
            "too many connections from 127.0.0.1 (at most 1)",
        )
    with pytest.raises(InvalidStatus) as refused:
        async with connect(serve.url, origin=Origin("https://evil.example")):
            pass
    assert refused.value.response.status_code == 403
    serve.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(serve.process.wait(), TIMEOUT) == 0
