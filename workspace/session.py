"""The one interface panels and bots program against.

Both the in-kernel engine (``workspace.Workspace``) and the remote client
(``workspace.client.RealtimeClient``) implement it, so a panel works the same on a
live engine, a replay, or a server on another machine.

Messages are the dicts of PROTOCOL.md (``{"type": "MARKET_UPDATE", ...}``) exactly as
they appear on the wire (numbers as JSON numbers, symbols upper case); commands are
the dicts a client sends (``{"action": "place_order", ...}``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeAlias, runtime_checkable

Message: TypeAlias = dict[str, Any]
Command: TypeAlias = dict[str, Any]
Listener: TypeAlias = Callable[[Message], object]
"""Called with each message; may be a plain function or return an awaitable."""


@runtime_checkable
class TradingSession(Protocol):
    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every message from now on; returns a function that
        stops it.  Market updates arrive for the session's subscribed symbols; a slow
        listener gets market data conflated per symbol, never order events dropped."""
        ...

    def stream(self) -> AsyncIterator[Message]:
        """The same messages as an ``async for`` iterator."""
        ...

    async def request(self, command: Command) -> Message:
        """Send one protocol command and return its direct reply (an ERROR message
        on bad input; never raises for bad input)."""
        ...
