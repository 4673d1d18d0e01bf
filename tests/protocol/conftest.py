"""A small in-test EngineApi for the pure protocol tests: the real hub and outboxes for
delivery, plain dicts for orders.  The server and client tests use the real engine."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Collection, Iterator
from decimal import Decimal

import pytest

from workspace.engine.hub import Hub
from workspace.errors import InvalidParams, InvalidSymbol, NotFound
from workspace.protocol.messages import now_ms
from workspace.protocol.outbox import Outbox
from workspace.session import Listener, Message
from workspace.trading.requests import OrderRequest

LISTED = {"BTCUSDT", "ETHUSDT", "BNBUSDT"}


class FakeEngine:
    def __init__(self) -> None:
        self.hub = Hub()
        self.refs: dict[str, int] = {}
        self.journal: list[Message] = []
        self.pages_read = 0  # journal pages a resume read (bounded work)
        self.orders: dict[str, Message] = {}
        self.latest: dict[str, Message] = {}
        self.ticks: list[Message] = []
        self._ids = itertools.count(1)
        self.server_clients = 0
        self.journal_id = "journal-1"
        self.books: dict[str, int] = {}
        self.book_messages: dict[str, Message] = {}
        # Set to make releasing a symbol wait (a feed's UNSUBSCRIBE round trip).
        self.release_gate: asyncio.Event | None = None

    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> Outbox:
        return self.hub.subscribe(symbols)

    async def acquire_symbol(self, symbol: str) -> str:
        symbol = symbol.upper()
        if symbol not in LISTED:
            raise InvalidSymbol(f"{symbol} is not listed")
        self.refs[symbol] = self.refs.get(symbol, 0) + 1
        return symbol

    async def release_symbol(self, symbol: str) -> None:
        if self.release_gate is not None:
            await self.release_gate.wait()
        self.refs[symbol] -= 1
        if not self.refs[symbol]:
            del self.refs[symbol]

    def market_update(self, symbol: str) -> Message | None:
        return self.latest.get(symbol)

    async def acquire_book(self, symbol: str) -> str:
        symbol = await self.acquire_symbol(symbol)
        self.books[symbol] = self.books.get(symbol, 0) + 1
        return symbol

    async def release_book(self, symbol: str) -> None:
        self.books[symbol] -= 1
        if not self.books[symbol]:
            del self.books[symbol]
        await self.release_symbol(symbol)

    def book_update(self, symbol: str) -> Message | None:
        return self.book_messages.get(symbol)

    def book(self, symbol: str, levels: int = 20, top: float = 100.0) -> Message:
        """Publish a BOOK_UPDATE of ``levels`` levels a side around ``top``."""
        message: Message = {
            "type": "BOOK_UPDATE",
            "symbol": symbol,
            "bids": [[top - n, 1.0 + n] for n in range(levels)],
            "asks": [[top + 1 + n, 1.0 + n] for n in range(levels)],
            "lastUpdateId": len(self.ticks),
            "timestamp": now_ms(),
        }
        self.book_messages[symbol] = message
        self.hub.publish(message)
        return message

    async def candles_message(self, symbol: str, interval: str, limit: int) -> Message:
        if symbol not in LISTED:
            raise InvalidSymbol(f"{symbol} is not listed")
        candles = [[60_000 * n, 1.0, 2.0, 0.5, 1.5, 10.0] for n in range(3)][-limit:]
        return {
            "type": "CANDLES",
            "symbol": symbol,
            "interval": interval,
            "candles": candles,
            "timestamp": now_ms(),
        }

    def symbol_info(self, symbol: str) -> Message | None:
        return None  # no exchange listing behind this fake

    def tick(self, symbol: str, price: float) -> Message:
        message: Message = {
            "type": "MARKET_UPDATE",
            "symbol": symbol,
            "price": price,
            "priceChange": 0.0,
            "priceChangePercent": 0.0,
            "high": price,
            "low": price,
            "volume": 1.0,
            "timestamp": now_ms(),
        }
        self.latest[symbol] = message
        self.ticks.append({**message, "replay": True})
        self.hub.publish(message)
        return message

    def status_message(self) -> Message:
        return {
            "type": "STATUS",
            "feed": "connected",
            "source": "sim",
            "journal_id": self.journal_id,
            "timestamp": now_ms(),
        }

    def portfolio_message(self) -> Message:
        portfolio = {
            "balance": 10000.0,
            "total_pnl": 0.0,
            "positions_count": 0,
            "realized_pnl": 0.0,
        }
        return {"type": "PORTFOLIO_UPDATE", "portfolio": portfolio, "timestamp": now_ms()}

    def positions_message(self) -> Message:
        return {"type": "POSITION_UPDATE", "positions": [], "timestamp": now_ms()}

    def orders_message(self, status: str | None = None) -> Message:
        orders = [
            o
            for o in self.orders.values()
            if (status is None and o["status"] == "NEW") or status in (o["status"], "ALL")
        ]
        return {
            "type": "ORDERS",
            "orders": orders,
            "seq": self.seq,
            "journal_id": self.journal_id,
            "timestamp": now_ms(),
        }

    @property
    def seq(self) -> int:
        return len(self.journal)

    def order_events_since(self, seq: int) -> list[Message]:
        return self.journal[seq:]

    def order_update_pages(
        self, since: int, page_size: int = 500, until: int | None = None
    ) -> Iterator[list[Message]]:
        events = self.journal[since : until if until is not None else len(self.journal)]
        for start in range(0, len(events), page_size):
            self.pages_read += 1
            yield events[start : start + page_size]

    def health(self) -> dict[str, object]:
        return {"healthy": True, "journal": "ok", "feed": "connected"}

    def _event(self, order: Message) -> Message:
        event: Message = {
            "type": "ORDER_UPDATE",
            "orderType": order["type"],
            "seq": self.seq + 1,
            "order": dict(order),
            "timestamp": now_ms(),
        }
        self.journal.append(event)
        self.hub.publish(event)
        return event

    @contextlib.asynccontextmanager
    async def market_for(
        self, request: OrderRequest, *, within_s: float | None = None
    ) -> AsyncIterator[None]:
        yield

    def place_order(self, request: OrderRequest) -> Message:
        order: Message = {
            "id": f"order-{next(self._ids)}",
            "symbol": request.symbol,
            "side": str(request.side),
            "type": str(request.type),
            "quantity": float(request.quantity or 0),  # (0: sized by a quote amount)
            "filled_quantity": 0.0,
            "status": "NEW",
        }
        self.orders[order["id"]] = order
        return self._event(order)

    def cancel_order(self, order_id: str) -> Message:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        if order["status"] != "NEW":
            raise InvalidParams("order is final")
        order["status"] = "CANCELED"
        return self._event(order)

    def fill(self, order_id: str) -> Message:
        order = self.orders[order_id]
        order["status"] = "FILLED"
        return self._event(order)

    def close_position(self, position_id: str, quantity: Decimal | None = None) -> Message:
        raise NotFound(f"no position {position_id}")

    async def replay_ticks(
        self, symbol: str, start_ms: int, end_ms: int, speed: float
    ) -> AsyncIterator[Message]:
        for tick in self.ticks:
            if tick["symbol"] == symbol and start_ms <= tick["timestamp"] <= end_ms:
                yield tick


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()
