"""One client connection: a reader (commands in, rate limited) and the writing end of
the session's outbox.

The rate limit is applied as frames *arrive* (in the protocol's frame parser), not
when the reader gets to them: a flood is judged in the order the client sent it, so
the connection is failed with 1008 before a close frame the client pipelined behind
the flood is even parsed (judged later, websockets had already answered that close
with the client's own code, 1000).  Commands over the limit still reach the reader,
marked, and get ``RATE_LIMITED`` in their turn.

Writing takes from the outbox only while the socket takes data: the transport's
write buffer (``write_limit_bytes``) and what the kernel may hold unsent
(``unsent_limit_bytes``, TCP_NOTSENT_LOWAT) are small, so once the client stops
reading, the transport pauses within a few tens of KB and everything newer waits in
the outbox, where market data is conflated and order events keep their place at the
front.  When the client reads again, the transport resumes and the outbox is written
from its front: order events, then the latest prices.

No task per message: the outbox's doorbell calls :meth:`Connection.flush` once per
loop turn in which something was queued; a flush writes every ready message in
batches, one ``transport.write`` (one system call) per batch.  Only a connection
whose socket is full has a task, waiting for the socket to drain.  The server's
sweeper closes a connection whose socket made no progress for ``stall_timeout_s``
(1008).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import logging
import socket
import termios
from collections import deque
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from workspace.protocol import messages
from workspace.protocol.codec import EncodeCache, decode_frame
from workspace.protocol.commands import CommandId, command_id_of
from workspace.protocol.outbox import Outbox
from workspace.protocol.session import ProtocolSession
from workspace.server.limits import CommandGate, ServerLimits
from workspace.session import Message

_log = logging.getLogger("workspace.server")

CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
BATCH = 64  # messages per write: one system call for a burst
_OUTQ = getattr(termios, "TIOCOUTQ", None)  # unsent bytes of a socket (Linux)


class Connection:
    def __init__(
        self,
        websocket: ServerConnection,
        session: ProtocolSession,
        limits: ServerLimits,
        cache: EncodeCache,
        msgpack: bool,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self.outbox: Outbox = session.outbox
        self.limits = limits
        self.msgpack = msgpack
        self._cache = cache
        self._loop = asyncio.get_running_loop()
        self._gate = CommandGate(limits, self._loop.time())
        # The gate's verdict on each message, in arrival order (the reader pops one per
        # message it gets).
        self._verdicts: deque[bool] = deque()
        self._no_more_commands = False
        self.sent = 0
        self.close_reason: str | None = None
        # Multi-user mode: who the connection acts for and the token it was opened
        # with (the server closes it once that token no longer holds).
        self.credentials: tuple[str, str | None] | None = None
        # Set while the socket is full: since when, and the bytes still unsent at the
        # last sign of progress (the sweeper closes a connection that makes none).
        self.blocked_since: float | None = None
        self._progress_at = 0.0
        self._unsent_at_progress = 0
        self._drainer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.on_change: Callable[[], None] | None = None  # the server's: blocked or not
        # Without permessage-deflate a frame's bytes do not depend on the connection:
        # they are built once per message for every client.
        self._raw_frames = not websocket.protocol.extensions
        self._frame = cache.msgpack_frame if msgpack else cache.json_frame
        self._transport = websocket.transport
        self._socket: socket.socket | None = websocket.transport.get_extra_info("socket")
        self._gate_arrivals()
        session.pacer = self

    async def run(self, since: int | None = None, journal_id: str | None = None) -> None:
        """Open the session (its snapshot, and the events missed since ``since`` when
        resuming), write it as the client reads, then serve until the connection ends."""
        sock, limits = self._socket, self.limits
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                if limits.unsent_limit_bytes is not None:
                    lowat = socket.TCP_NOTSENT_LOWAT  # Linux, macOS
                    sock.setsockopt(socket.IPPROTO_TCP, lowat, limits.unsent_limit_bytes)
                if limits.socket_send_buffer is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.socket_send_buffer)
        outbox = self.outbox
        outbox.on_ready = self.flush
        outbox.on_close = self._outbox_closed
        # A resume waits for its client to read; a client that goes away (or is
        # closed for stalling or flooding) must not leave it waiting.
        watcher = self._loop.create_task(self._close_outbox_when_lost(), name="ws-lost")
        try:
            await self.session.open(since, journal_id)
            self.flush()
            await self._read()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            outbox.on_ready = None
            outbox.on_close = None
            if self._drainer is not None:
                self._drainer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._drainer
            if self._closer is not None:  # bounded by close_grace_s
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._closer

    async def _close_outbox_when_lost(self) -> None:
        await self.websocket.wait_closed()
        self.outbox.close("connection closed")

    # -- inbound -----------------------------------------------------------------
    def _gate_arrivals(self) -> None:
        """Judge each message as its first frame is parsed (see the module's doc)."""
        protocol = self.websocket.protocol
        deliver = protocol.recv_frame
        gate, verdicts, loop = self._gate, self._verdicts, self._loop

        def recv_frame(frame: Frame) -> None:
            if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
                admitted = gate.admit(loop.time())
                if not admitted and gate.flooding and not self._no_more_commands:
                    self._flood()
                    return  # the parser discards everything after it
                verdicts.append(admitted)
            deliver(frame)

        protocol.recv_frame = recv_frame  # type: ignore[method-assign]

    def _flood(self) -> None:
        """Rejected commands keep coming faster than allowed: close with 1008 at once
        (what was queued for the client first, if its socket takes it), and run none of
        the commands still waiting to be read."""
        self._no_more_commands = True
        self.close_reason = "flooding"
        _log.warning("closing a client that kept flooding past the rate limit")
        # The client learns why before the close (its rejected commands were judged
        # ahead of the reader, which never gets to answer them one by one).
        self.session.push(
            messages.error(
                "RATE_LIMITED",
                f"more than {self.limits.commands_per_s:g} commands/s; closing (1008)",
            )
        )
        self.flush()
        protocol = self.websocket.protocol
        if protocol.state is State.OPEN:
            protocol.fail(CLOSE_POLICY, "rate limit exceeded")
        if self.on_change is not None:
            self.on_change()

    async def _read(self) -> None:
        websocket, verdicts, session = self.websocket, self._verdicts, self.session
        msgpack = self.msgpack
        with contextlib.suppress(ConnectionClosed):
            while True:
                # Bytes, whatever the frame's type: invalid UTF-8 in a text frame is
                # an INVALID_JSON for the parser, not a reason to drop the connection.
                frame = await websocket.recv(decode=False)
                if self._no_more_commands:
                    return
                if verdicts and not verdicts.popleft():
                    # Urgent: ahead of any market data the client has not read yet.
                    session.push(
                        messages.error(
                            "RATE_LIMITED",
                            f"more than {self.limits.commands_per_s:g} commands/s",
                            _peek_id(frame, msgpack),
                        )
                    )
                    continue
                await session.handle(frame, msgpack=msgpack)

    async def bulk(self, messages: int) -> None:
        """The session's ``Pacer``: a resume's or replay's messages are paid from this
        connection's command budget; waits while it is spent."""
        # The bucket refills with time: there is no event to wait on.
        while (wait := self._gate.bulk(messages, self._loop.time())) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    # -- outbound ----------------------------------------------------------------
    def flush(self) -> None:
        """Write what the outbox holds, front first, for as long as the socket takes
        it; then, if something is left, wait for the socket to drain."""
        if self._drainer is not None:
            return  # the socket is full; its drain resumes the writing
        websocket = self.websocket
        if websocket.protocol.state is not State.OPEN:
            return
        outbox = self.outbox
        try:
            while not websocket.paused:
                batch = outbox.take(BATCH)
                if not batch:
                    return
                self._write(batch)
                self.sent += len(batch)
                if len(batch) < BATCH:
                    return  # that was everything
        except Exception:  # never into the doorbell, which serves every other client
            _log.exception("writing to a client failed; dropping it")
            websocket.transport.abort()
            return
        if outbox.pending:
            self._block()

    def _write(self, batch: list[Message]) -> None:
        if self._raw_frames:
            frame = self._frame
            self._transport.write(
                frame(batch[0]) if len(batch) == 1 else b"".join([frame(m) for m in batch])
            )
            return
        websocket = self.websocket
        msgpack = self.msgpack
        # Compressed: frames depend on this connection's deflate context.
        encode = self._cache.encode
        protocol = websocket.protocol
        send = protocol.send_binary if msgpack else protocol.send_text
        for message in batch:
            send(encode(message, msgpack))
        transport = websocket.transport
        for chunk in protocol.data_to_send():
            if chunk:  # b"" would mean end of stream: websockets does that on close
                transport.write(chunk)

    def _block(self) -> None:
        now = self._loop.time()
        self.blocked_since = self._progress_at = now
        self._unsent_at_progress = self.unsent_bytes()
        self._drainer = self._loop.create_task(self._wait_writable(), name="ws-drain")
        if self.on_change is not None:
            self.on_change()

    async def _wait_writable(self) -> None:
        await self.websocket.drain()  # returns once the transport resumes, or is lost
        self._drainer = None
        self.blocked_since = None
        if self.on_change is not None:
            self.on_change()
        self.flush()

    def unsent_bytes(self) -> int:
        """Bytes written but not yet taken by the client: the transport's buffer plus
        the kernel's send queue (Linux: TIOCOUTQ), so reading shows as progress."""
        unsent = self.websocket.transport.get_write_buffer_size()
        sock = self._socket
        if sock is not None and _OUTQ is not None:
            queue = array.array("i", [0])
            with contextlib.suppress(OSError, ValueError):
                fcntl.ioctl(sock.fileno(), _OUTQ, queue, True)
                unsent += queue[0]
        return unsent

    def check_progress(self, now: float) -> bool:
        """The sweeper's check of a blocked connection; True when it has stalled (no
        byte taken by the client for ``stall_timeout_s``) and is being closed."""
        if self.blocked_since is None or self._closer is not None:
            return False
        unsent = self.unsent_bytes()
        if unsent < self._unsent_at_progress:
            self._unsent_at_progress = unsent
            self._progress_at = now
            return False
        if now - self._progress_at < self.limits.stall_timeout_s:
            return False
        timeout = self.limits.stall_timeout_s
        _log.warning("closing a client that read nothing for %.1f s", timeout)
        self._close(CLOSE_POLICY, f"client read nothing for {timeout:g} s", "stalled")
        return True

    def revoke(self, why: str) -> None:
        """Its token stopped holding (the user removed, the token rotated): tell the
        client why, then close with 1008.  Commands still waiting are not run."""
        if self._closer is not None:
            return
        self._no_more_commands = True
        _log.warning("closing a connection whose access was revoked: %s", why)
        self.session.push(messages.error("UNAUTHORIZED", f"access revoked: {why}"))
        self._close(CLOSE_POLICY, "access revoked", "revoked")

    def _outbox_closed(self, outbox: Outbox) -> None:
        if outbox.overflowed:
            self._close(CLOSE_POLICY, "fell behind", "fell behind")

    def _close(self, code: int, reason: str, why: str) -> None:
        """Close with ``code`` and ``reason``; a client that does not read within the
        grace period does not get the closing frame and is cut off."""
        if self._closer is not None:
            return
        self.flush()  # what is queued goes out ahead of the closing frame, if it can
        self.close_reason = why
        self._closer = self._loop.create_task(self.close(code, reason), name="ws-close")
        if self.on_change is not None:
            self.on_change()

    async def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutdown") -> None:
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), self.limits.close_grace_s)
        except (TimeoutError, ConnectionClosed, OSError):
            self.websocket.transport.abort()


def _peek_id(frame: str | bytes, msgpack: bool) -> CommandId:
    """The id of a rate-limited command, if it is cheap to find (small frame)."""
    if len(frame) > 4096:
        return None
    try:
        return command_id_of(decode_frame(frame, msgpack=msgpack))
    except ValueError:
        return None
