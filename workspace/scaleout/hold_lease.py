"""``HoldLease``: a reader's side of its lease on what it holds of the market engine
(a gateway's symbols and books, a bus-fed engine's symbols; ``holds.py``).

It names the holder (every acquire and release carries the name) and renews the lease
in the background with the full list of what the reader holds, at a third of the
lease the market engine reports.  The reader passes the lock that guards its acquires
and releases: a renewal's list is read and sent under it, so a renewal never carries a
list older than an acquire or release the engine has already seen.  Because it holds
that lock, a renewal waits for its reply at most ``RENEW_TIMEOUT_S``, not the client's
own timeout: with the market engine down, a subscriber's acquire waits behind a
renewal for at most that long before it tries (and fails with its own timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from workspace.bus.keys import BusKeys
from workspace.bus.link import raise_if_cancelled
from workspace.bus.rpc import CommandClient
from workspace.errors import WorkspaceError
from workspace.scaleout.holds import DEFAULT_TTL_S

_log = logging.getLogger("workspace.scaleout")

MIN_RENEW_S = 0.05
# a renewal holds the reader's lock while it waits; a live engine answers one in
# milliseconds, and a lost one is retried at the next (three per lease)
RENEW_TIMEOUT_S = 1.0


class HoldLease:
    def __init__(
        self,
        client: CommandClient,
        keys: BusKeys,
        role: str,
        held: Callable[[], dict[str, list[str]]],
        lock: asyncio.Lock,
    ) -> None:
        """``role``: what the holder is (``gateway``, ``engine-2``), for people reading
        the engine's ``holds``; ``held()``: what it holds now, by kind (``symbol``,
        ``book``), read under ``lock``."""
        self.client = client
        self.keys = keys
        self.holder = f"{role}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.every_s = DEFAULT_TTL_S / 3
        self._held = held
        self._lock = lock
        self._task: asyncio.Task[None] | None = None

    @property
    def renew_timeout_s(self) -> float:
        """How long a renewal waits for its reply (holding the reader's lock)."""
        return min(self.client.timeout_s, RENEW_TIMEOUT_S, self.every_s)

    def args(self, symbol: str) -> dict[str, Any]:
        """An acquire's or release's arguments, with the holder."""
        return {"symbol": symbol, "holder": self.holder}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"lease {self.holder}"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def give_up(self, timeout_s: float = 1.0) -> None:
        """Stop renewing and release everything held at once (a reader stopping on
        purpose; one killed leaves it to the lease).  Best effort."""
        await self.stop()
        with contextlib.suppress(Exception):  # stopping: the lease expires anyway
            await self.client.call(
                self.keys.market_commands,
                "renew_holds",
                {"holder": self.holder, "holds": {}},
                timeout_s=timeout_s,
            )

    async def renew(self) -> dict[str, Any]:
        """Renew now: the engine acquires what it lacks of what this reader holds and
        releases the rest.  Returns the engine's reply."""
        async with self._lock:
            reply: dict[str, Any] = await self.client.call(
                self.keys.market_commands,
                "renew_holds",
                {"holder": self.holder, "holds": self._held()},
                timeout_s=self.renew_timeout_s,
            )
        ttl = reply.get("ttl_s")
        if isinstance(ttl, int | float) and ttl > 0:
            self.every_s = max(MIN_RENEW_S, float(ttl) / 3)
        if reply.get("failed"):
            _log.warning("%s: the market engine could not acquire %s", self.holder, reply["failed"])
        return reply

    async def _run(self) -> None:
        while True:
            try:
                await self.renew()
            except WorkspaceError as error:
                raise_if_cancelled(error)
                # no market engine just now: its restart is noticed by engine_boot, and the
                # next renewal after it acquires everything again anyway
                _log.debug("%s: renewing the lease failed: %s", self.holder, error)
            except Exception as error:
                raise_if_cancelled(error)
                # anything else (Redis gone): the lease must outlive it, or the holds
                # would expire under a live reader
                _log.warning("%s: renewing the lease failed", self.holder, exc_info=True)
            raise_if_cancelled()
            await asyncio.sleep(self.every_s)
