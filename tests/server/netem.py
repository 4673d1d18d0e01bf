"""A TCP proxy on 127.0.0.1 that delays what the client sends (its uplink) by a fixed
time, like ``tc netem delay`` on one direction, and can cut every connection through
it.  Real sockets both ways; bytes keep their order; downlink is not delayed.

Shared by the server and client tests (``from tests.server.netem import UplinkDelay``).
"""

from __future__ import annotations

import asyncio
import contextlib


class UplinkDelay:
    def __init__(self, target_port: int, delay_s: float) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> UplinkDelay:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in tuple(self._links):
            task.cancel()
        for task in tuple(self._links):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, path: str = "/api/ws/realtime") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def cut(self) -> None:
        """Drop every connection through the proxy at once (both sides see a reset)."""
        for writer in tuple(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            self._links.discard(task)
            return
        self._writers.update((client_w, server_w))
        up = asyncio.create_task(self._delayed(client_r, server_w))
        down = asyncio.create_task(self._pipe(server_r, client_w))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for side in (up, down):
                side.cancel()
            for writer in (client_w, server_w):
                writer.transport.abort()
                self._writers.discard(writer)
            self._links.discard(task)

    async def _delayed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Each chunk leaves ``delay_s`` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def release() -> None:
            while True:
                due, chunk = await pending.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # the delay being simulated, not a sync
                if not chunk:
                    writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        releaser = asyncio.create_task(release())
        try:
            while chunk := await reader.read(65536):
                pending.put_nowait((loop.time() + self.delay_s, chunk))
            pending.put_nowait((loop.time() + self.delay_s, b""))
            await releaser
        finally:
            releaser.cancel()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
