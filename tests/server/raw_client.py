"""A WebSocket client on a bare non-blocking socket, for the tests that need control
of the client's reading: a small receive buffer, reading stopped and resumed at will,
frames parsed by hand (server frames are not masked)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

TIMEOUT = 10.0


def masked_text_frame(text: str) -> bytes:
    """One client-to-server text frame (RFC 6455 requires the mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    length = len(payload)
    header = (
        bytes([0x81, 0x80 | length])
        if length < 126
        else bytes([0x81, 0xFE]) + length.to_bytes(2, "big")
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class Closed(Exception):
    code: int | None
    reason: str


class RawClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.frames = 0

    @classmethod
    async def connect(
        cls, port: int, *, receive_buffer: int | None = None, path: str = "/api/ws/realtime"
    ) -> RawClient:
        """Connect and complete the handshake, reading nothing beyond it."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connecting: it sets the window scale
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        response = b""
        while not response.endswith(b"\r\n\r\n"):  # byte by byte: read nothing beyond it
            response += await asyncio.wait_for(loop.sock_recv(sock, 1), TIMEOUT)
        assert response.startswith(b"HTTP/1.1 101"), response
        return cls(sock)

    async def send(self, command: dict[str, Any]) -> None:
        await asyncio.get_running_loop().sock_sendall(
            self.sock, masked_text_frame(json.dumps(command))
        )

    async def recv(self) -> dict[str, Any]:
        """The next text message; raises ``Closed`` on a closing frame (or EOF)."""
        loop = asyncio.get_running_loop()
        while True:
            parsed = self._parse()
            if parsed is not None:
                opcode, payload = parsed
                self.frames += 1
                if opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    raise Closed(code, payload[2:].decode(errors="replace"))
                if opcode == 0x1:
                    message: dict[str, Any] = json.loads(payload)
                    return message
                continue  # ping / pong
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), TIMEOUT)
            if not chunk:
                raise Closed(None, "EOF")
            self.buffer += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        length, start = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            length, start = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < start + length:
            return None
        opcode = buffer[0] & 0x0F
        payload = bytes(buffer[start : start + length])
        del buffer[: start + length]
        return opcode, payload

    def close(self) -> None:
        self.sock.close()
