"""Plain HTTP on the WebSocket port: ``GET /`` and ``GET /health`` as JSON, 404 for
any path that is not the WebSocket endpoint, 405 for a method a path does not take,
and the handshake's 401/403 answers."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

WS_PATH = "/api/ws/realtime"
HEALTH_PATHS = ("/", "/health")


def json_response(
    connection: ServerConnection, status: HTTPStatus, body: dict[str, Any]
) -> Response:
    response = connection.respond(status, json.dumps(body) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_response(
    connection: ServerConnection, status: HTTPStatus, code: str, message: str
) -> Response:
    return json_response(connection, status, {"type": "ERROR", "code": code, "message": message})


def method_refused(connection: ServerConnection, method: str, path: str) -> Response | None:
    """405 for a method the path does not take: the health paths are read (GET, HEAD),
    the WebSocket endpoint is a GET handshake.  A POST to ``/health`` answered 200 as if
    it had done something."""
    allowed = ("GET",) if path == WS_PATH else ("GET", "HEAD")
    if method in allowed:
        return None
    response = error_response(
        connection,
        HTTPStatus.METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        f"{method[:20]} is not served on {path}: {' or '.join(allowed)}",
    )
    response.headers["Allow"] = ", ".join(allowed)
    return response
