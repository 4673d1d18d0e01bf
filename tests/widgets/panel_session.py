"""A TradingSession that replays scripted messages and answers commands from a table,
for exact panel-state checks without an engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from workspace.session import Command, Listener, Message

Handler = Callable[[Command], Message]


def market(symbol: str, price: float, ts: int, **extra: Any) -> Message:
    return {
        "type": "MARKET_UPDATE",
        "symbol": symbol,
        "price": price,
        "priceChange": extra.pop("priceChange", 1.5),
        "priceChangePercent": extra.pop("priceChangePercent", 0.5),
        "high": extra.pop("high", price + 10),
        "low": extra.pop("low", price - 10),
        "volume": extra.pop("volume", 1234.5),
        "timestamp": ts,
        **extra,
    }


def order_update(order: dict[str, Any], seq: int = 1, ts: int = 1_000) -> Message:
    return {
        "type": "ORDER_UPDATE",
        "orderType": order.get("type", "MARKET"),
        "seq": seq,
        "order": order,
        "timestamp": ts,
    }


class ScriptedSession:
    def __init__(self, handlers: dict[str, Handler] | None = None) -> None:
        self.listeners: list[Listener] = []
        self.requests: list[Command] = []
        self.handlers: dict[str, Handler] = {
            "get_positions": lambda c: {"type": "POSITION_UPDATE", "positions": [], "timestamp": 1},
            "get_portfolio": lambda c: {
                "type": "PORTFOLIO_UPDATE",
                "portfolio": {
                    "balance": 10_000.0,
                    "total_pnl": 0.0,
                    "positions_count": 0,
                    "realized_pnl": 0.0,
                },
                "timestamp": 1,
            },
            "get_orders": lambda c: {"type": "ORDERS", "orders": [], "seq": 0, "timestamp": 1},
            "subscribe_ticker": lambda c: {
                "type": "SUBSCRIBED",
                "symbol": c["symbol"].upper(),
                "timestamp": 1,
            },
            "unsubscribe_ticker": lambda c: {
                "type": "UNSUBSCRIBED",
                "symbol": c["symbol"].upper(),
                "timestamp": 1,
            },
            **(handlers or {}),
        }

    def listen(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, *messages: Message) -> None:
        for message in messages:
            for listener in list(self.listeners):
                listener(message)

    async def stream(self) -> AsyncIterator[Message]:  # pragma: no cover - panels use listen
        queue: asyncio.Queue[Message] = asyncio.Queue()
        stop = self.listen(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            stop()

    async def request(self, command: Command) -> Message:
        self.requests.append(command)
        handler = self.handlers.get(command["action"])
        if handler is None:
            return {"type": "ERROR", "code": "UNKNOWN_ACTION", "message": command["action"]}
        return handler(command)

    def actions(self) -> list[str]:
        return [c["action"] for c in self.requests]
