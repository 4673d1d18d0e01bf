"""``Outbox``: one subscriber's bounded, prioritised queue of outgoing messages.

The delivery rules of PROTOCOL.md ("Delivery") live here, in one place, for every
consumer: a server connection, the notebook's session, an engine listener, and (in
the multi-user design) a gateway's connection fed from Redis instead of the engine.

==========  ==========================================================  ===================
lane        holds                                                       bound
==========  ==========================================================  ===================
urgent      direct replies, ``ORDER_UPDATE``, ``ALERT``, errors, the    ``max_pending``,
            snapshot: in order, never dropped                           then closed
state       ``POSITION_UPDATE`` / ``PORTFOLIO_UPDATE`` / ``STATUS``      one per type
            broadcasts: latest wins
market      ``MARKET_UPDATE`` per symbol, ``BOOK_UPDATE`` per symbol:   one per symbol
            latest wins, in the slot of the first one still queued      and kind
bulk        replayed ticks, then their ``REPLAY_DONE``: in order;        ``bulk_limit``
            the producer awaits room
==========  ==========================================================  ===================

:meth:`Outbox.take` empties the lanes in that order, so a consumer that takes only when
its socket can take data never holds anything but the latest market state behind its
order events: a reader that comes back after any pause gets its events, then fresh
prices.  A consumer that falls ``max_pending`` unconflatable messages behind is closed
(``overflowed``), loudly: it must resume from its last ``seq`` rather than silently miss
an event.

Consumers are told about new messages by a :class:`Doorbell`, at most once per loop
turn and never in the middle of the synchronous step that queued them (so an engine
call that publishes an order event and then returns the command's reply can put the
reply in the event's place before anything is written).

Pure asyncio, no engine, no sockets: the fan-out that feeds an outbox (the engine's
``Hub``) sees it through the ``Router`` protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Collection, Hashable, Mapping
from typing import Protocol

from workspace.protocol.conflation import SubscriptionClosed, SubscriptionOverflow
from workspace.session import Message

_log = logging.getLogger("workspace.protocol")

STATE_TYPES = frozenset({"POSITION_UPDATE", "PORTFOLIO_UPDATE", "STATUS"})
BOOK_DEPTHS = (5, 10, 20)
BOOK_KEY = "BOOK_UPDATE"

MarketWatcher = Callable[[Message], None]


class Router(Protocol):
    """What an outbox tells the fan-out that feeds it (the engine's ``Hub``)."""

    def reindex(self, outbox: Outbox) -> None:
        """The outbox's symbols, books or watched symbols changed."""
        ...

    def discard(self, outbox: Outbox) -> None:
        """The outbox closed: feed it nothing more."""
        ...


class Doorbell:
    """Wakes the consumers of the outboxes that got something, once per loop turn.

    A burst of publishes (a feed frame, a list of order events) rings each outbox's
    consumer once, after the synchronous code that queued the burst has returned.
    """

    __slots__ = ("_rung", "_scheduled")

    def __init__(self) -> None:
        self._rung: list[Outbox] = []
        self._scheduled = False

    def ring(self, outbox: Outbox) -> None:
        self._rung.append(outbox)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nobody can be waiting; consumers poll
            self.deliver()
            return
        self._scheduled = True
        loop.call_soon(self.deliver)

    def deliver(self) -> None:
        self._scheduled = False
        rung, self._rung = self._rung, []
        for outbox in rung:
            try:
                outbox.deliver()
            except Exception:  # one consumer's failure must not starve the others
                _log.exception("an outbox consumer failed; closing it")
                outbox.close("consumer failed")


class Outbox:
    """Implements ``workspace.protocol.engine_api.Subscription``."""

    def __init__(
        self,
        *,
        max_pending: int = 10_000,
        bulk_limit: int = 256,
        router: Router | None = None,
        doorbell: Doorbell | None = None,
        symbols: Collection[str] | None = (),
    ) -> None:
        if max_pending < 1 or bulk_limit < 1:
            raise ValueError("max_pending and bulk_limit must be >= 1")
        self.max_pending = max_pending
        self.bulk_limit = bulk_limit
        self._router = router
        self._doorbell = doorbell if doorbell is not None else Doorbell()
        # Interest, read by the router's index.
        self._symbols: frozenset[str] | None = (
            None if symbols is None else frozenset(s.upper() for s in symbols)
        )
        self._books: dict[str, int] = {}
        self._watched: frozenset[str] = frozenset()
        self.watcher: MarketWatcher | None = None
        # Lanes.
        self._urgent: deque[Message] = deque()
        self._state: dict[str, Message] = {}
        self._market: OrderedDict[Hashable, Message] = OrderedDict()
        self._bulk: deque[Message] = deque()
        # Live order events still queued, by seq: a reply may take one's place, a
        # resume may take them out to put them back in seq order.
        self._queued_events: dict[int, Message] = {}
        # While a resume streams older events, live ones wait here (None: not holding).
        self._held: deque[Message] | None = None
        # Live events up to this seq are already reflected (the snapshot) or delivered.
        self.live_seq = 0
        # Consumer side.
        self.on_ready: Callable[[], None] | None = None
        self.on_close: Callable[[Outbox], None] | None = None
        self._rung = False
        self._waiters: list[asyncio.Future[None]] = []
        self._bulk_waiters: list[asyncio.Future[None]] = []
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._overflowed = False
        self.close_reason: str | None = None
        self.conflated = 0
        self.taken = 0

    # -- interest ----------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str] | None:
        """Symbols whose ``MARKET_UPDATE``s this outbox takes (None: every symbol)."""
        return self._symbols

    @symbols.setter
    def symbols(self, symbols: Collection[str] | None) -> None:
        new = None if symbols is None else frozenset(s.upper() for s in symbols)
        if new == self._symbols:
            return
        if new is not None:
            for key in [k for k in self._market if isinstance(k, str) and k not in new]:
                del self._market[key]  # an unsubscribed symbol's price is not sent
        self._symbols = new
        self._reindex()

    @property
    def books(self) -> Mapping[str, int]:
        """Books this outbox takes ``BOOK_UPDATE``s of: symbol -> depth (5, 10, 20)."""
        return self._books

    def set_book(self, symbol: str, depth: int | None) -> None:
        """Take ``symbol``'s book at ``depth`` levels; ``None`` stops it."""
        if depth is None:
            if self._books.pop(symbol, None) is None:
                return
            self._market.pop((BOOK_KEY, symbol), None)
        else:
            if depth not in BOOK_DEPTHS:
                raise ValueError(f"depth must be one of {BOOK_DEPTHS}")
            if self._books.get(symbol) == depth:
                return
            self._books[symbol] = depth
        self._reindex()

    @property
    def watched(self) -> frozenset[str]:
        return self._watched

    def watch(self, symbols: Collection[str], watcher: MarketWatcher | None) -> None:
        """Call ``watcher`` with every ``MARKET_UPDATE`` of ``symbols`` as it is
        published, before any conflation (price alerts must see every price)."""
        self.watcher = watcher if symbols else None
        new = frozenset(symbols) if watcher is not None else frozenset()
        if new != self._watched:
            self._watched = new
            self._reindex()

    def _reindex(self) -> None:
        if self._router is not None and not self._closed:
            self._router.reindex(self)

    # -- producer side -------------------------------------------------------------------
    def push(self, message: Message) -> None:
        """Urgent: kept in order, never dropped (direct replies, resumed events, alerts,
        errors, the snapshot)."""
        if self._closed:
            return
        if len(self._urgent) + self.held >= self.max_pending:
            self._overflow()
            return
        kind = message.get("type")
        if kind in STATE_TYPES:
            # A reply is newer than a queued broadcast of its type: do not send the
            # older one after it.
            self._state.pop(kind, None)
        self._urgent.append(message)
        self._ring()

    put = push  # engine_api.Subscription

    def push_event(self, event: Message) -> None:
        """A live ``ORDER_UPDATE`` from the fan-out (published in ``seq`` order):
        urgent, and each ``seq`` at most once."""
        seq = event.get("seq")
        if isinstance(seq, int):
            if seq <= self.live_seq:
                return
            self.live_seq = seq
            if self._closed:
                return
            held = self._held
            if held is not None:  # behind the older events a resume is streaming
                if len(self._urgent) + len(held) >= self.max_pending:
                    self._overflow()
                    return
                self._queued_events[seq] = event
                held.append(event)
                return
            self._queued_events[seq] = event
        self.push(event)

    def reply(self, message: Message) -> None:
        """The direct reply to a command.  An ``ORDER_UPDATE`` reply takes the place of
        its own live event if that is still queued (same ``seq``, same order), so the
        client gets the event once, in ``seq`` order, carrying the command's ``id``."""
        seq = message.get("seq")
        if message.get("type") == "ORDER_UPDATE" and isinstance(seq, int):
            queued = self._queued_events.get(seq)
            if queued is not None and _order_id(queued) == _order_id(message):
                lanes = (self._urgent,) if self._held is None else (self._urgent, self._held)
                for lane in lanes:
                    for index in range(len(lane) - 1, -1, -1):  # it is near the end
                        if lane[index] is queued:
                            lane[index] = message
                            self._queued_events[seq] = message
                            return
        self.push(message)

    def push_state(self, kind: str, message: Message) -> None:
        """A periodic broadcast of account or feed state: only the latest is kept."""
        if self._closed:
            return
        if kind in self._state:
            self.conflated += 1
        self._state[kind] = message
        self._ring()

    def push_market(self, key: Hashable, message: Message) -> None:
        """Market data: only the latest per ``key`` (the symbol, or ``(BOOK_KEY,
        symbol)``) is kept, in the slot of the first one still queued."""
        if self._closed:
            return
        market = self._market
        if key in market:
            self.conflated += 1
        market[key] = message
        if not self._rung:
            self._rung = True
            self._doorbell.ring(self)

    async def push_bulk(self, message: Message) -> bool:
        """Replayed data: in order, never conflated; waits while ``bulk_limit`` items
        are queued (a replay is paced by the consumer, not by memory).  False once the
        outbox is closed."""
        while len(self._bulk) >= self.bulk_limit and not self._closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._bulk_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._bulk_waiters:
                    self._bulk_waiters.remove(waiter)
        if self._closed:
            return False
        self._bulk.append(message)
        self._ring()
        return True

    def take_events(self) -> list[Message]:
        """Take the live order events (and the replies in their place) out of the queue,
        held ones too, in order: a reset's fresh snapshot already reflects them."""
        if self._held is not None:
            self._held.clear()
        if not self._queued_events:
            return []
        taken = self._queued_events
        self._queued_events = {}
        ids = {id(message) for message in taken.values()}
        self._urgent = deque(m for m in self._urgent if id(m) not in ids)
        return [taken[seq] for seq in sorted(taken)]

    def hold_events(self) -> None:
        """From now on live order events wait aside, in ``seq`` order, until
        :meth:`release_events`; those queued and not yet taken join them first.  A
        resume streams the older events meanwhile: no live event overtakes one."""
        if self._held is not None or self._closed:
            return
        self._held = deque()
        if self._queued_events:
            events = self._queued_events
            ids = {id(message) for message in events.values()}
            self._urgent = deque(m for m in self._urgent if id(m) not in ids)
            self._held.extend(events[seq] for seq in sorted(events))

    def release_events(self, after: int = -1) -> int:
        """Queue the held events with ``seq`` > ``after`` (the others the client has
        seen) and stop holding; how many were queued."""
        held, self._held = self._held, None
        if not held:
            return 0
        released = 0
        for event in held:
            seq = event.get("seq")
            if isinstance(seq, int) and seq <= after:
                self._queued_events.pop(seq, None)
                continue
            self._urgent.append(event)
            released += 1
        if released:
            self._ring()
        return released

    @property
    def held(self) -> int:
        """Live order events waiting for a resume to finish."""
        return 0 if self._held is None else len(self._held)

    async def drained(self, below: int) -> None:
        """Return once fewer than ``below`` urgent messages wait to be taken (or the
        outbox closed): a producer of a long stream (a resume) keeps to its consumer's
        pace instead of queueing everything."""
        while len(self._urgent) >= below and not self._closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._drain_waiters:
                    self._drain_waiters.remove(waiter)

    def _ring(self) -> None:
        if not self._rung:
            self._rung = True
            self._doorbell.ring(self)

    def _overflow(self) -> None:
        self._overflowed = True
        _log.warning("a consumer fell %d messages behind and was closed", self.max_pending)
        self.close("fell behind")

    # -- consumer side -------------------------------------------------------------------
    def deliver(self) -> None:
        """The doorbell: tell the consumer (``on_ready``) or wake ``get()``."""
        self._rung = False
        on_ready = self.on_ready
        if on_ready is not None:
            on_ready()
        elif self._waiters:
            self._wake(self._waiters)

    def take(self, limit: int = 64) -> list[Message]:
        """Up to ``limit`` messages, urgent first, then state, market and bulk."""
        out: list[Message] = []
        urgent = self._urgent
        if urgent:
            events = self._queued_events
            while urgent and len(out) < limit:
                message = urgent.popleft()
                if events and message.get("type") == "ORDER_UPDATE":
                    events.pop(message.get("seq"), None)  # type: ignore[arg-type]
                out.append(message)
            if self._drain_waiters:
                self._wake(self._drain_waiters)
            if len(out) >= limit:
                self.taken += len(out)
                return out
        state = self._state
        if state:
            while state and len(out) < limit:
                out.append(state.pop(next(iter(state))))
        market = self._market
        if market:
            room = limit - len(out)
            if len(market) <= room:
                out += market.values()
                market.clear()
            else:
                for _ in range(room):
                    out.append(market.popitem(last=False)[1])
        bulk = self._bulk
        if bulk and len(out) < limit:
            while bulk and len(out) < limit:
                out.append(bulk.popleft())
            if self._bulk_waiters:
                self._wake(self._bulk_waiters)
        self.taken += len(out)
        return out

    def get_nowait(self) -> Message:
        if self._closed:
            self._raise_closed()
        taken = self.take(1)
        if not taken:
            raise asyncio.QueueEmpty
        return taken[0]

    async def get(self) -> Message:
        while True:
            if self._closed:
                self._raise_closed()
            taken = self.take(1)
            if taken:
                return taken[0]
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.get()
        except SubscriptionOverflow:
            raise  # the consumer must learn it missed messages (and resume by seq)
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def close(self, reason: str = "closed") -> None:
        """Drop what is queued, stop being fed, wake every waiter.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self._urgent.clear()
        self._state.clear()
        self._market.clear()
        self._bulk.clear()
        self._queued_events.clear()
        self._held = None
        if self._router is not None:
            self._router.discard(self)
        self._wake(self._waiters)
        self._wake(self._bulk_waiters)
        self._wake(self._drain_waiters)
        on_close = self.on_close
        if on_close is not None:
            on_close(self)

    # -- state -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    @property
    def pending(self) -> int:
        return len(self._urgent) + len(self._state) + len(self._market) + len(self._bulk)

    def __len__(self) -> int:
        return self.pending

    def __bool__(self) -> bool:  # an empty outbox is still an outbox
        return True

    def lanes(self) -> dict[str, int]:
        """How many messages wait in each lane (for tests and ``/health``)."""
        return {
            "urgent": len(self._urgent),
            "state": len(self._state),
            "market": len(self._market),
            "bulk": len(self._bulk),
            "held": self.held,
        }

    def _raise_closed(self) -> None:
        if self._overflowed:
            raise SubscriptionOverflow(
                f"consumer fell more than {self.max_pending} messages behind"
            )
        raise SubscriptionClosed(self.close_reason or "closed")

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()


def trim_book(message: Message, depth: int) -> Message:
    """A ``BOOK_UPDATE`` with its top ``depth`` levels a side (itself if it has no more)."""
    bids, asks = message.get("bids"), message.get("asks")
    if (not isinstance(bids, list) or len(bids) <= depth) and (
        not isinstance(asks, list) or len(asks) <= depth
    ):
        return message
    trimmed = dict(message)
    if isinstance(bids, list):
        trimmed["bids"] = bids[:depth]
    if isinstance(asks, list):
        trimmed["asks"] = asks[:depth]
    return trimmed


def _order_id(message: Message) -> object:
    order = message.get("order")
    return order.get("id") if isinstance(order, dict) else None
