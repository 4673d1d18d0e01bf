"""A raw WebSocket client for the scale-out tests: sends dicts, awaits messages by
predicate (never sleeps), keeps everything it received."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 15.0


class Peer:
    def __init__(self, websocket: ClientConnection) -> None:
        self.ws = websocket
        self.seen: list[dict[str, Any]] = []
        self._ids = 0

    @classmethod
    async def open(cls, url: str, token: str | None = None, query: str = "") -> Peer:
        params = "&".join(p for p in (f"token={token}" if token else "", query) if p)
        websocket = await connect(
            url + (f"?{params}" if params else ""), open_timeout=TIMEOUT, close_timeout=0.5
        )
        return cls(websocket)

    async def send(self, command: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(command))

    async def recv(self, timeout_s: float | None = TIMEOUT) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout_s)
        message: dict[str, Any] = json.loads(frame)
        self.seen.append(message)
        return message

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = TIMEOUT
    ) -> dict[str, Any]:
        """The first message ``predicate`` accepts, within ``timeout_s`` in all (market
        data flowing meanwhile does not extend it)."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self.recv(None)  # a quiet spell is bounded by timeout_s
                if predicate(message):
                    return message

    async def reply(self, command: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        command_id = command.setdefault("id", f"c{self._ids}")
        await self.send(command)
        return await self.until(lambda m: m.get("id") == command_id)

    async def closed_after_error(self) -> tuple[dict[str, Any], int | None, str]:
        """The ERROR the server sends before it closes this connection (a revoked
        token), then the close code and reason."""
        error = await self.until(lambda m: m["type"] == "ERROR")
        try:
            # never true: it ends when the connection closes (or times out if it stays open)
            await self.until(lambda _: False)
        except ConnectionClosed:
            return error, self.ws.close_code, self.ws.close_reason or ""
        raise AssertionError("unreachable: until() returned for a predicate never true")

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        """The four messages a connection starts with, by type."""
        return {m["type"]: m for m in [await self.recv() for _ in range(4)]}

    async def close(self) -> None:
        await self.ws.close()


def below(price: float, tick: str, fraction: str = "0.9") -> str:
    """A limit price ``fraction`` of ``price``, on the tick grid (rests in the book)."""
    step = Decimal(tick)
    steps = (Decimal(str(price)) * Decimal(fraction) / step).to_integral_value(ROUND_DOWN)
    return str(steps * step)
