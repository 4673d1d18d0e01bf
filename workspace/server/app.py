"""``RealtimeServer``: the ``/api/ws/realtime`` endpoint on an engine, built on the
``websockets`` library, running on the engine's event loop.

It translates protocol <-> engine (through one ``ProtocolSession`` per connection) and
holds no trading logic.  Handshake policy: unknown path 404, ``GET /`` and
``GET /health`` JSON, wrong ``Origin`` 403, missing or wrong token 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Collection, Sequence
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from workspace.errors import Unauthorized
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL, EncodeCache
from workspace.protocol.engine_api import EngineApi
from workspace.protocol.session import ProtocolSession
from workspace.server import auth
from workspace.server.connection import Connection
from workspace.server.fanout import EngineView, SymbolRouter
from workspace.server.http import HEALTH_PATHS, WS_PATH, error_response, json_response
from workspace.server.limits import ServerLimits

_log = logging.getLogger("workspace.server")


class RealtimeServer:
    def __init__(
        self,
        engine: EngineApi,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        token: str | None = None,
        origins: Collection[str] | str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: ServerLimits | None = None,
        compression: bool = True,
    ) -> None:
        self.engine = engine
        self.host = host
        self.token = token or None
        self.origins = (
            auth.parse_origins(origins)
            if isinstance(origins, str)
            else (tuple(o.rstrip("/") for o in origins) if origins else None)
        )
        self.ssl_context = ssl_context
        self.limits = limits or ServerLimits()
        self.compression = compression
        self._requested_port = port
        self._server: Server | None = None
        self._connections: set[Connection] = set()
        self._cache = EncodeCache()
        self._started_at = time.monotonic()
        self.accepted = 0
        self.refused = 0
        self.close_reasons: dict[str, int] = {}  # why the server dropped clients
        self._changed = asyncio.Condition()
        self._router: SymbolRouter | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> RealtimeServer:
        if not auth.is_loopback(self.host) and not self.token:
            raise Unauthorized(
                f"refusing to bind {self.host}: a server reachable from other machines "
                "needs a token (--token or WORKSPACE_TOKEN)"
            )
        self._started_at = time.monotonic()
        self._router = SymbolRouter(self.engine)
        self._router.start()
        self._sweeper = asyncio.get_running_loop().create_task(
            self._sweep_slow_consumers(), name="server.sweeper"
        )
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._process_request,
            subprotocols=[Subprotocol(MSGPACK_SUBPROTOCOL)],
            select_subprotocol=_select_subprotocol,
            compression="deflate" if self.compression else None,
            max_size=self.limits.max_frame_bytes,
            write_limit=self.limits.write_limit_bytes,
            ping_interval=self.limits.ping_interval_s,
            ping_timeout=self.limits.ping_timeout_s,
            close_timeout=2,
            ssl=self.ssl_context,
        )
        return self

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening.  Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        await asyncio.gather(*(conn.close() for conn in tuple(self._connections)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._router is not None:
            await self._router.stop()
            self._router = None

    async def __aenter__(self) -> RealtimeServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.wait_closed()

    # -- state -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        for sock in self._server.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("server has no socket")

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{WS_PATH}"

    @property
    def clients(self) -> int:
        return len(self._connections)

    @property
    def routed_connections(self) -> int:
        """Connections the fan-out still routes to (equals ``clients`` unless a
        connection leaked)."""
        return self._router.subscribers if self._router is not None else 0

    @property
    def running(self) -> bool:
        return self._server is not None

    async def wait_clients(self, count: int) -> None:
        """Return once exactly ``count`` clients are connected (tests, shutdown)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.clients == count)

    async def _notify(self) -> None:
        self.engine.server_clients = len(self._connections)
        async with self._changed:
            self._changed.notify_all()

    async def _sweep_slow_consumers(self) -> None:
        """Drop clients whose pending send has not completed within the send timeout.
        One sweep for all connections instead of a timer around every send."""
        timeout = self.limits.send_timeout_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            for connection in tuple(self._connections):
                since = connection.sending_since
                if since is not None and now - since > timeout:
                    connection.abort_slow_consumer()

    def health(self) -> dict[str, object]:
        status = self.engine.status_message()
        return {
            "status": "ok",
            "feed": status.get("feed"),
            "source": status.get("source"),
            "clients": self.clients,
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "seq": self.engine.seq,
        }

    # -- handshake -----------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path in HEALTH_PATHS and not _is_upgrade(request.headers):
            return json_response(connection, HTTPStatus.OK, self.health())
        if path != WS_PATH:
            return error_response(connection, HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no {path}")
        if not auth.origin_ok(self.origins, request.headers.get("Origin")):
            self.refused += 1
            return error_response(
                connection, HTTPStatus.FORBIDDEN, "FORBIDDEN", "origin not allowed"
            )
        if not auth.token_ok(self.token, request.path, request.headers):
            self.refused += 1
            return error_response(
                connection, HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong token"
            )
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        self.accepted += 1
        assert self._router is not None
        view = EngineView(self.engine, self._router)
        session = ProtocolSession(
            view, max_symbols=self.limits.max_symbols, max_alerts=self.limits.max_alerts
        )
        connection = Connection(
            websocket,
            session,
            self.limits,
            self._cache,
            msgpack=websocket.subprotocol == MSGPACK_SUBPROTOCOL,
        )
        if view.feed is not None:
            # The fan-out hands bursts straight to this connection's writer.
            connection.attach(view.feed)
        self._connections.add(connection)
        await self._notify()
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            await session.close()
            if connection.close_reason:
                reason = connection.close_reason
                self.close_reasons[reason] = self.close_reasons.get(reason, 0) + 1
            await self._notify()


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    # Plain JSON when the client offers nothing we know: the core protocol has no
    # subprotocol, and rejecting would break a client written against the guide.
    return Subprotocol(MSGPACK_SUBPROTOCOL) if MSGPACK_SUBPROTOCOL in offered else None


def _is_upgrade(headers: Headers) -> bool:
    return "websocket" in headers.get("Upgrade", "").lower()
