"""The feed's connection on picows: a WebSocket client whose frame parsing is C.

Measured side by side on the same frames, a bare picows + ``json.loads`` loop costs
about 5 us of CPU per ``@ticker`` frame where websockets + ``json.loads`` costs about
8 us: the difference is websockets' pure-Python frame parsing and its per-message
queue.  This connection has the surface :class:`BinanceFeed` uses
(:class:`~workspace.market.connection.FeedConnection`), so either transport serves:

- messages go to the attached handler from picows' ``on_ws_frame`` (synchronously,
  frame by frame, fragments reassembled); messages before :meth:`attach` are kept;
- the server's PINGs are answered by picows itself (``enable_auto_pong``); the feed
  sends no pings (Binance counts them against its 5 messages a second);
- a close frame from the server is answered and ends the connection with websockets'
  own ``ConnectionClosedError`` / ``ConnectionClosedOK`` (code and reason), so the
  reconnect policy judges both transports alike; a handshake refused with an HTTP
  status raises :class:`~workspace.reconnect.HandshakeRejected` (the policy's 4xx rule),
  a bad URL ``InvalidURI``;
- bounded work per loop turn: picows parses a whole socket read in one callback (after
  a deschedule, hundreds of frames), so messages go to the handler inline only for
  ``turn_budget_s`` (2 ms) of a loop turn; the rest wait, in order, and are handed on
  over the next turns, with reading paused meanwhile (TCP pushes back on the sender).
  Without it the engine's loop held 13-35 ms callbacks at Binance's rates (the
  websockets connection slices its reads the same way, :mod:`.connection`);
- TLS: ``wss://`` uses the default SSL context (or the one given).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
from picows.common import WSHandshakeError, WSInvalidStatusError
from picows.url import WSInvalidURL
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidURI,
)
from websockets.frames import Close

from workspace.reconnect import HandshakeRejected

MessageHandler = Callable[[bytes], None]
_CHECK_EVERY: Final = 8
"""Messages handed on between two readings of the clock (about 20-80 us of work)."""
_TEXT: Final = WSMsgType.TEXT


class PicowsConnection(WSListener):
    """One client connection; create it with :func:`open_picows`."""

    turn_budget_s: float = 0.002
    """Hand messages on for at most this long per loop turn (at least one message)."""

    def __init__(self) -> None:
        super().__init__()
        self._handler: MessageHandler | None = None
        self._early: list[bytes] = []
        self._fragments: list[bytes] | None = None
        self.transport: WSTransport | None = None
        loop = asyncio.get_running_loop()
        self._loop = loop
        # messages read but not handed on yet (this turn's budget was spent), in order
        self._backlog: deque[bytes] = deque()
        self._deadline: float | None = None  # the current loop turn's, once it handed on
        self._uncounted = 0  # messages handed on since the clock was last read
        self._next_turn: asyncio.Handle | None = None
        self._paused_reading = False
        self.failure: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[None] = loop.create_future()
        self.close_exc: BaseException = ConnectionClosedError(None, None)

    # -- picows callbacks --------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        handler = self._handler
        if handler is not None and kind is _TEXT and frame.fin and not self.failure.done():
            # The hot path (one complete text frame, the feed listening): inline while
            # this loop turn has budget left and nothing waits before it.
            payload = frame.get_payload_as_bytes()
            if self._backlog:
                self._backlog.append(payload)  # behind the others (a drain is scheduled)
                return
            self._uncounted += 1
            if self._uncounted >= _CHECK_EVERY and not self._in_budget():
                self._queue(payload)
                return
            try:
                handler(payload)
            except Exception as exc:
                self._failed(exc)
            return
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                self._fragments = [frame.get_payload_as_bytes()]
        elif kind is WSMsgType.CONTINUATION:
            if self._fragments is None:
                return
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                message = b"".join(self._fragments)
                self._fragments = None
                self._deliver(message)
        elif kind is WSMsgType.CLOSE:
            code = frame.get_close_code()
            number: int = getattr(code, "value", 1005)
            reason = frame.get_close_message() or b""
            close = Close(number, reason.decode("utf-8", "replace"))
            exc_type = ConnectionClosedOK if number in (1000, 1001) else ConnectionClosedError
            self.close_exc = exc_type(close, Close(number, ""), rcvd_then_sent=True)
            with contextlib.suppress(Exception):
                transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._drain_all()  # what was read still goes out, in order, first
        if not self._closed.done():
            self._closed.set_result(None)

    # -- bounded work per loop turn ------------------------------------------------------
    @property
    def backlog_messages(self) -> int:
        """Messages read but not yet handed on (0 unless draining)."""
        return len(self._backlog)

    def _in_budget(self) -> bool:
        """May a message be handed on now?  The clock is read every ``_CHECK_EVERY``
        messages (a read per message cost the stream 5 % of its throughput); the first
        check of a loop turn starts its budget."""
        self._uncounted = 0
        now = time.perf_counter()
        deadline = self._deadline
        if deadline is None:
            self._deadline = now + self.turn_budget_s
            self._loop.call_soon(self._turn_over)
            return True
        return now < deadline

    def _turn_over(self) -> None:
        self._deadline = None

    def _queue(self, message: bytes) -> None:
        self._backlog.append(message)
        if self._next_turn is None:
            self._next_turn = self._loop.call_soon(self._drain_some)
            self._pause_reading(True)

    def _drain_some(self) -> None:
        self._next_turn = None
        backlog, handler, take = self._backlog, self._handler, self._backlog.popleft
        assert handler is not None  # queued only once attached
        deadline = time.perf_counter() + self.turn_budget_s
        try:
            while backlog and not self.failure.done():
                for _ in range(min(_CHECK_EVERY, len(backlog))):
                    handler(take())
                if time.perf_counter() >= deadline:
                    break
        except Exception as exc:
            self._failed(exc)
        if backlog and not self.failure.done():
            self._next_turn = self._loop.call_soon(self._drain_some)
            return
        backlog.clear()  # (after a failure nothing more is handed on)
        self._pause_reading(False)

    def _drain_all(self) -> None:
        if self._next_turn is not None:
            self._next_turn.cancel()
            self._next_turn = None
        backlog = self._backlog
        while backlog and not self.failure.done():
            self._hand(backlog.popleft())
        backlog.clear()

    def _pause_reading(self, pause: bool) -> None:
        if pause == self._paused_reading or self.transport is None:
            return
        self._paused_reading = pause
        underlying = self.transport.underlying_transport
        with contextlib.suppress(Exception):  # a transport closing meanwhile
            if pause:
                underlying.pause_reading()
            else:
                underlying.resume_reading()

    def _hand(self, message: bytes) -> None:
        handler = self._handler
        assert handler is not None  # queued only once attached
        if self.failure.done():
            return  # nothing is handed on after the handler failed
        try:
            handler(message)
        except Exception as exc:
            self._failed(exc)

    # -- the feed's surface ------------------------------------------------------------
    def attach(self, handler: MessageHandler) -> None:
        self._handler = handler
        early, self._early = self._early, []
        for message in early:
            self._deliver(message)

    def _deliver(self, message: bytes) -> None:
        if self._handler is None:
            self._early.append(message)
            return
        if self.failure.done():
            return
        if self._backlog or not self._in_budget():
            self._queue(message)
            return
        self._hand(message)

    def _failed(self, exc: Exception) -> None:
        """The handler raised (a bug): no message is handed on after it."""
        if not self.failure.done():
            self.failure.set_exception(exc)

    async def send(self, message: str) -> None:
        transport = self.transport
        if transport is None or self._closed.done() or transport.is_disconnected:
            raise self.close_exc
        transport.send(WSMsgType.TEXT, message.encode())

    async def close(self) -> None:
        transport = self.transport
        if transport is not None and not self._closed.done():
            with contextlib.suppress(Exception):
                transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), 1.0)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)


async def open_picows(
    url: str,
    *,
    open_timeout: float,
    max_size: int,
    ssl_context: ssl.SSLContext | None = None,
) -> PicowsConnection:
    """Connect; raise what the reconnect policy can judge (see the module docstring)."""
    kwargs: dict[str, Any] = {}
    if ssl_context is not None:
        kwargs["ssl_context"] = ssl_context
    try:
        _, listener = await asyncio.wait_for(
            ws_connect(
                PicowsConnection,
                url,
                websocket_handshake_timeout=open_timeout,
                enable_auto_pong=True,
                enable_auto_ping=False,
                max_frame_size=max_size,
                **kwargs,
            ),
            open_timeout,
        )
    except WSInvalidStatusError as exc:
        response = getattr(exc, "response", None)
        status = getattr(response, "status", None)
        raise HandshakeRejected(int(status) if status is not None else 0, str(exc)) from exc
    except WSInvalidURL as exc:
        raise InvalidURI(url, str(exc)) from exc
    except WSHandshakeError as exc:  # not an HTTP answer we can read: a server starting
        raise InvalidMessage(str(exc)) from exc
    assert isinstance(listener, PicowsConnection)
    return listener
