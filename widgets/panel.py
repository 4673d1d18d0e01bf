"""The base of every panel: binds a ``TradingSession`` to an anywidget.

A panel listens to the session, feeds each message to its pure state model
(``widgets.state``), and pushes the state to its synced traits through a ``Coalescer``
(at most 10 flushes per second, all traits of one flush in one comm message via
``hold_sync``).  Commands go through ``session.request`` only, so a panel works the
same on the in-kernel engine, a replay and a remote ``RealtimeClient``.

Errors never vanish: an exception in a listener, a flush, a browser action or a
command, and every ``ERROR`` reply, lands in the ``error`` trait that the browser shows
in the panel's error bar (``.tw-error``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, ClassVar

import anywidget
import traitlets

from widgets.throttle import DEFAULT_INTERVAL_S, Coalescer, Scheduler
from workspace.errors import InvalidParams
from workspace.market.subscriptions import normalize_symbol
from workspace.session import Command, Message, TradingSession

log = logging.getLogger(__name__)

NOTICE_TTL_S = 4.0
"""A notice ("subscribed SOLUSDT", "order-7 FILLED") clears this long after it was set,
at a flush of the panel (timed by the coalescer's clock); errors stay until dismissed."""

COMMAND_TIMEOUT_S = 30.0
"""A command with no reply by then (a remote server gone quiet) is shown as failed
instead of leaving its button disabled forever."""


def wall_ms() -> int:
    return int(time.time() * 1000)


def checked_session(session: object, who: str) -> TradingSession:
    """``session`` if it is one a panel can listen to; a ``TypeError`` naming ``who``
    otherwise (before anything is built or listens)."""
    if not isinstance(session, TradingSession):
        raise TypeError(
            f"{who} needs a trading session (ws.session, a RealtimeClient), got "
            f"{type(session).__name__}"
        )
    return session


def panel_symbol(symbol: object) -> str:
    """A panel's symbol upper-cased, or "" (none chosen yet); a malformed one or one
    that is not a string raises ``MalformedSymbolError``."""
    if isinstance(symbol, str) and not symbol.strip():
        return ""
    return normalize_symbol(symbol)


def panel_symbols(symbols: object) -> list[str]:
    """Symbols for a panel: one given as a string, or a list of them, each checked as
    :func:`panel_symbol` checks one (a string is not read letter by letter)."""
    if isinstance(symbols, str):
        return [normalize_symbol(symbols)]
    if not isinstance(symbols, Iterable):
        raise InvalidParams(
            f"symbols must be a list of symbols like ['BTCUSDT'] (or one), got {symbols!r:.60}"
        )
    return [normalize_symbol(symbol) for symbol in symbols]


def reference(value: object, name: str, example: str) -> str:
    """An order or position id a panel action was given: a string, or ``InvalidParams``
    (a number or ``None`` was a ``TraitError`` about the panel's own list of pending ids)."""
    if not isinstance(value, str):
        raise InvalidParams(f"{name} must be a string like {example!r}, got {value!r:.60}")
    return value


def listen_link(session: TradingSession, callback: Callable[[str], None]) -> Callable[[], None]:
    """Follow a remote session's connection state (``RealtimeClient.on_state``:
    ``connected``, ``reconnecting``, ``closed``...); ``callback`` gets the current one
    at once.  An in-kernel session has no link: nothing is called.  Returns the
    function that stops following."""
    on_state = getattr(session, "on_state", None)
    if not callable(on_state):
        return lambda: None
    current = getattr(session, "state", None)
    if isinstance(current, str):
        callback(current)
    stop = on_state(callback)
    return stop if callable(stop) else (lambda: None)


class Panel(anywidget.AnyWidget):
    """Subclasses define ``css_class``, ``apply(message) -> bool`` and ``push()``."""

    css_class: ClassVar[str] = "tw-panel"
    # class-level defaults: ipywidgets may call close() (from __del__) on a half-built panel
    _closed = False
    _unlisten: Callable[[], None] | None = None
    coalescer: Coalescer | None = None
    _notice_at = 0.0
    _notice_timer: Any = None

    error = traitlets.Unicode("").tag(sync=True)
    """The last error, shown in the panel until the user dismisses it."""
    notice = traitlets.Unicode("").tag(sync=True)
    """The last outcome of a user action (e.g. "order-7 NEW")."""
    sent_ms = traitlets.Int(0).tag(sync=True)
    """Kernel wall clock of the last flush: the browser measures render latency from it."""
    event_ms = traitlets.Int(0).tag(sync=True)
    """Newest engine/exchange timestamp in the flushed state (event-to-render age)."""
    root_class = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        session: TradingSession,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] | None = None,
        scheduler: Scheduler | None = None,
        **kwargs: Any,
    ) -> None:
        checked_session(session, type(self).__name__)
        super().__init__(root_class=self.css_class, **kwargs)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError as exc:
            raise RuntimeError(
                f"{type(self).__name__} needs a running asyncio loop: create it in a "
                "Jupyter cell or inside async code"
            ) from exc
        self.session = session
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._newest_event_ms = 0
        self.coalescer = Coalescer(
            self._flush,
            interval,
            scheduler=scheduler or self._loop.call_later,
            clock=clock or time.monotonic,
            on_error=self.show_error,
        )
        self.on_msg(self._on_front_message)
        self._unlisten = session.listen(self._on_message)
        self.start()

    # -- to override ----------------------------------------------------------------
    def start(self) -> None:
        """Initial requests (snapshots, subscriptions); called once from __init__."""

    def apply(self, message: Message) -> bool:
        """Update the state model; True when what the panel shows changed."""
        raise NotImplementedError

    def push(self) -> None:
        """Copy the state model into traits (called inside ``hold_sync``)."""
        raise NotImplementedError

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        """A message from the browser (a button); may return a coroutine to run."""
        raise ValueError(f"unknown action {action!r}")

    # -- message flow -----------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        if self._closed:
            return
        try:
            timestamp = message.get("timestamp")
            if isinstance(timestamp, int) and timestamp > self._newest_event_ms:
                self._newest_event_ms = timestamp
            if self.apply(message):
                self.changed()
        except Exception as exc:
            self.show_error(exc, f"while handling {message.get('type')}")

    def feed(self, message: Message) -> None:
        """Apply a message as if it came from the session (direct replies, tests)."""
        self._on_message(message)

    @traitlets.observe("notice")
    def _notice_set(self, change: dict[str, Any]) -> None:
        """Time a new notice; a flush after NOTICE_TTL_S clears it."""
        if self.coalescer is None or not change["new"]:
            return
        self._notice_at = self.coalescer.now()
        self._expire_notice_in(NOTICE_TTL_S)

    def _expire_notice_in(self, delay: float) -> None:
        if self._notice_timer is not None:
            self._notice_timer.cancel()
        if self.coalescer is not None and not self._closed:
            self._notice_timer = self.coalescer.later(delay, self._notice_due)

    def _notice_due(self) -> None:
        self._notice_timer = None
        self.changed()  # the flush clears the notice (or re-arms if the clock says early)

    def _expire_notice(self) -> None:
        if not self.notice or self.coalescer is None:
            return
        left = self._notice_at + NOTICE_TTL_S - self.coalescer.now()
        if left <= 0:
            self._notice_timer = None
            self.notice = ""
        elif self._notice_timer is None:
            self._expire_notice_in(left)

    def _flush(self) -> None:
        with self.hold_sync():
            self._expire_notice()
            self.push()
            self.event_ms = self._newest_event_ms
            self.sent_ms = wall_ms()
        waiters, self._flush_waiters = self._flush_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def changed(self) -> None:
        """The state changed outside ``apply`` (a command's reply): flush soon."""
        if self.coalescer is not None:
            self.coalescer.mark()

    def changed_urgently(self) -> None:
        """What the user waits for changed (a fill moved their money): flush within
        ``URGENT_INTERVAL_S`` even when the panel's own interval is longer."""
        if self.coalescer is not None:
            self.coalescer.mark_urgent()

    def flush(self) -> None:
        """Push the current state now instead of at the next coalesced flush."""
        if self.coalescer is not None:
            self.coalescer.flush_now()

    def next_flush(self) -> asyncio.Future[None]:
        """A future done at the next flush (registered at once, so taking it before
        emitting cannot miss the flush); await it inside ``wait_for``."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._flush_waiters.append(waiter)
        return waiter

    # -- commands and errors ----------------------------------------------------------
    async def command(self, command: Command) -> Message:
        """``session.request`` that never raises: failures become an ERROR message,
        shown in the panel."""
        try:
            reply = await asyncio.wait_for(self.session.request(command), COMMAND_TIMEOUT_S)
        except Exception as exc:  # TimeoutError included
            self.show_error(exc, f"{command.get('action')} failed")
            return {"type": "ERROR", "code": type(exc).__name__, "message": str(exc)}
        if reply.get("type") == "ERROR":
            self.error = f"{command.get('action')}: {reply.get('code')}: {reply.get('message')}"
        return reply

    def show_error(self, error: BaseException | str, context: str = "") -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        if isinstance(error, BaseException):
            log.warning("%s %s", self.css_class, context, exc_info=error)
        self.error = f"{context}: {text}" if context else text

    def spawn(self, coro: Coroutine[Any, Any, object], name: str = "") -> asyncio.Task[Any]:
        """Run ``coro`` on the kernel's loop; its exception (if any) shows in the panel."""
        task = self._loop.create_task(coro, name=f"{self.css_class}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.show_error(exc, task.get_name())

    async def settle(self) -> None:
        """Wait for every command this panel started (tests, notebooks); wrap in
        ``wait_for``.  Long-running tasks (the status panel's metrics poll, the chart's
        candle poll) are skipped."""
        while pending := [
            t for t in self._tasks if not t.get_name().endswith((":metrics", ":poll"))
        ]:
            await asyncio.gather(*pending, return_exceptions=True)

    def _on_front_message(self, _widget: object, content: Any, _buffers: object) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("action"), str):
            return
        action = content["action"]
        if action == "dismiss_error":
            self.error = ""
            return
        try:
            result = self.on_action(action, content)
            if asyncio.iscoroutine(result):
                self.spawn(result, action)
        except Exception as exc:
            self.show_error(exc, action)

    # -- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        """Stop listening, cancel pending flushes and commands, close the comm."""
        if not self._closed:
            self._closed = True
            if self._unlisten is not None:
                self._unlisten()
                self._unlisten = None
            if self.coalescer is not None:
                self.coalescer.close()
            if self._notice_timer is not None:
                self._notice_timer.cancel()
                self._notice_timer = None
            for task in list(getattr(self, "_tasks", ())):
                task.cancel()
        super().close()
