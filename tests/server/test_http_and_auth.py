"""Plain HTTP on the WebSocket port, the Origin allow-list (403) and the token (401)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from tests.server.ws_peer import TIMEOUT, http_get
from workspace import Workspace
from workspace.errors import Unauthorized
from workspace.server import RealtimeServer


@pytest.mark.parametrize("path", ["/", "/health"])
async def test_root_and_health_answer_json_status(server: RealtimeServer, path: str) -> None:
    status, headers, body = await http_get(server.port, path)
    assert status == 200
    assert headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["feed"] in {"connected", "reconnecting", "down"}
    assert health["clients"] == 0
    assert isinstance(health["uptime_s"], float | int)


@pytest.mark.parametrize(
    "path", ["/nope", "/api/ws", "/api/ws/realtime/x", "/health/x", "//health", "//api/ws/realtime"]
)
async def test_other_paths_are_404(server: RealtimeServer, path: str) -> None:
    status, _, body = await http_get(server.port, f"{path}?x=1")
    assert status == 404
    # the path is named as asked ('//health' was read as a host and said 'no ')
    assert json.loads(body) == {"type": "ERROR", "code": "NOT_FOUND", "message": f"no {path}"}


async def test_a_long_path_is_named_cut_short(server: RealtimeServer) -> None:
    status, _, body = await http_get(server.port, "/" + "a" * 300)
    assert status == 404
    assert json.loads(body)["message"] == "no /" + "a" * 199 + "..."


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"),
        ("PUT", "/api/ws/realtime", "GET"),
        ("HEAD", "/api/ws/realtime", "GET"),
    ],
)
async def test_a_method_a_path_does_not_take_is_405(
    server: RealtimeServer, method: str, path: str, allow: str
) -> None:
    """A POST to /health answered 200, as if it had done something."""
    status, headers, body = await http_get(server.port, path, method=method)
    assert (status, headers["allow"]) == (405, allow)
    if method != "HEAD":
        assert json.loads(body)["code"] == "METHOD_NOT_ALLOWED"
    status, _, _ = await http_get(server.port, "/health", method="HEAD")
    assert status == 200


async def test_health_counts_connected_clients(server: RealtimeServer) -> None:
    async with connect(server.url) as websocket:
        await asyncio.wait_for(websocket.recv(), TIMEOUT)
        _, _, body = await http_get(server.port, "/health")
        assert json.loads(body)["clients"] == 1


@pytest.fixture
async def guarded(workspace: Workspace) -> AsyncIterator[RealtimeServer]:
    server = RealtimeServer(
        workspace.engine, port=0, token="s3cret", origins="http://allowed.example, http://b.example"
    )
    async with server:
        yield server


async def handshake_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=TIMEOUT, **kwargs):
            pass
    return info.value.response.status_code


async def test_wrong_or_missing_token_is_http_401(guarded: RealtimeServer) -> None:
    origin = {"origin": "http://allowed.example"}
    assert await handshake_status(guarded.url, **origin) == 401
    assert await handshake_status(guarded.url + "?token=wrong", **origin) == 401
    bearer = {"Authorization": "Bearer wrong"}
    assert await handshake_status(guarded.url, additional_headers=bearer, **origin) == 401


async def test_token_in_query_or_bearer_header_is_accepted(guarded: RealtimeServer) -> None:
    async with connect(guarded.url + "?token=s3cret") as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"
    headers = {"Authorization": "Bearer s3cret"}
    async with connect(guarded.url, additional_headers=headers) as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"


async def test_two_different_tokens_are_http_400_not_one_of_them_taken(
    guarded: RealtimeServer,
) -> None:
    # the header's token was used and the query's ignored (or the first of two in the
    # query): with users, a client could have acted as another user than it meant to
    right = {"Authorization": "Bearer s3cret"}
    assert await handshake_status(guarded.url + "?token=other", additional_headers=right) == 400
    assert await handshake_status(guarded.url + "?token=s3cret&token=other") == 400
    status, _, body = await http_get(guarded.port, "/api/ws/realtime?token=a&token=b")
    assert status == 400
    assert json.loads(body)["message"] == "two different tokens in the query string: give one"
    # the same token twice is one token
    async with connect(guarded.url + "?token=s3cret", additional_headers=right) as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"


async def test_wrong_origin_is_http_403_and_listed_origin_passes(guarded: RealtimeServer) -> None:
    url = guarded.url + "?token=s3cret"
    assert await handshake_status(url, origin="http://evil.example") == 403
    async with connect(url, origin=Origin("http://b.example")) as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"


async def test_a_non_loopback_bind_without_token_is_refused(workspace: Workspace) -> None:
    with pytest.raises(Unauthorized):
        await RealtimeServer(workspace.engine, host="0.0.0.0", port=0).start()


async def test_a_non_loopback_bind_with_token_serves(workspace: Workspace) -> None:
    server = await RealtimeServer(workspace.engine, host="0.0.0.0", port=0, token="t").start()
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/api/ws/realtime?token=t") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "STATUS"
    finally:
        await server.stop()


async def test_ws_serve_runs_the_server_on_the_engines_loop(workspace: Workspace) -> None:
    server = await workspace.serve(port=0)
    async with connect(server.url) as websocket:
        assert json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"] == "STATUS"
