"""Feed ingest throughput: the feed's typed records vs bare WebSocket + JSON loops.

A frame server runs in a subprocess (its own core): on the first SUBSCRIBE of a
connection it writes N pre-framed combined-stream frames of one kind as fast as the
socket takes them (the bytes are built before the first one is sent, so the client is
what is measured).  Kinds:

- ``ticker``: ``@ticker`` frames of BTCUSDT and ETHUSDT (the simulator's firehose
  generator: consistent 24hrTicker payloads with 15 prices);
- ``bookTicker``: ``@bookTicker`` frames from a seeded random walk;
- ``depth``: ``@depth@100ms`` diff events (10 level changes each, update ids
  contiguous) with a matching ``/api/v3/depth`` snapshot, so the feed keeps a real
  local order book; its figure is updates applied to the book per second.

Each round connects once per client, on the same frames, and times the last four fifths
of them, frame N/5 to frame N (wall clock and this process's CPU time): on a depth
connection the feed's first frames arrive while it fetches the snapshot and are then
applied from its buffer in one burst, with no socket read between them, which flattered
the feed (a TLS round once read 301k updates/s against 153k in the next run).

- ``feed``: ``BinanceFeed`` into typed records with exact Decimal prices (and, for
  depth, a synchronised ``OrderBook``), a no-op consumer;
- ``bare``: ``websockets`` + ``json.loads`` into dicts (the baseline of the ratios);
- ``orjson``: ``websockets`` + ``orjson.loads`` into dicts (for comparison).

For depth the frame server also listens on ``wss://`` (a throwaway self-signed
certificate, workspace/sim/tls.py): cryptofeed only connects to wss://, so its L2 book
(cryptofeed 2.4.1, the ``compat`` extra; pointed at the server by its endpoint
attributes, run in a subprocess that trusts the certificate through ``SSL_CERT_FILE``)
is measured there, beside our feed and the bare loop again over TLS.  It also answers
``/api/v3/exchangeInfo`` and starts streaming at once when the URL names the streams
(``/stream?streams=...``), as cryptofeed connects.

    .venv/bin/python benchmarks/feed_ingest.py [--frames 100000] [--rounds 2]
        [--kinds ticker,bookTicker,depth] [--profile]

``--profile`` samples the feed rounds with py-spy and prints the functions with the
most samples (own time).  Each kind prints its figures, the ratios and its target;
figures go last, as one JSON object (with ``targets_met``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import websockets

from workspace.market.config import FeedConfig
from workspace.market.feed import BinanceFeed
from workspace.market.records import DepthUpdate, FeedRecord

SYMBOLS = ("BTCUSDT", "ETHUSDT")
KINDS = ("ticker", "bookTicker", "depth")
STREAM_KIND = {"ticker": "ticker", "bookTicker": "bookTicker", "depth": "depth@100ms"}
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- the frame server (subprocess) ------------------------------------------------------


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


def _e8(value: int) -> str:
    return f"{value // 100_000_000}.{value % 100_000_000:08d}"


def ticker_frames(count: int) -> list[bytes]:
    from workspace.sim.config import SimConfig
    from workspace.sim.firehose import build_firehose

    specs = {spec.symbol: spec for spec in SimConfig(symbols=SYMBOLS).symbol_specs()}
    streams = [f"{s.lower()}@ticker" for s in SYMBOLS]
    return build_firehose(specs, streams, count, combined=True, seed=7, start_ms=1_700_000_000_000)


def book_ticker_frames(count: int) -> list[bytes]:
    rng = random.Random(7)
    prices = {"BTCUSDT": 97_000_00_000_000, "ETHUSDT": 3_400_00_000_000}
    frames = []
    for n in range(count):
        symbol = SYMBOLS[n % 2]
        prices[symbol] += rng.choice((-1, 0, 1)) * 1_000_000
        bid = prices[symbol]
        data = (
            f'{{"u":{1_000_000 + n},"s":"{symbol}","b":"{_e8(bid)}",'
            f'"B":"{_e8(rng.randint(1, 10**9))}","a":"{_e8(bid + 1_000_000)}",'
            f'"A":"{_e8(rng.randint(1, 10**9))}"}}'
        )
        frames.append(f'{{"stream":"{symbol.lower()}@bookTicker","data":{data}}}'.encode())
    return frames


def depth_frames(count: int) -> tuple[list[bytes], dict[str, bytes]]:
    """Diff events and, per symbol, the snapshot they continue (lastUpdateId = U - 1)."""
    rng = random.Random(7)
    tick = 1_000_000  # 0.01
    mids = {"BTCUSDT": 97_000_00_000_000, "ETHUSDT": 3_400_00_000_000}
    next_id = {"BTCUSDT": 5_000_000, "ETHUSDT": 7_000_000}
    snapshots = {}
    for symbol, mid in mids.items():
        bids = [[_e8(mid - tick * (i + 1)), _e8(rng.randint(1, 10**9))] for i in range(1000)]
        asks = [[_e8(mid + tick * (i + 1)), _e8(rng.randint(1, 10**9))] for i in range(1000)]
        body = {"lastUpdateId": next_id[symbol] - 1, "bids": bids, "asks": asks}
        snapshots[symbol] = json.dumps(body, separators=(",", ":")).encode()
    frames = []
    for n in range(count):
        symbol = SYMBOLS[n % 2]
        mid = mids[symbol]
        levels: dict[str, list[list[str]]] = {"b": [], "a": []}
        for side, sign in (("b", -1), ("a", 1)):
            for _ in range(5):
                price = mid + sign * tick * (1 + int(rng.expovariate(1 / 20)))
                qty = 0 if rng.random() < 0.3 else rng.randint(1, 10**9)
                levels[side].append([_e8(price), _e8(qty)])
        first = next_id[symbol]
        last = first + rng.randint(0, 3)
        next_id[symbol] = last + 1
        data = {
            "e": "depthUpdate", "E": 1_700_000_000_000 + n, "s": symbol, "U": first,
            "u": last, "b": levels["b"], "a": levels["a"],
        }  # fmt: skip
        frame = {"stream": f"{symbol.lower()}@depth@100ms", "data": data}
        frames.append(json.dumps(frame, separators=(",", ":")).encode())  # compact, as Binance
    return frames, snapshots


def exchange_info() -> bytes:
    """``/api/v3/exchangeInfo`` for the two symbols (cryptofeed reads it at start)."""
    from workspace.sim.config import SimConfig
    from workspace.sim.rest import RATE_LIMITS, symbol_info

    specs = SimConfig(symbols=SYMBOLS).symbol_specs()
    body = {"timezone": "UTC", "serverTime": 1_700_000_000_000, "rateLimits": RATE_LIMITS,
            "exchangeFilters": [], "symbols": [symbol_info(spec) for spec in specs]}  # fmt: skip
    return json.dumps(body).encode()


class FrameServer(asyncio.Protocol):
    """Answers the WebSocket upgrade, the depth snapshot and exchangeInfo; writes the
    pre-framed stream on the first SUBSCRIBE, or at once when the path names the streams
    (``/stream?streams=...``, as cryptofeed connects)."""

    def __init__(self, stream: bytes, snapshots: dict[str, bytes]) -> None:
        self.stream = stream
        self.snapshots = snapshots
        self.buffer = b""
        self.upgraded = False
        self.sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def _http(self, body: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )  # fmt: skip
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            if b"\r\n\r\n" not in self.buffer:
                return
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            path = lines[0].split()[1].decode()
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            if path.startswith("/api/v3/depth"):
                symbol = re.search(r"symbol=([A-Z]+)", path)
                self._http(self.snapshots.get(symbol.group(1) if symbol else "", b"{}"))
                return
            if path.startswith("/api/v3/exchangeInfo"):
                self._http(exchange_info())
                return
            accept = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.upgraded = True
            if "streams=" in path:
                self.sent = True
                self.transport.write(self.stream)
        self._read_frames()

    def _read_frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 6:
            opcode, size = buffer[0] & 0x0F, buffer[1] & 0x7F
            offset = 2
            if size == 126:
                size, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                size, offset = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < offset + 4 + size:
                break
            mask = buffer[offset : offset + 4]
            payload = bytes(
                b ^ mask[i % 4] for i, b in enumerate(buffer[offset + 4 : offset + 4 + size])
            )
            buffer = buffer[offset + 4 + size :]
            if opcode == 1:
                request = json.loads(payload)
                reply = json.dumps({"result": None, "id": request.get("id")}).encode()
                self.transport.write(ws_frame(reply))
                if not self.sent:
                    self.sent = True
                    self.transport.write(self.stream)
            elif opcode == 9:
                self.transport.write(ws_frame(payload, 10))
            elif opcode == 8:
                self.transport.write(ws_frame(payload[:2], 8))
                self.transport.close()
        self.buffer = buffer


def serve(kind: str, count: int, tls_dir: str | None) -> None:
    snapshots: dict[str, bytes] = {}
    if kind == "ticker":
        frames = ticker_frames(count)
    elif kind == "bookTicker":
        frames = book_ticker_frames(count)
    else:
        frames, snapshots = depth_frames(count)
    stream = b"".join(ws_frame(frame) for frame in frames)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        factory = lambda: FrameServer(stream, snapshots)  # noqa: E731
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print(f"serving {count} {kind} frames on ws://127.0.0.1:{port}", flush=True)
        if tls_dir is not None:
            from workspace.sim.tls import self_signed

            cert, key = self_signed(Path(tls_dir))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            tls = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
            tls_port = tls.sockets[0].getsockname()[1]
            print(f"and on wss://127.0.0.1:{tls_port} (certificate {cert})", flush=True)
        await server.serve_forever()

    asyncio.run(main())


class Urls(NamedTuple):
    ws: str
    wss: str | None = None
    cert: str | None = None
    """The throwaway certificate of the wss:// listener (trust it with SSL_CERT_FILE)."""


@contextlib.contextmanager
def frame_server(kind: str, count: int, tls: bool = False) -> Iterator[Urls]:
    with tempfile.TemporaryDirectory(prefix="feed-ingest-tls-") as tls_dir:
        command = [sys.executable, __file__, "--serve", kind, "--frames", str(count)]
        if tls:
            command += ["--tls-dir", tls_dir]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            plain = None
            for line in process.stdout:
                found = re.search(r"(wss?://127\.0\.0\.1:\d+)", line)
                if found and found.group(1).startswith("ws://"):
                    plain = found.group(1)
                    if not tls:
                        yield Urls(plain)
                        return
                elif found:
                    cert = re.search(r"certificate (\S+)\)", line)
                    assert plain is not None
                    assert cert is not None
                    yield Urls(plain, found.group(1), cert.group(1))
                    return
            raise RuntimeError("frame server exited before announcing its port")
        finally:
            process.terminate()
            process.wait(timeout=10)


# -- the clients ---------------------------------------------------------------------------


class Rate(NamedTuple):
    msgs_per_s: float
    cpu_us_per_msg: float


class Timer:
    """Times frames ``frames // 5`` to ``frames`` (see the module's docstring)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.start_at = max(1, frames // 5)
        self.count = 0
        self.first = self.first_cpu = 0.0
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.start_at:
            self.first, self.first_cpu = time.perf_counter(), time.process_time()
        elif self.count == self.frames:
            timed = self.frames - self.start_at
            self.rate = Rate(
                timed / (time.perf_counter() - self.first),
                (time.process_time() - self.first_cpu) / timed * 1e6,
            )
            self.done.set()


async def run_feed(url: str, kind: str, frames: int) -> Rate:
    timer = Timer(frames)
    tick = timer.tick
    consume: Callable[[FeedRecord], None]
    if kind == "depth":

        def consume(record: FeedRecord) -> None:
            if type(record) is DepthUpdate:  # not the snapshot the book starts from
                tick()

    else:

        def consume(record: FeedRecord) -> None:
            tick()  # what the bare loops do per message

    config = FeedConfig(
        stream_url=url,
        rest_url=url.replace("wss://", "https://").replace("ws://", "http://"),
        streams=(STREAM_KIND[kind],) if kind != "depth" else ("bookTicker",),
        validate_symbols=False,
        stall_after_s=None,
        book_buffer_limit=1_000_000,
        reply_timeout_s=120.0,
    )
    feed = BinanceFeed(config, on_record=consume)
    await feed.start()
    try:
        if kind == "depth":
            await feed.subscribe_book(*SYMBOLS)
        else:
            await feed.subscribe(*SYMBOLS)
        await asyncio.wait_for(timer.done.wait(), 300)
    finally:
        await feed.stop()
    if feed.stats.parse_errors or feed.stats.bad_records or feed.stats.book_gaps:
        raise RuntimeError(f"feed errors: {feed.stats}")
    return timer.rate


async def run_bare(url: str, kind: str, frames: int, loads: Callable[[Any], Any]) -> Rate:
    params = [f"{s.lower()}@{STREAM_KIND[kind]}" for s in SYMBOLS]
    timer = Timer(frames)
    async with websockets.connect(f"{url}/stream", max_size=2**24, compression=None) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}))
        async for message in ws:
            payload = loads(message)
            if "stream" not in payload:
                continue  # the subscribe reply
            timer.tick()
            if timer.done.is_set():
                break
    return timer.rate


def cryptofeed_client(wss: str, https: str, frames: int) -> None:
    """Run in a subprocess whose ``SSL_CERT_FILE`` trusts the frame server (cryptofeed
    only connects to wss://, and aiohttp reads the trust store when imported): its L2
    book on both symbols' diff depth, a no-op callback; prints one JSON line."""
    from cryptofeed import FeedHandler
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Binance

    # the endpoints are class attributes in cryptofeed (untyped: Binance is Any to mypy)
    class BenchBinance(Binance):  # type: ignore[misc]
        websocket_endpoints = [WebsocketEndpoint(wss)]  # noqa: RUF012
        rest_endpoints = [  # noqa: RUF012
            RestEndpoint(https, routes=Routes("/api/v3/exchangeInfo",
                                              l2book="/api/v3/depth?symbol={}&limit={}"))
        ]  # fmt: skip

    async def main() -> None:
        timer = Timer(frames)

        async def on_book(book: Any, _: float) -> None:
            if book.delta is not None:  # not the snapshot the book starts from
                timer.tick()

        handler = FeedHandler()
        symbols = [f"{s[:-4]}-{s[-4:]}" for s in SYMBOLS]
        handler.add_feed(BenchBinance(symbols=symbols, channels=[L2_BOOK],
                                      callbacks={L2_BOOK: on_book}))  # fmt: skip
        handler.run(start_loop=False, install_signal_handlers=False)
        try:
            await asyncio.wait_for(timer.done.wait(), 600)
        finally:
            await handler.stop_async()
        print(json.dumps(timer.rate._asdict()), flush=True)

    asyncio.run(main())


def run_cryptofeed(urls: Urls, frames: int) -> Rate:
    assert urls.wss is not None
    assert urls.cert is not None
    https = urls.wss.replace("wss://", "https://")
    env = {**os.environ, "SSL_CERT_FILE": urls.cert, "REQUESTS_CA_BUNDLE": urls.cert}
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--cryptofeed-client", urls.wss, https,
               "--frames", str(frames)]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="feed-ingest-cryptofeed-") as cwd:
        # (cryptofeed writes feedhandler.log into its working directory)
        done = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900
        )
    if done.returncode != 0:
        raise RuntimeError(f"cryptofeed client failed: {done.stderr[-2000:]}")
    return Rate(**json.loads(done.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def trusting(cert: str) -> Iterator[None]:
    """This process trusts ``cert`` (default SSL contexts read SSL_CERT_FILE)."""
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = cert
    try:
        yield
    finally:
        if old is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = old


# -- profile -------------------------------------------------------------------------------


@contextlib.contextmanager
def py_spy(out: list[str]) -> Iterator[None]:
    """Sample this process with py-spy (raw collapsed stacks) while the block runs."""
    path = Path(tempfile.mkstemp(suffix=".txt")[1])
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
               str(os.getpid()), "--format", "raw", "--rate", "250", "--output", str(path),
               "--nonblocking"]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let py-spy attach before the measured work starts
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(timeout=30)
        out.extend(path.read_text().splitlines())
        path.unlink(missing_ok=True)


def top_entries(lines: list[str], count: int = 15) -> list[tuple[str, float]]:
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        leaf = stack.split(";")[-1]  # "function (path/file.py:line)": per function
        own[re.sub(r" \((.*/)?([^/:]+)(:\d+)?\)", r" (\2)", leaf)] += int(samples)
        total += int(samples)
    return [(name, n / total * 100) for name, n in own.most_common(count)] if total else []


# -- main ----------------------------------------------------------------------------------


SIDES = ("feed", "bare", "orjson")
TLS_SIDES = ("feed_tls", "bare_tls", "cryptofeed")
TARGETS = {"ticker": 1.5, "bookTicker": 1.6, "depth": 1.0}


def run_side(side: str, urls: Urls, kind: str, frames: int) -> Rate:
    if side in ("feed", "feed_tls"):
        url = urls.ws if side == "feed" else urls.wss
        assert url is not None
        return asyncio.run(run_feed(url, kind, frames))
    if side == "cryptofeed":
        return run_cryptofeed(urls, frames)
    url = urls.wss if side == "bare_tls" else urls.ws
    assert url is not None
    loads = orjson.loads if side == "orjson" else json.loads
    return asyncio.run(run_bare(url, kind, frames, loads))


def measure(kind: str, frames: int, rounds: int, profile: list[str] | None) -> dict[str, Any]:
    tls = kind == "depth"  # cryptofeed only connects to wss://: all three again over TLS
    sides = SIDES + TLS_SIDES if tls else SIDES
    rates: dict[str, list[Rate]] = {side: [] for side in sides}
    with frame_server(kind, frames, tls=tls) as urls:
        where = urls.ws + (f" and {urls.wss}" if urls.wss else "")
        print(f"{kind}: {frames} frames per connection from {where}")
        for round_no in range(1, rounds + 1):
            order = list(sides)
            if round_no % 2 == 0:
                order.reverse()  # neither side always gets the warmer machine
            for side in order:
                spy = None
                if side == "feed" and profile is not None and round_no == 1:
                    spy = py_spy(profile)
                with spy or contextlib.nullcontext(), trusting(urls.cert or ""):
                    rates[side].append(run_side(side, urls, kind, frames))
            line = "   ".join(
                f"{side} {rates[side][-1].msgs_per_s:>9,.0f}/s "
                f"({rates[side][-1].cpu_us_per_msg:.1f} us CPU)"
                for side in sides
            )
            print(f"  round {round_no}: {line}")
    best = {side: max(r.msgs_per_s for r in rs) for side, rs in rates.items()}
    cpu = {side: min(r.cpu_us_per_msg for r in rs) for side, rs in rates.items()}
    result: dict[str, Any] = {
        "feed_per_s": round(best["feed"]),
        "bare_per_s": round(best["bare"]),
        "orjson_per_s": round(best["orjson"]),
        "ratio": round(best["feed"] / best["bare"], 3),
        "orjson_ratio": round(best["orjson"] / best["bare"], 3),
        "feed_cpu_us": round(cpu["feed"], 2),
        "bare_cpu_us": round(cpu["bare"], 2),
        "orjson_cpu_us": round(cpu["orjson"], 2),
        "cpu_ratio": round(cpu["bare"] / cpu["feed"], 3),
        "target": TARGETS[kind],
    }
    unit = "book updates applied" if kind == "depth" else "typed records"
    print(
        f"  best: feed {best['feed']:,.0f} {unit}/s, bare websockets+json.loads "
        f"{best['bare']:,.0f}/s (ratio {result['ratio']:.2f}, target {TARGETS[kind]}), "
        f"websockets+orjson into dicts {best['orjson']:,.0f}/s ({result['orjson_ratio']:.2f}); "
        f"CPU per frame {cpu['feed']:.2f} vs {cpu['bare']:.2f} us (ratio "
        f"{result['cpu_ratio']:.2f}), orjson {cpu['orjson']:.2f} us"
    )
    if tls:
        result["tls"] = {
            "feed_per_s": round(best["feed_tls"]),
            "bare_per_s": round(best["bare_tls"]),
            "cryptofeed_per_s": round(best["cryptofeed"]),
            "feed_cpu_us": round(cpu["feed_tls"], 2),
            "bare_cpu_us": round(cpu["bare_tls"], 2),
            "cryptofeed_cpu_us": round(cpu["cryptofeed"], 2),
            "ratio": round(best["feed_tls"] / best["bare_tls"], 3),
            "feed_vs_cryptofeed": round(best["feed_tls"] / best["cryptofeed"], 3),
        }
        print(
            f"  over TLS: feed {best['feed_tls']:,.0f}/s, bare {best['bare_tls']:,.0f}/s, "
            f"cryptofeed's L2 book {best['cryptofeed']:,.0f}/s (ours "
            f"{result['tls']['feed_vs_cryptofeed']:.2f}x); CPU per update "
            f"{cpu['feed_tls']:.2f} / {cpu['bare_tls']:.2f} / {cpu['cryptofeed']:.2f} us"
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--profile", action="store_true", help="py-spy the feed rounds")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--tls-dir", help=argparse.SUPPRESS)
    parser.add_argument("--cryptofeed-client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.frames, args.tls_dir)
        return 0
    if args.cryptofeed_client:
        wss, https = args.cryptofeed_client
        cryptofeed_client(wss, https, args.frames)
        return 0
    figures: dict[str, Any] = {"frames": args.frames}
    for kind in args.kinds.split(","):
        profile: list[str] | None = [] if args.profile else None
        figures[kind] = measure(kind, args.frames, args.rounds, profile)
        if profile:
            print(f"  py-spy, feed rounds of {kind}: functions with the most own samples")
            for name, share in top_entries(profile):
                print(f"    {share:5.1f} %  {name}")
    met = {kind: figures[kind]["ratio"] >= TARGETS[kind] for kind in args.kinds.split(",")}
    print("targets met (throughput ratio vs the bare loop, same run): " + ", ".join(
        f"{kind} {'yes' if ok else 'NO'}" for kind, ok in met.items()))  # fmt: skip
    figures["targets_met"] = met
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
