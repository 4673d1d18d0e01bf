"""``Gateway``: ``python -m workspace gateway --bus redis://...``: a stateless
``/api/ws/realtime`` server in front of the engines (docs/scale-out.md).

It is the server of ``serve`` (``RealtimeServer``: connections, outboxes, conflation,
limits, auth) on views of Redis instead of an engine in the process:

- ``MarketView``: the market streams of the symbols and books its clients hold (one
  ``StreamTail`` read for all of them), into one ``Hub``; symbols and books are
  acquired from the market engine (``P:commands:market``), reference counted here,
  under a lease the view renews (``HoldLease``): a gateway killed with -9 does not
  leave them streaming.
- ``UserView``: one per user with connections here.  It starts from the engine's
  snapshot of the account (open orders, ``seq``, portfolio, positions, STATUS, with
  every event up to that ``seq`` already in Redis), then follows the user's event
  stream from that ``seq`` and state stream; each ``ORDER_UPDATE`` goes to the user's
  outboxes in ``seq`` order, never to another user's.  ``resume`` (on connect or by
  command) is served from the event stream, so a client that reconnects to another
  gateway gets every missed event once.
- ``GatewaySession``: the protocol session, with the account's commands forwarded to
  the engine that owns the user (``P:commands:{shard}``).  An order command's reply is
  its order event: it reaches the client that sent it as the reply (with its ``id``)
  and every other connection of that user as a live event.

An engine killed with -9 says nothing, and its users' last STATUS said ``connected``:
the gateway watches the heartbeat of each engine it has users on, and once it lapses
(10 s after the last beat) tells them ``feed: down`` (nothing on their accounts moves:
no marks, fills or triggers; commands get ``ENGINE_UNAVAILABLE``) until the engine's
own STATUS comes again.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hmac
import logging
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Collection,
    Iterator,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

from workspace.bus import entries
from workspace.bus.errors import EngineUnavailable
from workspace.bus.keys import BusKeys
from workspace.bus.link import Entry, close_quietly, last_entry, open_redis, xrange
from workspace.bus.rpc import CommandClient, beating
from workspace.bus.tail import StreamTail
from workspace.engine.hub import Hub
from workspace.engine.tick_replay import Page, check_replay, paced_replay
from workspace.errors import InvalidParams, WorkspaceError
from workspace.market.subscriptions import normalize_symbol
from workspace.protocol import messages
from workspace.protocol.codec import decode_frame
from workspace.protocol.commands import (
    CancelOrder,
    ClosePosition,
    Command,
    GetOrders,
    GetPortfolio,
    GetPositions,
    PlaceOrder,
)
from workspace.protocol.outbox import STATE_TYPES, Outbox
from workspace.protocol.session import Outcome, ProtocolSession
from workspace.scaleout.event_publisher import REPAIRED
from workspace.scaleout.fresh_call import FreshCall
from workspace.scaleout.hold_lease import HoldLease
from workspace.scaleout.shards import SINGLE_USER, shard_of
from workspace.session import Listener, Message
from workspace.trading.config import AccountConfig
from workspace.trading.requests import OrderRequest
from workspace.users import UserDirectory

_log = logging.getLogger("workspace.scaleout")

HISTORY = 10_000
"""Order events a user view keeps in memory (``--held-events``): a resume from further
back reads the older ones from the user's event stream, a page at a time."""
ENGINE_CHECK_S = 1.0
"""How often a gateway looks at the heartbeats of the engines its users are on."""
REPLAY_PAGE = 500
MARKET_WAIT_S = AccountConfig().market_wait_ms / 1000
"""What a place_order may wait on its engine for its symbol's first price, on top of the
command timeout (the engine ends its wait in time to answer: ``EngineNode._order``)."""
DELIVERED = object()
FINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


class MarketView:
    """The market side of ``EngineApi``, from Redis."""

    def __init__(self, client: CommandClient, tail: StreamTail, keys: BusKeys) -> None:
        self.client = client
        self.tail = tail
        self.keys = keys
        self.hub = Hub()
        self._symbols: dict[str, int] = {}
        self._books: dict[str, int] = {}
        self._latest: dict[str, Message] = {}
        self._latest_book: dict[str, Message] = {}
        self._info: dict[str, Message | None] = {}
        self._status: Message = {"type": "STATUS", "feed": "down", "source": None}
        self._lock = asyncio.Lock()
        self.server_clients = 0  # the server writes it (EngineApi)
        self._reacquiring: set[asyncio.Task[None]] = set()
        self.lease = HoldLease(client, keys, "gateway", self._held, self._lock)
        # the gateway's account snapshots and the engines it saw stop, for /health's
        # detail (set by Gateway)
        self.snapshot_usage: Callable[[], dict[str, int]] | None = None
        self.engines_down: Callable[[], list[int]] | None = None

    def _held(self) -> dict[str, list[str]]:
        return {"symbol": sorted(self._symbols), "book": sorted(self._books)}

    async def start(self) -> None:
        await self.tail.follow(self.keys.status, self._on_status, after=None)
        top = await last_entry(self.tail._control, self.keys.status)
        if top is not None:
            self._on_status(self.keys.status, [top])
        self.lease.start()

    async def stop(self) -> None:
        """Release everything this gateway held (its clients are gone)."""
        await self.lease.give_up()

    def _on_status(self, _key: str, items: Sequence[Entry]) -> None:
        message = entries.message_of(items[-1][1])
        if message is None:
            return
        before = self._status.get("engine_boot")
        self._status = message
        boot = message.get("engine_boot")
        if before is not None and boot != before and (self._symbols or self._books):
            # a restarted market engine streams only what its accounts hold
            task = asyncio.get_running_loop().create_task(self._acquire_again(), name="reacquire")
            self._reacquiring.add(task)
            task.add_done_callback(self._reacquiring.discard)

    async def _acquire_again(self) -> None:
        async with self._lock:
            for name in list(self._symbols):
                with contextlib.suppress(WorkspaceError):
                    await self._call("acquire_symbol", self.lease.args(name))
            for name in list(self._books):
                with contextlib.suppress(WorkspaceError):
                    await self._call("acquire_book", self.lease.args(name))

    def _call(self, action: str, args: dict[str, Any]) -> Any:
        return self.client.call(self.keys.market_commands, action, args)

    # -- tickers ----------------------------------------------------------------------
    async def acquire_symbol(self, symbol: str) -> str:
        name = normalize_symbol(symbol)
        async with self._lock:
            if self._symbols.get(name, 0) == 0:
                reply = await self._call("acquire_symbol", self.lease.args(name))
                self._info[name] = reply.get("symbol_info")
                key = self.keys.ticker(name)
                top = await last_entry(self.tail._control, key)
                if top is not None:
                    latest = entries.message_of(top[1])
                    if latest is not None:
                        self._latest[name] = latest
                await self.tail.follow(key, self._on_market, after=top[0] if top else b"0-0")
            self._symbols[name] = self._symbols.get(name, 0) + 1
        return name

    async def release_symbol(self, symbol: str) -> None:
        name = symbol.upper()
        async with self._lock:
            count = self._symbols.get(name, 0) - 1
            if count > 0:
                self._symbols[name] = count
                return
            if name not in self._symbols:
                return
            del self._symbols[name]
            await self.tail.leave(self.keys.ticker(name))
            self._latest.pop(name, None)
            with contextlib.suppress(WorkspaceError):
                await self._call("release_symbol", self.lease.args(name))

    def _on_market(self, _key: str, items: Sequence[Entry]) -> None:
        hub = self.hub
        for _id, fields in items:
            message = entries.message_of(fields)
            if message is None:
                continue
            if message.get("type") == "BOOK_UPDATE":
                self._latest_book[str(message.get("symbol"))] = message
            else:
                self._latest[str(message.get("symbol"))] = message
            hub.publish(message)

    def market_update(self, symbol: str) -> Message | None:
        return self._latest.get(symbol.upper())

    def symbol_info(self, symbol: str) -> Message | None:
        return self._info.get(symbol.upper())

    # -- books ------------------------------------------------------------------------
    async def acquire_book(self, symbol: str) -> str:
        name = normalize_symbol(symbol)
        async with self._lock:
            if self._books.get(name, 0) == 0:
                reply = await self._call("acquire_book", self.lease.args(name))
                if isinstance(reply.get("book"), dict):
                    self._latest_book[name] = reply["book"]
                await self.tail.follow(self.keys.book(name), self._on_market, after=None)
            self._books[name] = self._books.get(name, 0) + 1
        return name

    async def release_book(self, symbol: str) -> None:
        name = symbol.upper()
        async with self._lock:
            count = self._books.get(name, 0) - 1
            if count > 0:
                self._books[name] = count
                return
            if name not in self._books:
                return
            del self._books[name]
            await self.tail.leave(self.keys.book(name))
            self._latest_book.pop(name, None)
            with contextlib.suppress(WorkspaceError):
                await self._call("release_book", self.lease.args(name))

    def book_update(self, symbol: str) -> Message | None:
        return self._latest_book.get(symbol.upper())

    async def candles_message(self, symbol: str, interval: str, limit: int) -> Message:
        reply: Message = await self._call(
            "candles", {"symbol": normalize_symbol(symbol), "interval": interval, "limit": limit}
        )
        return reply

    def status_message(self) -> Message:
        return dict(self._status)

    def health(self) -> dict[str, object]:
        """``/health`` of a gateway: the market engine's feed as its STATUS on the bus
        last said (journals are the engine's; a gateway writes none)."""
        feed = self._status.get("feed")
        healthy = feed in ("connected", "replaying")
        reason = self._status.get("reason")
        problem = f"feed {feed or 'unknown'}" + (f": {reason}" if reason else "")
        return {
            "healthy": healthy,
            "problems": [] if healthy else [problem],
            "feed": feed,
            "journal": self._status.get("journal", "ok"),
            "last_gap": self._status.get("last_gap"),
            "last_price_ms": self._status.get("last_price_ms"),
            **({} if self.snapshot_usage is None else {"snapshots": self.snapshot_usage()}),
            **({} if self.engines_down is None else {"engines_down": self.engines_down()}),
        }

    def engine_stopped(self, reason: str) -> None:
        """The market engine stopped beating: its last STATUS said ``connected`` and no
        market data flows.  Its next STATUS (the same engine restarted, or a standby
        that took the feed over) replaces this."""
        self._status = {**self._status, "feed": "down", "reason": reason}


class UserView:
    """One user's account as a gateway sees it (implements ``EngineApi``)."""

    def __init__(self, gateway: Gateway, user: str) -> None:
        self.gateway = gateway
        self.user = user
        self.market = gateway.market
        self.keys = gateway.keys
        self.stream = self.keys.events(user)
        self.shard = shard_of(user, gateway.shards)
        self.commands = self.keys.commands(self.shard)
        self.outboxes: set[Outbox] = set()
        self._status: Message = {}
        self._state: dict[str, Message] = {}
        self._open: dict[str, Message] = {}  # open order id -> its latest order object
        self._seq = 0
        self._journal_id = ""
        self._events: list[tuple[int, Message]] = []  # order events, seq order
        self._history_from = 0  # every order event after this seq is in _events
        self._held = gateway.held_events
        self._expected: dict[str, tuple[Outbox, Any]] = {}  # tag -> (outbox, command id)
        self._foreign: set[bytes] = set()  # entries of the event stream that are not events
        self._tasks: set[asyncio.Task[None]] = set()
        self.server_clients = 0
        # connections arriving together share a snapshot (never one older than them)
        self.snapshots = FreshCall(self._refresh)

    async def open(self) -> None:
        await self.refresh()
        tail = self.gateway.tail
        await tail.follow(self.stream, self._on_events, after=entries.event_id(self._seq))
        await tail.follow(self.keys.state(self.user), self._on_state, after=None)

    async def refresh(self) -> None:
        """The engine's snapshot of the account, and every event up to its ``seq``
        (the engine answers once they are in Redis): a new connection's snapshot is as
        fresh as ``serve``'s, and no event before it is missing from this view.  One
        snapshot command serves every connection that asked before it was sent
        (``FreshCall``)."""
        await self.snapshots()

    async def _refresh(self) -> None:
        snapshot = await self.gateway.client.call(self.commands, "snapshot", user=self.user)
        orders = snapshot["orders"]
        seq = int(orders.get("seq") or 0)
        journal_id = str(orders.get("journal_id") or "")
        if journal_id != self._journal_id:
            if self._journal_id:
                _log.warning("%s: the account's journal changed: starting over", self.user)
            # another journal (or the first look): its seq starts here
            self._journal_id = journal_id
            self._seq = self._history_from = seq
            self._events.clear()
            self._open = {str(o["id"]): o for o in orders.get("orders", [])}
            if self.gateway.tail.following(self.stream):
                await self.gateway.tail.follow(
                    self.stream, self._on_events, after=entries.event_id(seq)
                )
        elif seq > self._seq:
            await self._catch_up(seq)
        self._status = snapshot["status"]
        self._state["PORTFOLIO_UPDATE"] = snapshot["portfolio"]
        self._state["POSITION_UPDATE"] = snapshot["positions"]

    async def _catch_up(self, seq: int) -> None:
        redis = self.gateway.tail._control
        while self._seq < seq:
            page = await xrange(
                redis, self.stream, entries.event_id(self._seq + 1), entries.event_id(seq), 1000
            )
            if not page:
                raise EngineUnavailable(f"{self.stream} lacks events up to {seq}")
            self._on_events(self.stream, page)

    async def close(self) -> None:
        self.snapshots.cancel()
        for task in tuple(self._tasks):
            task.cancel()
        tail = self.gateway.tail
        await tail.leave(self.stream)
        await tail.leave(self.keys.state(self.user))

    # -- from Redis ---------------------------------------------------------------------
    def _on_events(self, _key: str, items: Sequence[Entry]) -> None:
        for entry_id, fields in items:
            if b"k" not in fields:
                # not an account event (something else writes to the key): its id would
                # have become this view's seq, and every real event after it been skipped
                if entry_id not in self._foreign:
                    self._foreign.add(entry_id)
                    _log.error(
                        "%s: entry %s is not an account event: skipped (the engine removes "
                        "it when it next publishes)",
                        self.stream,
                        entry_id.decode(errors="replace"),
                    )
                continue
            seq = entries.seq_of(entry_id)
            if seq <= self._seq:
                continue
            self._seq = seq
            message = entries.message_of(fields)
            if message is None:
                continue  # an account event without an order update (a fill's balance)
            self._apply(seq, message)
            tag = fields.get(b"r")
            expected = self._expected.pop(tag.decode(), None) if tag is not None else None
            for outbox in tuple(self.outboxes):
                if outbox.closed:
                    self.outboxes.discard(outbox)
                elif expected is not None and outbox is expected[0]:
                    outbox.reply(messages.with_id(message, expected[1]))
                else:
                    outbox.push_event(message)
            if expected is not None and tag is not None:
                self.gateway.client.resolve_tag(tag.decode(), DELIVERED)

    def _read_again(self) -> None:
        """The engine removed foreign entries from the event stream and wrote the events
        they held back, below the ids this view's read had reached: read again from the
        last event seen."""
        self._foreign.clear()
        task = asyncio.get_running_loop().create_task(
            self._follow_from_seq(), name=f"gateway.read_again.{self.user}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow_from_seq(self) -> None:
        tail = self.gateway.tail
        if tail.following(self.stream):  # (not after the view closed)
            await tail.follow(self.stream, self._on_events, after=entries.event_id(self._seq))

    def _apply(self, seq: int, message: Message) -> None:
        order = message.get("order")
        if isinstance(order, dict):
            order_id = str(order.get("id"))
            if order.get("status") in FINAL:
                self._open.pop(order_id, None)
            else:
                self._open[order_id] = order
        self._events.append((seq, message))
        if len(self._events) > self._held:
            dropped = self._events[: len(self._events) - self._held]
            del self._events[: len(dropped)]
            self._history_from = dropped[-1][0]

    def _on_state(self, _key: str, items: Sequence[Entry]) -> None:
        for _id, fields in items:
            message = entries.message_of(fields)
            if message is None:
                continue
            kind = str(message.get("type"))
            if kind == REPAIRED:
                self._read_again()
                continue
            if kind == "STATUS":
                self._status = message
            else:
                self._state[kind] = message
            if kind in STATE_TYPES:
                for outbox in tuple(self.outboxes):
                    outbox.push_state(kind, message)

    def engine_stopped(self, reason: str) -> None:
        """The account's engine stopped beating: its users hear it (the engine's own
        next STATUS replaces this one when it runs again)."""
        status = {**self._status, "feed": "down", "reason": reason, "timestamp": messages.now_ms()}
        self._status = status
        for outbox in tuple(self.outboxes):
            if not outbox.closed:
                outbox.push_state("STATUS", status)

    async def check_kept(self, since: int) -> None:
        """Raise if the events after ``since`` are no longer all in the stream (it is
        bounded): a resume from there cannot be exact."""
        if since >= self._history_from:
            return
        first = await xrange(self.gateway.tail._control, self.stream, "-", "+", 1)
        if first and entries.seq_of(first[0][0]) > since + 1:
            raise InvalidParams(
                f"events after seq {since} are no longer kept (the stream starts at "
                f"{entries.seq_of(first[0][0])})"
            )

    async def missed_pages(
        self, since: int, until: int, page_size: int
    ) -> AsyncGenerator[list[Message], None]:
        """The order events ``since`` < seq <= ``until``, a page per step: from this
        view's window when they are in it, from the event stream (``XRANGE``, one
        bounded read per page) when they are older; the window may move on between
        two pages, so each page looks again where its first event is."""
        await self.check_kept(since)
        redis = self.gateway.tail._control
        cursor = since
        size = max(1, page_size)
        while cursor < until:
            if cursor >= self._history_from:
                events = self._events
                start = bisect.bisect_right(events, cursor, key=_seq_of)
                held = [(seq, m) for seq, m in events[start : start + size] if seq <= until]
                if not held:
                    return
                cursor = held[-1][0]
                yield [message for _, message in held]
                continue
            high = min(until, self._history_from)
            page = await xrange(
                redis, self.stream, entries.event_id(cursor + 1), entries.event_id(high), size
            )
            if not page:
                cursor = high  # nothing (no order event) left below the window
                continue
            cursor = entries.seq_of(page[-1][0])
            found = [m for _, fields in page if (m := entries.message_of(fields)) is not None]
            if found:
                yield found

    # -- EngineApi ------------------------------------------------------------------------
    def subscribe_messages(
        self, symbols: Collection[str] | None = None, listener: Listener | None = None
    ) -> Outbox:
        outbox = self.market.hub.subscribe(symbols)
        self.outboxes.add(outbox)
        return outbox

    async def acquire_symbol(self, symbol: str) -> str:
        return await self.market.acquire_symbol(symbol)

    async def release_symbol(self, symbol: str) -> None:
        await self.market.release_symbol(symbol)

    def market_update(self, symbol: str) -> Message | None:
        return self.market.market_update(symbol)

    async def acquire_book(self, symbol: str) -> str:
        return await self.market.acquire_book(symbol)

    async def release_book(self, symbol: str) -> None:
        await self.market.release_book(symbol)

    def book_update(self, symbol: str) -> Message | None:
        return self.market.book_update(symbol)

    async def candles_message(self, symbol: str, interval: str, limit: int) -> Message:
        return await self.market.candles_message(symbol, interval, limit)

    def symbol_info(self, symbol: str) -> Message | None:
        return self.market.symbol_info(symbol)

    def status_message(self) -> Message:
        return {**self._status, "user": self.user} if self.gateway.multi_user else self._status

    def portfolio_message(self) -> Message:
        return self._state["PORTFOLIO_UPDATE"]

    def positions_message(self) -> Message:
        return self._state["POSITION_UPDATE"]

    def orders_message(self, status: str | None = None) -> Message:
        return {
            "type": "ORDERS",
            "orders": list(self._open.values()),
            "seq": self._seq,
            "journal_id": self._journal_id,
            "timestamp": messages.now_ms(),
        }

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def journal_id(self) -> str:
        return self._journal_id

    def order_events_since(self, seq: int) -> list[Message]:
        if seq < self._history_from:
            raise InvalidParams(
                f"resuming from seq {seq} needs events this gateway has not read: "
                "reconnect with ?since= (resume on connect reads them from the bus)"
            )
        return [message for event_seq, message in self._events if event_seq > seq]

    def order_update_pages(
        self, since: int, page_size: int = 500, until: int | None = None
    ) -> Iterator[list[Message]]:
        """The events this gateway holds after ``since`` (<= ``until``), in pages."""
        events = self.order_events_since(since)
        if until is not None:
            events = [m for m in events if int(m.get("seq", 0)) <= until]
        for start in range(0, len(events), max(1, page_size)):
            yield events[start : start + page_size]

    def health(self) -> dict[str, object]:
        return self.gateway.market.health()

    def place_order(self, request: OrderRequest) -> Message:
        raise InvalidParams("a gateway forwards orders (GatewaySession)")

    def market_for(
        self, request: OrderRequest, *, within_s: float | None = None
    ) -> AbstractAsyncContextManager[None]:
        raise InvalidParams("a gateway forwards orders (GatewaySession)")

    def cancel_order(self, order_id: str) -> Message:
        raise InvalidParams("a gateway forwards orders (GatewaySession)")

    def close_position(self, position_id: str, quantity: Decimal | None = None) -> Message:
        raise InvalidParams("a gateway forwards orders (GatewaySession)")

    def replay_ticks(
        self, symbol: str, start_ms: int, end_ms: int, speed: float
    ) -> AsyncIterator[Message]:
        """The market engine's recorded ticks (its tick store), a page per command,
        paced here as recorded (scaled by ``speed``), as ``serve`` paces them."""
        name, pace = check_replay(symbol, start_ms, end_ms, speed)

        async def next_page(after: int) -> Page:
            reply = await self.market._call(
                "replay_page",
                {"symbol": name, "start": start_ms, "end": end_ms, "after": after,
                 "limit": REPLAY_PAGE},
            )  # fmt: skip
            rows = reply.get("rows") if isinstance(reply, dict) else None
            return [(int(row_id), message) for row_id, message in rows or ()]

        return paced_replay(next_page, pace, full_page=REPLAY_PAGE)

    async def call(self, action: str, args: dict[str, Any] | None = None) -> Any:
        return await self.gateway.client.call(self.commands, action, args or {}, user=self.user)

    async def order_command(self, raw: dict[str, Any], outbox: Outbox, command_id: Any) -> Any:
        """Forward an order command; ``DELIVERED`` when its reply went out as its event."""

        tags: list[str] = []

        def expect(tag: str) -> None:
            tags.append(tag)
            self._expected[tag] = (outbox, command_id)

        client = self.gateway.client
        # a place_order may first wait for its symbol's first price on the engine
        timeout_s = client.timeout_s + (MARKET_WAIT_S if raw.get("action") == "place_order" else 0)
        try:
            return await client.call(
                self.commands, "order", raw, user=self.user, on_tag=expect, timeout_s=timeout_s
            )
        finally:
            for tag in tags:
                self._expected.pop(tag, None)


class GatewaySession(ProtocolSession):
    """The protocol session of a gateway connection: account commands go to the
    engine."""

    def __init__(self, engine: UserView, **options: Any) -> None:
        super().__init__(engine, **options)
        self.view = engine
        self._raw: Any = None

    async def _execute(self, raw: Command | Any, *, inline: bool, msgpack: bool = False) -> Outcome:
        self._raw = (raw, msgpack)
        return await super()._execute(raw, inline=inline, msgpack=msgpack)

    async def _dispatch(self, command: Command, *, inline: bool) -> Outcome:
        view = self.view
        match command:
            case PlaceOrder(id=cid) | CancelOrder(id=cid) | ClosePosition(id=cid):
                raw, msgpack = self._raw
                args = raw if isinstance(raw, dict) else decode_frame(raw, msgpack=msgpack)
                if not isinstance(args, dict):
                    raise InvalidParams("not a command object")
                args = {k: v for k, v in args.items() if k != "id"}
                reply = await view.order_command(args, self.outbox, cid)
                if reply is DELIVERED:
                    return Outcome(None)
                return Outcome(messages.with_id(reply, cid))
            case GetOrders(status=status, id=cid) if status not in (None, "OPEN"):
                return Outcome(
                    messages.with_id(await view.call("get_orders", {"status": status}), cid)
                )
            case GetPositions(id=cid):
                return Outcome(messages.with_id(await view.call("get_positions"), cid))
            case GetPortfolio(id=cid):
                return Outcome(messages.with_id(await view.call("get_portfolio"), cid))
        return await super()._dispatch(command, inline=inline)

    def _missed_pages(self, since: int, upto: int) -> AsyncGenerator[list[Message], None]:
        return self.view.missed_pages(since, upto, self.page_size)


class Gateway:
    """The router of a gateway's ``RealtimeServer`` (``AccountRouter``)."""

    def __init__(
        self,
        url: str,
        *,
        keys: BusKeys | None = None,
        users: str | Path | None = None,
        token: str | None = None,
        shards: int = 1,
        timeout_s: float = 5.0,
        held_events: int = HISTORY,
    ) -> None:
        if held_events < 1:
            raise InvalidParams("held events: at least 1")
        self.held_events = held_events
        self.url = url
        self.keys = keys or BusKeys()
        self.id = secrets.token_hex(6)
        self.directory = UserDirectory(str(users)) if users is not None else None
        self.token = token
        self.shards = shards
        self.multi_user = users is not None
        self.client = CommandClient(url, self.keys, self.id, timeout_s=timeout_s)
        self.tail = StreamTail(url, name="gateway tail")
        self.market = MarketView(self.client, self.tail, self.keys)
        self.views: dict[str, UserView] = {}
        self._opening: dict[str, asyncio.Task[UserView]] = {}
        self._probe = open_redis(url)
        self.market.snapshot_usage = self.snapshot_usage
        self.engines_down: set[int] = set()
        self.market.engines_down = lambda: sorted(self.engines_down)
        self._market_down = False
        self._watch: asyncio.Task[None] | None = None

    def snapshot_usage(self) -> dict[str, int]:
        """Account snapshots over this gateway's views: commands sent to the engines,
        connections they served, connections waiting for one now."""
        views = self.views.values()
        return {
            "sent": sum(v.snapshots.calls for v in views),
            "served": sum(v.snapshots.asked for v in views),
            "waiting": sum(v.snapshots.waiting for v in views),
        }

    async def start(self) -> None:
        await self.client.start()
        await self.tail.start()
        await self.market.start()
        self._watch = asyncio.get_running_loop().create_task(
            self._watch_engines(), name="gateway.engines"
        )

    async def _watch_engines(self) -> None:
        """A killed engine says nothing: its heartbeat lapsing is the only sign."""
        while True:
            await asyncio.sleep(ENGINE_CHECK_S)
            market = await beating(self._probe, self.keys.engine("market"))
            if market is None:
                continue  # Redis itself is away: commands say so
            if not market and not self._market_down:
                _log.warning("the market engine stopped beating")
                self.market.engine_stopped(
                    "the market engine is not running (its heartbeat lapsed): no market data"
                )
            self._market_down = not market
            shards = {view.shard for view in self.views.values()}
            self.engines_down &= shards
            for shard in sorted(shards):
                alive = await beating(self._probe, self.keys.engine(shard))
                if alive is None:
                    break  # Redis itself is away: commands say so
                if alive:
                    self.engines_down.discard(shard)
                    continue
                if shard in self.engines_down:
                    continue
                self.engines_down.add(shard)
                where = f" (shard {shard}/{self.shards})" if self.shards > 1 else ""
                reason = (
                    f"the account's engine{where} is not running: no marks, fills or "
                    "triggers until it is back; commands get ENGINE_UNAVAILABLE"
                )
                _log.warning("engine%s stopped beating: telling its users", where)
                for view in tuple(self.views.values()):
                    if view.shard == shard:
                        view.engine_stopped(reason)

    async def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
        for view in tuple(self.views.values()):
            with contextlib.suppress(Exception):
                await view.close()
        self.views.clear()
        await self.market.stop()
        await self.tail.stop()
        await self.client.stop()
        await close_quietly(self._probe)

    async def authenticate(self, token: str | None) -> str | None:
        if self.directory is not None:
            return await self.directory.authenticate(token)
        if self.token is None:
            return SINGLE_USER
        if token is not None and hmac.compare_digest(token.encode(), self.token.encode()):
            return SINGLE_USER
        return None

    async def engine_for(self, user: str, since: int | None = None) -> UserView:
        view = self.views.get(user)
        if view is None:
            task = self._opening.get(user)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._open(user))
                self._opening[user] = task
                task.add_done_callback(lambda _: self._opening.pop(user, None))
            view = await asyncio.shield(task)
        else:
            await view.refresh()
        if since is not None:
            await view.check_kept(since)
        return view

    async def _open(self, user: str) -> UserView:
        view = UserView(self, user)
        await view.open()
        self.views[user] = view
        return view


def _seq_of(event: tuple[int, Message]) -> int:
    return event[0]


__all__ = ["DELIVERED", "EngineUnavailable", "Gateway", "GatewaySession", "MarketView", "UserView"]
