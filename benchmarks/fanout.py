"""Fan-out benchmark of the ``/api/ws/realtime`` server, before and after, in one run.

100 to 3,000 clients, each subscribed to 10 of 50 symbols, the simulator at 4x
Binance's ticker rate.  Each phase runs a fresh server process (engine + simulator +
server on one event loop) and one client process holding every connection on a
single event loop, so the two cores of a small machine are split between them.

Every phase is run for each variant, back to back, so the figures of a variant are
comparable with the others despite a busy machine:

- ``before``: the server of ``--before-ref`` (default ``main``), exported with
  ``git archive`` into a temporary directory and run from there, on the standard
  asyncio loop (as that code's ``serve`` runs);
- ``after``: this tree's server, on uvloop when it is installed (as ``serve`` runs);
- ``after-asyncio`` (optional): this tree on the standard loop, to tell the delivery
  path's share from uvloop's.

Reported per phase and variant: delivered MARKET_UPDATEs/s, p50/p99 latency from the
engine receiving the tick to the client receiving the message, server memory per
client, and CPU: each process's share of a core over the measured seconds, and the
server's CPU time per delivered message (the figure that depends least on how busy the
machine is); then the after/before ratios.  Latency uses the ``received_ms`` field of
every MARKET_UPDATE (the engine's wall clock when the ticker reached it); the clients
compare it to their wall clock (same machine, same clock).

The simulator staggers its symbols' tickers like Binance (each symbol on its own
phase); ``--aligned`` puts every symbol's ticker on the same instant instead, the
worst case: one burst of every symbol to every client at once.

    .venv/bin/python benchmarks/fanout.py [--clients 100,500,1000,2000,3000]
        [--variants before,after] [--before-ref main] [--seconds 8]
        [--ticker-interval 0.25] [--aligned] [--profile]
    .venv/bin/python benchmarks/fanout.py --gateways [1,2,4] [--clients 500] [--seconds 8]

``--profile`` runs cProfile in the server process of the last phase of each variant
and prints its top functions.  The last line printed is one JSON object.

``--gateways [N[,N...]]`` (default ``1,2,4``) measures the scale-out instead: for each N
a private redis-server, ``python -m workspace engine --feed sim`` and N ``python -m
workspace gateway`` processes, the clients (``--clients``, default 500) round-robin over
the gateways, each on every one of the simulator's 10 symbols at its default rate; and
``python -m workspace serve`` on the same load first.  Reported: delivered msgs/s,
p50/p99, and the CPU of the gateways (summed), the engine and Redis, per delivered
message (docs/scale-out.md#benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import dataclasses
import functools
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

SYMBOLS_TOTAL = 50
SYMBOLS_PER_CLIENT = 10
PER_SOURCE = 400  # clients per source address with --spread (a server caps one at 512)


def sim_symbols() -> tuple[Any, ...]:
    """50 listed symbols: the simulator's 10 and 40 more modelled on them."""
    from dataclasses import replace

    from workspace.sim import DEFAULT_SYMBOLS

    specs = list(DEFAULT_SYMBOLS)
    n = 0
    while len(specs) < SYMBOLS_TOTAL:
        base = DEFAULT_SYMBOLS[n % len(DEFAULT_SYMBOLS)]
        name = f"X{n:02d}{base.base_asset}"[:10]
        specs.append(replace(base, symbol=f"{name}USDT", base_asset=name))
        n += 1
    return tuple(specs)


# -- server role -----------------------------------------------------------------


async def serve(
    ticker_interval: float, aligned: bool, profile: bool, send_buffer: int | None
) -> None:
    from workspace import Workspace
    from workspace.engine.config import EngineConfig
    from workspace.server import RealtimeServer, ServerLimits
    from workspace.sim import SimConfig

    specs = sim_symbols()
    sim = SimConfig(
        symbols=specs,
        ticker_interval_s=ticker_interval,
        stagger_tickers=not aligned,
        # Only the 24 h ticker makes MARKET_UPDATEs; keep the other streams slow.
        trade_interval_s=5.0,
        book_interval_s=5.0,
    )
    workspace = Workspace(feed="sim", engine=EngineConfig(), sim=sim)
    await workspace.start()
    await workspace.subscribe(*(spec.symbol for spec in specs))
    # Every client comes from 127.0.0.1: no per-address cap (this measures fan-out).
    limits = ServerLimits(commands_per_s=1000, command_burst=1000, max_connections_per_address=None)
    if send_buffer is not None:
        limits = dataclasses.replace(limits, socket_send_buffer=send_buffer or None)
    server = await RealtimeServer(
        workspace.engine, port=0, limits=limits, compression=False
    ).start()
    profiler = cProfile.Profile() if profile else None
    print(f"serving {server.url}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.decode().strip()
        if command == "profile-start" and profiler:
            profiler.enable()
        elif command == "profile-stop" and profiler:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
            print(out.getvalue(), file=sys.stderr, flush=True)
    await server.stop()
    await workspace.stop()


# -- client role -----------------------------------------------------------------


class Stamp(msgspec.Struct):
    type: str = ""
    received_ms: float | None = None


class LightClient(asyncio.Protocol):
    """A minimal WebSocket client for measuring: handshake, then unmasked server
    frames parsed by hand (a full client library costs more per message than the
    server does, and the measurement would mostly time the client)."""

    def __init__(self, on_message: Any, path: str, host: str, commands: list[bytes]) -> None:
        self.on_message = on_message
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self.commands = commands
        self.buffer = bytearray()
        self.received = 0  # MARKET_UPDATEs while measuring
        self.closed = False
        self.open = False
        self.ready = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[: end + 4]
            self.open = True
            for command in self.commands:
                self.transport.write(masked(command))
            self.ready.set_result(None)
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            if opcode == 0x1:
                if self.on_message(bytes(buffer[start : start + length])):
                    self.received += 1
            elif opcode == 0x9:  # the server's keepalive: unanswered, it closes us
                self.transport.write(masked(bytes(buffer[start : start + length]), 0x8A))
            del buffer[: start + length]


def masked(payload: bytes, first_byte: int = 0x81) -> bytes:
    """A client frame (masked, as RFC 6455 requires): a text frame by default."""
    mask = os.urandom(4)
    length = len(payload)
    header = (
        bytes([first_byte, 0x80 | length])
        if length < 126
        else (bytes([first_byte, 0xFE]) + length.to_bytes(2, "big"))
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def run_clients(
    url: str, count: int, seconds: float, warmup: float, symbols: str = "", spread: bool = False
) -> None:
    """``url``: one or more (comma-separated), client ``n`` on ``urls[n % len]``;
    ``symbols``: the listed names to pick from (default: the 50 of ``sim_symbols``);
    ``spread``: connect from 127.0.0.2, .3, ... (at most ``PER_SOURCE`` each), so a
    server's per-address connection cap (512 by default) does not refuse them."""
    from urllib.parse import urlsplit

    names = symbols.split(",") if symbols else [spec.symbol for spec in sim_symbols()]
    per_client = min(SYMBOLS_PER_CLIENT, len(names))
    decoder = msgspec.json.Decoder(Stamp)
    latencies: list[float] = []
    counted = [0]
    measuring = [False]
    now = time.time

    def on_message(frame: bytes) -> bool:
        stamp = decoder.decode(frame)
        if stamp.received_ms is not None and measuring[0]:
            counted[0] += 1
            latencies.append(now() * 1000 - stamp.received_ms)
            return True
        return False

    targets = [urlsplit(one) for one in url.split(",")]
    loop = asyncio.get_running_loop()
    clients: list[LightClient] = []
    for n in range(count):
        rng = random.Random(n)
        commands = [
            json.dumps({"action": "subscribe_ticker", "symbol": symbol}).encode()
            for symbol in rng.sample(names, per_client)
        ]
        parts = targets[n % len(targets)]
        assert parts.hostname is not None, parts
        assert parts.port is not None, parts
        _, client = await loop.create_connection(
            functools.partial(LightClient, on_message, parts.path, parts.netloc, commands),
            parts.hostname,
            parts.port,
            local_addr=(f"127.0.0.{2 + n // PER_SOURCE}", 0) if spread else None,
        )
        clients.append(client)
        if n % 100 == 99:  # in waves: the accept queue is not what is measured
            await asyncio.gather(*(c.ready for c in clients))
    await asyncio.gather(*(c.ready for c in clients))
    print("connected", flush=True)
    await asyncio.sleep(warmup)  # benchmark pacing, not test synchronisation
    print("measuring", flush=True)
    measuring[0] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring[0] = False
    elapsed = time.perf_counter() - started
    silent = sum(1 for client in clients if client.received == 0)
    closed = sum(1 for client in clients if client.closed)
    for client in clients:
        client.transport.abort()
    delivered = counted[0]
    latencies.sort()
    result = {
        "delivered": delivered,
        "msgs_per_s": delivered / elapsed,
        "p50_ms": latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        # Clients that got nothing while measuring (dropped, or never subscribed): the
        # delivered rate is only comparable when this is 0.
        "silent_clients": silent,
        "closed_clients": closed,
    }
    print(json.dumps(result), flush=True)


# -- orchestration -----------------------------------------------------------------


def spawn(*args: str, code: Path | None = None) -> subprocess.Popen[str]:
    """This script in another role; ``code``: import ``workspace`` from there."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def export(ref: str, into: Path) -> Path:
    """The tree of git ``ref`` (the repository's files only), for the ``before`` run."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def phase(
    clients: int, args: argparse.Namespace, profile: bool, code: Path | None, loop: str
) -> dict[str, Any]:
    server = spawn(
        "--role",
        "server",
        "--loop",
        loop,
        "--ticker-interval",
        str(args.ticker_interval),
        *(
            ["--socket-send-buffer", str(args.socket_send_buffer)]
            if args.socket_send_buffer is not None
            else []
        ),
        *(["--aligned"] if args.aligned else []),
        *(["--profile"] if profile else []),
        code=code,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    url = server.stdout.readline().split()[1]
    server_process = psutil.Process(server.pid)
    rss_before = server_process.memory_info().rss
    client_proc = spawn(
        "--role",
        "clients",
        "--url",
        url,
        "--count",
        str(clients),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
    )
    assert client_proc.stdout is not None
    assert client_proc.stdout.readline().strip() == "connected"
    rss_connected = server_process.memory_info().rss
    assert client_proc.stdout.readline().strip() == "measuring"
    clients_process = psutil.Process(client_proc.pid)
    cpu_server, cpu_clients = server_process.cpu_times(), clients_process.cpu_times()
    started = time.perf_counter()
    if profile:
        server.stdin.write("profile-start\n")
        server.stdin.flush()
    result: dict[str, Any] = json.loads(client_proc.stdout.readline())
    wall = time.perf_counter() - started
    server_now = server_process.cpu_times()
    server_cpu_s = server_now.user + server_now.system - cpu_server.user - cpu_server.system
    result["server_cpu"] = round(server_cpu_s / wall, 2)
    result["server_cpu_us_per_msg"] = round(server_cpu_s * 1e6 / max(1, result["delivered"]), 2)
    result["server_sys_share"] = round(
        (server_now.system - cpu_server.system) / max(1e-9, server_cpu_s), 2
    )
    clients_now = clients_process.cpu_times()
    result["clients_cpu"] = round(
        (clients_now.user + clients_now.system - cpu_clients.user - cpu_clients.system) / wall, 2
    )
    if profile:
        server.stdin.write("profile-stop\n")
        server.stdin.flush()
    client_proc.wait(timeout=60)
    server.stdin.close()
    server.wait(timeout=60)
    result.update(
        clients=clients,
        rss_per_client_kb=round((rss_connected - rss_before) / clients / 1024, 1),
        server_rss_mb=round(rss_connected / 2**20, 1),
    )
    return result


# -- gateways mode ---------------------------------------------------------------

READY_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[1]


class Child:
    """A subprocess whose output is read line by line as it comes (never a pipe left
    to fill); ``until`` waits for the line that says it is ready, never a sleep."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        self.process: asyncio.subprocess.Process | None = None
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.tail: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> Child:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._drain = asyncio.get_running_loop().create_task(self._read(self.process))
        return self

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            self.tail = [*self.tail[-19:], text]
            self.lines.put_nowait(text)
        self.lines.put_nowait(None)

    async def until(self, prefix: str, timeout_s: float = READY_TIMEOUT_S) -> str:
        """The next line starting with ``prefix`` (earlier lines are skipped)."""

        async def wait() -> str:
            while (text := await self.lines.get()) is not None:
                if text.startswith(prefix):
                    return text
            raise RuntimeError(f"{self.name} exited: " + " | ".join(self.tail[-8:]))

        try:
            return await asyncio.wait_for(wait(), timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"{self.name}: no {prefix!r} line in {timeout_s:g} s: " + " | ".join(self.tail[-8:])
            ) from None

    async def end(self) -> None:
        """SIGTERM (a clean stop), SIGKILL after 20 s; reaped either way."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._drain, 5)


def product(*argv: str) -> list[str]:
    return [sys.executable, "-m", "workspace", *argv]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU of ``processes`` (psutil reads /proc/PID/stat)."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


async def measure(
    urls: list[str],
    count: int,
    args: argparse.Namespace,
    symbols: list[str],
    groups: dict[str, list[int]],
) -> dict[str, Any]:
    """``count`` clients spread round-robin over ``urls``; the CPU of each group of
    processes over the measured seconds (share of a core, and time per delivered
    message)."""
    clients = Child(
        "clients",
        [
            sys.executable,
            __file__,
            "--role=clients",
            f"--url={','.join(urls)}",
            f"--count={count}",
            f"--seconds={args.seconds}",
            f"--warmup={args.warmup}",
            f"--symbols={','.join(symbols)}",
            "--spread",
        ],
    )
    await clients.start()
    try:
        await clients.until("connected", 60 + count / 10)
        await clients.until("measuring", args.warmup + 60)
        processes = {name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()}
        before = {name: cpu_seconds(group) for name, group in processes.items()}
        started = time.perf_counter()
        result: dict[str, Any] = json.loads(await clients.until("{", args.seconds + 60))
        wall = time.perf_counter() - started
        delivered = max(1, result["delivered"])
        total = 0.0
        for name, group in processes.items():
            used = cpu_seconds(group) - before[name]
            total += used
            result[f"{name}_cpu"] = round(used / wall, 2)
            result[f"{name}_cpu_us_per_msg"] = round(used * 1e6 / delivered, 2)
        result["total_cpu_us_per_msg"] = round(total * 1e6 / delivered, 2)
    finally:
        await clients.end()
    result["clients"] = count
    return result


async def serve_phase(count: int, args: argparse.Namespace, symbols: list[str]) -> dict[str, Any]:
    """The single process: ``python -m workspace serve`` on the same feed and load."""
    server = Child(
        "serve",
        product(
            "serve", "--feed", "sim", "--port", "0", "--max-connections-per-address", "0",
            "--sim-ticker-interval", str(args.ticker_interval),
        ),
    )  # fmt: skip
    try:
        await server.start()
        url = (await server.until("serving ")).split()[1]
        result = await measure([url], count, args, symbols, {"serve": [server.pid]})
    finally:
        await server.end()
    result["setup"] = "serve"
    return result


async def gateways_phase(
    gateways: int, count: int, args: argparse.Namespace, symbols: list[str]
) -> dict[str, Any]:
    """A private redis-server, ``engine --feed sim`` and ``gateways`` gateways."""
    from workspace.bus.local_redis import LocalRedis

    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="fanout-redis-") as scratch:
        redis = LocalRedis(Path(scratch) / "redis")
        try:
            await redis.start()
            engine = Child(
                "engine",
                product(
                    "engine", "--bus", redis.url, "--feed", "sim",
                    "--sim-ticker-interval", str(args.ticker_interval),
                ),
            )  # fmt: skip
            children.append(engine)
            await engine.start()
            await engine.until("engine ready")
            started = [
                Child(f"gateway-{n}", product("gateway", "--bus", redis.url, "--port", "0"))
                for n in range(gateways)
            ]
            children += started
            await asyncio.gather(*(gateway.start() for gateway in started))
            lines = await asyncio.gather(*(gateway.until("serving ") for gateway in started))
            assert redis.pid is not None
            result = await measure(
                [line.split()[1] for line in lines],
                count,
                args,
                symbols,
                {
                    "gateways": [gateway.pid for gateway in started],
                    "engine": [engine.pid],
                    "redis": [redis.pid],
                },
            )
        finally:
            for child in reversed(children):
                await child.end()
            await redis.stop()
    result["setup"] = f"{gateways} gateway{'s' if gateways > 1 else ''}"
    result["gateways"] = gateways
    return result


def row(result: dict[str, Any]) -> str:
    def share(key: str) -> str:
        return f"{result[key]:.0%}" if key in result else "-"

    front = result.get("gateways_cpu_us_per_msg", result.get("serve_cpu_us_per_msg"))
    return (
        f"{result['setup']:>11} {result['clients']:6d} {result['msgs_per_s']:9.0f} "
        f"{result['p50_ms']:7.1f} {result['p99_ms']:7.1f} {front:10.1f} "
        f"{share('gateways_cpu') if 'gateways_cpu' in result else share('serve_cpu'):>6} "
        f"{share('engine_cpu'):>6} {share('redis_cpu'):>6} "
        f"{result['total_cpu_us_per_msg']:9.1f} {result['silent_clients']:6d}"
    )


async def run_gateways(args: argparse.Namespace) -> None:
    from workspace.sim import DEFAULT_SYMBOLS

    symbols = [spec.symbol for spec in DEFAULT_SYMBOLS]
    counts = [int(c) for c in (args.clients or "500").split(",")]
    gateway_counts = [int(n) for n in args.gateways.split(",")]
    print(
        f"gateways: engine --feed sim ({len(symbols)} symbols, a ticker every "
        f"{args.ticker_interval:g} s each) on a "
        f"private redis-server, N gateways, clients round-robin over them, "
        f"{min(SYMBOLS_PER_CLIENT, len(symbols))} symbols per client, {args.seconds:g} s "
        f"per phase; 'serve' = the single process on the same feed and load",
        flush=True,
    )
    print(
        f"{'setup':>11} {'conns':>6} {'msgs/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'front us/m':>10} {'front':>6} {'engine':>6} {'redis':>6} {'total us/m':>9} "
        f"{'silent':>6}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for count in counts:
        rows.append(await serve_phase(count, args, symbols))
        print(row(rows[-1]), flush=True)
        for gateways in gateway_counts:
            rows.append(await gateways_phase(gateways, count, args, symbols))
            print(row(rows[-1]), flush=True)
    print(
        "front = serve's or the gateways' (summed) CPU: share of one core, and us per "
        "delivered message; total us/m = every server-side process per delivered message"
    )
    print(
        json.dumps(
            {
                "mode": "gateways",
                "clients": counts,
                "gateways": gateway_counts,
                "symbols": len(symbols),
                "ticker_interval_s": args.ticker_interval,
                "seconds": args.seconds,
                "rows": [
                    {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rows
                ],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["main", "server", "clients"], default="main")
    parser.add_argument(
        "--clients", default=None, help="default 100,500,1000,2000,3000; 500 with --gateways"
    )
    parser.add_argument(
        "--gateways",
        nargs="?",
        const="1,2,4",
        default=None,
        metavar="N[,N...]",
        help="scale-out mode: engine + N gateways on a private Redis, and serve (default 1,2,4)",
    )
    parser.add_argument("--symbols", default="", help=argparse.SUPPRESS)
    parser.add_argument("--spread", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--before-ref", default="main")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--ticker-interval", type=float, default=0.25)
    parser.add_argument("--aligned", action="store_true", help="every ticker at one instant")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--socket-send-buffer",
        type=int,
        default=None,
        help="the server's SO_SNDBUF per client (0 = the OS default); default: the server's",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--url", default="")
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    if args.role == "server":
        factory = None
        if args.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(
                serve(args.ticker_interval, args.aligned, args.profile, args.socket_send_buffer)
            )
        return
    if args.role == "clients":
        asyncio.run(
            run_clients(args.url, args.count, args.seconds, args.warmup, args.symbols, args.spread)
        )
        return
    if args.gateways is not None:
        asyncio.run(run_gateways(args))
        return
    counts = [int(c) for c in (args.clients or "100,500,1000,2000,3000").split(",")]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - {"before", "after", "after-asyncio"}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    fast_loop = "uvloop" if has_uvloop() else "asyncio"
    print(
        f"fan-out: {SYMBOLS_TOTAL} symbols, ticker every {args.ticker_interval:g} s each "
        f"({'aligned' if args.aligned else 'staggered'}), "
        f"{SYMBOLS_PER_CLIENT} symbols per client, {args.seconds:g} s per phase; "
        f"before = {args.before_ref} on asyncio, after = this tree on {fast_loop}"
    )
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory(prefix="fanout-before-") as scratch:
        before_code = export(args.before_ref, Path(scratch)) if "before" in variants else None
        setups = {
            "before": (before_code, "asyncio"),
            "after": (None, fast_loop),
            "after-asyncio": (None, "asyncio"),
        }
        for n, count in enumerate(counts):
            for variant in variants:
                code, loop = setups[variant]
                started = time.perf_counter()
                profile = args.profile and n == len(counts) - 1
                result = phase(count, args, profile, code, loop)
                result["variant"] = variant
                results[variant].append(result)
                print(
                    f"{count:5d} clients {variant:>13}: {result['msgs_per_s']:8.0f} msgs/s, "
                    f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                    f"(max {result['max_ms']:.1f}), {result['rss_per_client_kb']} KB/client; "
                    f"CPU server {result['server_cpu']:.0%} "
                    f"({result['server_cpu_us_per_msg']:.1f} us/msg, "
                    f"{result['server_sys_share']:.0%} in the kernel), clients "
                    f"{result['clients_cpu']:.0%}; {result['silent_clients']} silent, "
                    f"{result['closed_clients']} closed  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
            if "before" in results and "after" in results:
                before, after = results["before"][-1], results["after"][-1]
                print(
                    f"{count:5d} clients   after/before: CPU per message "
                    f"{after['server_cpu_us_per_msg'] / before['server_cpu_us_per_msg']:.2f}x, "
                    f"p99 {after['p99_ms'] / before['p99_ms']:.2f}x, "
                    f"delivered {after['msgs_per_s'] / before['msgs_per_s']:.2f}x",
                    flush=True,
                )
    summary: dict[str, Any] = {
        "clients": counts,
        "aligned": args.aligned,
        "ticker_interval_s": args.ticker_interval,
        "before_ref": args.before_ref,
        "after_loop": fast_loop,
    }
    for variant, rows in results.items():
        summary[variant] = [
            {k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}
            for row in rows
        ]
    if "before" in results and "after" in results:
        summary["ratios_after_over_before"] = [
            {
                "clients": b["clients"],
                "cpu_us_per_msg": round(a["server_cpu_us_per_msg"] / b["server_cpu_us_per_msg"], 3),
                "p99_ms": round(a["p99_ms"] / b["p99_ms"], 3),
                "msgs_per_s": round(a["msgs_per_s"] / b["msgs_per_s"], 3),
            }
            for b, a in zip(results["before"], results["after"], strict=True)
        ]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
