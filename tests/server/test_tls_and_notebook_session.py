"""wss:// with a certificate, and the in-kernel session (``ws.session``) that panels
use."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path

from websockets.asyncio.client import connect

from tests.server.ws_peer import TIMEOUT
from workspace import Workspace
from workspace.server import RealtimeServer
from workspace.session import Message
from workspace.tls import server_context


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_serves_wss(workspace: Workspace, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = RealtimeServer(workspace.engine, port=0, ssl_context=server_context(cert, key))
    async with server:
        assert server.url.startswith("wss://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        async with connect(server.url, ssl=trust) as websocket:
            status = json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))
            assert status["type"] == "STATUS"


async def test_the_notebook_session_answers_requests_and_streams_to_listeners(
    workspace: Workspace,
) -> None:
    session = workspace.session
    heard: asyncio.Queue[Message] = asyncio.Queue()
    stop = session.listen(heard.put_nowait)
    reply = await session.request({"action": "subscribe_ticker", "symbol": "ethusdt", "id": 1})
    assert (reply["type"], reply["symbol"], reply["id"]) == ("SUBSCRIBED", "ETHUSDT", 1)
    while (message := await asyncio.wait_for(heard.get(), TIMEOUT))["type"] != "MARKET_UPDATE":
        pass
    assert message["symbol"] == "ETHUSDT"
    error = await session.request({"action": "place_order", "symbol": "ETHUSDT"})
    assert (error["type"], error["code"]) == ("ERROR", "INVALID_PARAMS")
    stop()
