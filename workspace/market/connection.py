"""A websockets client connection that hands each data message straight to a callback.

The stock ``ClientConnection`` queues every incoming message for ``recv()``: one queue
put, one future, one task switch per message.  A market feed does nothing but decode
and forward, so here complete messages go to the handler synchronously from the
protocol's ``data_received``, the moment their frame is parsed.

**Bounded work per loop turn.**  One socket read can hold hundreds of frames (after the
process was descheduled, or behind TLS, which hands over everything it decrypted at
once); handling them all in one callback held the loop for 50-160 ms.  So a read larger
than ``chunk_bytes`` goes to a backlog, and the protocol is fed ``chunk_bytes`` at a
time until ``turn_budget_s`` is spent; then the rest waits for the next loop turn
(``call_soon``), so timers, the strategy's task and the publishers run in between.
Frames keep their order (bytes reach the parser in order, nothing is skipped), there
is no per-message task or future, and reading is paused while a backlog is drained:
the kernel buffer then fills and TCP pushes back on the sender, as before.

The handshake, PING/PONG, closing and sending stay exactly as websockets does them
(``process_event`` is the extension point the library's own client and server use).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

from workspace.reconnect import ReconnectRequested

MessageHandler = Callable[[bytes], None]


class FeedConnection(Protocol):
    """What the feed needs of a connection, whatever the transport (websockets'
    :class:`DirectConnection` or picows' ``PicowsConnection``)."""

    failure: asyncio.Future[None]
    """Set with the handler's exception if it raised (the connection is then moot)."""

    def attach(self, handler: MessageHandler) -> None: ...

    async def send(self, message: str) -> None: ...

    async def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    @property
    def close_exc(self) -> BaseException:
        """Why the connection ended (a websockets ``ConnectionClosed``)."""
        ...


class StaleConnection(ReconnectRequested):
    """Raised inside the feed when it decides to replace a live connection itself.

    ``reason`` is one of ``"stalled"`` (watchdog), ``"max-age"`` (the proactive
    reconnect before Binance's 24 h cut) and ``"serverShutdown"``.
    """

    PLANNED = frozenset({"max-age", "serverShutdown"})
    """Reasons that are the feed's (or the server's) plan, not a failure."""

    @property
    def planned(self) -> bool:
        return self.reason in self.PLANNED


_DATA = (Opcode.TEXT, Opcode.BINARY)


class DirectConnection(ClientConnection):
    """Deliver messages to :meth:`attach`'s handler instead of ``recv()``.

    Messages that arrive before a handler is attached are kept and delivered, in
    order, on :meth:`attach`.  If the handler raises, delivery stops and the exception
    is set on :attr:`failure`, which the owner awaits next to ``wait_closed()``.
    """

    chunk_bytes: int = 8 * 1024
    """Bytes fed to the frame parser at a time (about 25-40 market frames, 0.5-2 ms)."""
    turn_budget_s: float = 0.002
    """Keep feeding chunks for at most this long per loop turn (at least one chunk)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handler: MessageHandler | None = None
        self._early: list[bytes] = []
        self._fragments: list[bytes] | None = None
        self._backlog: deque[memoryview] = deque()
        self._next_turn: asyncio.Handle | None = None
        self._paused_reading = False
        self.failure: asyncio.Future[None] = self.loop.create_future()

    def attach(self, handler: MessageHandler) -> None:
        self._handler = handler
        early, self._early = self._early, []
        for message in early:
            self._deliver(message)

    @property
    def backlog_bytes(self) -> int:
        """Bytes read from the socket but not yet parsed (0 unless draining)."""
        return sum(len(view) for view in self._backlog)

    # -- reading, bounded per loop turn ---------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self._backlog and len(data) <= self.chunk_bytes:
            super().data_received(data)  # the common case: a small read, handled now
            return
        self._backlog.append(memoryview(data))
        if self._next_turn is None:  # else a turn is already scheduled: keep the order
            self._drain_some()

    def _drain_some(self) -> None:
        self._next_turn = None
        backlog, size = self._backlog, self.chunk_bytes
        deadline = time.perf_counter() + self.turn_budget_s
        while backlog:
            head = backlog[0]
            if len(head) > size:
                backlog[0] = head[size:]
                head = head[:size]
            else:
                backlog.popleft()
            # No copy: the parser appends the view to its own buffer (bytearray +=).
            super().data_received(head)  # type: ignore[arg-type]
            if time.perf_counter() >= deadline:
                break
        if backlog:
            if not self._paused_reading:
                self._paused_reading = True
                self.transport.pause_reading()  # backpressure while the backlog drains
            self._next_turn = self.loop.call_soon(self._drain_some)
        elif self._paused_reading:
            self._paused_reading = False
            self.transport.resume_reading()

    def _drain_all(self) -> None:
        """The connection is ending: what was read still goes out, in order, first."""
        if self._next_turn is not None:
            self._next_turn.cancel()
            self._next_turn = None
        while self._backlog:
            super().data_received(self._backlog.popleft())  # type: ignore[arg-type]

    def eof_received(self) -> None:
        self._drain_all()
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._drain_all()
        super().connection_lost(exc)

    # -- messages --------------------------------------------------------------------
    def process_event(self, event: Any) -> None:
        if self.response is None or not isinstance(event, Frame):
            super().process_event(event)  # the handshake response
            return
        opcode = event.opcode
        if opcode in _DATA:
            if event.fin:
                self._deliver(event.data)  # type: ignore[arg-type]
            else:
                self._fragments = [bytes(event.data)]
        elif opcode is Opcode.CONT:
            if self._fragments is None:
                return  # the protocol layer rejects a stray continuation; nothing to do
            self._fragments.append(bytes(event.data))
            if event.fin:
                message = b"".join(self._fragments)
                self._fragments = None
                self._deliver(message)
        else:
            super().process_event(event)  # PONG bookkeeping

    def _deliver(self, message: bytes) -> None:
        handler = self._handler
        if handler is None:
            self._early.append(bytes(message))
            return
        if self.failure.done():
            return  # the owner is closing this connection; later frames are moot
        try:
            handler(message)
        except Exception as exc:
            self.failure.set_exception(exc)
