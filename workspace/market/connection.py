"""A websockets client connection that hands each data message straight to a callback.

The stock ``ClientConnection`` queues every incoming message for ``recv()``: one queue
put, one future, one task switch per message.  A market feed does nothing but decode
and forward, so here complete messages go to the handler synchronously from the
protocol's ``data_received``, the moment their frame is parsed.  Reading is then
throttled by the handler itself: the socket is not read again until the handler
returns, which is the backpressure the feed wants.

The handshake, PING/PONG, closing and sending stay exactly as websockets does them
(``process_event`` is the extension point the library's own client and server use).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

MessageHandler = Callable[[bytes], None]

_DATA = (Opcode.TEXT, Opcode.BINARY)


class DirectConnection(ClientConnection):
    """Deliver messages to :meth:`attach`'s handler instead of ``recv()``.

    Messages that arrive before a handler is attached are kept and delivered, in
    order, on :meth:`attach`.  If the handler raises, delivery stops and the exception
    is set on :attr:`failure`, which the owner awaits next to ``wait_closed()``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handler: MessageHandler | None = None
        self._early: list[bytes] = []
        self._fragments: list[bytes] | None = None
        self.failure: asyncio.Future[None] = self.loop.create_future()

    def attach(self, handler: MessageHandler) -> None:
        self._handler = handler
        early, self._early = self._early, []
        for message in early:
            self._deliver(message)

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
