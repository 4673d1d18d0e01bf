"""Fixtures for the server tests: a real engine on the simulator (fast cadences), a
real server on 127.0.0.1:0, and raw WebSocket peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.server.ws_peer import TIMEOUT, Peer, PeerFactory, start_workspace
from workspace import Workspace
from workspace.server import RealtimeServer, ServerLimits


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    ws = await start_workspace(tmp_path / "journal.db")
    yield ws
    await ws.stop()


@pytest.fixture
def limits() -> ServerLimits:
    return ServerLimits()


@pytest.fixture
async def server(workspace: Workspace, limits: ServerLimits) -> AsyncIterator[RealtimeServer]:
    async with RealtimeServer(workspace.engine, port=0, limits=limits) as running:
        yield running


@pytest.fixture
async def peer(server: RealtimeServer) -> AsyncIterator[PeerFactory]:
    """``await peer()`` connects a raw client to the server (closed at teardown)."""
    opened: list[ClientConnection] = []

    async def open_peer(snapshot: bool = True, **kwargs: Any) -> Peer:
        # A test stops reading when it has what it needs; a short close timeout keeps
        # teardown from waiting for a closing frame queued behind unread messages.
        kwargs.setdefault("close_timeout", 0.5)
        websocket = await connect(server.url, open_timeout=TIMEOUT, **kwargs)
        opened.append(websocket)
        client = Peer(websocket)
        if snapshot:
            await client.snapshot()
        return client

    yield open_peer
    for websocket in opened:
        await websocket.close()
