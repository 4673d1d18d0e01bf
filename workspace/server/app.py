"""``RealtimeServer``: the ``/api/ws/realtime`` endpoint on an engine, built on the
``websockets`` library, running on the engine's event loop.

It translates protocol <-> engine (through one ``ProtocolSession`` per connection) and
holds no trading logic.  Handshake policy: unknown path 404, ``GET /`` and
``GET /health`` JSON (503 while the engine is not healthy; the detail only with the
token), a foreign ``Origin`` 403 (without an allow-list only loopback pages pass),
missing or wrong token 401; past a per-address or per-token connection cap, the
connection is closed at once with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from workspace import redact
from workspace.decimals import MAX_INT
from workspace.errors import EngineUnavailable, NotFound, Unauthorized
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL, EncodeCache
from workspace.protocol.engine_api import EngineApi
from workspace.protocol.session import ProtocolSession
from workspace.protocol.throttled_log import ThrottledLog
from workspace.protocol.turns import LoopShare
from workspace.server import auth
from workspace.server.connection import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    Connection,
)
from workspace.server.http import (
    HEALTH_PATHS,
    WS_PATH,
    error_response,
    json_response,
    method_refused,
)
from workspace.server.limits import ServerLimits
from workspace.users.directory import UserDirectory

_log = logging.getLogger("workspace.server")


class AccountRouter(Protocol):
    """Multi-user mode (``serve --users FILE``, a gateway): who a handshake's token
    belongs to, and the engine of that user's account."""

    async def authenticate(self, token: str | None) -> str | None:
        """The user ``token`` belongs to, or ``None`` (401)."""
        ...

    async def engine_for(self, user: str, since: int | None = None) -> EngineApi:
        """``since``: the ``seq`` the connection resumes from (an engine that reads its
        events from elsewhere, a gateway, loads them first)."""
        ...

    @property
    def directory(self) -> UserDirectory | None:
        """The users file the tokens are checked against (``None``: tokens cannot
        change while running): the server closes connections whose token it revoked."""
        ...


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
        accounts: AccountRouter | None = None,
        session_factory: Callable[..., ProtocolSession] = ProtocolSession,
    ) -> None:
        """``accounts``: multi-user mode: tokens are users' (``token`` is not used) and
        each connection gets its user's engine; ``engine`` answers ``/health``.
        ``session_factory``: makes each connection's session (a gateway's forwards
        commands to its engine)."""
        redact.install()  # (the handshakes carry the tokens)
        self.session_factory = session_factory
        self.engine = engine
        self.accounts = accounts
        # The user of each handshake authenticated, until its handler takes it.  Keyed
        # weakly by the connection: a handshake that fails after authentication (a bad
        # key or extension, a timeout, a client gone, the server closing) never reaches
        # the handler, and its entry goes with the connection instead of staying for
        # good (and an id() reused by a later connection never finds a stale user).
        self._users: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()
        self.host = host
        self.token = token or None
        self.origins = (
            auth.parse_origins(origins)
            if isinstance(origins, str)
            else (tuple(auth.allowed_origin(o) for o in origins) if origins else None)
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
        self._changed: asyncio.Future[None] | None = None
        # Open connections by peer address and by token (the caps).
        self._by_address: dict[str, int] = {}
        self._by_token: dict[str, int] = {}
        # The loop's share for resumes, common to every connection.
        self._resume_share = LoopShare(self.limits.resume_events_per_turn)
        # Failures of commands, logged with a traceback once per kind a minute.
        self._failures = ThrottledLog(_log)
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> RealtimeServer:
        if not auth.is_loopback(self.host) and not self.token and self.accounts is None:
            raise Unauthorized(
                f"refusing to bind {self.host}: a server reachable from other machines "
                "needs a token (--token or WORKSPACE_TOKEN)"
            )
        self._started_at = time.monotonic()
        self._sweeper = asyncio.get_running_loop().create_task(
            self._sweep_stalled(), name="server.sweeper"
        )
        try:
            self._server = await self._listen()
        except BaseException as exc:
            # (the sweeper would go on for a server that never listened)
            self._sweeper.cancel()
            self._sweeper = None
            if isinstance(exc, socket.gaierror):
                # (it said only "[Errno -2] Name or service not known", of no host)
                raise OSError(
                    exc.errno, f"cannot listen on {self.host!r}: {exc.strerror}"
                ) from None
            raise
        return self

    async def _listen(self) -> Server:
        return await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._process_request
            if self.accounts is None
            else self._process_request_users,
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
    def connections(self) -> tuple[Connection, ...]:
        return tuple(self._connections)

    @property
    def blocked(self) -> int:
        """Connections whose socket is full (their client is not reading)."""
        return sum(1 for c in self._connections if c.blocked_since is not None)

    @property
    def authenticating(self) -> int:
        """Handshakes authenticated whose connection has not reached its handler yet
        (multi-user mode): 0 at rest."""
        return len(self._users)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is checked whenever a client connects,
        disconnects, fills its socket or drains it, or is being closed."""
        while not predicate():
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._changed)

    async def wait_clients(self, count: int) -> None:
        """Return once exactly ``count`` clients are connected (tests, shutdown)."""
        await self.wait_for(lambda: self.clients == count)

    def _notify(self) -> None:
        self.engine.server_clients = len(self._connections)
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    async def _sweep_stalled(self) -> None:
        """Close clients whose socket took no byte for ``stall_timeout_s``: one sweep
        over the blocked connections instead of a timer per send.  The same sweep
        closes the connections whose access was revoked."""
        timeout = self.limits.stall_timeout_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            for connection in tuple(self._connections):
                if connection.blocked_since is not None:
                    connection.check_progress(now)
            self.close_revoked()

    def close_revoked(self) -> int:
        """Close (1008) every connection whose user was removed from the users file or
        whose token was rotated since it connected: a leaked token is cut off, not only
        refused at the next handshake.  Reads the file first if it changed (one
        ``stat``).  Returns how many were closed."""
        directory = self.accounts.directory if self.accounts is not None else None
        if directory is None:
            return 0
        directory.refresh()
        closed = 0
        for connection in tuple(self._connections):
            if connection.credentials is None:
                continue
            why = directory.revoked(*connection.credentials)
            if why is not None:
                connection.revoke(why)
                closed += 1
        return closed

    def health(self, *, detail: bool = True) -> tuple[HTTPStatus, dict[str, object]]:
        """``/health``: 200 and ``{"status": "ok"}`` while the engine is healthy, 503
        and ``{"status": "degraded"}`` while its journal cannot write or no market data
        flows (a load balancer or a supervisor reads the code).  ``detail`` adds what
        explains it: the engine's health (feed, journal, problems, last gap, last
        price time), clients, seq, journal id, uptime."""
        engine_health = dict(self.engine.health())
        healthy = bool(engine_health.pop("healthy", True))
        body: dict[str, object] = {"status": "ok" if healthy else "degraded"}
        if detail:
            status = self.engine.status_message()
            body.update(engine_health)
            body.update(
                {
                    "feed": status.get("feed", engine_health.get("feed")),
                    "source": status.get("source"),
                    "clients": self.clients,
                    "uptime_s": round(time.monotonic() - self._started_at, 3),
                    "blocked": self.blocked,
                    "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
                }
            )
            if self.accounts is None:  # an account's seq is its user's business
                body["seq"] = self.engine.seq
                body["journal_id"] = self.engine.journal_id
        return (HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE), body

    # -- handshake -----------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # (an origin-form target is a path: urlsplit read '//health' as a host and no path)
        path = request.path.partition("?")[0]
        if path in HEALTH_PATHS or path == WS_PATH:
            # (websockets before 16 has no method: it refused anything but GET itself)
            refused = method_refused(connection, getattr(request, "method", "GET"), path)
            if refused is not None:
                return refused
        if path in HEALTH_PATHS and not _is_upgrade(request.headers):
            # Liveness for anyone; the detail (clients, seq, journal, feed) only for
            # whoever holds the token, when there is one.
            detail = auth.token_ok(self.token, request.path, request.headers)
            return json_response(connection, *self.health(detail=detail))
        if path != WS_PATH:
            shown = path if len(path) <= 200 else f"{path[:200]}..."
            return error_response(connection, HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no {shown}")
        if not auth.origin_ok(self.origins, request.headers.get("Origin")):
            self.refused += 1
            return error_response(
                connection, HTTPStatus.FORBIDDEN, "FORBIDDEN", "origin not allowed"
            )
        conflict = auth.token_conflict(request.path, request.headers)
        if conflict is not None:
            self.refused += 1
            return error_response(connection, HTTPStatus.BAD_REQUEST, "INVALID_PARAMS", conflict)
        if not auth.token_ok(self.token, request.path, request.headers):
            self.refused += 1
            return error_response(
                connection, HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong token"
            )
        try:
            resume_point(request.path)
        except ValueError as error:
            self.refused += 1
            return error_response(connection, HTTPStatus.BAD_REQUEST, "INVALID_PARAMS", str(error))
        return None

    def _over_cap(self, address: str | None, token: str | None) -> str | None:
        """Why a new connection from ``address`` with ``token`` exceeds a cap, if it does
        (counted before it joins; nothing awaits between the count and the join)."""
        limits = self.limits
        cap = limits.max_connections_per_address
        if cap is not None and address is not None and self._by_address.get(address, 0) >= cap:
            return f"too many connections from {address} (at most {cap})"
        cap = limits.max_connections_per_token
        if cap is not None and token is not None and self._by_token.get(token, 0) >= cap:
            return f"too many connections with this token (at most {cap})"
        return None

    async def _process_request_users(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Multi-user handshake: the checks of ``_process_request``, then the token must
        be a user's."""
        response = self._process_request(connection, request)
        if response is not None or self.accounts is None:
            return response
        user = await self.accounts.authenticate(auth.token_of(request.path, request.headers))
        if user is None:
            self.refused += 1
            return error_response(
                connection, HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong token"
            )
        self._users[connection] = user
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        request = websocket.request
        address = _address_of(websocket)
        token = (
            auth.token_of(request.path, request.headers)
            if self.token or self.accounts is not None
            else None
        )
        over = self._over_cap(address, token)
        if over is not None:
            self.refused += 1
            self.close_reasons["too many connections"] = (
                self.close_reasons.get("too many connections", 0) + 1
            )
            _log.warning("refusing a connection: %s", over)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(CLOSE_POLICY, over), self.limits.close_grace_s
                )
            return
        self.accepted += 1
        since, journal_id = resume_point(request.path)
        engine = self.engine
        user: str | None = None
        if self.accounts is not None:
            user = self._users.pop(websocket, None)
            try:
                if user is None:
                    raise Unauthorized("no user")
                engine = await self.accounts.engine_for(user, since)
            except Exception as error:
                code, reason = refusal(error)
                _log.warning("refusing a connection of %s: %s", user, error)
                await websocket.close(code, reason)
                return
        session = self.session_factory(
            engine,
            max_symbols=self.limits.max_symbols,
            max_alerts=self.limits.max_alerts,
            page_size=self.limits.resume_page_size,
            failures=self._failures,
        )
        session.share = self._resume_share
        connection = Connection(
            websocket,
            session,
            self.limits,
            self._cache,
            msgpack=websocket.subprotocol == MSGPACK_SUBPROTOCOL,
        )
        connection.on_change = self._notify
        if self.accounts is not None and user is not None:
            connection.credentials = (user, token)
        self._connections.add(connection)
        _count(self._by_address, address, +1)
        _count(self._by_token, token, +1)
        self._notify()  # before the snapshot: its STATUS counts this client
        try:
            # The snapshot first (no live event comes between the subscription and it),
            # then a resume's missed events at the client's pace, then commands.
            await connection.run(since, journal_id)
        finally:
            self._connections.discard(connection)
            _count(self._by_address, address, -1)
            _count(self._by_token, token, -1)
            await session.close()
            if connection.close_reason:
                reason = connection.close_reason
                self.close_reasons[reason] = self.close_reasons.get(reason, 0) + 1
            self._notify()


def _count(counts: dict[str, int], key: str | None, step: int) -> None:
    if key is None:
        return
    value = counts.get(key, 0) + step
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


def _address_of(websocket: ServerConnection) -> str | None:
    peer = websocket.remote_address
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None


def resume_point(path: str) -> tuple[int | None, str | None]:
    """``?since=N[&journal_id=J]`` of a handshake URL; raises ``ValueError``."""
    query = parse_qs(urlsplit(path).query)
    since_values, journal_values = query.get("since", []), query.get("journal_id", [])
    if len(since_values) > 1 or len(journal_values) > 1:
        raise ValueError("'since' and 'journal_id' may appear once each")
    since: int | None = None
    if since_values:
        text = since_values[0]
        if not text.isdigit() or int(text) > MAX_INT:
            raise ValueError(f"'since' must be an integer between 0 and {MAX_INT}")
        since = int(text)
    journal_id = journal_values[0] if journal_values else None
    if journal_id is not None and not 0 < len(journal_id) <= 64:
        raise ValueError("'journal_id' must have 1 to 64 characters")
    if journal_id is not None and since is None:
        raise ValueError("'journal_id' goes with 'since'")
    return since, journal_id


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    # Plain JSON when the client offers nothing we know: the core protocol has no
    # subprotocol, and rejecting would break a client written against the guide.
    return Subprotocol(MSGPACK_SUBPROTOCOL) if MSGPACK_SUBPROTOCOL in offered else None


def _is_upgrade(headers: Headers) -> bool:
    return "websocket" in headers.get("Upgrade", "").lower()


def refusal(error: Exception) -> tuple[int, str]:
    """The close of a connection whose user's account could not be opened: only a user
    who is not (or no longer) in the users file hears "unknown user" (1008), which a
    client should not retry.  An account whose engine is not running just now (a
    restart; scale-out) is 1013, try again later, and anything else 1011 (the server's
    log says what): both are worth retrying, and neither may read as a bad token."""
    code = getattr(error, "code", None)
    if code == EngineUnavailable.code:
        return CLOSE_TRY_AGAIN, "the account's engine is unavailable: try again"
    if code in (NotFound.code, Unauthorized.code):
        return CLOSE_POLICY, "unknown user"
    return CLOSE_INTERNAL, "the account could not be opened: try again"
