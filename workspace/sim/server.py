"""The exchange simulator: Binance's spot stream protocol and REST basics on loopback.

One ``websockets`` server, one port: WebSocket handshakes on ``/ws...`` and
``/stream...`` get the stream protocol, plain HTTP ``GET /api/v3/...`` is answered
from the ``process_request`` hook.  The data comes from a seeded random walk shared
by every connection (:mod:`workspace.sim.market`) or, with ``SimConfig(replay=...)``,
from a recording replayed to each connection from its first subscription on
(:mod:`workspace.sim.replay`).

The protocol logic lives in sans-I/O pieces (:mod:`~workspace.sim.control`,
:mod:`~workspace.sim.rest`, :mod:`~workspace.sim.routes`); this module is the asyncio
shell: connections, the market pump, fan-out and the fault hooks tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import random
import ssl
from collections import Counter, deque
from collections.abc import Sequence
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from workspace.market.records import Ticker
from workspace.sim.book import SimBook
from workspace.sim.candles import CandleStore
from workspace.sim.clock import Clock, WallClock
from workspace.sim.config import SimConfig, SymbolSpec
from workspace.sim.control import ControlSession
from workspace.sim.faults import BadRecord, corrupt
from workspace.sim.firehose import build_firehose
from workspace.sim.market import Emission, RandomWalkMarket, RecentTrade
from workspace.sim.outbox import Outbox
from workspace.sim.replay import Replay, load_replay
from workspace.sim.rest import MarketView, handle_rest
from workspace.sim.routes import parse_route
from workspace.sim.streams import StreamName
from workspace.sim.weights import WeightMeter
from workspace.sim.window import WindowStats
from workspace.sim.wire import combine, encode_json, encode_record
from workspace.tls import server_context

logger = logging.getLogger(__name__)

# A text frame that is valid UTF-8 (so the client's websocket layer accepts it) but not
# JSON: what a parser sees when an upstream proxy or exchange sends junk.
_STOP_GRACE_S = 3.0
GARBAGE_FRAME = b'<html>502 Bad Gateway</html> {"stream":'


class _Client:
    """One stream connection: its subscriptions, its outbox, its tasks."""

    def __init__(self, ws: ServerConnection, control: ControlSession, limit: int) -> None:
        self.ws = ws
        self.control = control
        self.outbox = Outbox(limit)
        self.control_times: deque[float] = deque()
        self.started = False  # firehose / replay begun (on the first subscription)
        self.paused = False  # no live frames while its firehose is being built
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()

    def frame(self, stream: str, payload: bytes) -> bytes:
        return combine(stream, payload) if self.control.combined else payload


class _MarketView:
    """REST's view of the random walk (the shape :mod:`workspace.sim.rest` needs)."""

    def __init__(self, market: RandomWalkMarket) -> None:
        self._market = market

    def specs(self) -> Sequence[SymbolSpec]:
        return self._market.specs()

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None:
        # Never ask the window about a time before the market's last event.
        return self._market.ticker(symbol, max(now_ms, self._market.now_ms))

    def window_stats(self, symbol: str, window_ms: int, now_ms: int) -> WindowStats | None:
        return self._market.window_stats(symbol, window_ms, now_ms)

    def candles(self, symbol: str) -> CandleStore | None:
        return self._market.candles(symbol)

    def book(self, symbol: str) -> SimBook | None:
        return self._market.book(symbol)

    def recent_trades(self, symbol: str) -> Sequence[RecentTrade]:
        return self._market.recent_trades(symbol)

    def avg_price(self, symbol: str) -> tuple[int, int] | None:
        return self._market.avg_price(symbol)


class ExchangeSimulator:
    """Binance's stream protocol on 127.0.0.1, fed by a random walk or a replay.

    >>> sim = ExchangeSimulator(SimConfig(seed=7))      # doctest: +SKIP
    >>> await sim.start(port=0); sim.stream_url          # doctest: +SKIP
    'ws://127.0.0.1:54321'
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._clock: Clock = self.config.clock or WallClock()
        self._server: Server | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        self._refuse_until = 0.0
        self._stall_until = 0.0
        self._stall_over = asyncio.Event()
        self._stall_over.set()
        self._stepped = asyncio.Condition()
        self._membership = asyncio.Condition()
        self._firehose_cache: dict[tuple[tuple[str, ...], bool], list[bytes]] = {}
        self._market: RandomWalkMarket | None = None
        self._replay: Replay | None = None
        self._specs: tuple[SymbolSpec, ...] = ()
        self._host = "127.0.0.1"
        self._port = 0
        self._tls = self.config.tls_cert is not None
        # How many connections listen to each stream: the market builds only those.
        self._listeners: Counter[str] = Counter()
        self._weights = WeightMeter(self.config.rest_weight_per_minute)

    # -- lifecycle --------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        cfg = self.config
        if cfg.replay is not None:
            self._replay = load_replay(cfg.replay)
            self._specs = tuple(self._replay.specs())
        else:
            self._specs = cfg.symbol_specs()
            self._market = RandomWalkMarket(
                self._specs,
                random.Random(cfg.seed),
                self._clock.time_ms(),
                trade_interval_ms=max(1, round(cfg.trade_interval_s * 1000)),
                book_interval_ms=max(1, round(cfg.book_interval_s * 1000)),
                ticker_interval_ms=max(1, round(cfg.ticker_interval_s * 1000)),
                stagger=cfg.stagger_tickers,
                seed=cfg.seed,
                book_depth=cfg.book_depth,
                history_days=cfg.history_days,
                trade_memory=cfg.trade_memory,
            )
        context: ssl.SSLContext | None = None
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            context = server_context(cfg.tls_cert, cfg.tls_key)
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            ping_interval=cfg.ping_interval_s,
            ping_timeout=cfg.ping_timeout_s,
            max_size=cfg.max_frame_bytes,
            compression=None,
            # Stop quickly even when a client has stopped reading.
            close_timeout=2.0,
            reuse_address=True,  # a restart on the same port must not wait for TIME_WAIT
            ssl=context,
        )
        self._host = host
        self._port = self._server.sockets[0].getsockname()[1] if self._server.sockets else port
        if self._market is not None:
            self._pump_task = asyncio.create_task(self._pump(), name="sim-market-pump")
        logger.info("exchange simulator listening on %s", self.stream_url)

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
            self._pump_task = None
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), _STOP_GRACE_S)
            except TimeoutError:
                # A client that neither reads nor closes (its socket leaked) would hold
                # the closing handshake until the keepalive gives up: cut it.
                for client in list(self._clients):
                    client.ws.transport.abort()
                await server.wait_closed()
        for client in list(self._clients):
            await client.closed.wait()

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def stream_url(self) -> str:
        return f"{'wss' if self._tls else 'ws'}://{self._host}:{self._port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self._port}"

    @property
    def market(self) -> RandomWalkMarket | None:
        """The random walk (None while replaying): its books, candles, trades."""
        return self._market

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(spec.symbol for spec in self._specs)

    @property
    def connections(self) -> int:
        return len(self._clients)

    def subscribers(self, stream: str) -> int:
        """How many open connections are subscribed to ``stream`` now."""
        return self._listeners.get(stream, 0)

    async def wait_for_subscribers(self, stream: str, count: int) -> None:
        """Return once exactly ``count`` connections are subscribed to ``stream`` (tests
        of clients that subscribe and unsubscribe on their own)."""
        async with self._membership:
            await self._membership.wait_for(lambda: self.subscribers(stream) == count)

    async def wait_for_connections(self, count: int = 1) -> None:
        """Return once at least ``count`` stream connections are open (for tests)."""
        async with self._membership:
            await self._membership.wait_for(lambda: len(self._clients) >= count)

    async def _membership_changed(self) -> None:
        async with self._membership:
            self._membership.notify_all()

    # -- fault hooks --------------------------------------------------------------

    async def drop_connections(self) -> None:
        """Cut every stream connection without a close frame (a network drop)."""
        clients = list(self._clients)
        for client in clients:
            client.ws.transport.abort()
        for client in clients:
            await client.closed.wait()

    async def refuse_connections(self, seconds: float) -> None:
        """Answer new handshakes with HTTP 503 for ``seconds`` (0 lifts it)."""
        self._refuse_until = asyncio.get_running_loop().time() + seconds

    async def send_server_shutdown(self) -> None:
        """Send Binance's ``{"e":"serverShutdown","E":...}`` to every connection; a
        combined one gets it in the envelope of the ``!serverShutdown`` stream, as
        Binance sends it there (web-socket-streams.md, "Server Shutdown")."""
        event = encode_json({"e": "serverShutdown", "E": self._clock.time_ms()})
        for client in self._clients:
            client.outbox.put_control(client.frame("!serverShutdown", event))

    async def send_garbage(self) -> None:
        """Send every connection a text frame that is not JSON."""
        for client in self._clients:
            client.outbox.put_control(GARBAGE_FRAME)

    async def stall(self, seconds: float) -> None:
        """Send no market data for ``seconds`` (0 lifts it); connections and pings stay."""
        loop = asyncio.get_running_loop()
        self._stall_until = loop.time() + seconds
        if seconds <= 0:
            self._stall_over.set()
            return
        self._stall_over.clear()
        loop.call_later(seconds, self._end_stall)

    async def skip_depth_updates(self, symbol: str | None = None, events: int = 1) -> None:
        """Lose the next ``events`` diff depth events of ``symbol`` (every symbol when
        None): subscribers see ``U`` jump past ``previous u + 1`` and must resync."""
        if self._market is None:
            raise RuntimeError("depth streams exist only on the random walk, not in a replay")
        if events < 1:
            raise ValueError("events must be >= 1")
        self._market.skip_depth_events(symbol.upper() if symbol else None, events)

    async def send_bad_record(self, stream: str, kind: BadRecord) -> int:
        """Send every connection subscribed to ``stream`` (``btcusdt@aggTrade``,
        ``@trade``, ``@ticker``, ``@miniTicker`` or ``@bookTicker``) one record of it
        with the fault ``kind`` (see :mod:`workspace.sim.faults`); returns how many
        connections got it."""
        if self._market is None:
            raise RuntimeError("bad records are built from the random walk, not a replay")
        symbol, _, kind_name = stream.partition("@")
        template = self._market.sample_payload(symbol.upper(), kind_name)
        payload = corrupt(template, kind)
        sent = 0
        for client in self._clients:
            if client.control.is_subscribed(stream):
                client.outbox.put_control(client.frame(stream, payload))
                sent += 1
        return sent

    def _end_stall(self) -> None:
        if asyncio.get_running_loop().time() >= self._stall_until:
            self._stall_over.set()

    def _stalled(self) -> bool:
        return not self._stall_over.is_set()

    # -- HTTP -----------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        target = request.path
        if target.startswith("/api/"):
            # (websockets before 16 has no method: it refused anything but GET itself)
            return self._rest(connection, target, getattr(request, "method", "GET"))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _json_response(404, encode_json({"code": -1000, "msg": "Not found."}))
        if asyncio.get_running_loop().time() < self._refuse_until:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        route = parse_route(target)
        if route is None:
            body = encode_json({"code": -1, "msg": "Illegal format ws or stream"})
            return _json_response(400, body)
        if route.unsupported is not None:
            return _json_response(400, encode_json({"code": -1, "msg": route.unsupported}))
        if len(route.streams) > self.config.max_streams_per_connection:
            body = encode_json({"code": -1, "msg": "Too many streams"})
            return _json_response(400, body)
        return None

    def _rest(self, connection: ServerConnection, target: str, method: str) -> Response:
        now = self._clock.time_ms()
        view: MarketView = self._replay if self._replay is not None else self._market_view()
        answer = handle_rest(target, view, now, method)
        address = connection.remote_address
        ip = str(address[0]) if address else "?"
        charge = self._weights.charge(ip, answer.weight, now)
        headers = [("X-MBX-USED-WEIGHT-1M", str(charge.used))]
        if answer.allow is not None:
            headers.append(("Allow", answer.allow))
        if charge.refused:
            limit = self._weights.limit
            body = encode_json(
                {
                    "code": -1003,
                    "msg": f"Too much request weight used; current limit is {limit} request "
                    "weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                    "avoid polling the API.",
                }
            )
            headers.append(("Retry-After", str(charge.retry_after_s)))
            return _json_response(429, body, headers)
        return _json_response(answer.status, answer.body, headers)

    def _market_view(self) -> _MarketView:
        assert self._market is not None
        return _MarketView(self._market)

    # -- connections -------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        route = parse_route(ws.request.path if ws.request is not None else "/ws")
        if route is None:  # process_request refuses these; defensive only
            await ws.close(1008, "Illegal format ws or stream")
            return
        cfg = self.config
        control = ControlSession(
            route.streams,
            combined=route.combined,
            max_streams=cfg.max_streams_per_connection,
            max_message_bytes=cfg.max_control_bytes,
        )
        client = _Client(ws, control, cfg.send_queue_frames)
        self._clients.add(client)
        sender = asyncio.create_task(self._send_loop(client), name="sim-send")
        try:
            if route.streams:
                self._listeners.update(s.name for s in route.streams)
                self._on_subscribed(client, route.streams)
            await self._membership_changed()
            async for message in ws:
                if self._over_rate(client):
                    # Binance closes the connection of a client that floods it.
                    await ws.close(1008, "Too many requests")
                    break
                result = control.handle(message)
                client.outbox.put_control(result.reply)
                if result.added:
                    self._listeners.update(s.name for s in result.added)
                    self._on_subscribed(client, result.added)
                if result.removed:
                    self._listeners.subtract(result.removed)
                    self._forget_silent()
                if result.added or result.removed:
                    await self._membership_changed()
        except ConnectionClosed:
            pass
        finally:
            self._listeners.subtract(s.name for s in client.control.streams)
            self._forget_silent()
            self._clients.discard(client)
            for task in (sender, *client.tasks):
                task.cancel()
            for task in (sender, *client.tasks):
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
            client.closed.set()
            await self._membership_changed()

    def _forget_silent(self) -> None:
        for name in [n for n, count in self._listeners.items() if count <= 0]:
            del self._listeners[name]

    def _over_rate(self, client: _Client) -> bool:
        now = asyncio.get_running_loop().time()
        times = client.control_times
        while times and now - times[0] >= 1.0:
            times.popleft()
        times.append(now)
        return len(times) > self.config.max_control_messages_per_s

    async def _send_loop(self, client: _Client) -> None:
        ws = client.ws
        try:
            while True:
                item = await client.outbox.get()
                if isinstance(item, bytes):
                    await ws.send(item, text=True)
                else:
                    for frame in item:
                        await ws.send(frame, text=True)
        except ConnectionClosed:
            pass

    def _on_subscribed(self, client: _Client, added: Sequence[StreamName]) -> None:
        if client.started:
            return
        client.started = True
        if self._replay is not None:
            task = asyncio.create_task(self._replay_to(client, self._replay), name="sim-replay")
            client.tasks.append(task)
        elif self.config.firehose > 0:
            self._start_firehose(client)

    # -- data ------------------------------------------------------------------------

    async def _pump(self) -> None:
        market = self._market
        assert market is not None
        max_behind_ms = round(self.config.max_catch_up_s * 1000)
        while True:
            await self._clock.sleep_until(market.next_due_ms())
            now = self._clock.time_ms()
            if now - market.next_due_ms() > max_behind_ms:
                logger.warning(
                    "market %.1f s behind the clock: skipping ahead", (now - market.now_ms) / 1000
                )
                market.skip_to(now)
            else:
                self._fan_out(market.step(self._listeners.__contains__))
            async with self._stepped:
                self._stepped.notify_all()
            # Yield even when catching up, so connections are served meanwhile.
            await asyncio.sleep(0)

    def _fan_out(self, emissions: Sequence[Emission]) -> None:
        if not emissions or self._stalled():
            return
        for emission in emissions:
            raw = encode_record(emission.record)
            combined: bytes | None = None
            for client in self._clients:
                if client.paused or not client.control.is_subscribed(emission.stream):
                    continue
                if client.control.combined:
                    if combined is None:
                        combined = combine(emission.stream, raw)
                    client.outbox.put_live(combined)
                else:
                    client.outbox.put_live(raw)

    async def caught_up(self) -> None:
        """Return once every event due by the clock's current time has been queued.

        With a :class:`~workspace.sim.clock.ManualClock`, ``await clock.advance(ms)``
        then ``await sim.caught_up()`` means: the frames of that period are on their
        way, and anything sent after this point comes after them.
        """
        market = self._market
        if market is None or self._pump_task is None:
            return
        async with self._stepped:
            await self._stepped.wait_for(lambda: market.next_due_ms() > self._clock.time_ms())

    def _start_firehose(self, client: _Client) -> None:
        streams = tuple(
            s.name
            for s in client.control.streams
            if s.served and s.kind in ("ticker", "aggTrade") and s.symbol in self.symbols
        )
        if streams:
            client.paused = True
            task = asyncio.create_task(self._firehose_to(client, streams), name="sim-firehose")
            client.tasks.append(task)

    async def _firehose_to(self, client: _Client, streams: tuple[str, ...]) -> None:
        key = (streams, client.control.combined)
        frames = self._firehose_cache.get(key)
        if frames is None:
            # Built in a thread so that other connections are served meanwhile.
            frames = await asyncio.to_thread(
                build_firehose,
                {spec.symbol: spec for spec in self._specs},
                streams,
                self.config.firehose,
                combined=client.control.combined,
                seed=self.config.seed,
                # Event times end just before now, so live data carries on forward.
                start_ms=self._clock.time_ms() - self.config.firehose,
            )
            self._firehose_cache[key] = frames
        client.outbox.put_control(frames)
        client.paused = False

    async def _replay_to(self, client: _Client, replay: Replay) -> None:
        speed = self.config.speed
        started_ms = self._clock.time_ms()
        first_ms: int | None = None
        count = 0
        for event in replay.events():
            if first_ms is None:
                first_ms = event.at_ms
            if speed > 0:
                await self._clock.sleep_until(started_ms + round((event.at_ms - first_ms) / speed))
            await self._stall_over.wait()
            if client.control.is_subscribed(event.stream):
                await client.outbox.put_paced(client.frame(event.stream, event.payload))
            count += 1
            if count % 64 == 0:
                await asyncio.sleep(0)  # building events is CPU work: let others run
        logger.info(
            "replay of %s finished (%d events); the connection stays open", replay.name, count
        )


def _json_response(status: int, body: bytes, extra: Sequence[tuple[str, str]] = ()) -> Response:
    headers = Headers(
        [
            ("Content-Type", "application/json;charset=UTF-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *extra,
        ]
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, body)
