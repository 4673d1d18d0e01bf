"""``EngineNode``: ``python -m workspace engine --bus redis://...``: the accounts (and,
on the engine given a real feed, the market feed) of the scale-out, on Redis Streams.

- Accounts: without a users file one account (bus name ``default``); with one, every
  user whose stable hash falls on this shard (``--shard i/N``), each with its journal
  file, on one shared feed (``Team``).
- Every account event goes to the journal first, then to ``P:events:{user}`` with entry
  id ``{seq}-0`` (``EventPublisher``); the account's ``POSITION_UPDATE``,
  ``PORTFOLIO_UPDATE`` and ``STATUS`` to ``P:state:{user}`` (latest few).
- Commands come from ``P:commands:{shard}`` (consumer group ``engine``; one at a time,
  in order).  An order command's reply is its order event (tagged ``r``), so a gateway
  answers its client in the event's place.  Before executing an order command the
  engine notes the command's entry id in the same journal transaction as the events it
  causes: a command redelivered after a crash that the journal already took is not
  executed twice.
- The engine given a real feed owns the market: ``P:commands:market`` (symbols, books,
  candles, in tasks of their own) and the market streams (``MarketPublisher``).  What
  gateways and the other shards' engines hold of it is leased (``Holds``): a holder
  that stops renewing (killed with -9) loses it after ``--hold-ttl``.
- One started ``--standby`` while another owns the feed takes the owner's market from
  Redis and claims the feed when the owner's claim lapses (``StandbyFeed``), then
  takes on those roles itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from workspace.bus import entries
from workspace.bus.claims import ClaimLost, claim_beat, release_claim, take_claim
from workspace.bus.keys import BusKeys
from workspace.bus.link import (
    Redis,
    close_quietly,
    fields_of,
    is_transient,
    open_redis,
    raise_if_cancelled,
    run_forever,
)
from workspace.bus.rpc import HEARTBEAT_TTL_MS, BusCommand, CommandConsumer, Reply, heartbeat
from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.engine.feed_port import FeedCallbacks, FeedFactory
from workspace.errors import EngineUnavailable, InvalidParams, NotFound, WorkspaceError
from workspace.notebook.team import Team
from workspace.notebook.workspace import Workspace, live_feed_factory
from workspace.protocol.commands import (
    CancelOrder,
    ClosePosition,
    Command,
    PlaceOrder,
    ProtocolError,
    parse_command,
)
from workspace.protocol.outbox import Outbox
from workspace.scaleout.bus_feed import OWNER_CHECK_S, BusFeed, depth_snapshot_of, listing_of
from workspace.scaleout.event_publisher import STATE_MAXLEN, EventPublisher
from workspace.scaleout.feed_records import RecordPublisher
from workspace.scaleout.holds import DEFAULT_TTL_S, Hold, Holds, parse_holds
from workspace.scaleout.market_publisher import MarketPublisher, market_status
from workspace.scaleout.shards import SINGLE_USER, Shard, shard_of
from workspace.scaleout.standby_feed import StandbyFeed

_log = logging.getLogger("workspace.scaleout")

NOTE_KEY = "bus.last_command"
USERS_CHECK_S = 1.0  # how often a running engine looks whether the users file changed
ANSWER_MARGIN_S = 1.0
"""What a place_order's wait for a first price leaves of its command's time: enough to
place it and write the reply before the gateway stops waiting."""


class EngineNode:
    def __init__(
        self,
        url: str,
        *,
        feed: str = "sim",
        db: str | Path | None = None,
        users: str | Path | None = None,
        shard: Shard | None = None,
        keys: BusKeys | None = None,
        engine_config: EngineConfig | None = None,
        feed_config: Any = None,
        sim_config: Any = None,
        hold_ttl_s: float = DEFAULT_TTL_S,
        standby: bool = False,
    ) -> None:
        """``feed``: ``sim``, ``binance`` or ``replay:PATH`` for the engine that owns the
        market feed (exactly one), ``bus`` for the engines of the other shards (they
        take the owner's market from Redis: ``BusFeed``).  ``hold_ttl_s``: the lease of
        what a gateway or another shard's engine holds of the market.  ``standby`` (with
        ``binance``): when another engine owns the feed, follow it from Redis and take the
        feed over once its claim lapses."""
        self.url = url
        self.keys = keys or BusKeys()
        self.feed = feed
        self.db = db
        self.users = users
        self.shard = shard or Shard()
        self.engine_config = engine_config
        self.feed_config = feed_config
        self.sim_config = sim_config
        self.owns_market = feed != "bus"
        self.standby = standby
        if standby and (feed != "binance" or self.shard.count < 2):
            raise InvalidParams(
                "--standby takes the feed over from its owner on the same exchange: it "
                "needs --feed binance (the exchange, or a simulator of its own process "
                "named by WORKSPACE_BINANCE_URL) and --shard i/N with N > 1"
            )
        self._standby_feed: StandbyFeed | None = None
        self.took_over = asyncio.Event()
        """Set when this standby has taken the market feed over."""
        self.lost = asyncio.Event()
        """Set when another engine took this one's claim (its shard or the feed):
        ``failure`` says which; the engine must stop."""
        self.failure: ClaimLost | None = None
        if not self.owns_market and self.shard.count < 2:
            raise InvalidParams(
                "--feed bus takes the market of another shard's engine: it needs --shard i/N "
                "with N > 1, and one engine of the N with --feed sim|binance"
            )
        self.team: Team | None = None
        self.workspace: Workspace | None = None
        self.accounts: dict[str, Engine] = {}
        self.publisher: EventPublisher | None = None
        self.market: MarketPublisher | None = None
        self.records: RecordPublisher | None = None
        self._redis: Redis | None = None
        self._consumers: list[CommandConsumer] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._states: list[Outbox] = []
        self._books: dict[str, int] = {}
        self.holds = Holds(hold_ttl_s)
        self._hold_locks: dict[str, asyncio.Lock] = {}
        self._stopping = False
        self._started = False

    @property
    def name(self) -> str:
        return f"engine-{self.shard.index}"

    async def start(self) -> EngineNode:
        if self.users is None and self.shard.count != 1:
            raise InvalidParams("--shard splits the users of a users file: give --users")
        redis = self._redis = open_redis(self.url)
        if self.standby:
            self.owns_market = await self._claim_if_free(redis)
        elif self.owns_market:
            await self._claim_market(redis)
        if self.owns_market:
            self._beat_as_owner()
        await self._claim_shard(redis)
        if self.users is not None:
            engine_config = self.engine_config or EngineConfig()
            self.team = Team(
                self.users,
                feed=self.feed if self.owns_market else "bus",
                db=self.db,
                engine=engine_config,
                feed_config=self.feed_config,
                sim_config=self.sim_config,
                owns=self.shard.owns,
                feed_factory=None
                if self.owns_market
                else await self._follower_factory(engine_config),
            )
            await self.team.start()
            self.accounts = {name: ws.engine for name, ws in self.team.accounts.items()}
            self.team.on_account.append(self._account_added)
            self._spawn(self._watch_users(), "engine.users")
        else:
            self.workspace = Workspace(
                feed=self.feed,
                db=self.db,
                engine=self.engine_config,
                feed_config=self.feed_config,
                sim=self.sim_config,
            )
            await self.workspace.start()
            self.accounts = {SINGLE_USER: self.workspace.engine}
        if not self.accounts:
            # a small team spread over a few shards leaves one empty more often than not
            # (3 users on 3 shards: 7 times in 9): it waits for its first user
            _log.warning(
                "no user of the users file falls on shard %s yet (users are spread by a "
                "hash of their name): accounts open here as users are added",
                self.shard,
            )
        self.publisher = EventPublisher(
            redis, self.keys, {user: engine.journal for user, engine in self.accounts.items()}
        )
        spawn = self._spawn
        spawn(
            run_forever(
                "event publisher",
                self.url,
                self._publish_events,
                stopping=lambda: self._stopping,
            ),
            "engine.events",
        )
        for user, engine in self.accounts.items():
            self._publish_state(user, engine)
        if self.owns_market:
            await self._start_market_roles()
        elif self.standby:
            if self.team is not None and not self.accounts:
                # the feed that watches the owner's claim runs under an engine: with no
                # account here yet, under nobody's (the one the market roles take)
                await self.team.market_engine()
            spawn(self._stand_by(), "engine.standby")
        accounts = CommandConsumer(
            self.url,
            self.keys,
            [self.keys.commands(self.shard.index)],
            self.name,
            self._account_command,
            sequential=True,
            name="account commands",
        )
        self._consumers.append(accounts)
        for consumer in self._consumers:
            consumer.start()
        self._started = True
        return self

    async def _start_market_roles(self) -> list[CommandConsumer]:
        """What the feed owner does besides its accounts: the market streams, the feed's
        records for the other shards, the market commands and the holds' leases.
        Returns the consumers to start."""
        redis = self._redis
        assert redis is not None
        spawn = self._spawn
        if self.team is not None:
            market_engine = await self.team.market_engine()
        else:
            market_engine = self.accounts[SINGLE_USER]
        self.market = MarketPublisher(market_engine, redis, self.keys)
        if self.shard.count > 1 and self.team is not None and self.team.shared is not None:
            # the other shards' engines take this feed's records (--feed bus)
            self.records = RecordPublisher(redis, self.keys)
            self.team.shared.taps.append(self.records.take)
            spawn(
                run_forever(
                    "feed records",
                    self.url,
                    self.records.run,
                    stopping=lambda: self._stopping,
                ),
                "engine.records",
            )
        spawn(
            run_forever(
                "market publisher",
                self.url,
                self.market.run,
                stopping=lambda: self._stopping,
            ),
            "engine.market",
        )
        market = CommandConsumer(
            self.url,
            self.keys,
            [self.keys.market_commands],
            f"market-{self.shard.index}",
            self._market_command,
            sequential=False,
            name="market commands",
        )
        self._consumers.append(market)
        spawn(heartbeat(redis, self.keys.engine("market"), b"market"), "engine.beat.market")
        spawn(self._expire_holds(), "engine.holds")
        return [market]

    def _beat_as_owner(self) -> None:
        assert self._redis is not None
        beat = claim_beat(
            self._redis, self.keys.feed_owner, self._owner_identity(), "the market feed"
        )
        self._spawn(beat, "engine.beat.owner")

    async def _follower_factory(self, engine_config: EngineConfig) -> FeedFactory:
        """The feed of an engine that does not own the market: the owner's records from
        Redis, and for a standby the exchange's own feed to switch to."""
        url, keys = self.url, self.keys

        def bus(callbacks: FeedCallbacks) -> BusFeed:
            return BusFeed(url, keys, callbacks, keep_books=engine_config.keep_books)

        if not self.standby:
            return bus
        real, _ = await live_feed_factory("binance", engine_config, self.feed_config)

        def standby(callbacks: FeedCallbacks) -> StandbyFeed:
            self._standby_feed = StandbyFeed(bus(callbacks), real, callbacks)
            return self._standby_feed

        return standby

    async def _claim_if_free(self, redis: Redis) -> bool:
        """A standby claims the feed only when no engine holds it (or it is its own
        claim, the same engine restarted in place)."""
        return await take_claim(redis, self.keys.feed_owner, self._owner_identity()) is None

    async def _stand_by(self) -> None:
        """Follow the owner until its claim lapses, then claim the feed (one standby
        wins: ``SET NX``), switch this engine's feed to the exchange and take on the
        owner's roles; the gateways' and other shards' leases come back to this engine
        as they renew them, and the other shards see its new ``engine_boot``."""
        feed = self._standby_feed
        redis = self._redis
        assert feed is not None
        assert redis is not None
        while True:
            await feed.bus.owner_gone.wait()
            try:
                if await self._claim_if_free(redis):
                    break
            except Exception as error:
                raise_if_cancelled(error)
                if not is_transient(error):
                    raise
            raise_if_cancelled()
            await asyncio.sleep(OWNER_CHECK_S)  # another standby won, or Redis is away
        _log.warning("the feed owner's claim lapsed: %s takes the market feed over", self.name)
        self.owns_market = True
        self._beat_as_owner()
        await feed.take_over()
        for engine in self.accounts.values():
            engine.source = self.feed  # STATUS says where the prices come from now
        for consumer in await self._start_market_roles():
            consumer.start()
        if self.market is not None:  # (nobody's engine, on a shard with no user yet)
            self.market.engine.source = self.feed
        self.took_over.set()

    def _owner_identity(self) -> str:
        """Who owns the feed: the same name for an engine restarted in its place (the
        same machine and shard), another for any other engine."""
        return f"{socket.gethostname()}:shard {self.shard}"

    def _shard_identity(self) -> str:
        """Who runs this shard: the same for an engine restarted in its place (the same
        machine and journal file), another for any other engine.  Journals in temporary
        files belong to their process: two such engines are two engines."""
        if self.db is None:
            return f"{socket.gethostname()}:temporary journals of pid {os.getpid()}"
        return f"{socket.gethostname()}:{Path(self.db).expanduser().resolve()}"

    async def _claim_shard(self, redis: Redis) -> None:
        """Exactly one engine runs a shard: a second one (another machine, another
        journal) would take half of its users' commands into accounts of its own, and
        both would number their events from the same ``seq``.  It is refused while the
        first one beats; the claim lapses 10 s after the last beat."""
        mine = self._shard_identity()
        key = self.keys.engine(self.shard.index)
        holder = await take_claim(redis, key, mine)
        if holder is not None:
            raise InvalidParams(
                f"another engine runs shard {self.shard} ({holder}): stop it first "
                f"(its claim lapses {HEARTBEAT_TTL_MS // 1000} s after its last beat)"
            )
        self._spawn(claim_beat(redis, key, mine, f"shard {self.shard}"), "engine.beat")

    async def _claim_market(self, redis: Redis) -> None:
        """Exactly one engine owns the market feed (and takes the market commands): a
        second one refuses to start while the first is alive."""
        holder = await take_claim(redis, self.keys.feed_owner, self._owner_identity())
        if holder is not None:
            raise InvalidParams(
                f"another engine owns the market feed ({holder}): start this one "
                "with --feed bus, or stop that one first"
            )

    async def _publish_events(self) -> None:
        assert self.publisher is not None
        await self.publisher.resync()
        await self.publisher.run()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._ended)
        self._tasks.append(task)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        """A role of the engine that ended on an error says so when it ends, not only
        (swallowed) when the engine stops: a standby that could not watch its owner once
        died without a word and never took the feed over.  A lost claim stops the
        engine (``lost``)."""
        if task.cancelled() or (error := task.exception()) is None:
            return
        if isinstance(error, ClaimLost):
            _log.error("%s", error)
            if self.failure is None:
                self.failure = error
            self.lost.set()
            return
        _log.error("%s failed: %r", task.get_name(), error, exc_info=error)

    async def _added_account(self, user: str) -> Engine | None:
        """The account of a user added to the users file since the file was last read
        (a gateway, which reads it at the handshake, may ask before the engine's own
        check has): opened now, if this shard owns the user.  Before, such a user was
        refused ("unknown user") until the engine restarted."""
        team = self.team
        if team is None or not self.shard.owns(user):
            return None
        if user not in team.directory.refresh():
            return None
        await team.workspace(user)  # (``_account_added`` takes it into ``accounts``)
        return self.accounts.get(user)

    async def _watch_users(self) -> None:
        """Reads the users file when it changes (one ``stat`` a second): a user added
        while running gets an account on their shard at once, as on ``serve --users``."""
        assert self.team is not None
        directory = self.team.directory
        while not self._stopping:
            await asyncio.sleep(USERS_CHECK_S)
            directory.refresh()

    def _account_added(self, user: str, workspace: Workspace) -> None:
        """A user added to the users file while running (on this shard)."""
        if not self.shard.owns(user) or user in self.accounts:
            return
        self.accounts[user] = workspace.engine
        if self.publisher is not None:
            self.publisher.attach(user, workspace.engine.journal)
        self._publish_state(user, workspace.engine)

    def _publish_state(self, user: str, engine: Engine) -> None:
        """The account's periodic state (and feed STATUS) to ``P:state:{user}``."""
        outbox = engine.subscribe_messages(symbols=())
        self._states.append(outbox)
        key = self.keys.state(user)
        url = self.url
        redis = self._redis
        assert redis is not None

        async def copy() -> None:
            while True:
                batch = [await outbox.get(), *outbox.take(63)]
                async with redis.pipeline(transaction=False) as pipe:
                    count = 0
                    for message in batch:
                        if message.get("type") in ("POSITION_UPDATE", "PORTFOLIO_UPDATE", "STATUS"):
                            pipe.xadd(
                                key,
                                fields_of({"m": entries.dumps(message)}),
                                maxlen=STATE_MAXLEN,
                                approximate=True,
                            )
                            count += 1
                    if count:
                        await pipe.execute()

        self._spawn(
            run_forever(f"state of {user}", url, copy, stopping=lambda: self._stopping),
            f"engine.state.{user}",
        )

    # -- commands ---------------------------------------------------------------------
    async def _account_command(self, command: BusCommand) -> Reply:
        user = command.user or SINGLE_USER
        engine = self.accounts.get(user) or await self._added_account(user)
        if engine is None:
            team = self.team
            count = self.shard.count
            if team is not None and not self.shard.owns(user) and user in team.directory.users:
                # not an unknown user (a client must not hear that): a misrouted one
                raise WorkspaceError(
                    f"{user!r} is on shard {shard_of(user, count)}/{count}, not on "
                    f"{self.name}'s {self.shard}: a gateway started with another --shards "
                    f"than the engines' ({count}) sent it here"
                )
            raise NotFound(f"no account {user!r} on {self.name}")
        action = command.action
        args = command.args
        if action == "snapshot":
            return Reply(value=await self._snapshot(user, engine))
        if action == "get_orders":
            status = args.get("status")
            return Reply(value=engine.orders_message(status if isinstance(status, str) else None))
        if action == "get_positions":
            return Reply(value=engine.positions_message())
        if action == "get_portfolio":
            return Reply(value=engine.portfolio_message())
        if action == "order":
            return await self._order(user, engine, command)
        raise InvalidParams(f"unknown account command {action!r}")

    async def _snapshot(self, user: str, engine: Engine) -> dict[str, Any]:
        orders = engine.orders_message()
        snapshot = {
            "status": engine.status_message(),
            "portfolio": engine.portfolio_message(),
            "positions": engine.positions_message(),
            "orders": orders,
        }
        assert self.publisher is not None
        await self.publisher.wait_published(user, int(orders.get("seq") or 0))
        return snapshot

    async def _order(self, user: str, engine: Engine, command: BusCommand) -> Reply:
        journal = engine.journal
        if command.redelivered:
            done = journal.meta(NOTE_KEY)
            if done is not None and _id_key(done) >= _id_key(command.entry_id):
                # taken by the journal before a crash: its events are in the stream
                return Reply(
                    error=(
                        "ENGINE_RESTARTED",
                        "the engine restarted after executing this command: "
                        "its order events are delivered on the account's stream",
                    )
                )
        try:
            parsed = parse_command(entries.dumps(command.args))
        except ProtocolError as error:
            return Reply(error=(error.code, error.message))
        if isinstance(parsed, PlaceOrder):
            # an order on a symbol with no market yet is placed on its first price, as
            # ``serve`` places it; the wait ends in time to answer before the deadline
            left_s = command.deadline_ms / 1000 - time.time()
            async with engine.market_for(parsed.request, within_s=left_s - ANSWER_MARGIN_S):
                if command.deadline_ms < time.time() * 1000:
                    raise EngineUnavailable(
                        f"the command's deadline passed while the order waited for the first "
                        f"{parsed.request.symbol} price: nothing was placed"
                    )
                return self._execute_order(user, engine, command, parsed)
        return self._execute_order(user, engine, command, parsed)

    def _execute_order(
        self, user: str, engine: Engine, command: BusCommand, parsed: Command
    ) -> Reply:
        journal = engine.journal
        journal.note(NOTE_KEY, command.entry_id)
        try:
            match parsed:
                case PlaceOrder(request=request):
                    message = engine.place_order(request)
                case CancelOrder(order_id=order_id):
                    message = engine.cancel_order(order_id)
                case ClosePosition(position_id=position_id, quantity=quantity):
                    message = engine.close_position(position_id, quantity)
                case _:
                    raise InvalidParams(f"{type(parsed).__name__} is not an order command")
        finally:
            journal.clear_note()
        seq = message.get("seq")
        assert self.publisher is not None
        if isinstance(seq, int) and self.publisher.tag(user, seq, command.tag):
            return Reply(via_event=True)
        return Reply(value=message)

    async def _market_command(self, command: BusCommand) -> Reply:
        engine = self.market.engine if self.market is not None else None
        if engine is None:
            raise InvalidParams("this engine does not own the market")
        args = command.args
        symbol = args.get("symbol")
        action = command.action
        if action == "status":
            return Reply(value=market_status(engine.status_message()))
        if action == "listing":
            return Reply(value=listing_of(await self._real_feed().exchange_symbols()))
        holder = args.get("holder")
        if holder is not None and (not isinstance(holder, str) or not holder):
            raise InvalidParams("holder must be a non-empty string")
        if action == "renew_holds":
            if holder is None:
                raise InvalidParams("renew_holds needs a holder")
            return Reply(value=await self._renew_holds(engine, holder, args.get("holds")))
        if action == "holds":
            streaming = sorted(self._real_feed().subscribed)
            return Reply(
                value={
                    "ttl_s": self.holds.ttl_s,
                    "holders": self._holders_message(),
                    "streaming": streaming,
                }
            )
        if not isinstance(symbol, str):
            raise InvalidParams("symbol required")
        if action in ("acquire_symbol", "acquire_book"):
            kind: Literal["symbol", "book"] = "symbol" if action == "acquire_symbol" else "book"
            async with self._hold_lock(holder):
                name = await self._acquire(engine, (kind, symbol))
                if holder is not None and not self.holds.acquired(
                    holder, (kind, name), time.monotonic()
                ):
                    await self._release(engine, (kind, name))  # a retry: held already
            if kind == "symbol":
                return Reply(value={"symbol": name, "symbol_info": engine.symbol_info(name)})
            return Reply(value={"symbol": name, "book": engine.book_update(name)})
        if action in ("release_symbol", "release_book"):
            hold: Hold = ("symbol" if action == "release_symbol" else "book", symbol.upper())
            async with self._hold_lock(holder):
                if holder is None or self.holds.released(holder, hold, time.monotonic()):
                    await self._release(engine, hold)
            return Reply(value=None)
        if action == "depth_snapshot":
            book = self._real_feed().book(symbol.upper())
            if book is None:
                raise NotFound(f"no order book of {symbol.upper()} here (yet)")
            return Reply(value=depth_snapshot_of(book))
        if action == "replay_page":
            start, end = _integer(args, "start"), _integer(args, "end")
            after, page = _integer(args, "after"), _integer(args, "limit")
            rows = engine.recorded_ticks(symbol, start, end, after, max(1, min(page, 1000)))
            return Reply(value={"rows": [[row_id, message] for row_id, message in rows]})
        if action == "candles":
            interval, limit = args.get("interval"), args.get("limit")
            if not isinstance(interval, str) or not isinstance(limit, int):
                raise InvalidParams("interval and limit required")
            return Reply(value=await engine.candles_message(symbol, interval, limit))
        raise InvalidParams(f"unknown market command {action!r}")

    # -- what gateways and other shards hold of the market ------------------------------
    async def _acquire(self, engine: Engine, hold: Hold) -> str:
        kind, symbol = hold
        if kind == "symbol":
            return await engine.acquire_symbol(symbol)
        name = await engine.acquire_book(symbol)
        self._books[name] = self._books.get(name, 0) + 1
        assert self.market is not None
        self.market.hold_book(name, True)
        return name

    async def _release(self, engine: Engine, hold: Hold) -> None:
        kind, name = hold
        if kind == "symbol":
            await engine.release_symbol(name)
            return
        await engine.release_book(name)
        self._books[name] = self._books.get(name, 0) - 1
        if self._books[name] <= 0:
            self._books.pop(name, None)
            assert self.market is not None
            self.market.hold_book(name, False)

    def _hold_lock(self, holder: str | None) -> asyncio.Lock | contextlib.nullcontext[None]:
        if holder is None:
            return contextlib.nullcontext()
        lock = self._hold_locks.get(holder)
        if lock is None:
            lock = self._hold_locks[holder] = asyncio.Lock()
        return lock

    async def _renew_holds(self, engine: Engine, holder: str, holds: object) -> dict[str, Any]:
        """``holder`` is alive and holds exactly ``holds``: acquire what it lacks here,
        release what it no longer names (docs/scale-out.md, "Leases")."""
        try:
            wanted = parse_holds(holds)
        except ValueError as error:
            raise InvalidParams(str(error)) from None
        async with self._hold_lock(holder):
            renewal = self.holds.renew(holder, wanted, time.monotonic())
            for hold in renewal.release:
                await self._release(engine, hold)
            failed: list[str] = []
            for hold in renewal.acquire:
                try:
                    await self._acquire(engine, hold)
                except WorkspaceError as error:
                    self.holds.failed(holder, hold)
                    failed.append(f"{hold[0]} {hold[1]}: {error}")
        return {
            "ttl_s": self.holds.ttl_s,
            "acquired": len(renewal.acquire) - len(failed),
            "released": len(renewal.release),
            "failed": failed,
        }

    def _holders_message(self) -> dict[str, dict[str, list[str]]]:
        return {
            holder: {kind: [name for k, name in held if k == kind] for kind in ("symbol", "book")}
            for holder, held in self.holds.holders().items()
        }

    async def _expire_holds(self) -> None:
        """Release what the holders that stopped renewing held (a gateway killed -9)."""
        every = self.holds.ttl_s / 4
        while True:
            await asyncio.sleep(every)
            engine = self.market.engine if self.market is not None else None
            if engine is None:
                continue
            for holder, held in self.holds.expire(time.monotonic()).items():
                _log.warning("%s stopped renewing its lease: releasing %d holds", holder, len(held))
                async with self._hold_lock(holder):
                    for hold in held:
                        with contextlib.suppress(WorkspaceError):
                            await self._release(engine, hold)
                if not self.holds.knows(holder):
                    self._hold_locks.pop(holder, None)

    def _real_feed(self) -> Any:
        """The feed this engine owns (what its accounts' engines share)."""
        if self.team is not None and self.team.shared is not None:
            return self.team.shared.feed
        if self.workspace is not None:
            return self.workspace.engine._feed
        raise InvalidParams("this engine has no feed")

    # -- stopping ------------------------------------------------------------------------
    async def stop(self) -> None:
        self._stopping = True
        for engine in self.accounts.values():
            # orders waiting for a first price are answered now, placed nowhere; the
            # commands under way then end before the consumers' grace does
            engine.announce_stop()
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for outbox in self._states:
            outbox.close()
        if self.team is not None:
            await self.team.stop()
        if self.workspace is not None:
            await self.workspace.stop()
        if self._redis is not None:
            # (a start refused half-way leaves the claim alone: the same name may be a
            # running engine's, this one a duplicate on its machine)
            if self._started:  # (the claims go at once; else they lapse in 10 s)
                claims = [(self.keys.engine(self.shard.index), self._shard_identity())]
                if self.owns_market:
                    claims.append((self.keys.feed_owner, self._owner_identity()))
                for key, mine in claims:
                    with contextlib.suppress(Exception):  # best effort: the key expires anyway
                        await release_claim(self._redis, key, mine)
            await close_quietly(self._redis)

    @property
    def journals(self) -> Mapping[str, Any]:
        return {user: engine.journal for user, engine in self.accounts.items()}


def _integer(args: Mapping[str, Any], key: str) -> int:
    value = args.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParams(f"{key} required (an integer)")
    return value


def _id_key(entry_id: str) -> tuple[int, int]:
    try:
        return entries.stream_id_key(entry_id)
    except ValueError:
        return (0, 0)


__all__ = ["EngineNode", "WorkspaceError"]
