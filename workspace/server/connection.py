"""One client connection: a reader (commands in, rate limited) and a writer (the
session's stream out, with a send timeout), both released when either ends.

Market data mostly bypasses the writer task: after routing a burst the fan-out calls
``flush_ready``, which writes every ready message in one ``transport.write`` when the
writer is idle and the socket is not backed up.  The writer task handles the
snapshot, and everything while the client is slow to read (it waits for the socket
to drain, which the slow-consumer sweeper watches)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from workspace.protocol import messages
from workspace.protocol.codec import EncodeCache, decode_frame
from workspace.protocol.commands import CommandId, command_id_of
from workspace.protocol.session import ProtocolSession, SessionClosed
from workspace.server.fanout import ConnectionFeed
from workspace.server.limits import CommandGate, ServerLimits
from workspace.session import Message

_log = logging.getLogger("workspace.server")

CLOSE_POLICY = 1008
BATCH = 64  # messages written together when a client's queue has several ready
# A backlog larger than this is left to the writer task, which writes it in steps
# with backpressure; smaller ones are written directly, all at once.
DIRECT_BATCH = 256
EVERYTHING = sys.maxsize
CLOSE_GOING_AWAY = 1001


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
        self.limits = limits
        self.msgpack = msgpack
        self._cache = cache
        self._loop = asyncio.get_running_loop()
        self._gate = CommandGate(limits, self._loop.time())
        self.sent = 0
        self.close_reason: str | None = None
        # When the send in progress started (None: not sending); the server's sweeper
        # drops the client when one send takes longer than the send timeout.
        self.sending_since: float | None = None
        # True while the writer waits for messages (the snapshot is out): then a
        # direct write cannot overtake anything the writer holds.
        self._parked = False
        # Without permessage-deflate a frame's bytes do not depend on the connection:
        # they are built once per message for every client.
        self._raw_frames = not websocket.protocol.extensions
        self._feed: ConnectionFeed | None = None

    async def run(self) -> None:
        if self.limits.socket_send_buffer is not None:
            sock = self.websocket.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.socket_send_buffer)
        # The snapshot is taken before the first command is read, so that its ``seq``
        # is the baseline every command of this connection builds on.
        snapshot = self.session.snapshot()
        writer = asyncio.create_task(self._write(snapshot), name="ws-writer")
        reader = asyncio.create_task(self._read(), name="ws-reader")
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer):
                task.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- inbound -----------------------------------------------------------------
    async def _read(self) -> None:
        websocket = self.websocket
        with contextlib.suppress(ConnectionClosed):
            async for frame in websocket:
                if not self._gate.admit(self._loop.time()):
                    if self._gate.flooding:
                        self.close_reason = "flooding"
                        await websocket.close(CLOSE_POLICY, "rate limit exceeded")
                        return
                    # Sent at once rather than queued behind the stream: the client
                    # should learn it is being limited before anything else.
                    error = messages.error(
                        "RATE_LIMITED",
                        f"more than {self.limits.commands_per_s:g} commands/s",
                        _peek_id(frame, self.msgpack),
                    )
                    await asyncio.wait_for(
                        websocket.send(
                            self._cache.encode(error, self.msgpack), text=not self.msgpack
                        ),
                        self.limits.send_timeout_s,
                    )
                    continue
                await self.session.handle(frame, msgpack=self.msgpack)

    # -- outbound ----------------------------------------------------------------
    async def _write(self, snapshot: list[Message]) -> None:
        websocket = self.websocket
        session = self.session
        encode = self._cache.encode
        msgpack = self.msgpack
        text = not msgpack  # JSON bytes go out as text frames
        time = self._loop.time
        frame = self._cache.frame
        raw_frames = self._raw_frames
        try:
            for message in snapshot:
                self.sending_since = time()
                await websocket.send(encode(message, msgpack), text=text)
                self.sending_since = None
            while True:
                self._parked = True
                try:
                    first = await session.next_message()
                finally:
                    self._parked = False
                batch = [first, *session.drain_ready(BATCH - 1)]
                # Sending only waits when the write buffer is above its high-water
                # mark, i.e. when the client is not reading.
                self.sending_since = time()
                if raw_frames:
                    await self._write_frames([frame(m, msgpack) for m in batch])
                elif len(batch) == 1:
                    await websocket.send(encode(batch[0], msgpack), text=text)
                else:
                    await self._send_batch([encode(m, msgpack) for m in batch], text)
                self.sending_since = None
                self.sent += len(batch)
        except SessionClosed:
            self.close_reason = "fell behind"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(CLOSE_POLICY, "fell behind"), self.limits.send_timeout_s
                )
        except ConnectionClosed:
            pass

    def attach(self, feed: ConnectionFeed) -> None:
        """Let the fan-out hand this connection its bursts (``flush_ready``)."""
        self._feed = feed
        feed.on_ready = self.flush_ready

    def flush_ready(self) -> bool:
        """Write what the session has ready, now, without waking the writer task (the
        fan-out calls this once per burst).  Only while the writer is parked, so the
        order of the stream is kept, while the socket takes data without waiting, and
        for a small backlog.  Returns False when the writer should do it instead (with
        backpressure)."""
        websocket = self.websocket
        feed = self._feed
        if not self._parked or feed is None:
            return False
        queued = len(feed)
        if queued > DIRECT_BATCH or websocket.paused or websocket.protocol.state is not State.OPEN:
            return False
        try:
            # Everything: a parked writer does not look at what the session holds, so
            # nothing may be left behind in it (a resume can expand to many events).
            # ``queued`` is exact (nothing runs in between), so the drain stops there.
            batch = self.session.drain_ready(EVERYTHING, queued)
            if batch:
                self._write_now(batch)
                self.sent += len(batch)
        except Exception:  # never into the fan-out, which serves every other client
            _log.exception("writing to a client failed; dropping it")
            websocket.transport.abort()
        return True

    def _write_now(self, batch: list[Message]) -> None:
        websocket = self.websocket
        msgpack = self.msgpack
        if self._raw_frames:
            frame = self._cache.frame
            data = (
                frame(batch[0], msgpack)
                if len(batch) == 1
                else b"".join([frame(message, msgpack) for message in batch])
            )
            websocket.transport.write(data)
            return
        # Compressed: frames depend on this connection's deflate context.
        encode = self._cache.encode
        protocol = websocket.protocol
        send = protocol.send_binary if msgpack else protocol.send_text
        for message in batch:
            send(encode(message, msgpack))
        self._write_chunks(protocol.data_to_send())

    async def _write_frames(self, frames: list[bytes]) -> None:
        """Pre-built frames, written at once.  ``send_context`` keeps websockets in
        charge of the connection state, closing and write-buffer backpressure."""
        websocket = self.websocket
        async with websocket.send_context():
            websocket.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    async def _send_batch(self, frames: list[bytes], text: bool) -> None:
        """Several ready messages, one frame each, written to the socket at once: one
        system call instead of one per message, which is most of a send's cost."""
        websocket = self.websocket
        protocol = websocket.protocol
        async with websocket.send_context():
            send = protocol.send_text if text else protocol.send_binary
            for frame in frames:
                send(frame)
            self._write_chunks(protocol.data_to_send())

    def _write_chunks(self, chunks: list[bytes]) -> None:
        transport = self.websocket.transport
        if all(chunks):  # b"" would mean end of stream: leave that to websockets
            transport.write(b"".join(chunks))
            return
        for chunk in chunks:
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def abort_slow_consumer(self) -> None:
        """The client has not read for the send timeout: its buffers are full.  Abort
        rather than close: a close frame would wait in the same full buffer."""
        if self.close_reason is None:
            self.close_reason = "slow consumer"
            _log.warning(
                "dropping a client that stopped reading for %.1f s", self.limits.send_timeout_s
            )
        self.websocket.transport.abort()

    async def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutdown") -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), 2.0)


def _peek_id(frame: str | bytes, msgpack: bool) -> CommandId:
    """The id of a rate-limited command, if it is cheap to find (small frame)."""
    if len(frame) > 4096:
        return None
    try:
        return command_id_of(decode_frame(frame, msgpack=msgpack))
    except ValueError:
        return None
