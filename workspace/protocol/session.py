"""``ProtocolSession``: one client's view of the engine, speaking PROTOCOL.md.

One per server connection and one inside ``Workspace`` for the notebook.  It owns the
client's symbols, alerts, replays and the ordering rules of its outbound stream; it
holds no trading logic (orders go straight to the ``EngineApi``).

Everything the client will receive flows through the session's single engine
subscription, so that direct replies, live events and resumed events come out in one
well-defined order.  Messages the session itself adds are wrapped in an internal
envelope (type ``_SESSION``) so the hub keeps them in order instead of conflating a
reply with a periodic update of the same type.

Order events: each ``seq`` reaches the client at most once per connection.  Live
events up to the snapshot's ``seq`` (the baseline) are already reflected in the
snapshot and are dropped; ``resume`` delivers from the journal every event after
``since`` that this connection has not delivered yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

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
    GetOrders,
    GetPortfolio,
    GetPositions,
    Ping,
    PlaceOrder,
    ProtocolError,
    Replay,
    Resume,
    SetAlert,
    SubscribeTicker,
    UnsubscribeTicker,
    command_id_of,
    parse_command,
)
from workspace.protocol.engine_api import EngineApi
from workspace.protocol.seqset import SeqSet
from workspace.session import Listener, Message

_log = logging.getLogger("workspace.protocol")

ENVELOPE = "_SESSION"
# How many replayed ticks may wait in the outbound stream: a replay at speed 0 is
# paced by the client's reading, not by memory.
REPLAY_CREDITS = 256
_UNBOUNDED = 1 << 62  # drain_ready without ``available``: until the queue is empty


class SessionClosed(Exception):
    """The session's stream ended (closed, or the engine dropped a consumer that fell
    too far behind)."""


def _envelope(kind: str, message: Message) -> Message:
    return {"type": ENVELOPE, "kind": kind, "message": message}


class ProtocolSession:
    def __init__(self, engine: EngineApi, *, max_symbols: int = 200, max_alerts: int = 200) -> None:
        self.engine = engine
        self.max_symbols = max_symbols
        self._subscription = engine.subscribe_messages(symbols=())
        # Looked up once: ``drain_ready`` calls it for every delivered message.
        self._get_nowait: Callable[[], Message] | None = getattr(
            self._subscription, "get_nowait", None
        )
        self._symbols: set[str] = set()  # what the client subscribed to
        self._acquired: set[str] = set()  # what this session holds on the engine
        self._alerts = AlertBook(max_alerts)
        self._lock = asyncio.Lock()
        self._baseline = engine.seq
        self._sent = SeqSet()
        # seq -> (id, reply) of replies that ride on the published copy of their event.
        self._reply_ids: dict[int, tuple[CommandId, Message]] = {}
        self._replays: set[asyncio.Task[None]] = set()
        self._replay_credits = asyncio.Semaphore(REPLAY_CREDITS)
        self._pending: list[Message] = []
        self._listeners: list[Listener] = []
        self._streams: list[asyncio.Queue[Message | None]] = []
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    # -- state ---------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def alerts(self) -> int:
        return len(self._alerts)

    @property
    def delivered_seq(self) -> int:
        return max(self._sent.highest, self._baseline)

    # -- commands --------------------------------------------------------------------
    def snapshot(self) -> list[Message]:
        """STATUS, PORTFOLIO_UPDATE, POSITION_UPDATE, ORDERS: what a connection gets
        first.  Sets the baseline ``seq`` for live order events."""
        orders = self.engine.orders_message()
        seq = orders.get("seq")
        self._baseline = seq if isinstance(seq, int) else self.engine.seq
        return [
            self.engine.status_message(),
            self.engine.portfolio_message(),
            self.engine.positions_message(),
            orders,
        ]

    async def request(self, command: Command | Mapping[str, Any] | str | bytes) -> Message:
        """Execute one command and return its direct reply (an ERROR for bad input;
        never raises for bad input).  Messages that follow the reply (a subscription's
        latest price, resumed events, replayed ticks) go to the stream."""
        reply, follow = await self._execute(command, inline=True)
        for message in follow:
            self._subscription.put(_envelope("direct", message))
        return reply

    def push(self, message: Message) -> None:
        """Queue a message the connection itself originates (a RATE_LIMITED error)
        behind what is already on the stream."""
        self._subscription.put(_envelope("direct", message))

    async def handle(
        self, frame: Command | Mapping[str, Any] | str | bytes, *, msgpack: bool = False
    ) -> None:
        """The server's path: execute one command and queue its reply (and whatever
        follows it) on the outbound stream, in order."""
        reply, follow = await self._execute(frame, inline=False, msgpack=msgpack)
        if reply.get("type") == ENVELOPE:
            self._subscription.put(reply)
        elif reply:
            self._subscription.put(_envelope("direct", reply))
        for message in follow:
            self._subscription.put(_envelope("direct", message))

    async def _execute(
        self, raw: Command | Mapping[str, Any] | str | bytes, *, inline: bool, msgpack: bool = False
    ) -> tuple[Message, list[Message]]:
        command_id: CommandId = command_id_of(raw)
        try:
            command = raw if isinstance(raw, COMMAND_TYPES) else parse_command(raw, msgpack=msgpack)
            command_id = command.id
            if self._closed:
                raise ProtocolError("INVALID_PARAMS", "session closed", command_id)
            return await self._dispatch(command, inline=inline)
        except ProtocolError as exc:
            reply_id = exc.id if exc.id is not None else command_id
            return messages.error(exc.code, exc.message, reply_id), []
        except WorkspaceError as exc:
            return messages.error(exc.code, str(exc) or exc.code, command_id), []
        except Exception:  # the engine's bug must not kill the connection
            _log.exception("command failed")
            return messages.error("INTERNAL", "internal error", command_id), []

    async def _dispatch(self, command: Command, *, inline: bool) -> tuple[Message, list[Message]]:
        engine = self.engine
        match command:
            case Ping(id=cid):
                return messages.pong(cid), []
            case GetPositions(id=cid):
                return messages.with_id(engine.positions_message(), cid), []
            case GetPortfolio(id=cid):
                return messages.with_id(engine.portfolio_message(), cid), []
            case GetOrders(status=status, id=cid):
                wanted = None if status in (None, "OPEN") else status
                return messages.with_id(engine.orders_message(wanted), cid), []
            case SubscribeTicker(symbol=symbol, id=cid):
                symbol = await self._subscribe(symbol)
                latest = engine.market_update(symbol)
                reply = messages.subscribed(symbol, cid)
                reply["symbol_info"] = engine.symbol_info(symbol)
                return reply, [latest] if latest else []
            case UnsubscribeTicker(symbol=symbol, id=cid):
                await self._unsubscribe(symbol)
                return messages.unsubscribed(symbol, cid), []
            case PlaceOrder(request=order_request, id=cid):
                return self._order_reply(engine.place_order(order_request), cid, inline), []
            case CancelOrder(order_id=order_id, id=cid):
                return self._order_reply(engine.cancel_order(order_id), cid, inline), []
            case ClosePosition(position_id=position_id, quantity=quantity, id=cid):
                reply = engine.close_position(position_id, quantity)
                return self._order_reply(reply, cid, inline), []
            case SetAlert(symbol=symbol, condition=condition, price=price, id=cid):
                return await self._set_alert(symbol, condition, price, cid), []
            case CancelAlert(alert_id=alert_id, id=cid):
                alert = self._alerts.cancel(alert_id)
                await self._release_unused(alert.symbol)
                return messages.message("ALERT_CANCELED", cid, **alert.to_wire()), []
            case Resume(since=since, id=cid):
                if inline:
                    return self._resume_inline(since, cid)
                marker: Message = {"type": ENVELOPE, "kind": "resume", "since": since, "id": cid}
                return marker, []
            case Replay():
                return await self._start_replay(command, inline=inline), []
        raise ProtocolError("UNKNOWN_ACTION", "unknown command", command.id)  # pragma: no cover

    def _order_reply(self, reply: Message, command_id: CommandId, inline: bool) -> Message:
        """The engine publishes the same event to every subscriber, this one included.
        On the server path the published copy becomes the reply (it gets the ``id``),
        so the client sees the event once and in ``seq`` order."""
        seq = reply.get("seq")
        if inline or not isinstance(seq, int) or seq <= self._baseline or seq in self._sent:
            return messages.with_id(reply, command_id)
        self._reply_ids[seq] = (command_id, reply)
        return {}

    # -- symbols -----------------------------------------------------------------------
    async def _acquire(self, symbol: str, command_id: CommandId) -> str:
        if symbol in self._acquired:
            return symbol
        if len(self._acquired) >= self.max_symbols:
            raise ProtocolError(
                "INVALID_PARAMS", f"at most {self.max_symbols} symbols per connection", command_id
            )
        normalised = await self.engine.acquire_symbol(symbol)
        if self._closed:
            await self.engine.release_symbol(normalised)
            raise ProtocolError("INVALID_PARAMS", "session closed", command_id)
        self._acquired.add(normalised)
        return normalised

    async def _subscribe(self, symbol: str) -> str:
        async with self._lock:
            symbol = await self._acquire(symbol, None)
            self._symbols.add(symbol)
            self._update_filter()
            return symbol

    async def _unsubscribe(self, symbol: str) -> None:
        async with self._lock:
            self._symbols.discard(symbol)
            self._update_filter()
            await self._release_unused(symbol, locked=True)

    async def _release_unused(self, symbol: str, *, locked: bool = False) -> None:
        if symbol in self._symbols or self._alerts.symbol_in_use(symbol):
            return
        if symbol in self._acquired:
            self._acquired.discard(symbol)
            self._update_filter()
            with contextlib.suppress(WorkspaceError):
                await self.engine.release_symbol(symbol)

    def _update_filter(self) -> None:
        # The hub reads ``symbols`` on every publish; a new set object is assigned so
        # a hub that indexes subscribers can hook the assignment.
        self._subscription.symbols = set(self._acquired)

    # -- alerts ----------------------------------------------------------------------------
    async def _set_alert(
        self, symbol: str, condition: str, price: Any, command_id: CommandId
    ) -> Message:
        if len(self._alerts) >= self._alerts.max_alerts:
            raise InvalidParams(f"at most {self._alerts.max_alerts} alerts per connection")
        async with self._lock:
            symbol = await self._acquire(symbol, command_id)
            alert = self._alerts.add(symbol, condition, price)
            self._update_filter()
        return messages.message("ALERT_SET", command_id, **alert.to_wire())

    # -- resume --------------------------------------------------------------------------
    def _missed(self, since: int) -> list[Message]:
        return [
            event
            for event in self.engine.order_events_since(since)
            if isinstance(event.get("seq"), int) and event["seq"] not in self._sent
        ]

    def _resume_inline(self, since: int, command_id: CommandId) -> tuple[Message, list[Message]]:
        missed = self._missed(since)
        for event in missed:
            self._subscription.put(_envelope("order", event))
        follow = [self.engine.positions_message(), self.engine.portfolio_message()]
        return messages.resumed(since, len(missed), self.engine.seq, command_id), follow

    def _resume_now(self, since: int, command_id: CommandId) -> list[Message]:
        out: list[Message] = []
        for event in self._missed(since):
            out.extend(self._order_out(event, live=False))
        out.append(messages.resumed(since, len(out), self.engine.seq, command_id))
        out.append(self.engine.positions_message())
        out.append(self.engine.portfolio_message())
        return out

    # -- replay -------------------------------------------------------------------------
    async def _start_replay(self, command: Replay, *, inline: bool) -> Message:
        if self._replays:
            raise InvalidParams("a replay is already running on this connection")
        if inline:
            return await self._run_replay(command, paced=bool(self._listeners or self._streams))
        task = asyncio.create_task(self._replay_task(command), name=f"replay-{command.symbol}")
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)
        return {}

    async def _replay_task(self, command: Replay) -> None:
        try:
            done = await self._run_replay(command, paced=True)
        except WorkspaceError as exc:
            done = messages.error(exc.code, str(exc) or exc.code, command.id)
        except Exception:
            _log.exception("replay failed")
            done = messages.error("INTERNAL", "replay failed", command.id)
        if not self._closed:
            self._subscription.put(_envelope("direct", done))

    async def _run_replay(self, command: Replay, *, paced: bool) -> Message:
        count = 0
        ticks = self.engine.replay_ticks(command.symbol, command.start, command.end, command.speed)
        async for tick in ticks:
            if self._closed:
                break
            if paced:
                await self._replay_credits.acquire()
            self._subscription.put(_envelope("replay" if paced else "direct", tick))
            count += 1
        return messages.replay_done(command.symbol, command.start, command.end, count, command.id)

    # -- the outbound stream ---------------------------------------------------------------
    async def next_message(self) -> Message:
        """The next message for the client, in order.  Single consumer (the server's
        writer, or the pump behind ``listen``/``stream``).  Raises SessionClosed."""
        while not self._pending:
            try:
                raw = await self._subscription.get()
            except Exception as exc:  # closed, or dropped by the hub for falling behind
                raise SessionClosed(str(exc)) from None
            self._route(raw)
        return self._pending.pop(0)

    def drain_ready(self, limit: int = 64, available: int | None = None) -> list[Message]:
        """Messages that are ready without waiting (lets a writer batch its sends).

        ``available``: how many items the subscription holds, when the caller knows
        (the server's direct write does): the drain stops there instead of asking the
        queue once more.  Same order as ``next_message``: what the session already
        holds first, then the subscription's items as routed by ``_route``.

        Fast path: a ``MARKET_UPDATE`` carries no ``seq`` and, while the connection
        has no alert, needs nothing from ``_route`` but the symbol check, so it goes
        straight out.  Everything else (order events, envelopes, replies, and market
        data while alerts are set) takes ``_route``, in the same position."""
        pending = self._pending
        if pending:
            out = pending[:limit]
            del pending[:limit]
        else:
            out = []
        get_nowait = self._get_nowait
        if get_nowait is None:
            return out
        remaining = _UNBOUNDED if available is None else available
        symbols = self._symbols
        alerts = self._alerts
        while remaining > 0 and not pending and len(out) < limit:
            remaining -= 1
            try:
                raw = get_nowait()
            except Exception:
                break
            if raw.get("type") == "MARKET_UPDATE" and not len(alerts):
                if raw.get("symbol") in symbols:
                    out.append(raw)
                continue
            self._route(raw)
            room = limit - len(out)
            out += pending[:room]
            del pending[:room]
        return out

    def _route(self, raw: Message) -> None:
        kind = raw.get("type")
        pending = self._pending
        if kind == "MARKET_UPDATE":
            if raw.get("symbol") in self._symbols:
                pending.append(raw)
            for alert, price in self._alerts.on_market(raw):
                # ``price`` is the alert's level; ``trigger_price`` what crossed it.
                wire = {**alert.to_wire(), "trigger_price": float(price)}
                pending.append(messages.message("ALERT", None, **wire))
                self._release_later(alert.symbol)
            return
        if kind == "ORDER_UPDATE":
            pending.extend(self._order_out(raw, live=True))
            return
        if kind == ENVELOPE:
            envelope_kind = raw.get("kind")
            if envelope_kind == "resume":
                pending.extend(self._resume_now(raw["since"], raw.get("id")))
                return
            inner: Message = raw["message"]
            if envelope_kind == "replay":
                self._replay_credits.release()
            elif envelope_kind == "order":
                pending.extend(self._order_out(inner, live=False))
                return
            pending.append(inner)
            return
        pending.append(raw)

    def _order_out(self, event: Message, *, live: bool) -> list[Message]:
        """An order event on its way out: each ``seq`` once per connection, and the
        event a command is waiting for carries that command's ``id`` (whichever path,
        live or resumed, delivers it first)."""
        seq = event.get("seq")
        if not isinstance(seq, int):
            return [event]
        if live and seq <= self._baseline and seq not in self._reply_ids:
            return []  # reflected in the snapshot
        if not self._sent.add(seq):
            return []
        waiting = self._reply_ids.pop(seq, None)
        if waiting is None:
            return [event]
        command_id, reply = waiting
        if _order_id(reply) == _order_id(event):
            return [messages.with_id(event, command_id)]
        return [event, messages.with_id(reply, command_id)]  # the reply was not this event

    def _release_later(self, symbol: str) -> None:
        if symbol in self._symbols or self._alerts.symbol_in_use(symbol):
            return
        task = asyncio.get_running_loop().create_task(self._release_unused(symbol))
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)

    # -- TradingSession: listen / stream ---------------------------------------------------
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
        try:
            while True:
                message = await self.next_message()
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
        """Release every symbol, alert, replay and the engine subscription.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = [*self._replays]
        if self._pump is not None:
            tasks.append(self._pump)
        for task in tasks:
            task.cancel()
        self._subscription.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for symbol in tuple(self._acquired):
            with contextlib.suppress(Exception):
                await self.engine.release_symbol(symbol)
        self._acquired.clear()
        self._symbols.clear()
        self._reply_ids.clear()


def _order_id(message: Message) -> object:
    order = message.get("order")
    return order.get("id") if isinstance(order, dict) else None
