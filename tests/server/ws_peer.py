"""A raw WebSocket peer for the server tests: sends dicts, awaits messages by
predicate (never sleeps), and a real engine on the simulator with fast cadences."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from workspace import Workspace
from workspace.engine.config import EngineConfig

TIMEOUT = 10.0
FAST = EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2, tick_flush_interval_s=0.1)


class Peer:
    """A raw client: sends dicts, awaits messages by predicate (never sleeps)."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.ws = websocket
        self.seen: list[dict[str, Any]] = []

    async def send(self, command: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(command if isinstance(command, str | bytes) else json.dumps(command))

    async def recv(self) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        message: dict[str, Any] = json.loads(frame)
        assert isinstance(message["timestamp"], int), message
        self.seen.append(message)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message = await self.recv()
            if predicate(message):
                return message

    async def reply(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send ``command`` with a fresh id and await the message echoing it."""
        command_id = command.setdefault("id", f"t{id(command)}")
        await self.send(command)
        return await self.until(lambda m: m.get("id") == command_id)

    async def snapshot(self) -> list[dict[str, Any]]:
        return [await self.recv() for _ in range(4)]


async def start_workspace(db: Path | None = None, **options: Any) -> Workspace:
    workspace = Workspace(feed="sim", db=db, engine=FAST, **options)
    await workspace.start()
    return workspace


PeerFactory = Callable[..., Awaitable[Peer]]


async def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, *, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP/1.1 request, GET unless told (no client library between the test and
    the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), parsed, body
