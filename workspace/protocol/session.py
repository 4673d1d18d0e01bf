"""``ProtocolSession``: one client's view of the engine, speaking PROTOCOL.md.

One per server connection and one inside ``Workspace`` for the notebook.  It owns the
client's symbols, books, alerts and replay, and its ``Outbox`` (fed by the engine's
hub); it holds no trading logic (orders go straight to the ``EngineApi``).

A command becomes an :class:`Outcome`: the direct reply (``None`` while it is still to
come: a replay's ``REPLAY_DONE``) and what goes out around it.  The server path
(:meth:`ProtocolSession.handle`) puts all of it into the outbox, the notebook's path
(:meth:`ProtocolSession.request`) returns the reply and queues the rest.

Order events: the engine publishes each one to every outbox as it happens, in ``seq``
order.  The direct reply to ``place_order`` / ``cancel_order`` / ``close_position`` is
the engine's answer, carrying the command's ``id``; on the server path it takes the
place of its own live event in the outbox, so the client gets that event once.
Resuming (on connect, or by command) sends the events the connection missed, older
than its snapshot, in ``seq`` order, and any live events not yet written behind them.
The missed events are read from the journal a page at a time and queued at the pace
the client takes them (live events wait aside meanwhile): a resume from 0 of a long
journal costs a bounded amount of memory and of loop time per step, and the server
charges it to the connection's rate budget (:class:`Pacer`), like a replay's ticks;
resumes of all connections together start at most a fixed number of events per loop
turn (:class:`~workspace.protocol.turns.LoopShare`), so fifty at once cannot stall it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from workspace.errors import InvalidParams, WorkspaceError
from workspace.protocol import messages
from workspace.protocol.alerts import AlertBook
from workspace.protocol.commands import (
    COMMAND_TYPES,
    CancelAlert,
    CancelOrder,
    ClosePosition,
    Command,
    CommandId,
    GetCandles,
    GetOrders,
    GetPortfolio,
    GetPositions,
    Ping,
    PlaceOrder,
    ProtocolError,
    Replay,
    Resume,
    SetAlert,
    SubscribeBook,
    SubscribeTicker,
    UnsubscribeBook,
    UnsubscribeTicker,
    command_id_of,
    parse_command,
)
from workspace.protocol.conflation import SubscriptionClosed
from workspace.protocol.engine_api import EngineApi
from workspace.protocol.outbox import BOOK_KEY, Outbox, trim_book
from workspace.protocol.throttled_log import ThrottledLog, failure_key
from workspace.protocol.turns import LoopShare
from workspace.session import Listener, Message

_log = logging.getLogger("workspace.protocol")

PUMP_BATCH = 64
RESUME_PAGE = 200  # order events read from the journal and queued per step
REPLAY_CHUNK = 200  # replayed ticks charged to the budget at a time


class Pacer(Protocol):
    """What a session's long streams (resume, replay) pay to: the server connection's
    rate budget.  ``bulk`` returns once ``messages`` more messages may be sent."""

    async def bulk(self, messages: int) -> None: ...


class SessionClosed(Exception):
    """The session's stream ended (closed, or its outbox overflowed)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command produced, in the order the client must see it."""

    reply: Message | None
    """The direct reply; ``None`` when it comes later (a replay's ``REPLAY_DONE``)."""
    before: Sequence[Message] = ()
    """Urgent messages ahead of the reply (the events a resume delivers)."""
    after: Sequence[Message] = ()
    """Urgent messages behind it (a reset's snapshot, fresh state after ``RESUMED``)."""
    market: Sequence[tuple[Hashable, Message]] = ()
    """The latest price or book of a new subscription, as market data (conflated)."""


class ProtocolSession:
    def __init__(
        self,
        engine: EngineApi,
        *,
        max_symbols: int = 200,
        max_alerts: int = 200,
        page_size: int = RESUME_PAGE,
        failures: ThrottledLog | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.engine = engine
        self.max_symbols = max_symbols
        self.page_size = page_size
        # Set by the server: long streams are charged to its connection's rate budget,
        # and resumes take turns in a share of the loop common to every connection.
        self.pacer: Pacer | None = None
        self.share: LoopShare | None = None
        self._failures = failures if failures is not None else ThrottledLog(_log)
        self.outbox: Outbox = engine.subscribe_messages(symbols=())
        self._symbols: set[str] = set()  # tickers the client subscribed to
        self._books: dict[str, int] = {}  # books the client subscribed to, with depth
        self._acquired: set[str] = set()  # symbols held on the engine (tickers, alerts)
        self._books_acquired: set[str] = set()
        self._alerts = AlertBook(max_alerts)
        self._lock = asyncio.Lock()
        self._baseline = engine.seq
        # Events in (resumed_from, baseline] were delivered by a resume (or are in the
        # snapshot this connection started from): a later resume skips them.
        self._resumed_from = self._baseline
        self._replay: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()  # alert symbols being released
        self._listeners: list[Listener] = []
        self._streams: list[asyncio.Queue[Message | None]] = []
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    # -- state ---------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    @property
    def books(self) -> Mapping[str, int]:
        return dict(self._books)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def alerts(self) -> int:
        return len(self._alerts)

    @property
    def replaying(self) -> bool:
        return self._replay is not None and not self._replay.done()

    # -- connecting ------------------------------------------------------------------
    def snapshot(self) -> list[Message]:
        """STATUS, PORTFOLIO_UPDATE, POSITION_UPDATE, ORDERS: what a connection gets
        first.  Its ``seq`` is the baseline: live events after it come through the
        outbox, older ones only by resuming."""
        orders = self.engine.orders_message()
        seq = orders.get("seq")
        self._baseline = seq if isinstance(seq, int) else self.engine.seq
        self._resumed_from = self._baseline
        self.outbox.live_seq = self._baseline
        return [
            self.engine.status_message(),
            self.engine.portfolio_message(),
            self.engine.positions_message(),
            orders,
        ]

    async def open(self, since: int | None = None, journal_id: str | None = None) -> None:
        """Queue what a new connection gets first: the snapshot, then (resuming from
        ``since``) the order events it missed, in order, and ``RESUMED``; live events
        wait until then, so none overtakes a missed one.  The snapshot and the start of
        the wait are one synchronous step (the rest streams at the client's pace).  A
        resume the server cannot honour (another journal, a ``since`` beyond its
        ``seq``) sends ``ERROR RESUME_RESET`` before the snapshot instead."""
        outbox = self.outbox
        if since is not None:
            refused = self._refuse_resume(since, journal_id)
            if refused is not None:
                outbox.push(messages.resume_reset(self.engine.journal_id, self.engine.seq, refused))
                since = None
        for message in self.snapshot():
            outbox.push(message)
        if since is None:
            return
        outbox.hold_events()
        try:
            baseline = self._baseline
            count = await self._stream_missed(since, paced=True)
            outbox.push(messages.resumed(since, count, baseline, self.engine.journal_id))
        except Exception as error:  # a journal that cannot be read: say so, do not hang
            self._failures.failure(failure_key(error), "resume on connect failed", error)
            outbox.push(messages.error("INTERNAL", f"resume failed: {error}"))
        finally:
            outbox.release_events(after=since)

    # -- commands --------------------------------------------------------------------
    async def request(self, command: Command | Mapping[str, Any] | str | bytes) -> Message:
        """Execute one command and return its direct reply (an ERROR for bad input;
        never raises for bad input).  What goes with the reply (resumed events, a
        subscription's latest price) goes to the stream."""
        outcome = await self._execute(command, inline=True)
        outbox = self.outbox
        for message in outcome.before:
            outbox.push(message)
        for message in outcome.after:
            outbox.push(message)
        for key, message in outcome.market:
            outbox.push_market(key, message)
        reply = outcome.reply
        return reply if reply is not None else messages.error("INTERNAL", "no reply")

    async def handle(
        self, frame: Command | Mapping[str, Any] | str | bytes, *, msgpack: bool = False
    ) -> None:
        """The server's path: execute one command and queue its reply, and what goes
        with it, in the outbox."""
        outcome = await self._execute(frame, inline=False, msgpack=msgpack)
        outbox = self.outbox
        for message in outcome.before:
            outbox.push(message)
        if outcome.reply is not None:
            outbox.reply(outcome.reply)
        for message in outcome.after:
            outbox.push(message)
        for key, message in outcome.market:
            outbox.push_market(key, message)

    def push(self, message: Message) -> None:
        """Queue a message the connection itself originates (a RATE_LIMITED error)."""
        self.outbox.push(message)

    async def _execute(
        self, raw: Command | Mapping[str, Any] | str | bytes, *, inline: bool, msgpack: bool = False
    ) -> Outcome:
        command_id: CommandId = command_id_of(raw)
        try:
            command = raw if isinstance(raw, COMMAND_TYPES) else parse_command(raw, msgpack=msgpack)
            command_id = command.id
            if self._closed:
                raise ProtocolError("INVALID_PARAMS", "session closed", command_id)
            return await self._dispatch(command, inline=inline)
        except ProtocolError as exc:
            reply_id = exc.id if exc.id is not None else command_id
            return Outcome(messages.error(exc.code, exc.message, reply_id))
        except WorkspaceError as exc:
            return Outcome(messages.error(exc.code, str(exc) or exc.code, command_id))
        except Exception as error:  # the engine's bug must not kill the connection
            # Never a traceback per frame: a client repeating the command that hits a
            # bug would fill the log (the first of a kind is logged in full).
            self._failures.failure(failure_key(error), "command failed", error)
            return Outcome(messages.error("INTERNAL", "internal error", command_id))

    async def _dispatch(self, command: Command, *, inline: bool) -> Outcome:
        engine = self.engine
        match command:
            case Ping(id=cid):
                return Outcome(messages.pong(cid))
            case GetPositions(id=cid):
                return Outcome(messages.with_id(engine.positions_message(), cid))
            case GetPortfolio(id=cid):
                return Outcome(messages.with_id(engine.portfolio_message(), cid))
            case GetOrders(status=status, id=cid):
                wanted = None if status in (None, "OPEN") else status
                return Outcome(messages.with_id(engine.orders_message(wanted), cid))
            case SubscribeTicker(symbol=symbol, id=cid):
                symbol = await self._subscribe(symbol, cid)
                latest = engine.market_update(symbol)
                market: list[tuple[Hashable, Message]] = (
                    [(symbol, latest)] if latest is not None else []
                )
                reply = messages.subscribed(symbol, cid)
                reply["symbol_info"] = engine.symbol_info(symbol)
                return Outcome(reply, market=market)
            case UnsubscribeTicker(symbol=symbol, id=cid):
                await self._unsubscribe(symbol)
                return Outcome(messages.unsubscribed(symbol, cid))
            case SubscribeBook(symbol=symbol, depth=depth, id=cid):
                symbol = await self._subscribe_book(symbol, depth, cid)
                book = engine.book_update(symbol)
                books: list[tuple[Hashable, Message]] = (
                    [] if book is None else [((BOOK_KEY, symbol), trim_book(book, depth))]
                )
                return Outcome(
                    messages.subscribed(symbol, cid, book=True, depth=depth), market=books
                )
            case UnsubscribeBook(symbol=symbol, id=cid):
                await self._unsubscribe_book(symbol)
                return Outcome(messages.unsubscribed(symbol, cid, book=True))
            case GetCandles(symbol=symbol, interval=interval, limit=limit, id=cid):
                candles = await engine.candles_message(symbol, interval, limit)
                return Outcome(messages.with_id(candles, cid))
            case PlaceOrder(request=order_request, id=cid):
                async with engine.market_for(order_request):
                    placed = engine.place_order(order_request)
                return Outcome(messages.with_id(placed, cid))
            case CancelOrder(order_id=order_id, id=cid):
                return Outcome(messages.with_id(engine.cancel_order(order_id), cid))
            case ClosePosition(position_id=position_id, quantity=quantity, id=cid):
                reply = engine.close_position(position_id, quantity)
                return Outcome(messages.with_id(reply, cid))
            case SetAlert(symbol=symbol, condition=condition, price=price, id=cid):
                return Outcome(await self._set_alert(symbol, condition, price, cid))
            case CancelAlert(alert_id=alert_id, id=cid):
                alert = self._alerts.cancel(alert_id)
                self._update_watch()
                await self._release_unused(alert.symbol)
                return Outcome(messages.message("ALERT_CANCELED", cid, **alert.to_wire()))
            case Resume(since=since, journal_id=journal_id, id=cid):
                return await self._resume(since, journal_id, cid, inline=inline)
            case Replay():
                return await self._start_replay(command, inline=inline)
        raise ProtocolError("UNKNOWN_ACTION", "unknown command", command.id)  # pragma: no cover

    # -- resume --------------------------------------------------------------------------
    def _refuse_resume(self, since: int, journal_id: str | None) -> str | None:
        """Why the server cannot resume from ``since`` (None: it can)."""
        ours = self.engine.journal_id
        if journal_id is not None and journal_id != ours:
            return f"journal {journal_id!r} is not this server's ({ours!r})"
        seq = self.engine.seq
        if since > seq:
            return f"since {since} is beyond this journal's seq {seq}"
        return None

    async def _stream_missed(self, since: int, *, paced: bool) -> int:
        """Queue the order events after ``since`` that this connection has not had:
        those up to its snapshot that no earlier resume sent.  A page at a time from
        the journal, each paid to the pacer, then (``paced``) waiting until the client
        took most of it; the loop runs other work between pages.  How many were
        queued."""
        upto = self._resumed_from
        if since >= upto:
            return 0
        self._resumed_from = since
        outbox, pacer, share = self.outbox, self.pacer, self.share
        count = 0
        pages = self._missed_pages(since, upto)
        try:
            while not (self._closed or outbox.closed):
                if share is not None:
                    await share.take(self.page_size)  # the loop's turn, shared by all resumes
                page = await anext(pages, None)  # one bounded read of the journal
                if page is None:
                    break
                if pacer is not None:
                    await pacer.bulk(len(page))
                for event in page:
                    outbox.push(event)
                count += len(page)
                if paced:
                    await outbox.drained(self.page_size)
                await asyncio.sleep(0)  # one page per turn, whatever the client's speed
        finally:
            await pages.aclose()
        return count

    async def _missed_pages(self, since: int, upto: int) -> AsyncGenerator[list[Message], None]:
        """The order events ``since`` < seq <= ``upto``, a page per step (a session
        whose events are elsewhere, a gateway's, reads them from there)."""
        for page in self.engine.order_update_pages(since, self.page_size, upto):
            yield page

    async def _resume(
        self, since: int, journal_id: str | None, command_id: CommandId, *, inline: bool
    ) -> Outcome:
        engine = self.engine
        refused = self._refuse_resume(since, journal_id)
        if refused is not None:
            reset = messages.resume_reset(engine.journal_id, engine.seq, refused, command_id)
            snapshot = self.snapshot()
            # Live events still queued are in the fresh snapshot: not sent after it.
            self.outbox.take_events()
            return Outcome(reset, after=snapshot)
        # Live events not yet written, and those published meanwhile, wait behind the
        # older ones (seq order), ahead of RESUMED.
        outbox = self.outbox
        outbox.hold_events()
        count = 0
        try:
            # The notebook's session without a consumer cannot wait for one.
            paced = not inline or bool(self._listeners or self._streams)
            count = await self._stream_missed(since, paced=paced)
        finally:
            count += outbox.release_events(after=since)
        resumed = messages.resumed(since, count, engine.seq, engine.journal_id, command_id)
        return Outcome(resumed, after=[engine.positions_message(), engine.portfolio_message()])

    # -- symbols -----------------------------------------------------------------------
    def _check_room(self, command_id: CommandId) -> None:
        if len(self._acquired | self._books_acquired) >= self.max_symbols:
            raise ProtocolError(
                "INVALID_PARAMS", f"at most {self.max_symbols} symbols per connection", command_id
            )

    async def _acquire(self, symbol: str, command_id: CommandId) -> str:
        if symbol in self._acquired:
            return symbol
        if symbol not in self._books_acquired:
            self._check_room(command_id)
        normalised = await self.engine.acquire_symbol(symbol)
        if self._closed:
            await self.engine.release_symbol(normalised)
            raise ProtocolError("INVALID_PARAMS", "session closed", command_id)
        self._acquired.add(normalised)
        return normalised

    async def _subscribe(self, symbol: str, command_id: CommandId) -> str:
        async with self._lock:
            symbol = await self._acquire(symbol, command_id)
            self._symbols.add(symbol)
            self.outbox.symbols = self._symbols
            return symbol

    async def _unsubscribe(self, symbol: str) -> None:
        async with self._lock:
            self._symbols.discard(symbol)
            self.outbox.symbols = self._symbols
            await self._release_unused(symbol)

    async def _release_unused(self, symbol: str) -> None:
        if symbol in self._symbols or self._alerts.symbol_in_use(symbol):
            return
        if symbol in self._acquired:
            self._acquired.discard(symbol)
            with contextlib.suppress(WorkspaceError):
                await self.engine.release_symbol(symbol)

    async def _subscribe_book(self, symbol: str, depth: int, command_id: CommandId) -> str:
        async with self._lock:
            if symbol not in self._books_acquired:
                if symbol not in self._acquired:
                    self._check_room(command_id)
                normalised = await self.engine.acquire_book(symbol)
                if self._closed:
                    await self.engine.release_book(normalised)
                    raise ProtocolError("INVALID_PARAMS", "session closed", command_id)
                self._books_acquired.add(normalised)
                symbol = normalised
            self._books[symbol] = depth
            self.outbox.set_book(symbol, depth)
            return symbol

    async def _unsubscribe_book(self, symbol: str) -> None:
        async with self._lock:
            self._books.pop(symbol, None)
            self.outbox.set_book(symbol, None)
            if symbol in self._books_acquired:
                self._books_acquired.discard(symbol)
                with contextlib.suppress(WorkspaceError):
                    await self.engine.release_book(symbol)

    # -- alerts ----------------------------------------------------------------------------
    async def _set_alert(
        self, symbol: str, condition: str, price: Any, command_id: CommandId
    ) -> Message:
        if len(self._alerts) >= self._alerts.max_alerts:
            raise InvalidParams(f"at most {self._alerts.max_alerts} alerts per connection")
        async with self._lock:
            symbol = await self._acquire(symbol, command_id)
            alert = self._alerts.add(symbol, condition, price)
            self._update_watch()
        return messages.message("ALERT_SET", command_id, **alert.to_wire())

    def _update_watch(self) -> None:
        self.outbox.watch(self._alerts.symbols, self._on_market if len(self._alerts) else None)

    def _on_market(self, update: Message) -> None:
        """Every ``MARKET_UPDATE`` of a symbol with an alert, as published (so an alert
        sees every price, whether or not this client keeps up)."""
        fired = self._alerts.on_market(update)
        if not fired:
            return
        for alert, price in fired:
            # ``price`` is the alert's level; ``trigger_price`` what crossed it.
            wire = {**alert.to_wire(), "trigger_price": float(price)}
            self.outbox.push(messages.message("ALERT", None, **wire))
            self._release_later(alert.symbol)
        self._update_watch()

    def _release_later(self, symbol: str) -> None:
        if self._closed or symbol in self._symbols or self._alerts.symbol_in_use(symbol):
            return
        task = asyncio.get_running_loop().create_task(
            self._release_unused(symbol), name=f"session.release.{symbol}"
        )
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    # -- replay -------------------------------------------------------------------------
    async def _start_replay(self, command: Replay, *, inline: bool) -> Outcome:
        if self.replaying:
            raise InvalidParams("a replay is already running on this connection")
        if inline:
            # The caller awaits the reply; the ticks go to the listeners, if any.
            consumer = bool(self._listeners or self._streams)
            return Outcome(await self._run_replay(command, deliver=consumer))
        self._replay = asyncio.get_running_loop().create_task(
            self._replay_task(command), name=f"session.replay.{command.symbol}"
        )
        return Outcome(None)  # REPLAY_DONE follows the ticks

    async def _replay_task(self, command: Replay) -> None:
        try:
            done = await self._run_replay(command, deliver=True)
        except WorkspaceError as exc:
            done = messages.error(exc.code, str(exc) or exc.code, command.id)
        except Exception:
            _log.exception("replay failed")
            done = messages.error("INTERNAL", "replay failed", command.id)
        await self.outbox.push_bulk(done)

    async def _run_replay(self, command: Replay, *, deliver: bool) -> Message:
        count = 0
        ticks = self.engine.replay_ticks(command.symbol, command.start, command.end, command.speed)
        async for tick in ticks:
            if self._closed:
                break
            if deliver and self.pacer is not None and count % REPLAY_CHUNK == 0:
                await self.pacer.bulk(REPLAY_CHUNK)  # the budget, a chunk ahead
            # Paced by the consumer: the bulk lane holds a bounded number of ticks.
            if deliver and not await self.outbox.push_bulk(tick):
                break
            count += 1
        return messages.replay_done(command.symbol, command.start, command.end, count, command.id)

    # -- the outbound stream (notebook) ------------------------------------------------------
    async def next_message(self) -> Message:
        """The next message for the client (single consumer).  Raises SessionClosed."""
        try:
            return await self.outbox.get()
        except SubscriptionClosed as exc:
            raise SessionClosed(str(exc)) from None

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        self._ensure_pump()

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    async def stream(self) -> AsyncIterator[Message]:
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._streams.append(queue)
        self._ensure_pump()
        try:
            while (message := await queue.get()) is not None:
                yield message
        finally:
            if queue in self._streams:
                self._streams.remove(queue)

    def _ensure_pump(self) -> None:
        if self._pump is None and not self._closed:
            self._pump = asyncio.get_running_loop().create_task(
                self._run_pump(), name="session-pump"
            )

    async def _run_pump(self) -> None:
        outbox = self.outbox
        try:
            while True:
                batch = [await self.next_message(), *outbox.take(PUMP_BATCH - 1)]
                for message in batch:
                    for listener in tuple(self._listeners):
                        try:
                            result = listener(message)
                            if inspect.isawaitable(result):
                                await result
                        except Exception:
                            _log.exception("session listener failed")
                    for queue in tuple(self._streams):
                        queue.put_nowait(message)
        except SessionClosed:
            pass
        finally:
            for queue in tuple(self._streams):
                queue.put_nowait(None)

    # -- teardown --------------------------------------------------------------------------
    async def close(self) -> None:
        """Release every symbol, book, alert, replay and the outbox.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = [task for task in (self._replay, self._pump) if task is not None]
        for task in tasks:
            task.cancel()
        self.outbox.close()
        # Releases in flight finish (cancelled, one would leave its symbol held).
        for task in [*tasks, *self._releases]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for symbol in tuple(self._acquired):
            with contextlib.suppress(Exception):
                await self.engine.release_symbol(symbol)
        for symbol in tuple(self._books_acquired):
            with contextlib.suppress(Exception):
                await self.engine.release_book(symbol)
        self._acquired.clear()
        self._books_acquired.clear()
        self._symbols.clear()
        self._books.clear()
