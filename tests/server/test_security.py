"""Issue 16, the server half, over real sockets on 127.0.0.1: origins safe by default
(cross-site WebSocket hijacking), idempotent orders, connection caps, the /health
split and its 503, deep JSON, floods closed with 1008 even with a close pipelined
behind, hostile frames answered with clear errors and a live server afterwards, and
50 clients resuming from 0 at once while another client's ping is answered."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from tests.engine.test_journal_degraded import Refusal
from tests.server.ws_peer import TIMEOUT, Peer, PeerFactory, http_get
from workspace import Workspace
from workspace.client import RealtimeClient
from workspace.notebook.team import Team
from workspace.server import RealtimeServer, ServerLimits
from workspace.server.auth import is_loopback_origin, parse_origins
from workspace.trading.requests import OrderRequest, OrderType, Side
from workspace.users import UsersFile


async def handshake_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=TIMEOUT, **kwargs):
            pass
    return info.value.response.status_code


async def first_type(url: str, **kwargs: Any) -> str:
    async with connect(url, open_timeout=TIMEOUT, **kwargs) as websocket:
        message: str = json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))["type"]
        return message


async def close_of(peer: Peer) -> tuple[int | None, str]:
    """Read until the server closes: its close code and reason."""
    try:
        while True:
            await asyncio.wait_for(peer.ws.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")


# -- origins -------------------------------------------------------------------------
LOOPBACK_ORIGINS = [
    "http://localhost:8888",
    "http://127.0.0.1:1",
    "http://[::1]:8888",
    "https://localhost",
    "http://127.0.0.2:5000",
    "HTTP://LOCALHOST:8888",
]
FOREIGN_ORIGINS = [
    "https://evil.example",
    "http://evil.example:8000",
    "null",  # a sandboxed frame, a file
    "http://localhost.evil.example",
    "http://127.0.0.1.evil.example:8888",
    "http://192.168.1.10:8888",
    "file://",
    "http://localhost:8888/path",
    "http://user@localhost:8888",
    "http://localhost:notaport",
    "ws://localhost:8888",
]


@pytest.mark.parametrize("origin", LOOPBACK_ORIGINS)
async def test_a_loopback_page_is_accepted_by_default(server: RealtimeServer, origin: str) -> None:
    assert await first_type(server.url, origin=origin) == "STATUS"


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_only_loopback_origins_count_as_loopback(origin: str) -> None:
    assert not is_loopback_origin(origin)


async def test_a_foreign_origin_is_refused_by_default_and_none_is_accepted(
    server: RealtimeServer, workspace: Workspace
) -> None:
    seq = workspace.engine.seq
    for origin in FOREIGN_ORIGINS[:3]:
        assert await handshake_status(server.url, origin=origin) == 403
    assert server.accepted == 0
    assert server.refused == 3
    assert workspace.engine.seq == seq  # nothing placed
    assert await first_type(server.url) == "STATUS"  # no Origin: websocat, bots, notebooks


def test_an_allowed_origin_is_read_as_a_browser_writes_it() -> None:
    """``--origins localhost:3000`` (no scheme) or ``http://app.example/trade`` (a
    path) were taken as given and matched no page a browser could send: every browser
    was refused 403, with no word at start."""
    assert parse_origins(" http://App.Example:8080/ , https://b.example,*") == (
        "http://app.example:8080", "https://b.example", "*"
    )  # fmt: skip
    assert parse_origins(None) is None
    assert parse_origins("  ") is None
    for bad in ("localhost:3000", "http://app.example/trade", "app.example", "http://", "://x"):
        with pytest.raises(ValueError, match="is not an origin") as refused:
            parse_origins(f"http://ok.example,{bad}")
        assert str(refused.value) == (
            f"{bad!r} is not an origin: expected scheme://host[:port] with no path (e.g. "
            "http://localhost:3000), or *"
        )
    with pytest.raises(ValueError, match="no origin in ', ,'"):
        parse_origins(", ,")


async def test_an_origin_listed_in_capitals_still_matches(workspace: Workspace) -> None:
    async with RealtimeServer(workspace.engine, port=0, origins=["HTTP://App.Example/"]) as server:
        assert await first_type(server.url, origin="http://app.example") == "STATUS"


async def test_with_origins_configured_only_those_pass(workspace: Workspace) -> None:
    async with RealtimeServer(workspace.engine, port=0, origins="http://app.example") as server:
        assert await first_type(server.url, origin="http://app.example") == "STATUS"
        assert await handshake_status(server.url, origin="http://localhost:8888") == 403
        assert await first_type(server.url) == "STATUS"


# -- idempotent orders -----------------------------------------------------------------
async def resting_buy(client: Peer) -> dict[str, Any]:
    """A limit buy well under the market (it rests, open), as a place_order command."""
    await client.send({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    update = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    price = (Decimal(str(update["price"])) * Decimal("0.9")).quantize(Decimal("0.01"), ROUND_DOWN)
    return {
        "action": "place_order",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": 0.0002,
        "price": float(price),
    }


async def test_a_repeated_client_order_id_answers_the_open_order_never_a_second(
    peer: PeerFactory, workspace: Workspace
) -> None:
    client, other = await peer(), await peer()
    order = await resting_buy(client)
    first = await client.reply({**order, "client_order_id": "retry-1", "id": "a"})
    assert (first["type"], first["order"]["status"]) == ("ORDER_UPDATE", "NEW")
    assert first["order"]["client_order_id"] == "retry-1"
    seq = workspace.engine.seq
    # The retry of a client that lost the reply, Binance's spelling, another connection
    # of the same account: each gets the same order, as it stands; nothing is journaled.
    for client_of, command in [
        (client, {**order, "client_order_id": "retry-1", "id": "b"}),
        (client, {**order, "newClientOrderId": "retry-1", "id": "c"}),
        (other, {**order, "client_order_id": "retry-1", "id": "d"}),
    ]:
        again = await client_of.reply(command)
        assert again["type"] == "ORDER_UPDATE", again
        assert again["order"]["id"] == first["order"]["id"]
        assert (again["order"]["status"], again["seq"]) == ("NEW", first["seq"])
    assert workspace.engine.seq == seq
    listed = await client.reply({"action": "get_orders", "id": "o"})
    assert [o["id"] for o in listed["orders"] if o.get("client_order_id") == "retry-1"] == [
        first["order"]["id"]
    ]
    # Unique among OPEN orders: once it is canceled, the id names a new order.
    canceled = await client.reply({"action": "cancel_order", "order_id": first["order"]["id"]})
    assert canceled["order"]["status"] == "CANCELED"
    repeat = await client.reply({**order, "client_order_id": "retry-1", "id": "e"})
    assert repeat["order"]["status"] == "NEW"
    assert repeat["order"]["id"] != first["order"]["id"]


async def test_an_order_placed_from_python_is_found_by_its_client_order_id_over_the_wire(
    peer: PeerFactory, workspace: Workspace
) -> None:
    """The id is the account's, whichever way the order came in."""
    client = await peer()
    order = await resting_buy(client)
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.0002"),
        price=Decimal(str(order["price"])),
        client_order_id="from-python",
    )
    placed = workspace.engine.place_order(request)
    again = await client.reply({**order, "client_order_id": "from-python"})
    assert (again["order"]["id"], again["seq"]) == (placed["order"]["id"], placed["seq"])


# -- connection caps -------------------------------------------------------------------
@pytest.mark.parametrize("limits", [ServerLimits(max_connections_per_address=2)])
async def test_connections_per_address_are_capped_with_a_1008_that_says_why(
    peer: PeerFactory, server: RealtimeServer, limits: ServerLimits
) -> None:
    first, _second = await peer(), await peer()
    third = await peer(snapshot=False)
    code, reason = await close_of(third)
    assert code == 1008
    assert reason == "too many connections from 127.0.0.1 (at most 2)"
    assert server.close_reasons["too many connections"] == 1
    await first.ws.close()
    await server.wait_clients(1)
    again = await peer()  # room again
    assert (await again.reply({"action": "ping"}))["type"] == "PONG"


async def test_connections_per_token_are_capped(workspace: Workspace) -> None:
    limits = ServerLimits(max_connections_per_address=None, max_connections_per_token=1)
    server = RealtimeServer(workspace.engine, port=0, token="t", limits=limits)
    async with server, connect(server.url + "?token=t") as kept:
        assert json.loads(await asyncio.wait_for(kept.recv(), TIMEOUT))["type"] == "STATUS"
        bearer = {"Authorization": "Bearer t"}
        async with connect(server.url, additional_headers=bearer) as extra:
            code, reason = await close_of(Peer(extra))
        assert code == 1008
        assert reason == "too many connections with this token (at most 1)"


# -- multi-user handshakes -------------------------------------------------------------
async def raw_handshake_status(port: int, request: str) -> int:
    """Send ``request`` as it is and read the status line of the answer, then wait for
    the server to close the socket."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        status = await asyncio.wait_for(reader.readline(), TIMEOUT)
        await asyncio.wait_for(reader.read(), TIMEOUT)  # to EOF: the server is done with it
        return int(status.split()[1])
    finally:
        writer.close()


async def test_a_handshake_refused_after_authentication_leaves_no_user_behind(
    tmp_path: Path,
) -> None:
    users = UsersFile(tmp_path / "users.json")
    _, token = users.add("alice", {"USDT": "5000"})
    team = Team(str(users.path), feed="sim", db=tmp_path / "team.sqlite")
    await team.start()
    try:
        async with RealtimeServer(team.engine("alice"), port=0, accounts=team) as server:
            # The token is alice's (authenticated), but there is no Sec-WebSocket-Key:
            # websockets refuses it after our checks, and the handler never runs.
            request = (
                f"GET /api/ws/realtime?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            )
            for _ in range(3):
                assert await raw_handshake_status(server.port, request) == 400
            # Each refused connection is gone once its handler task has ended (a few
            # loop turns after the EOF) and collected; its user goes with it.
            for _ in range(100):
                gc.collect()
                if server.authenticating == 0:
                    break
                await asyncio.sleep(0)
            assert server.authenticating == 0
            # and a good handshake with the same token still opens alice's account
            async with connect(server.url + f"?token={token}") as websocket:
                status = json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))
                assert (status["type"], status["user"]) == ("STATUS", "alice")
            assert server.authenticating == 0
    finally:
        await team.stop()


# -- /health -------------------------------------------------------------------------------
@pytest.fixture
async def guarded(workspace: Workspace) -> AsyncIterator[RealtimeServer]:
    async with RealtimeServer(workspace.engine, port=0, token="s3cret") as server:
        yield server


async def test_tokens_never_reach_the_log_even_at_debug(
    guarded: RealtimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG the websockets library logs each handshake's request line and headers:
    every client's token was in the server's log (and a client's own in its log)."""
    caplog.set_level(logging.DEBUG, logger="websockets")
    async with RealtimeClient(guarded.url, token="s3cret") as client:
        assert (await client.request({"action": "get_portfolio"}))["type"] == "PORTFOLIO_UPDATE"
    for url, headers in [
        (guarded.url + "?token=s3cret", {}),
        (guarded.url, {"Authorization": "Bearer s3cret"}),
        (guarded.url + "?token=wrong-guess", {}),
    ]:
        with contextlib.suppress(InvalidStatus):
            async with connect(url, additional_headers=headers) as websocket:
                await asyncio.wait_for(websocket.recv(), TIMEOUT)
    logged = caplog.text
    assert "s3cret" not in logged
    assert "wrong-guess" not in logged
    assert "token=***" in logged  # (the lines are there, blanked)
    assert "Authorization: Bearer ***" in logged


async def test_health_without_the_token_is_liveness_only(guarded: RealtimeServer) -> None:
    status, _, body = await http_get(guarded.port, "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    for path, headers in [
        ("/health?token=s3cret", {}),
        ("/health", {"Authorization": "Bearer s3cret"}),
    ]:
        status, _, body = await http_get(guarded.port, path, headers)
        detail = json.loads(body)
        assert status == 200
        assert detail["status"] == "ok"
        assert detail["feed"] == "connected"
        assert (detail["journal"], detail["problems"]) == ("ok", [])
        assert {"clients", "seq", "journal_id", "uptime_s", "last_price_ms"} <= set(detail)
    status, _, body = await http_get(guarded.port, "/health?token=wrong")
    assert json.loads(body) == {"status": "ok"}


async def test_health_is_503_while_the_journal_cannot_write_and_200_once_it_can(
    peer: PeerFactory, server: RealtimeServer, workspace: Workspace, tmp_path: Path
) -> None:
    client = await peer()
    order = await resting_buy(client)
    refusal = Refusal(tmp_path / "journal.db")
    try:
        refusal.refuse()
        refused = await client.reply(order)
        assert (refused["type"], refused["code"]) == ("ERROR", "JOURNAL_UNAVAILABLE")
        await client.until(lambda m: m["type"] == "STATUS" and m.get("journal") == "degraded")
        status, _, body = await http_get(server.port, "/health")
        health = json.loads(body)
        assert (status, health["status"], health["journal"]) == (503, "degraded", "degraded")
        assert any("journal" in problem for problem in health["problems"])
        refusal.allow()
        await client.until(lambda m: m["type"] == "STATUS" and m.get("journal") == "ok")
        status, _, body = await http_get(server.port, "/health")
        assert (status, json.loads(body)["status"]) == (200, "ok")
    finally:
        refusal.close()


async def test_health_is_503_once_the_engine_stopped(
    server: RealtimeServer, workspace: Workspace
) -> None:
    await workspace.stop()
    status, _, body = await http_get(server.port, "/health")
    health = json.loads(body)
    assert (status, health["status"]) == (503, "degraded")
    assert "engine stopped" in health["problems"]


# -- hostile frames ---------------------------------------------------------------------------
def nested(depth: int) -> str:
    return '{"action":"ping","x":' + "[" * depth + "]" * depth + "}"


HOSTILE: list[tuple[str, str | bytes, set[str]]] = [
    ("nested 33", nested(33), {"INVALID_JSON"}),
    ("nested 20000", "[" * 20000, {"INVALID_JSON"}),
    ("nested unclosed", '{"a":' * 10000, {"INVALID_JSON"}),
    ("msgpack nested", b"\x81\xa1a" + b"\x91" * 5000 + b"\xc0", {"INVALID_JSON"}),
    ("not utf-8", b"\xff\xfe{}", {"INVALID_JSON"}),
    ("empty", "", {"INVALID_JSON"}),
    ("array", "[1,2]", {"INVALID_JSON"}),
    (
        "NaN literal",
        '{"action":"place_order","symbol":"BTCUSDT","side":"BUY","quantity":NaN}',
        {"INVALID_JSON"},
    ),
    (
        "huge number",
        '{"action":"place_order","symbol":"BTCUSDT","side":"BUY","quantity":1e999999}',
        {"INVALID_JSON"},
    ),
    (
        "NaN string",
        '{"action":"place_order","symbol":"BTCUSDT","side":"BUY","quantity":"NaN"}',
        {"INVALID_PARAMS"},
    ),
    (
        "negative quantity",
        '{"action":"place_order","symbol":"BTCUSDT","side":"BUY","quantity":-1}',
        {"INVALID_PARAMS"},
    ),
    (
        "zero price",
        '{"action":"place_order","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":1,"price":0}',
        {"INVALID_PARAMS"},
    ),
    ("unknown symbol", '{"action":"subscribe_ticker","symbol":"NOPEUSDT"}', {"INVALID_SYMBOL"}),
    ("malformed symbol", '{"action":"subscribe_ticker","symbol":"BTC/USDT;"}', {"INVALID_SYMBOL"}),
    ("unknown action", '{"action":"rm -rf"}', {"UNKNOWN_ACTION"}),
    ("truncated", '{"action":"ping"', {"INVALID_JSON"}),
]


async def test_hostile_frames_get_clear_errors_and_the_server_lives(
    peer: PeerFactory,
    server: RealtimeServer,
    workspace: Workspace,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await peer()
    with caplog.at_level(logging.WARNING):
        for name, frame, codes in HOSTILE:
            if isinstance(frame, bytes) and name == "not utf-8":
                await client.ws.send(frame, text=True)  # a text frame, invalid UTF-8
            else:
                await client.send(frame)
            answer = await client.until(lambda m: m["type"] in ("ERROR", "ORDER_UPDATE"))
            assert answer["type"] == "ERROR", (name, answer)
            assert answer["code"] in codes, (name, answer)
            assert answer["message"], name
        # A market buy of an unknown symbol is a clear rejection, not a crash.
        placed = await client.reply(
            {"action": "place_order", "symbol": "NOPEUSDT", "side": "BUY", "quantity": 1}
        )
        assert placed["type"] == "ERROR" or placed["order"]["status"] == "REJECTED", placed
        assert (await client.reply({"action": "ping"}))["type"] == "PONG"
    assert not [r for r in caplog.records if r.exc_info is not None]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # A frame over the limit closes only its own connection (1009).
    huge = await peer()
    await huge.send(json.dumps({"action": "ping", "pad": "x" * (2 * 2**20)}))
    assert (await close_of(huge))[0] == 1009
    assert (await client.reply({"action": "ping"}))["type"] == "PONG"
    fresh = await peer()
    assert (await fresh.reply({"action": "get_portfolio"}))["type"] == "PORTFOLIO_UPDATE"
    assert workspace.running


async def test_nesting_within_the_limit_is_a_command_like_any_other(peer: PeerFactory) -> None:
    client = await peer()
    reply = await client.reply(json.loads(nested(30)))
    assert reply["type"] == "PONG"


async def test_too_deep_a_command_is_refused_under_its_id(peer: PeerFactory) -> None:
    """The refusal came without the command's id: a client waiting for its reply by id
    (RealtimeClient.request) waited until its timeout."""
    client = await peer()
    reply = await client.reply({**json.loads(nested(33)), "id": "deep"})
    assert (reply["type"], reply["code"], reply.get("id")) == ("ERROR", "INVALID_JSON", "deep")


async def binary(websocket: ClientConnection) -> bytes:
    """The next message on a msgpack connection: a binary frame."""
    frame = await websocket.recv()
    assert isinstance(frame, bytes)
    return frame


async def next_error(websocket: ClientConnection) -> dict[str, Any]:
    """The next ERROR on a msgpack connection (past the periodic updates)."""
    while (reply := msgspec.msgpack.decode(await binary(websocket)))["type"] != "ERROR":
        pass
    assert isinstance(reply, dict)
    return reply


async def test_deep_msgpack_is_invalid_json_on_a_msgpack_connection(server: RealtimeServer) -> None:
    async with connect(server.url, subprotocols=[Subprotocol("workspace.msgpack")]) as websocket:
        for _ in range(4):
            await asyncio.wait_for(websocket.recv(), TIMEOUT)
        deep: Any = []
        for _ in range(100):
            deep = [deep]
        await websocket.send(msgspec.msgpack.encode({"action": "ping", "id": 1, "x": deep}))
        reply = await asyncio.wait_for(next_error(websocket), TIMEOUT)
        assert reply["code"] == "INVALID_JSON"
        # MessagePack that is not a map: it was read as JSON ("invalid character")
        await websocket.send(msgspec.msgpack.encode(["ping"]))
        reply = await asyncio.wait_for(next_error(websocket), TIMEOUT)
        assert (reply["code"], reply["message"]) == (
            "INVALID_JSON",
            "a command must be a JSON object or a MessagePack map",
        )
        await websocket.send(msgspec.msgpack.encode({"action": "ping", "id": 2}))
        while (reply := msgspec.msgpack.decode(await binary(websocket)))["type"] != "PONG":
            pass
        assert reply["id"] == 2


async def test_a_flood_with_a_close_pipelined_behind_it_is_still_closed_with_1008(
    server: RealtimeServer, peer: PeerFactory
) -> None:
    # The server's 1008 may come after the client's own close (the server judges the
    # flood as it parses it): the flooder waits the full timeout for it, not the peers'
    # 0.5 s (on a loaded machine it gave up first: 1006), and reads nothing, so it keeps
    # every message (websockets' bounded queue would stop reading the socket after 16,
    # with the close frame behind them).
    flooder = await peer(max_queue=None, close_timeout=TIMEOUT)
    bystander = await peer()
    for n in range(1000):
        await flooder.ws.send(json.dumps({"action": "ping", "id": n}))
    await flooder.ws.close(1000, "bye")  # right behind the flood, in the same stream
    assert flooder.ws.close_code == 1008
    assert server.close_reasons.get("flooding") == 1
    assert (await bystander.reply({"action": "ping"}))["type"] == "PONG"


# -- 50 clients resuming from 0 at once ------------------------------------------------------
STORM_CLIENTS = 50
STORM_ORDERS = 150  # 300 order events: NEW then CANCELED
STORM_PAGE = 25


def journal_orders(workspace: Workspace, count: int) -> int:
    """``count`` resting orders placed and canceled: 2 * count order events."""
    engine = workspace.engine
    price = engine.market_update("BTCUSDT")
    assert price is not None
    limit = (Decimal(str(price["price"])) * Decimal("0.9")).quantize(Decimal("0.01"), ROUND_DOWN)
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.0002"),
        price=limit,
    )
    for _ in range(count):
        placed = engine.place_order(request)
        assert placed["order"]["status"] == "NEW", placed
        engine.cancel_order(placed["order"]["id"])
    return engine.seq


async def resumed_events(url: str, by_command: bool) -> list[int]:
    """Connect, resume from 0 (in the URL or by command), the seqs until RESUMED."""
    async with connect(url if by_command else url + "?since=0", max_queue=None) as websocket:
        seqs: list[int] = []
        if by_command:
            for _ in range(4):
                await asyncio.wait_for(websocket.recv(), TIMEOUT)
            await websocket.send(json.dumps({"action": "resume", "since": 0, "id": "r"}))
        while True:
            message = json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))
            if message["type"] == "ORDER_UPDATE":
                seqs.append(message["seq"])
            elif message["type"] == "RESUMED":
                assert message["count"] == len(seqs)
                return seqs


@pytest.mark.slow
@pytest.mark.parametrize(
    "limits", [ServerLimits(resume_page_size=STORM_PAGE, max_connections_per_address=64)]
)
async def test_50_clients_resume_from_0_at_once_and_a_ping_is_answered(
    peer: PeerFactory, server: RealtimeServer, workspace: Workspace, limits: ServerLimits
) -> None:
    watcher = await peer()
    await watcher.send({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await watcher.until(lambda m: m["type"] == "MARKET_UPDATE")
    last = journal_orders(workspace, STORM_ORDERS)
    expected = [e["seq"] for e in workspace.engine.order_events_since(0) if e["seq"] <= last]
    assert len(expected) == 2 * STORM_ORDERS
    storm = [
        asyncio.create_task(resumed_events(server.url, by_command=n % 2 == 1))
        for n in range(STORM_CLIENTS)
    ]
    pong = await watcher.reply({"action": "ping", "id": "during"})
    assert pong["type"] == "PONG"
    results = await asyncio.wait_for(asyncio.gather(*storm), 6 * TIMEOUT)
    for seqs in results:
        assert seqs == expected  # every event, once, in order
