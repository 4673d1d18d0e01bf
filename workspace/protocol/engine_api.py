"""The contract between the engine (``workspace/engine*``) and the protocol layer
(``workspace/protocol/``, the server and the in-kernel session).

The engine implements ``EngineApi``; ``ProtocolSession`` (one per server connection,
and one inside ``Workspace`` for the notebook) consumes it.  Everything crossing this
boundary is a PROTOCOL.md message dict (wire shape, JSON numbers as ``float``/``int``)
or a plain value, so the protocol layer never touches account objects.

Errors are raised as ``workspace.errors`` exceptions; the protocol layer turns them into
``ERROR`` messages with the exception's ``code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from decimal import Decimal
from typing import Protocol

from workspace.session import Listener, Message
from workspace.trading.requests import OrderRequest


class Subscription(Protocol):
    """One subscriber's view of the engine's message stream.

    Delivery rules (the hub enforces them): ``MARKET_UPDATE`` only for ``symbols``
    (``None`` = every symbol) and conflated per symbol, latest wins; ``POSITION_UPDATE``,
    ``PORTFOLIO_UPDATE`` and ``STATUS`` conflated per type; every other message
    (``ORDER_UPDATE``, ``ALERT``, anything ``put`` here) kept in order, never dropped.
    A slow subscriber never slows the engine or other subscribers.
    """

    symbols: set[str] | None

    def put(self, message: Message) -> None:
        """Queue a message for this subscriber only (direct replies, ``ALERT``)."""
        ...

    async def get(self) -> Message: ...

    def __aiter__(self) -> AsyncIterator[Message]: ...

    def close(self) -> None: ...

    @property
    def conflated(self) -> int:
        """How many market messages were replaced by newer ones before delivery."""
        ...


class EngineApi(Protocol):
    # -- the message stream ------------------------------------------------------
    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> Subscription:
        """A new subscription; with ``listener`` the engine drains it into the
        listener in a task of its own (sync or async listener)."""
        ...

    # -- market data ---------------------------------------------------------------
    async def acquire_symbol(self, symbol: str) -> str:
        """Make sure the feed streams ``symbol`` (reference counted); returns the
        normalised upper-case symbol.  Raises ``InvalidSymbol``."""
        ...

    async def release_symbol(self, symbol: str) -> None: ...

    def market_update(self, symbol: str) -> Message | None:
        """The latest ``MARKET_UPDATE`` for ``symbol``, if any (a new subscriber
        gets it at once instead of waiting for the next tick)."""
        ...

    def symbol_info(self, symbol: str) -> Message | None:
        """The exchange's trading rules for ``symbol`` (BRIEF interface 1: tick and lot
        sizes as decimal strings, precisions, minimums, status), or ``None`` while
        unknown; the ``SUBSCRIBED`` reply carries it as ``symbol_info``."""
        ...

    # -- snapshots ---------------------------------------------------------------
    def status_message(self) -> Message: ...

    def portfolio_message(self) -> Message: ...

    def positions_message(self) -> Message: ...

    def orders_message(self, status: str | None = None) -> Message:
        """``ORDERS`` with ``seq``; ``status=None`` means the open orders."""
        ...

    @property
    def seq(self) -> int:
        """The journal's last order-event ``seq``."""
        ...

    def order_events_since(self, seq: int) -> list[Message]:
        """Every ``ORDER_UPDATE`` with ``seq`` > ``seq``, in order, from the journal."""
        ...

    # -- commands ----------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> Message:
        """The ``ORDER_UPDATE`` of the new order (status NEW, or REJECTED with
        ``reason``).  The same event is also published to every subscriber."""
        ...

    def cancel_order(self, order_id: str) -> Message:
        """``ORDER_UPDATE`` (CANCELED).  Raises ``NotFound``, or ``InvalidParams``
        for an order that is already final."""
        ...

    def close_position(self, position_id: str, quantity: Decimal | None = None) -> Message:
        """``ORDER_UPDATE`` of the closing market order.  Raises ``NotFound``."""
        ...

    def replay_ticks(
        self, symbol: str, start_ms: int, end_ms: int, speed: float
    ) -> AsyncIterator[Message]:
        """Recorded ``MARKET_UPDATE``s (with ``"replay": true``) in time order, paced
        by ``speed`` (0 = as fast as the consumer reads)."""
        ...

    # Connected server clients (0 when not serving); the status panel shows it.  The
    # server writes it on every connect and disconnect, so it is an attribute.
    server_clients: int
