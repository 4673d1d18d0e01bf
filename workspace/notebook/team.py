"""``Team``: the accounts of a multi-user server in one process (``serve --users FILE``).

One market feed (``SharedFeed``), one ``Workspace`` per user of the users file, each
with its own engine, journal file (``user_journal_path``), ``seq`` and ``journal_id``:
nothing of one account reaches another.  Every account runs from the start, so its
open orders fill while its user is away; a user added to the users file later gets
their account when the file is read again (on their first connection at the latest).
A removed user's account stops taking connections; its journal is kept.

The server asks ``authenticate(token)`` then ``engine_for(user)`` (``AccountRouter``
of ``workspace.server.app``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.engine.feed_port import FeedFactory
from workspace.engine.shared_feed import SharedFeed
from workspace.errors import InvalidParams
from workspace.notebook.workspace import Workspace, live_feed_factory, parse_feed
from workspace.protocol.engine_api import EngineApi
from workspace.trading.config import AccountConfig
from workspace.users import UnknownUser, UserDirectory, Users

log = logging.getLogger("workspace.engine")


class Team:
    def __init__(
        self,
        users: UserDirectory | str | Path,
        *,
        feed: str = "sim",
        db: str | Path | None = None,
        account: AccountConfig | None = None,
        engine: EngineConfig | None = None,
        feed_config: Any = None,
        sim_config: Any = None,
        owns: Callable[[str], bool] | None = None,
        feed_factory: FeedFactory | None = None,
    ) -> None:
        """``db``: the team's journal name (each user's account in a file beside it);
        ``None``: in memory (a temporary folder per account).  ``account``: the
        settings every new account starts from (fees, shorts); the users file gives
        each one its balances.  ``owns``: which users' accounts run here (an engine's
        shard); default every user.  ``feed_factory``: the shared feed built by the
        caller (``feed="bus"``: a scale-out engine's ``BusFeed``)."""
        kind, _ = parse_feed(feed)
        if kind == "replay":
            raise InvalidParams(
                "multi-user mode needs a live feed (sim or binance): a replay is one account's"
            )
        if (kind == "bus") != (feed_factory is not None):
            raise InvalidParams("feed 'bus' and feed_factory go together")
        self.feed_kind = kind
        self._given_factory = feed_factory
        self.directory = users if isinstance(users, UserDirectory) else UserDirectory(str(users))
        self.db = None if db is None else Path(db).expanduser()
        self._account = account
        self._engine_config = engine if engine is not None else EngineConfig()
        self._feed_config = feed_config
        self._sim_config = sim_config
        self.shared: SharedFeed | None = None
        self._simulator: Any = None
        self.accounts: dict[str, Workspace] = {}
        self._market_only: Workspace | None = None
        self._starting: dict[str, asyncio.Task[Workspace]] = {}
        self._running = False
        self.owns: Callable[[str], bool] = owns if owns is not None else (lambda _: True)
        self.on_account: list[Callable[[str, Workspace], None]] = []
        """Called when an account opens after ``start`` (a user added meanwhile)."""

    async def start(self, connect_timeout: float | None = None) -> Team:
        if self._given_factory is not None:
            factory = self._given_factory
        else:
            factory, self._simulator = await live_feed_factory(
                self.feed_kind, self._engine_config, self._feed_config, self._sim_config
            )
        self.shared = SharedFeed(factory)
        self._running = True
        self.directory.on_change.append(self._users_changed)
        try:
            await asyncio.gather(
                *(
                    self.workspace(name, connect_timeout)
                    for name in self.directory.users.names
                    if self.owns(name)
                )
            )
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        self._running = False
        if self._users_changed in self.directory.on_change:
            self.directory.on_change.remove(self._users_changed)
        for task in self._starting.values():
            task.cancel()
        if self._market_only is not None:
            try:
                await self._market_only.stop()
            except Exception as error:
                log.error("stopping the market's engine failed: %s", error)
            self._market_only = None
        for name, workspace in list(self.accounts.items()):
            try:
                await workspace.stop()
            except Exception as error:
                log.error("stopping the account of %s failed: %s", name, error)
        self.accounts.clear()
        if self.shared is not None:
            await self.shared.stop()
            self.shared = None
        if self._simulator is not None:
            await self._simulator.stop()
            self._simulator = None

    async def __aenter__(self) -> Team:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- accounts --------------------------------------------------------------------
    async def workspace(self, user: str, connect_timeout: float | None = 0) -> Workspace:
        """``user``'s running account (started on first use).  Raises ``UnknownUser``."""
        found = self.accounts.get(user)
        if found is not None:
            return found
        if not self._running or self.shared is None:
            raise InvalidParams("the team is not running")
        task = self._starting.get(user)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._open(user, connect_timeout), name=f"team.open.{user}"
            )
            self._starting[user] = task
            task.add_done_callback(lambda _: self._starting.pop(user, None))
        return await asyncio.shield(task)

    async def _open(self, user: str, connect_timeout: float | None) -> Workspace:
        record = self.directory.users.get(user)
        assert self.shared is not None
        workspace = Workspace(
            feed=self.feed_kind,
            db=self.db,
            account=record.account_config(self._account),
            engine=self._engine_config,
            user=user,
            shared_feed=self.shared,
        )
        await workspace.start(connect_timeout)
        self.accounts[user] = workspace
        for callback in tuple(self.on_account):
            callback(user, workspace)
        return workspace

    def engine(self, user: str) -> Engine:
        return self.accounts[user].engine

    async def market_engine(self) -> Engine:
        """An engine on the team's feed for what serves the market rather than an
        account (a scale-out feed owner's market commands and streams): the first
        account's, or, with no account here yet, one of nobody's: a temporary account
        (its journal a temporary file) that no user can reach, so that an engine whose
        shard has no user yet still serves the market to the others."""
        if self.accounts:
            return self.accounts[sorted(self.accounts)[0]].engine
        if self._market_only is None:
            if not self._running or self.shared is None:
                raise InvalidParams("the team is not running")
            workspace = Workspace(
                feed=self.feed_kind,
                account=self._account,
                engine=self._engine_config,
                shared_feed=self.shared,
            )
            await workspace.start()
            self._market_only = workspace
        return self._market_only.engine

    def _users_changed(self, old: Users, new: Users) -> None:
        if not self._running:
            return
        for name in new.names:
            if (
                name not in old
                and self.owns(name)
                and name not in self.accounts
                and name not in self._starting
            ):
                task = asyncio.get_running_loop().create_task(
                    self.workspace(name), name=f"team.add.{name}"
                )
                task.add_done_callback(_log_failure)

    # -- the server's AccountRouter ---------------------------------------------------
    async def authenticate(self, token: str | None) -> str | None:
        return await self.directory.authenticate(token)

    async def engine_for(self, user: str, since: int | None = None) -> EngineApi:
        if user not in self.directory.users or not self.owns(user):
            raise UnknownUser(f"no user {user!r}")
        return (await self.workspace(user)).engine


def _log_failure(task: asyncio.Task[Workspace]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("opening a new user's account failed: %s", task.exception())
