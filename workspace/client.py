"""``RealtimeClient``: a TradingSession over ``/api/ws/realtime``, for another notebook,
a bot or a script.

::

    client = RealtimeClient("ws://127.0.0.1:8000/api/ws/realtime", token=None)
    await client.connect()                     # returns once connected
    await client.request({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    client.listen(print)                       # callbacks ...
    async for message in client.stream(): ...  # ... or async for
    await client.close()

It reconnects on its own (exponential backoff with jitter, first retry within 0.5 s,
at most 30 s apart), resubscribes its symbols and resumes its order events from the
last ``seq`` it saw, so a listener sees every order event exactly once across
reconnects and server restarts.  ``state`` and ``latency_ms`` (ping/PONG round trip)
describe the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from workspace.protocol import messages
from workspace.protocol.backoff import backoff_delays, is_retryable
from workspace.protocol.codec import MSGPACK_SUBPROTOCOL, Codec
from workspace.protocol.conflation import ConflatingQueue, SubscriptionClosed, conflation_key
from workspace.protocol.seqset import SeqSet
from workspace.session import Command, Listener, Message

_log = logging.getLogger("workspace.client")

State = Literal["idle", "connecting", "connected", "reconnecting", "closed"]


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
        first_retry: float = 0.5,
        max_retry: float = 30.0,
        max_pending: int = 100_000,
    ) -> None:
        self.url = url
        self.token = token
        self.msgpack = msgpack
        self.compression = compression
        self.ping_interval = ping_interval
        self.request_timeout = request_timeout
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.max_pending = max_pending
        self.state: State = "idle"
        self.latency_ms: float | None = None
        self.connections = 0  # successful connects, reconnects included
        self.last_error: BaseException | None = None
        self.status: Message | None = None  # the latest STATUS
        self._symbols: set[str] = set()
        self._seen = SeqSet()
        self._baseline: int | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str | int, asyncio.Future[Message]] = {}
        self._queues: list[ConflatingQueue[Message]] = []
        self._drains: dict[Listener, tuple[ConflatingQueue[Message], asyncio.Task[None]]] = {}
        self._state_listeners: list[Callable[[State], object]] = []
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
        """The order-event ``seq`` up to which nothing is missing."""
        intervals = self._seen.intervals
        return intervals[0][1] if intervals else (self._baseline or 0)

    def on_state(self, callback: Callable[[State], object]) -> Callable[[], None]:
        self._state_listeners.append(callback)
        return lambda: self._state_listeners.remove(callback)

    # -- the connection loop ---------------------------------------------------------------
    async def _run(self) -> None:
        delays: Iterator[float] | None = None
        while not self._closing:
            self._set_state("connecting" if self.connections == 0 else "reconnecting")
            try:
                async with self._open() as websocket:
                    delays = None
                    await self._session(websocket)
            except asyncio.CancelledError:
                raise
            except BaseException as error:
                self.last_error = error
                if not is_retryable(error):
                    self._closing = True
                    self._set_state("closed")
                    self._fail_pending(f"fatal: {error}")
                    if self.connections == 0:
                        raise  # connect() reports it
                    _log.error("giving up: %s", error)
                    return
                _log.info("connection lost (%r); reconnecting", error)
            finally:
                self._websocket = None
                self._connected.clear()
                self._stop_pinger()
            self._fail_pending("disconnected")
            if self._closing:
                return
            self._set_state("reconnecting")
            delays = delays or backoff_delays(self.first_retry, self.max_retry)
            await asyncio.sleep(next(delays))

    def _open(self) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return connect(
            self.url,
            additional_headers=headers,
            subprotocols=[Subprotocol(MSGPACK_SUBPROTOCOL)] if self.msgpack else None,
            compression="deflate" if self.compression else None,
            max_size=16 * 2**20,
            open_timeout=10,
            close_timeout=2,
        )

    async def _session(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self.connections += 1
        # Resume and resubscribe first: the server answers them in order after its
        # snapshot, and the seq set drops anything delivered twice.
        if self._baseline is not None:
            await self._send({"action": "resume", "since": self.last_seq})
        for symbol in sorted(self._symbols):
            await self._send({"action": "subscribe_ticker", "symbol": symbol})
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
            raise ConnectionError("connection closed by the server")

    # -- inbound ------------------------------------------------------------------------
    def _dispatch(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "ORDER_UPDATE":
            seq = message.get("seq")
            if isinstance(seq, int) and (
                (self._baseline is not None and seq <= self._baseline) or not self._seen.add(seq)
            ):
                return
        elif kind == "ORDERS" and self._baseline is None and isinstance(message.get("seq"), int):
            # The first snapshot: everything up to its seq is reflected in it.
            self._baseline = int(message["seq"])
        elif kind == "STATUS":
            self.status = message
        command_id = message.get("id")
        if command_id is not None:
            future = self._pending.pop(command_id, None)
            if future is not None and not future.done():
                future.set_result(message)
        for queue in self._queues:
            queue.put(message, conflation_key(message))

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
        ``DISCONNECTED`` (a client-side code, not sent by servers)."""
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        try:
            await asyncio.wait_for(self._connected.wait(), self.request_timeout)
            future: asyncio.Future[Message] = loop.create_future()
            self._pending[command_id] = future
            await self._send(command)
            reply = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except (TimeoutError, ConnectionError, ConnectionClosed) as error:
            self._pending.pop(command_id, None)
            return messages.error("DISCONNECTED", f"no reply: {error!r}", command_id)
        self._track(command, reply)
        return reply

    def _track(self, command: Command, reply: Message) -> None:
        kind = reply.get("type")
        if kind == "SUBSCRIBED":
            self._symbols.add(str(reply.get("symbol")))
        elif kind == "UNSUBSCRIBED":
            self._symbols.discard(str(reply.get("symbol")))

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

    # -- TradingSession: listen / stream -------------------------------------------------------
    def listen(self, listener: Listener) -> Callable[[], None]:
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
