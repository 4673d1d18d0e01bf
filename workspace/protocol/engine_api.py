"""The contract between the engine (``workspace/engine*``) and the protocol layer
(``workspace/protocol/``, the server and the in-kernel session).

The engine implements ``EngineApi``; ``ProtocolSession`` (one per server connection,
and one inside ``Workspace`` for the notebook) consumes it.  Everything crossing this
boundary is a PROTOCOL.md message dict (wire shape, JSON numbers as ``float``/``int``)
or a plain value, so the protocol layer never touches account objects.

A gateway of the multi-user design implements the same contract from Redis streams
instead of an in-process engine: the session, the outbox and the connection are the
same.

Errors are raised as ``workspace.errors`` exceptions; the protocol layer turns them into
``ERROR`` messages with the exception's ``code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

from workspace.protocol.outbox import Outbox
from workspace.session import Listener, Message
from workspace.trading.requests import OrderRequest

Subscription = Outbox
"""One subscriber's view of the engine's message stream: an ``Outbox`` fed by the
engine's hub.  Delivery rules (``workspace/protocol/outbox.py``): replies and order
events first, in order, never dropped; ``POSITION_UPDATE`` / ``PORTFOLIO_UPDATE`` /
``STATUS`` latest per type; ``MARKET_UPDATE`` for ``symbols`` and ``BOOK_UPDATE`` for
``books``, latest per symbol.  A slow subscriber never slows the engine or another."""


class EngineApi(Protocol):
    # -- the message stream ------------------------------------------------------
    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> Outbox:
        """A new outbox on the engine's hub, taking the ``MARKET_UPDATE``s of
        ``symbols`` (``None``: every symbol) and every broadcast; with ``listener`` the
        engine drains it into the listener in a task of its own."""
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

    async def acquire_book(self, symbol: str) -> str:
        """Make sure the engine keeps ``symbol``'s order book and publishes its
        ``BOOK_UPDATE``s (20 levels a side; reference counted).  Raises
        ``InvalidSymbol``."""
        ...

    async def release_book(self, symbol: str) -> None: ...

    def book_update(self, symbol: str) -> Message | None:
        """The latest ``BOOK_UPDATE`` for ``symbol`` (20 levels), if the engine has
        one."""
        ...

    async def candles_message(self, symbol: str, interval: str, limit: int) -> Message:
        """``CANDLES`` ``{symbol, interval, candles: [[open_time_ms, open, high, low,
        close, volume], ...]}``, oldest first, at most ``limit``.  Raises
        ``InvalidSymbol``."""
        ...

    def symbol_info(self, symbol: str) -> Message | None:
        """The exchange's trading rules for ``symbol`` (BRIEF interface 1: tick and lot
        sizes as decimal strings, precisions, minimums, status), or ``None`` while
        unknown; the ``SUBSCRIBED`` reply carries it as ``symbol_info``."""
        ...

    # -- snapshots ---------------------------------------------------------------
    def status_message(self) -> Message:
        """``STATUS``, with ``journal_id``."""
        ...

    def portfolio_message(self) -> Message: ...

    def positions_message(self) -> Message: ...

    def orders_message(self, status: str | None = None) -> Message:
        """``ORDERS`` with ``seq`` and ``journal_id``; ``status=None`` means the open
        orders."""
        ...

    @property
    def seq(self) -> int:
        """The journal's last ``seq``."""
        ...

    @property
    def journal_id(self) -> str:
        """Identifies the account's journal: another journal (a new in-memory one, a
        different file, a wiped database) has another id, so a client can tell that
        its ``seq`` means nothing here."""
        ...

    def order_update_pages(
        self, since: int, page_size: int = 500, until: int | None = None
    ) -> Iterator[list[Message]]:
        """The ``ORDER_UPDATE``s with ``since`` < seq (<= ``until``), in ``seq`` order,
        in pages of at most ``page_size``, each read when the iterator is advanced
        (nothing held open between pages): a resume streams a long history in steps,
        the loop running other work between them."""
        ...

    def health(self) -> Mapping[str, object]:
        """What ``/health`` reports: ``healthy`` (bool: False while the journal cannot
        write or no market data flows), ``journal`` (``ok``/``degraded``), ``feed``
        (STATUS's feed state), and what else explains them (``journal_reason``,
        ``feed_reason``, ``problems``, ``last_gap``, ``last_price_ms``)."""
        ...

    # -- commands ----------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> Message:
        """The ``ORDER_UPDATE`` of the new order (status NEW, or REJECTED with
        ``reason``).  The same event is published to every subscriber first."""
        ...

    def market_for(
        self, request: OrderRequest, *, within_s: float | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Entered around ``place_order``: an order on a symbol with no market yet
        first waits for the symbol's first price or book, and one sized against the
        market at once (a MARKET order by its quote quantity) for a fresh one (the
        engine follows the symbol meanwhile), at most ``market_wait_ms`` or
        ``within_s`` if shorter."""
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
