"""Soak: many clients against ``python -m workspace serve`` for a long time; does the
server's memory stay flat?

    .venv/bin/python benchmarks/soak.py [--clients 300] [--minutes 30] [--sample-s 10]
        [--order-every-s 5] [--serve-arg=--some-flag ...] [--url URL --pid PID]
        [--sim-in-process] [--attribute | --probe [--containers]]

The server is a real ``serve`` subprocess (a journal file in a temporary directory,
removed at the end) whose feed is the exchange simulator in a process of its own
(``python -m workspace sim``; ``serve --feed binance`` pointed at it), as Binance is
another machine in production: the simulator keeps bounded histories that fill for an
hour (the last 5,000 trades and 3,600 one-second candles per symbol, ~1.2 MB/min at
its default rates), which inside the server (``--sim-in-process``: ``serve --feed
sim``) count in the server's RSS for that hour.  The clients run in this process, on one
event loop, each on its own WebSocket: it subscribes to the ticker of one of the
simulator's ten symbols and reads everything it is sent, and every ``--order-every-s``
(jittered) it trades on the one shared account, in turn: a limit buy far below the
market that it then cancels, or a market buy followed by a market sell of the same
quantity.  So the account keeps taking orders that end (canceled, filled): final orders
pile up in the journal, and beyond ``EngineConfig.final_orders_in_memory`` they must
leave the account's memory.

Every ``--sample-s`` the server's resident memory (VmRSS from /proc, and how much of
it is anonymous memory, the heap, or file-backed: libraries, SQLite's shared index)
is printed with what the clients did meanwhile.  At the end: the least-squares slope
of RSS over time after the warm-up (the first fifth of the run) and over the last half,
in MB per minute and per hour, and the growth from the first to the last sample after
the warm-up.  A flat server has a slope near 0; the first version grew linearly
(112 -> 137 MB in 5 min with 300 clients: the per-connection record of delivered seqs,
and every final order kept in memory).

``--url URL --pid PID`` drives a server that is already running instead of starting
``serve``; its RSS is read from PID.

``--attribute`` answers "which part grows": this process runs the server itself
(a ``Workspace`` on the simulator and its ``RealtimeServer``, what ``serve`` runs)
under ``tracemalloc`` and drives it with the clients in a child process (this script
with ``--url``); at the end of the warm-up and at the end of the run it takes a
snapshot (the last one while the clients are still connected) and prints the growth
of Python memory between them by the part of the code that allocated it
(workspace/server, protocol, engine, trading, journal, the simulator, websockets, the
rest).  tracemalloc slows the server down, so the rates are lower than
in a plain run; the split is what this mode is for.  ``--probe`` runs the server the
same way without tracemalloc and prints at each sample what glibc's heap holds (in
use, free but kept: fragmentation), Python's allocated blocks and the gc-tracked
objects, and at the end which object types grew after the warm-up.  It freezes the
heap once started, as ``serve`` does (``workspace/heap.py``), and at the end counts the
cyclic garbage the freeze hid: start-up objects that became part of a garbage cycle,
which a frozen heap never reclaims (``frozen_garbage``), and the RSS before and after
glibc's ``malloc_trim(0)`` (the C heap's free pages the server had touched).
``--probe --containers`` also takes a census of the containers that grew after the
warm-up (``containers.py``: a dict of strings or a deque of untracked structs grows
without any gc-tracked object); the census leaves the heap unfrozen, so the frozen
garbage is not counted then.

The last line printed is one JSON object.  Nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

import containers

SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "LTCUSDT",
    "LINKUSDT",
    "AVAXUSDT",
)
QUANTITY = 0.0002  # BTC: ~20 USDT at the simulator's prices, above the minimum value
REPLY_TIMEOUT_S = 30.0


@dataclass
class Tally:
    """What the clients did and saw (shared by all of them)."""

    connected: int = 0
    placed: int = 0
    canceled: int = 0
    filled: int = 0
    messages: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    disconnects: int = 0
    btc_price: float | None = None


class SoakClient:
    def __init__(self, ws: ClientConnection, tally: Tally, n: int) -> None:
        self.ws = ws
        self.tally = tally
        self.n = n
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # client_order_id -> the final status its ORDER_UPDATEs reach
        self._final: dict[str, asyncio.Future[str]] = {}

    async def read(self) -> None:
        tally = self.tally
        try:
            async for frame in self.ws:
                tally.messages += 1
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "MARKET_UPDATE" and message.get("symbol") == "BTCUSDT":
                    tally.btc_price = float(message["price"])
                if kind == "ORDER_UPDATE" and self._final:
                    order = message.get("order", {})
                    status = order.get("status")
                    if status in ("FILLED", "EXPIRED", "CANCELED", "REJECTED"):
                        final = self._final.pop(order.get("client_order_id"), None)
                        if final is not None and not final.done():
                            final.set_result(status)
                reply_to = message.get("id")
                if isinstance(reply_to, str):
                    waiter = self._waiting.pop(reply_to, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(message)
        finally:
            tally.disconnects += 1
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("disconnected"))

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        command_id = f"c{self.n}-{next(self._ids)}"
        command["id"] = command_id
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = waiter
        await self.ws.send(json.dumps(command))
        reply: dict[str, Any] = await asyncio.wait_for(waiter, REPLY_TIMEOUT_S)
        if reply.get("type") == "ERROR":
            self.tally.errors[str(reply.get("code"))] += 1
        return reply

    async def trade(self, every_s: float) -> None:
        await self.ask({"action": "subscribe_ticker", "symbol": SYMBOLS[self.n % len(SYMBOLS)]})
        await asyncio.sleep(random.uniform(0, every_s))
        for turn in itertools.count():
            price = self.tally.btc_price
            if price is not None:
                if turn % 2 == 0:
                    await self._limit_then_cancel(price)
                else:
                    await self._round_trip()
            await asyncio.sleep(every_s * random.uniform(0.5, 1.5))

    async def _limit_then_cancel(self, price: float) -> None:
        placed = await self.ask(
            {
                "action": "place_order",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": QUANTITY,
                "price": round(price * 0.8, 2),
            }
        )
        if placed.get("type") != "ORDER_UPDATE":
            return
        self.tally.placed += 1
        done = await self.ask({"action": "cancel_order", "order_id": placed["order"]["id"]})
        if done.get("type") == "ORDER_UPDATE":
            self.tally.canceled += 1

    async def _round_trip(self) -> None:
        """A market buy, and once it filled, a market sell of the same quantity."""
        for side in ("BUY", "SELL"):
            cid = f"soak-{self.n}-{next(self._ids)}"
            final = self._final[cid] = asyncio.get_running_loop().create_future()
            reply = await self.ask(
                {
                    "action": "place_order",
                    "symbol": "BTCUSDT",
                    "side": side,
                    "type": "MARKET",
                    "quantity": QUANTITY,
                    "client_order_id": cid,
                }
            )
            if reply.get("type") != "ORDER_UPDATE":
                self._final.pop(cid, None)
                return
            self.tally.placed += 1
            # the fill is published before the direct reply is sent: it may be here already
            status = await asyncio.wait_for(final, REPLY_TIMEOUT_S)
            if status != "FILLED":
                return  # no sell without the buy
            self.tally.filled += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def rss_split_mb(pid: int) -> tuple[float, float]:
    """(anonymous, file-backed) resident MB of ``pid``: heap growth vs mapped files
    (an SQLite ``-shm`` index, shared libraries)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    anon = fields.get("Anonymous", 0)
    return anon / 1024, (fields.get("Rss", 0) - anon) / 1024


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60.0


async def start_ready(
    argv: list[str], ready: bytes, env: dict[str, str], stderr: int | None = None
) -> tuple[asyncio.subprocess.Process, bytes]:
    """``python -m workspace *argv``, once it printed its ready line (which starts with
    ``ready``); killed and raised if its first line is anything else."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workspace",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line.startswith(ready):
        process.kill()
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return process, line


async def start_sim() -> tuple[asyncio.subprocess.Process, list[str]]:
    """The exchange simulator in its own process: its histories (recent trades, one-second
    candles) fill up to their bounds for an hour, and that is the stand-in for Binance,
    not the server under test.  Returns it and the ``serve`` flags that point at it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process, line = await start_ready(
        ["sim", "--port", "0"], b"simulator: ", env, stderr=asyncio.subprocess.DEVNULL
    )
    stream_url = line.split()[1].decode()
    rest_url = line.split()[3].decode().split("/api/")[0]
    return process, [
        "--feed",
        "binance",
        "--binance-url",
        stream_url,
        "--binance-rest-url",
        rest_url,
    ]


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


async def start_serve(
    db: Path, extra: list[str], feed: list[str]
) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKSPACE_TOKEN", None)
    process, line = await start_ready(
        ["serve", *feed, "--port", "0", "--db", str(db), "--balance", "USDT=10000000", *extra],
        b"serving ",
        env,
    )
    return process, line.split()[1].decode()


async def open_clients(
    url: str, count: int, tally: Tally, every_s: float
) -> tuple[list[ClientConnection], list[asyncio.Task[None]]]:
    sockets: list[ClientConnection] = []
    tasks: list[asyncio.Task[None]] = []
    for n in range(count):
        try:
            ws = await connect(url, max_size=None, open_timeout=30, close_timeout=1)
        except Exception as error:
            tally.errors[f"connect: {type(error).__name__}"] += 1
            continue
        sockets.append(ws)
        tally.connected += 1
        client = SoakClient(ws, tally, n)
        tasks.append(asyncio.create_task(client.read()))
        tasks.append(asyncio.create_task(client.trade(every_s)))
        if n % 50 == 49:
            await asyncio.sleep(0.2)  # let the server settle each batch of handshakes
    return sockets, tasks


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server: asyncio.subprocess.Process | None = None
        sim: asyncio.subprocess.Process | None = None
        if args.url:
            url, pid = args.url, args.pid
        else:
            bound = ["--final-orders-in-memory", str(args.final_orders_in_memory)]
            feed = ["--feed", "sim"]
            if not args.sim_in_process:
                sim, feed = await start_sim()
            try:
                server, url = await start_serve(
                    Path(tmp) / "journal.sqlite", [*args.serve_arg, *bound], feed
                )
            except BaseException:
                if sim is not None:
                    await stop_process(sim)
                raise
            pid = server.pid
        started = time.monotonic()
        rss_idle = rss_mb(pid)
        where = "in the server" if sim is None else f"in its own process, pid {sim.pid}"
        if args.url is None:
            print(f"simulator {where}")
        print(f"server pid {pid} at {url}: {rss_idle:.1f} MB before any client")
        sockets, tasks = await open_clients(url, args.clients, tally, args.order_every_s)
        print(f"{tally.connected} clients connected in {time.monotonic() - started:.1f} s")
        duration = args.minutes * 60.0
        began = time.monotonic()
        last = (tally.placed, tally.messages, began)
        try:
            while (elapsed := time.monotonic() - began) < duration:
                await asyncio.sleep(min(args.sample_s, max(0.0, duration - elapsed)))
                now = time.monotonic()
                rss = rss_mb(pid)
                anon, mapped = rss_split_mb(pid)
                samples.append((now - began, rss))
                placed, messages, at = last
                span = max(now - at, 1e-9)
                print(
                    f"t={now - began:7.0f} s  rss {rss:7.1f} MB (anon {anon:6.1f}, file "
                    f"{mapped:5.1f})  clients "
                    f"{tally.connected - tally.disconnects}  orders/s "
                    f"{(tally.placed - placed) / span:6.1f}  messages/s "
                    f"{(tally.messages - messages) / span:8.0f}  placed {tally.placed}  "
                    f"filled {tally.filled}  errors {sum(tally.errors.values())}",
                    flush=True,
                )
                last = (tally.placed, tally.messages, now)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            if server is not None:
                await stop_process(server)
            if sim is not None:
                sim_rss = rss_mb(sim.pid)
                print(f"simulator RSS at the end: {sim_rss:.1f} MB (not the server's)")
                await stop_process(sim)
    warm = [s for s in samples if s[0] >= duration / 5] or samples
    slope = slope_per_min(warm)
    growth = warm[-1][1] - warm[0][1] if len(warm) > 1 else 0.0
    # the account fills up to its bound of final orders in memory during the run: the
    # last half's slope says whether the server stays flat once every bound is reached
    late = [s for s in samples if s[0] >= duration / 2] or samples
    late_slope = slope_per_min(late)
    print(
        f"RSS after warm-up: {warm[0][1]:.1f} -> {warm[-1][1]:.1f} MB "
        f"({growth:+.1f} MB over {(warm[-1][0] - warm[0][0]) / 60:.1f} min); slope "
        f"{slope:+.3f} MB/min ({slope * 60:+.1f} MB/h); {tally.placed} orders placed, "
        f"{tally.canceled} canceled, {tally.filled} filled; errors {dict(tally.errors)}"
    )
    print(f"RSS over the last half: slope {late_slope:+.3f} MB/min ({late_slope * 60:+.1f} MB/h)")
    return {
        "clients": args.clients,
        "connected": tally.connected,
        "minutes": args.minutes,
        "rss_idle_mb": round(rss_idle, 1),
        "rss_first_mb": round(warm[0][1], 1) if warm else None,
        "rss_last_mb": round(warm[-1][1], 1) if warm else None,
        "rss_growth_after_warmup_mb": round(growth, 2),
        "rss_slope_mb_per_min": round(slope, 4),
        "rss_slope_mb_per_hour": round(slope * 60, 2),
        "rss_slope_last_half_mb_per_min": round(late_slope, 4),
        "orders_placed": tally.placed,
        "orders_canceled": tally.canceled,
        "orders_filled": tally.filled,
        "messages": tally.messages,
        "disconnects": tally.disconnects,
        "errors": dict(tally.errors),
        "samples": [[round(t, 1), round(m, 1)] for t, m in samples],
    }


PARTS = (
    ("workspace/server/", "server"),
    ("workspace/protocol/", "protocol"),
    ("workspace/engine/", "engine"),
    ("workspace/trading/", "trading (account)"),
    ("workspace/journal/", "journal"),
    ("workspace/sim/", "simulator"),
    ("workspace/market/", "feed"),
    ("/websockets/", "websockets"),
)


def _part(filename: str) -> str:
    for marker, name in PARTS:
        if marker in filename:
            return name
    return "other"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc(name: str) -> Any:
    """glibc's function ``name`` in this process, or None (another C library)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def malloc_heap_mb() -> tuple[float, float, float] | None:
    """glibc's view of this process's heap: (bytes in use, free bytes it keeps, mmapped
    blocks) in MB, or None without glibc's ``mallinfo2``.  In use grows with C
    allocations too (SQLite, zlib), which tracemalloc does not see; free-but-kept grows
    with fragmentation."""
    mallinfo2 = _glibc("mallinfo2")
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks / 1e6, info.fordblks / 1e6, info.hblkhd / 1e6


def trimmed_mb() -> tuple[float, float] | None:
    """This process's RSS before and after glibc's ``malloc_trim(0)`` (which gives
    the free pages of the C heap back to the system), or None without glibc."""
    malloc_trim = _glibc("malloc_trim")
    if malloc_trim is None:
        return None
    before = rss_mb(os.getpid())
    malloc_trim(0)
    return before, rss_mb(os.getpid())


def _types(gc: Any) -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def frozen_garbage(gc: Any) -> Counter[str]:
    """The cyclic garbage the start-up freeze hid (``workspace/heap.py``), by type: what
    a collection finds only once the frozen objects are back in its view.  A start-up
    object that later became part of a garbage cycle is never reclaimed while frozen;
    this is how much of that there is.  Unfreezes the heap."""
    gc.collect()  # everything the collector could already see
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.unfreeze()
        gc.collect()
        found = Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    gc.collect()  # (the saved cycles, now without the list that kept them)
    return found


async def attribute(args: argparse.Namespace) -> dict[str, Any]:
    """Run the server here under tracemalloc, the clients in a child (see the docstring).
    With ``--probe`` instead: no tracemalloc (the server runs at full speed), and at each
    sample the heap as glibc sees it, Python's allocated blocks and the count of
    gc-tracked objects; at the end the object types whose count grew."""
    import gc
    import tracemalloc

    from workspace import Workspace
    from workspace.engine.config import EngineConfig
    from workspace.heap import settle_heap
    from workspace.market.config import FeedConfig

    sim: asyncio.subprocess.Process | None = None
    feed_config: FeedConfig | None = None
    if not args.sim_in_process:
        sim, flags = await start_sim()
        feed_config = FeedConfig(stream_url=flags[3], rest_url=flags[5])
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workspace = Workspace(
            feed="sim" if sim is None else "binance",
            feed_config=feed_config,
            db=Path(tmp) / "journal.sqlite",
            balances={"USDT": 10_000_000},
            engine=EngineConfig(final_orders_in_memory=args.final_orders_in_memory),
        )
        await workspace.start()
        try:
            server = await workspace.serve(port=0)
            url = f"ws://127.0.0.1:{server.port}/api/ws/realtime"
            if args.probe:
                settle_heap()  # as serve does once started
            else:
                tracemalloc.start(1)
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--url",
                url,
                "--pid",
                str(os.getpid()),
                "--clients",
                str(args.clients),
                "--minutes",
                str(args.minutes),
                "--sample-s",
                str(args.sample_s),
                "--order-every-s",
                str(args.order_every_s),
                stdout=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None
            lines: list[str] = []
            started = time.monotonic()
            first: tracemalloc.Snapshot | None = None
            # the last snapshot while the clients were still connected: one taken after
            # they left would not show what live connections hold
            live: tracemalloc.Snapshot | None = None
            types_first: Counter[str] | None = None
            sizes_first: containers.Census = {}
            while line := (await child.stdout.readline()).decode():
                lines.append(line)
                print(line, end="", flush=True)
                if first is not None and line.startswith("t="):
                    live = tracemalloc.take_snapshot()
                if args.probe and line.startswith("t="):
                    heap = malloc_heap_mb()
                    if heap is not None:
                        print(
                            f"    heap in use {heap[0]:7.1f} MB, free kept {heap[1]:6.1f} MB, "
                            f"mmapped {heap[2]:6.1f} MB; python blocks "
                            f"{sys.getallocatedblocks():,}; gc objects {len(gc.get_objects()):,}; "
                            f"orders in memory {len(workspace.account.orders):,}",
                            flush=True,
                        )
                if types_first is None and time.monotonic() - started >= args.minutes * 60 / 5:
                    gc.collect()
                    if args.probe:
                        if args.containers:
                            sizes_first = containers.census()  # (unfreezes the heap)
                        # (after the census: both counts see the same heap, frozen or not)
                        types_first = _types(gc)
                    else:
                        first = tracemalloc.take_snapshot()
                        types_first = Counter()
                    orders_first = len(workspace.account.orders)
            await child.wait()
            gc.collect()
            orders_last = len(workspace.account.orders)
            if args.probe:
                grown = _types(gc)  # (the same heap as the warm-up's count saw)
                bigger: list[tuple[str, int, int]] = []
                hidden: Counter[str] = Counter()
                if args.containers:
                    bigger = containers.grown(sizes_first, containers.census())
                    print("containers that grew after the warm-up (where: length then -> now):")
                    for where, then, now in bigger:
                        print(f"  {where:<60} {then:>9,} -> {now:>9,}")
                    print("(the heap ran unfrozen after the warm-up: no frozen garbage to count)")
                else:
                    hidden = frozen_garbage(gc)
                    print(
                        "cyclic garbage the start-up freeze hid: "
                        f"{sum(hidden.values()):,} objects "
                        + ", ".join(f"{name} {count:,}" for name, count in hidden.most_common(8))
                    )
                grown.subtract(types_first or Counter())
                print("gc-tracked objects that grew after the warm-up:")
                for name, count in grown.most_common(15):
                    print(f"  {name:<40} {count:+,}")
                result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
                result["object_growth"] = dict(grown.most_common(15))
                result["frozen_garbage"] = sum(hidden.values())
                result["containers_grown"] = [[w, a, b] for w, a, b in bigger]
                result["account_orders_in_memory"] = [orders_first, orders_last]
                kept = trimmed_mb()
                if kept is not None:
                    print(
                        f"malloc_trim(0) at the end: RSS {kept[0]:.1f} -> {kept[1]:.1f} MB "
                        "(the C heap's free pages the server had touched, given back)"
                    )
                    result["rss_before_after_malloc_trim_mb"] = [round(v, 1) for v in kept]
                return result
            last = live if live is not None else tracemalloc.take_snapshot()
            tracemalloc.stop()
        finally:
            await workspace.stop()
            if sim is not None:
                await stop_process(sim)
    if first is None:
        raise RuntimeError("the run ended before its warm-up")
    print("Python memory growth after the warm-up, by allocating line (top 12):")
    for stat in last.compare_to(first, "lineno")[:12]:
        frame = stat.traceback[0]
        print(
            f"  {stat.size_diff / 1e6:+8.2f} MB  {stat.count_diff:+8,}  "
            f"{frame.filename}:{frame.lineno}"
        )
    growth: Counter[str] = Counter()
    for stat in last.compare_to(first, "filename"):
        growth[_part(stat.traceback[0].filename)] += stat.size_diff
    print("Python memory growth after the warm-up, by the part that allocated it:")
    for name, size in growth.most_common():
        print(f"  {name:<20} {size / 1e6:+8.2f} MB")
    print(f"  orders in the account's memory: {orders_first} -> {orders_last}")
    result = json.loads(lines[-1]) if lines else {}
    result["python_growth_mb_by_part"] = {k: round(v / 1e6, 3) for k, v in growth.items()}
    result["account_orders_in_memory"] = [orders_first, orders_last]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--order-every-s", type=float, default=5.0)
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="passed on to serve (repeatable)"
    )
    parser.add_argument(
        "--final-orders-in-memory",
        type=int,
        default=10_000,
        help="the server's bound (EngineConfig.final_orders_in_memory; default 10,000)",
    )
    parser.add_argument(
        "--sim-in-process",
        action="store_true",
        help="serve --feed sim (the simulator inside the server, its histories filling "
        "for an hour count in the server's RSS) instead of a simulator process",
    )
    parser.add_argument("--url", default=None, help="a running server to drive instead")
    parser.add_argument("--pid", type=int, default=None, help="its process id (for RSS)")
    parser.add_argument(
        "--attribute",
        action="store_true",
        help="run the server here under tracemalloc: Python memory growth by part",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="run the server here without tracemalloc: glibc heap and object counts",
    )
    parser.add_argument(
        "--containers",
        action="store_true",
        help="with --probe: the containers that grew after the warm-up (benchmarks/"
        "containers.py; the census unfreezes the heap, so the frozen garbage is not counted)",
    )
    args = parser.parse_args()
    if bool(args.url) != bool(args.pid):
        parser.error("--url and --pid go together")
    if args.containers and not args.probe:
        parser.error("--containers goes with --probe")
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(attribute(args) if args.attribute or args.probe else soak(args))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
