"""The engine's one fan-out: each message is published once, here, and lands in the
``Outbox`` of every subscriber that wants it.

Subscribers are indexed by what they want, so publishing costs a dict lookup plus one
queue write per interested subscriber, never a scan of every subscriber:

- ``MARKET_UPDATE``: the outboxes holding its symbol (and those taking every symbol),
  plus the market watchers of that symbol (price alerts, which must see every price);
- ``BOOK_UPDATE``: the outboxes holding that book, each at its depth (the top levels
  are sliced once per depth, not per subscriber), at most ``book_interval_s`` apart per
  symbol (PROTOCOL.md: 10 per second);
- every other message (``ORDER_UPDATE``, ``POSITION_UPDATE``, ``STATUS`` ...): every
  outbox.

Publishing is synchronous and only writes into outboxes; their consumers are woken
once per loop turn by the hub's ``Doorbell`` (see ``workspace.protocol.outbox``), so a
slow consumer never slows the engine or another consumer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection

from workspace.protocol.outbox import BOOK_KEY, STATE_TYPES, Doorbell, Outbox, trim_book
from workspace.session import Message

_log = logging.getLogger("workspace.engine")

Interest = tuple[frozenset[str] | None, frozenset[tuple[str, int]], frozenset[str]]
_NOTHING: Interest = (frozenset(), frozenset(), frozenset())


class Hub:
    def __init__(
        self,
        max_pending: int = 10_000,
        *,
        book_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_pending = max_pending
        self.book_interval_s = book_interval_s
        self._clock = clock
        self._doorbell = Doorbell()
        self._outboxes: dict[Outbox, Interest] = {}
        self._every_symbol: set[Outbox] = set()
        self._tickers: dict[str, set[Outbox]] = {}
        self._books: dict[str, dict[int, set[Outbox]]] = {}
        self._watchers: dict[str, set[Outbox]] = {}
        # BOOK_UPDATE pacing per symbol: the latest not yet sent, when the last went out.
        self._book_latest: dict[str, Message] = {}
        self._book_sent: dict[str, float] = {}
        self._book_timers: dict[str, asyncio.TimerHandle] = {}
        self.published = 0

    # -- subscribers -----------------------------------------------------------------
    def subscribe(
        self, symbols: Collection[str] | None = None, *, max_pending: int | None = None
    ) -> Outbox:
        """A new outbox fed by this hub: every broadcast, and the ``MARKET_UPDATE``s of
        ``symbols`` (``None``: every symbol)."""
        outbox = Outbox(
            max_pending=max_pending or self._max_pending,
            router=self,
            doorbell=self._doorbell,
            symbols=symbols,
        )
        self._outboxes[outbox] = _NOTHING
        self.reindex(outbox)
        return outbox

    def reindex(self, outbox: Outbox) -> None:
        """``outbox`` changed what it wants: move it in the indexes (``Router``)."""
        old = self._outboxes.get(outbox)
        if old is None:
            return
        new: Interest = (
            outbox.symbols,
            frozenset(outbox.books.items()),
            outbox.watched,
        )
        self._move(outbox, old, new)
        self._outboxes[outbox] = new

    def discard(self, outbox: Outbox) -> None:
        """``outbox`` closed (``Router``)."""
        old = self._outboxes.pop(outbox, None)
        if old is not None:
            self._move(outbox, old, _NOTHING)

    def _move(self, outbox: Outbox, old: Interest, new: Interest) -> None:
        old_symbols, old_books, old_watched = old
        new_symbols, new_books, new_watched = new
        if old_symbols is None:
            self._every_symbol.discard(outbox)
        if new_symbols is None:
            self._every_symbol.add(outbox)
        _regroup(self._tickers, outbox, old_symbols or frozenset(), new_symbols or frozenset())
        _regroup(self._watchers, outbox, old_watched, new_watched)
        for symbol, depth in old_books - new_books:
            by_depth = self._books.get(symbol, {})
            holders = by_depth.get(depth)
            if holders is not None:
                holders.discard(outbox)
                if not holders:
                    del by_depth[depth]
            if not by_depth:
                self._books.pop(symbol, None)
        for symbol, depth in new_books - old_books:
            self._books.setdefault(symbol, {}).setdefault(depth, set()).add(outbox)

    # -- publishing ----------------------------------------------------------------------
    def publish(self, message: Message) -> None:
        self.published += 1
        kind = message.get("type")
        if kind == "MARKET_UPDATE":
            symbol: str = message.get("symbol")  # type: ignore[assignment]
            holders = self._tickers.get(symbol)
            if holders:
                for outbox in holders:
                    outbox.push_market(symbol, message)
            if self._every_symbol:
                for outbox in self._every_symbol:
                    outbox.push_market(symbol, message)
            watchers = self._watchers.get(symbol)
            if watchers:
                self._watch(tuple(watchers), message)
            return
        if kind == "BOOK_UPDATE":
            self._publish_book(message)
            return
        outboxes = tuple(self._outboxes)  # an outbox that overflows leaves mid-loop
        if kind in STATE_TYPES:
            for outbox in outboxes:
                outbox.push_state(kind, message)
        elif kind == "ORDER_UPDATE":
            for outbox in outboxes:
                outbox.push_event(message)
        else:
            for outbox in outboxes:
                outbox.push(message)

    @staticmethod
    def _watch(outboxes: tuple[Outbox, ...], message: Message) -> None:
        for outbox in outboxes:
            watcher = outbox.watcher
            if watcher is None:
                continue
            try:
                watcher(message)
            except Exception:  # never into the engine's feed callback
                _log.exception("a market watcher failed; closing its subscriber")
                outbox.close("watcher failed")

    def _publish_book(self, message: Message) -> None:
        symbol = message.get("symbol")
        if not isinstance(symbol, str) or symbol not in self._books:
            return
        self._book_latest[symbol] = message
        if symbol in self._book_timers:
            return  # a send is due: it takes the latest book
        now = self._clock()
        due = self._book_sent.get(symbol, float("-inf")) + self.book_interval_s
        if now >= due:
            self._send_book(symbol)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._send_book(symbol)
            return
        self._book_timers[symbol] = loop.call_later(due - now, self._send_book, symbol)

    def _send_book(self, symbol: str) -> None:
        self._book_timers.pop(symbol, None)
        message = self._book_latest.pop(symbol, None)
        by_depth = self._books.get(symbol)
        if message is None or not by_depth:
            return
        self._book_sent[symbol] = self._clock()
        key = (BOOK_KEY, symbol)
        for depth, holders in by_depth.items():
            trimmed = trim_book(message, depth)
            for outbox in holders:
                outbox.push_market(key, trimmed)

    # -- state -----------------------------------------------------------------------
    def close(self) -> None:
        for timer in self._book_timers.values():
            timer.cancel()
        self._book_timers.clear()
        for outbox in tuple(self._outboxes):
            outbox.close("engine stopped")

    @property
    def subscribers(self) -> int:
        return len(self._outboxes)

    @property
    def conflated(self) -> int:
        return sum(outbox.conflated for outbox in self._outboxes)

    @property
    def indexed_symbols(self) -> int:
        """Symbols with at least one ticker subscriber."""
        return len(self._tickers)


def _regroup(
    index: dict[str, set[Outbox]],
    outbox: Outbox,
    old: frozenset[str],
    new: frozenset[str],
) -> None:
    for symbol in old - new:
        holders = index.get(symbol)
        if holders is not None:
            holders.discard(outbox)
            if not holders:
                del index[symbol]
    for symbol in new - old:
        index.setdefault(symbol, set()).add(outbox)
