"""``RealtimeClient``: a TradingSession over ``/api/ws/realtime``, for another notebook,
a bot or a script.

::

    client = RealtimeClient("ws://127.0.0.1:8000/api/ws/realtime", token=None)
    await client.connect()                     # returns once connected
    await client.request({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    client.listen(print)                       # callbacks ...
    async for message in client.stream(): ...  # ... or async for
    await client.close()

It reconnects on its own (``workspace.reconnect``: full jitter, first retry within
0.25 s, at most ``max_retry`` apart, the backoff restarting only after a connection
stayed healthy; only transient failures are retried), resubscribes its symbols and
books, and resumes its order events in the handshake (``?since=<last seq>&journal_id=``),
so that its listeners see every order event exactly once and in ``seq`` order across
reconnects and server restarts.  When the server cannot resume (a server without
``--db`` restarted: another journal) it says ``RESUME_RESET``: the client starts over
from the fresh snapshot that follows and tells its user (``on_reset``, and the message
itself reaches the listeners).  ``state`` and ``latency_ms`` (ping/PONG round trip)
describe the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from workspace import redact
from workspace.protocol import messages
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL, Codec
from workspace.protocol.conflation import ConflatingQueue, SubscriptionClosed, conflation_key
from workspace.reconnect import ReconnectPolicy, Verdict, classify
from workspace.session import Command, Listener, Message

_log = logging.getLogger("workspace.client")

State = Literal["idle", "connecting", "connected", "reconnecting", "closed"]
ResetCallback = Callable[[Message], object]


class RealtimeClient:
    def __init__(
        self,
        url: str = "ws://127.0.0.1:8000/api/ws/realtime",
        token: str | None = None,
        *,
        msgpack: bool = False,
        compression: bool = True,
        ping_interval: float | None = 5.0,
        request_timeout: float = 10.0,
        first_retry: float = 0.25,
        max_retry: float = 1.5,
        healthy_after: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        max_pending: int = 100_000,
    ) -> None:
        if ping_interval is not None and not 0 < ping_interval < math.inf:
            raise ValueError(f"ping_interval must be seconds > 0 or None, got {ping_interval!r}")
        if not 0 < request_timeout < math.inf:
            raise ValueError(f"request_timeout must be seconds > 0, got {request_timeout!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending must be a whole number >= 1, got {max_pending!r}")
        redact.install()  # (its handshake carries the token)
        self.url = url
        self.token = token
        self.msgpack = msgpack
        self.compression = compression
        self.ping_interval = ping_interval
        self.request_timeout = request_timeout
        # The cap is low by default: the guide wants a client back within 2 s of its
        # server; a client of a distant, busy server may pass a policy with a larger one.
        self.policy = reconnect or ReconnectPolicy(
            first_s=first_retry, cap_s=max_retry, healthy_after_s=healthy_after
        )
        self.backoff = self.policy.backoff()
        self.max_pending = max_pending
        self.state: State = "idle"
        self.latency_ms: float | None = None
        self.connections = 0  # successful connects, reconnects included
        self.resets = 0  # RESUME_RESETs: the server's journal was not the one resumed from
        self.last_error: BaseException | None = None
        self.status: Message | None = None  # the latest STATUS
        self._symbols: set[str] = set()
        self._books: dict[str, int] = {}
        # The highest order-event seq delivered (None: not known yet, until a snapshot),
        # and the journal it belongs to.
        self._watermark: int | None = None
        self._journal_id: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str | int, asyncio.Future[Message]] = {}
        self._queues: list[ConflatingQueue[Message]] = []
        self._drains: dict[Listener, tuple[ConflatingQueue[Message], asyncio.Task[None]]] = {}
        self._state_listeners: list[Callable[[State], object]] = []
        self._reset_listeners: list[ResetCallback] = []
        self._websocket: ClientConnection | None = None
        self._codec = Codec(MSGPACK_SUBPROTOCOL if msgpack else None)
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle --------------------------------------------------------------------
    async def connect(self, within: float | None = 30.0) -> RealtimeClient:
        """Start the connection loop and wait until connected (or the first fatal
        failure, which is raised)."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name="realtime-client"
            )
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait_for(
                asyncio.wait({waiter, self._runner}, return_when=asyncio.FIRST_COMPLETED), within
            )
        except TimeoutError:
            # (it said nothing: a refused port and a server that never answers the
            # handshake looked the same)
            last = f"the last attempt: {self.last_error!r}" if self.last_error else "no answer"
            raise TimeoutError(
                f"not connected to {self.url} within {within:g} s ({last}); the client "
                "keeps trying until close()"
            ) from None
        finally:
            waiter.cancel()
        if self._runner.done() and not self._connected.is_set():
            self._runner.result()  # raises the fatal error
            raise ConnectionError("client closed")
        return self

    async def close(self) -> None:
        self._closing = True
        self._set_state("closed")
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        for queue in self._queues:
            queue.close()
        for _, task in self._drains.values():
            task.cancel()
        for _, task in list(self._drains.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drains.clear()
        self._fail_pending("client closed")

    async def __aenter__(self) -> RealtimeClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    @property
    def last_seq(self) -> int:
        """The highest order-event ``seq`` delivered: everything up to it has been
        (``seq``s have gaps: fills and positions share the journal).  The client
        reconnects with ``?since=`` it."""
        return self._watermark or 0

    @property
    def journal_id(self) -> str | None:
        """The server's journal that ``last_seq`` belongs to."""
        return self._journal_id

    @property
    def books(self) -> dict[str, int]:
        return dict(self._books)

    def on_state(self, callback: Callable[[State], object]) -> Callable[[], None]:
        """Call ``callback(state)`` on each change of the connection's state; returns the
        function that stops it."""
        _callable(callback, "on_state", "a function of the state")
        self._state_listeners.append(callback)
        return lambda: self._state_listeners.remove(callback)

    def on_reset(self, callback: ResetCallback) -> Callable[[], None]:
        """Call ``callback`` with the ``RESUME_RESET`` error when the server could not
        resume (its journal is another one: a restart without ``--db``, a wiped file).
        The order history before it is not the server's any more; the snapshot that
        follows is the new starting point, and nothing after it is skipped."""
        _callable(callback, "on_reset", "a function of the RESUME_RESET error")
        self._reset_listeners.append(callback)
        return lambda: self._reset_listeners.remove(callback)

    # -- the connection loop ---------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff
        lost: Exception | None = None
        while not self._closing:
            self._set_state("connecting" if self.connections == 0 else "reconnecting")
            opened = False
            try:
                async with self._open() as websocket:
                    opened = True
                    backoff.connected(loop.time())
                    await self._session(websocket)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.last_error = lost = error
                if classify(error) is Verdict.FATAL:
                    self._closing = True
                    self._set_state("closed")
                    self._fail_pending(f"fatal: {error!r}")
                    if self.connections == 0:
                        raise  # connect() reports it
                    _log.error("giving up: %r", error)
                    return
                _log.info("connection lost (%r); reconnecting", error)
            finally:
                self._websocket = None
                self._connected.clear()
                self._stop_pinger()
            # the cause goes with it: "received 1009 (message too big)" says what to fix
            self._fail_pending(f"disconnected: {lost}" if lost is not None else "disconnected")
            lost = None
            if self._closing:
                return
            self._set_state("reconnecting")
            # A connection that ended before it stayed healthy keeps the backoff growing
            # (a server that accepts and drops is not retried every 0.25 s forever).
            delay = backoff.lost(loop.time()) if opened else backoff.failed()
            await asyncio.sleep(delay)

    def _open(self) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return connect(
            self._resume_url(),
            additional_headers=headers,
            subprotocols=[Subprotocol(MSGPACK_SUBPROTOCOL)] if self.msgpack else None,
            compression="deflate" if self.compression else None,
            max_size=16 * 2**20,
            open_timeout=10,
            close_timeout=2,
        )

    def _resume_url(self) -> str:
        """The URL, with ``since`` and ``journal_id`` once the client has a watermark:
        the server sends the missed events in the handshake's answer, before any live
        one."""
        if self._watermark is None:
            return self.url
        parts = urlsplit(self.url)
        query = [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key not in ("since", "journal_id")
        ]
        query.append(("since", str(self._watermark)))
        if self._journal_id:
            query.append(("journal_id", self._journal_id))
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _session(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self.connections += 1
        for symbol in sorted(self._symbols):
            await self._send({"action": "subscribe_ticker", "symbol": symbol})
        for symbol, depth in sorted(self._books.items()):
            await self._send({"action": "subscribe_book", "symbol": symbol, "depth": depth})
        self._connected.set()
        self._set_state("connected")
        self._start_pinger()
        try:
            async for frame in websocket:
                try:
                    message = self._codec.decode(frame)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except ConnectionClosed:
            pass
        if not self._closing:
            # with the server's close code and reason: 1009 means a command was too big
            code = websocket.close_code
            said = f": {code} {websocket.close_reason or ''}".rstrip() if code is not None else ""
            raise ConnectionError(f"connection closed by the server{said}")

    # -- inbound ------------------------------------------------------------------------
    def _dispatch(self, message: Message) -> None:
        kind = message.get("type")
        deliver = True
        if kind == "ORDER_UPDATE":
            seq = message.get("seq")
            if isinstance(seq, int):
                # The server sends order events in seq order (snapshot, missed ones,
                # live ones): one at or below the watermark was delivered already.
                if self._watermark is not None and seq <= self._watermark:
                    deliver = False
                else:
                    self._watermark = seq
        elif kind == "ORDERS" and "id" not in message:
            # A snapshot: the starting point of a first connection or after a reset
            # (resuming, the watermark stays: the missed events come next).
            if self._watermark is None and isinstance(message.get("seq"), int):
                self._watermark = int(message["seq"])
            if self._journal_id is None and isinstance(message.get("journal_id"), str):
                self._journal_id = message["journal_id"]
        elif kind == "STATUS":
            self.status = message
        elif kind == "ERROR" and message.get("code") == "RESUME_RESET":
            self._reset(message)
        command_id = message.get("id")
        if command_id is not None:
            future = self._pending.pop(command_id, None)
            if future is not None and not future.done():
                future.set_result(message)
        if deliver:
            key = conflation_key(message)
            for queue in self._queues:
                queue.put(message, key)

    def _reset(self, message: Message) -> None:
        """The server's journal is not the one the watermark belongs to: start over from
        the snapshot that follows."""
        self.resets += 1
        self._watermark = None
        journal_id = message.get("journal_id")
        self._journal_id = journal_id if isinstance(journal_id, str) else None
        _log.warning("starting over from the server's snapshot: %s", message.get("message"))
        for callback in tuple(self._reset_listeners):
            try:
                callback(message)
            except Exception:
                _log.exception("reset listener failed")

    # -- outbound -----------------------------------------------------------------------
    async def _send(self, command: Command) -> None:
        websocket = self._websocket
        if websocket is None:
            raise ConnectionError("not connected")
        await websocket.send(self._codec.encode(command))

    async def request(self, command: Command) -> Message:
        """Send one command and return its direct reply (matched by ``id``; one is
        assigned when missing).  Never raises for bad input: the reply is an ERROR.
        When the link is down past ``request_timeout`` the reply is an ERROR with code
        ``DISCONNECTED`` (a client-side code, not sent by servers); after ``close`` (or
        a fatal error) it is that ERROR at once."""
        if not isinstance(command, Mapping):
            return messages.error(
                "INVALID_PARAMS", f"a command is a dict, got {type(command).__name__}", None
            )
        command = dict(command)
        command_id = command.get("id")
        if (
            command_id is None
            or isinstance(command_id, bool)
            or not isinstance(command_id, str | int)
        ):
            command_id = f"c{next(self._ids)}"
            command["id"] = command_id
        if command_id in self._pending:
            return messages.error(
                "INVALID_PARAMS", f"id {command_id!r} already pending", command_id
            )
        refused = _unsendable(command)
        if refused is not None:
            return messages.error("INVALID_PARAMS", refused, command_id)
        if self._closing:  # closed, or given up: no link will come back to wait for
            return messages.error("DISCONNECTED", "no reply: the client is closed", command_id)
        if self._runner is None:  # (it waited out request_timeout for a link never asked for)
            return messages.error(
                "DISCONNECTED",
                "no reply: the client is not connected; `await client.connect()` first (or "
                "`async with RealtimeClient(...) as client:`)",
                command_id,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        try:
            await asyncio.wait_for(self._connected.wait(), self.request_timeout)
            future: asyncio.Future[Message] = loop.create_future()
            self._pending[command_id] = future
            try:
                await self._send(command)
            except TypeError as error:  # a value deeper in the command no encoder takes
                self._pending.pop(command_id, None)
                return messages.error("INVALID_PARAMS", f"cannot be sent: {error}", command_id)
            reply = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except TimeoutError:
            self._pending.pop(command_id, None)
            down = "" if self._connected.is_set() else f": not connected to {self.url}"
            last = f" (the last error: {self.last_error!r})" if down and self.last_error else ""
            return messages.error(
                "DISCONNECTED",
                f"no reply within {self.request_timeout:g} s{down}{last}",
                command_id,
            )
        except (ConnectionError, ConnectionClosed) as error:
            self._pending.pop(command_id, None)
            return messages.error("DISCONNECTED", f"no reply: {error!r}", command_id)
        self._track(command, reply)
        return reply

    def _track(self, command: Command, reply: Message) -> None:
        kind = reply.get("type")
        symbol = str(reply.get("symbol"))
        if kind == "SUBSCRIBED":
            if reply.get("book"):
                depth = reply.get("depth")
                self._books[symbol] = depth if isinstance(depth, int) else 20
            else:
                self._symbols.add(symbol)
        elif kind == "UNSUBSCRIBED":
            if reply.get("book"):
                self._books.pop(symbol, None)
            else:
                self._symbols.discard(symbol)

    async def ping(self) -> float | None:
        """One ping/PONG round trip in ms (also refreshes ``latency_ms``)."""
        started = time.perf_counter()
        reply = await self.request({"action": "ping"})
        if reply.get("type") != "PONG":
            return None
        self.latency_ms = (time.perf_counter() - started) * 1000
        return self.latency_ms

    # -- conveniences -----------------------------------------------------------------
    async def subscribe(self, symbol: str) -> Message:
        return await self.request({"action": "subscribe_ticker", "symbol": symbol})

    async def unsubscribe(self, symbol: str) -> Message:
        return await self.request({"action": "unsubscribe_ticker", "symbol": symbol})

    async def place_order(self, **fields: Any) -> Message:
        return await self.request({"action": "place_order", **fields})

    async def subscribe_book(self, symbol: str, depth: int = 20) -> Message:
        return await self.request({"action": "subscribe_book", "symbol": symbol, "depth": depth})

    async def unsubscribe_book(self, symbol: str) -> Message:
        return await self.request({"action": "unsubscribe_book", "symbol": symbol})

    async def candles(self, symbol: str, interval: str = "1m", limit: int = 500) -> Message:
        return await self.request(
            {"action": "get_candles", "symbol": symbol, "interval": interval, "limit": limit}
        )

    # -- TradingSession: listen / stream -------------------------------------------------------
    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(message)`` with every message, through its own bounded queue;
        returns the function that stops it."""
        _callable(listener, "listen", "a function of one message")
        queue: ConflatingQueue[Message] = ConflatingQueue(self.max_pending)
        self._queues.append(queue)
        task = asyncio.get_running_loop().create_task(self._drain(queue, listener))
        self._drains[listener] = (queue, task)

        def stop() -> None:
            entry = self._drains.pop(listener, None)
            if entry is not None:
                self._remove_queue(entry[0])
                entry[1].cancel()

        return stop

    async def _drain(self, queue: ConflatingQueue[Message], listener: Listener) -> None:
        with contextlib.suppress(SubscriptionClosed):
            while True:
                message = await queue.get()
                try:
                    result = listener(message)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    _log.exception("client listener failed")

    async def stream(self) -> AsyncIterator[Message]:
        queue: ConflatingQueue[Message] = ConflatingQueue(self.max_pending)
        self._queues.append(queue)
        try:
            while True:
                try:
                    yield await queue.get()
                except SubscriptionClosed:
                    return
        finally:
            self._remove_queue(queue)

    def _remove_queue(self, queue: ConflatingQueue[Message]) -> None:
        queue.close()
        if queue in self._queues:
            self._queues.remove(queue)

    # -- internals -----------------------------------------------------------------------
    def _set_state(self, state: State) -> None:
        if self.state == state or (self._closing and state != "closed"):
            return
        self.state = state
        for callback in tuple(self._state_listeners):
            try:
                callback(state)
            except Exception:
                _log.exception("state listener failed")

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for command_id, future in pending.items():
            if not future.done():
                future.set_result(messages.error("DISCONNECTED", reason, command_id))

    def _start_pinger(self) -> None:
        if self.ping_interval and self._pinger is None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping_loop())

    def _stop_pinger(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None

    async def _ping_loop(self) -> None:
        assert self.ping_interval
        while True:
            await self.ping()
            await asyncio.sleep(self.ping_interval)


def _callable(function: object, method: str, what: str) -> None:
    """A callback must be callable now, not fail with each message later."""
    if not callable(function):
        raise TypeError(f"{method} takes {what}, got {type(function).__name__}")


def _unsendable(command: Command) -> str | None:
    """Why ``command`` cannot go out as the JSON the server reads, or ``None``.  JSON has
    no NaN or infinity (an encoder writes ``null``, which the server reads as a field
    not given: "'quantity' is required"), nor arbitrary objects."""
    for name, value in command.items():
        # (the client does not know which fields are numbers: "must be a finite number"
        # said so of a NaN symbol too)
        if (isinstance(value, float) and not math.isfinite(value)) or (
            isinstance(value, Decimal) and not value.is_finite()
        ):
            return f"'{name}' cannot be sent: JSON has no {value} (no NaN or infinity)"
        if not isinstance(value, str | int | float | Decimal | bool | list | dict | None):
            return f"'{name}' cannot be sent: {type(value).__name__} is not a JSON value"
    return None
