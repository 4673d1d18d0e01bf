"""A tiny stand-in for Binance on 127.0.0.1, for feed tests that need exact control.

It speaks the combined-stream endpoint (``/stream``) with SUBSCRIBE / UNSUBSCRIBE and
serves ``/api/v3/exchangeInfo``, ``/api/v3/depth`` (each answer is one the test queued,
so a test decides what the snapshot holds and when it comes) and ``/api/v3/klines``
(filtered by ``startTime`` / ``endTime`` / ``limit`` as Binance does) on the same port.
It sends data only when a test pushes it, and records every control message, so a
test can check precisely what the feed sent and when.  Reconnect / serverShutdown /
garbage behaviour is also tested against the real simulator (test_feed_sim.py).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


def ticker_frame(symbol: str, event_ms: int, last: str = "100.5") -> bytes:
    data = {
        "e": "24hrTicker", "E": event_ms, "s": symbol, "p": "1.0", "P": "1.0",
        "w": last, "x": last, "c": last, "Q": "1", "b": last, "B": "1", "a": last,
        "A": "1", "o": last, "h": last, "l": last, "v": "10", "q": "1000",
        "O": event_ms - 86_400_000, "C": event_ms, "F": 1, "L": 2, "n": 2,
    }  # fmt: skip
    return json.dumps({"stream": f"{symbol.lower()}@ticker", "data": data}).encode()


def depth_frame(
    symbol: str,
    first: int,
    last: int,
    bids: list[tuple[str, str]] | None = None,
    asks: list[tuple[str, str]] | None = None,
    event_ms: int | None = None,
    stream_kind: str = "depth@100ms",
) -> bytes:
    """A diff depth event (``depthUpdate``) covering update ids ``first..last``."""
    data = {
        "e": "depthUpdate", "E": event_ms if event_ms is not None else 1_700_000_000_000 + last,
        "s": symbol, "U": first, "u": last, "b": [list(b) for b in bids or []],
        "a": [list(a) for a in asks or []],
    }  # fmt: skip
    return json.dumps({"stream": f"{symbol.lower()}@{stream_kind}", "data": data}).encode()


def depth_body(
    last_update_id: int,
    bids: list[tuple[str, str]] | None = None,
    asks: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "lastUpdateId": last_update_id,
        "bids": [list(b) for b in bids or []],
        "asks": [list(a) for a in asks or []],
    }


def kline_row(open_ms: int, close: str, interval_ms: int = 60_000) -> list[Any]:
    return [open_ms, "1.00", close, "0.50", close, "10.5", open_ms + interval_ms - 1,
            "10.50", 3, "5.25", "5.25", "0"]  # fmt: skip


def book_frame(symbol: str, update_id: int) -> bytes:
    data = {"u": update_id, "s": symbol, "b": "1.0", "B": "2", "a": "1.1", "A": "3"}
    return json.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": data}).encode()


@dataclass
class ControlMessage:
    method: str
    params: list[str]
    id: Any
    at: float  # loop time when received


@dataclass
class FakeExchange:
    symbols: dict[str, str] = field(
        default_factory=lambda: {"BTCUSDT": "TRADING", "ETHUSDT": "TRADING", "OLDUSDT": "BREAK"}
    )
    handshake_status: int | None = None
    """Answer the WebSocket handshake with this HTTP status instead of upgrading."""
    exchange_info_status: int = 200
    refuse_streams: set[str] = field(default_factory=set)
    """SUBSCRIBE naming one of these gets an error reply."""
    before_reply: Callable[[ControlMessage], list[bytes]] | None = None
    """Frames to send before the reply to a control message (data may precede a reply)."""
    controls: list[ControlMessage] = field(default_factory=list)
    subscribed: set[str] = field(default_factory=set)
    connection_attempts: int = 0
    connections: asyncio.Queue[ServerConnection] = field(default_factory=asyncio.Queue)
    depth_answers: asyncio.Queue[tuple[int, Any]] = field(default_factory=asyncio.Queue)
    """Answers to ``/api/v3/depth``, one per request, in order: ``(status, json body)``.
    A request waits until the test queues its answer."""
    klines: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)
    """``/api/v3/klines`` rows per ``(symbol, interval)``."""
    rest_requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    control_received: asyncio.Event = field(default_factory=asyncio.Event)
    _server: Server | None = None
    _live: set[ServerConnection] = field(default_factory=set)
    port: int = 0

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", port, process_request=self._http, compression=None
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @staticmethod
    def _json(status: int, body: Any) -> Response:
        text = json.dumps(body).encode()
        reason = HTTPStatus(status).phrase
        headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(text)),
                           "X-MBX-USED-WEIGHT-1M": "7"})  # fmt: skip
        return Response(status, reason, headers, text)

    async def _depth(self, params: dict[str, str]) -> Response:
        status, body = await self.depth_answers.get()
        return self._json(status, body)

    def _klines(self, params: dict[str, str]) -> Response:
        rows = self.klines.get((params.get("symbol", ""), params.get("interval", "")))
        if rows is None:
            return self._json(400, {"code": -1121, "msg": "Invalid symbol."})
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        chosen = [row for row in rows if start <= row[0] <= end]
        limit = int(params.get("limit", 500))
        chosen = chosen[:limit] if "startTime" in params else chosen[-limit:]
        return self._json(200, chosen)

    def _http(
        self, connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        url = urllib.parse.urlsplit(request.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        if url.path in ("/api/v3/depth", "/api/v3/klines"):
            self.rest_requests.append((url.path, params))
            self.control_received.set()
            if url.path == "/api/v3/depth":
                return self._depth(params)
            return self._klines(params)
        if request.path.startswith("/api/v3/exchangeInfo"):
            if self.exchange_info_status != 200:
                return connection.respond(self.exchange_info_status, "nope")
            body = {
                "symbols": [
                    {"symbol": s, "status": st, "baseAsset": s[:-4], "quoteAsset": "USDT",
                     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"},
                                 {"filterType": "LOT_SIZE", "stepSize": "0.00001"},
                                 {"filterType": "NOTIONAL", "minNotional": "5"}]}
                    for s, st in self.symbols.items()
                ]
            }  # fmt: skip
            text = json.dumps(body)
            return Response(
                200, "OK", Headers({"Content-Type": "application/json",
                                    "Content-Length": str(len(text))}), text.encode()
            )  # fmt: skip
        self.connection_attempts += 1
        self.control_received.set()
        if self.handshake_status is not None:
            return connection.respond(
                self.handshake_status, HTTPStatus(self.handshake_status).phrase
            )
        if request.path != "/stream":
            return connection.respond(404, "only /stream here")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self._live.add(ws)
        self.subscribed = set()
        await self.connections.put(ws)
        self.control_received.set()
        try:
            async for raw in ws:
                message = json.loads(raw)
                control = ControlMessage(
                    message["method"], message.get("params", []), message.get("id"),
                    asyncio.get_running_loop().time(),
                )  # fmt: skip
                self.controls.append(control)
                self.control_received.set()
                if self.before_reply is not None:
                    for frame in self.before_reply(control):
                        await ws.send(frame.decode())
                refused = [p for p in control.params if p in self.refuse_streams]
                if refused:
                    reply = {"error": {"code": 2, "msg": f"Invalid request: {refused[0]}"},
                             "id": control.id}  # fmt: skip
                elif control.method == "SUBSCRIBE":
                    self.subscribed.update(control.params)
                    reply = {"result": None, "id": control.id}
                else:
                    self.subscribed.difference_update(control.params)
                    reply = {"result": None, "id": control.id}
                await ws.send(json.dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self._live.discard(ws)

    async def push(self, frame: bytes | str) -> None:
        """Send one frame to every open connection."""
        text = frame.decode() if isinstance(frame, bytes) else frame
        for ws in list(self._live):
            await ws.send(text)

    async def drop(self) -> None:
        """Close every open connection abruptly (as a network cut would look)."""
        for ws in list(self._live):
            ws.transport.abort()

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; checked after every connection attempt and
        control message."""

        async def _wait() -> None:
            while True:
                self.control_received.clear()
                if predicate():
                    return
                await self.control_received.wait()

        await asyncio.wait_for(_wait(), within)

    def methods(self) -> list[tuple[str, list[str]]]:
        return [(c.method, c.params) for c in self.controls]
