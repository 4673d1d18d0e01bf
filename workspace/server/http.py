"""Plain HTTP on the WebSocket port: ``GET /`` and ``GET /health`` as JSON, 404 for
any path that is not the WebSocket endpoint, and the handshake's 401/403 answers."""

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
