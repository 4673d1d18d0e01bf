"""``serve --users``: two users on one server, each an isolated account (orders,
positions, portfolio, alerts, seq, journal_id) over shared market data; a user's
token opens only that user's account; ``Workspace(user=...)`` reads it afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.scaleout.peer import Peer, below
from tests.scaleout.processes import Process, refused_start
from workspace import Workspace
from workspace.engine.config import EngineConfig
from workspace.notebook.team import Team
from workspace.notebook.workspace import NewAccountWarning, user_journal_path
from workspace.server import RealtimeServer
from workspace.users import UsersFile

FAST = EngineConfig(positions_interval_s=0.1, portfolio_interval_s=0.2, tick_flush_interval_s=0.1)


@pytest.fixture
def users(tmp_path: Path) -> dict[str, str]:
    file = UsersFile(tmp_path / "users.json")
    _, alice = file.add("alice", {"USDT": "5000"})
    _, bob = file.add("bob", {"USDT": "7000"})
    return {"alice": alice, "bob": bob, "file": str(file.path)}


@pytest.fixture
async def served(tmp_path: Path, users: dict[str, str]) -> AsyncIterator[tuple[Team, str]]:
    team = Team(users["file"], feed="sim", db=tmp_path / "team.sqlite", engine=FAST)
    await team.start()
    try:
        server = RealtimeServer(team.engine("alice"), port=0, accounts=team)
        async with server:
            yield team, server.url
    finally:
        await team.stop()


async def test_each_user_trades_an_isolated_account_on_shared_prices(
    served: tuple[Team, str], users: dict[str, str], tmp_path: Path
) -> None:
    _, url = served
    alice = await Peer.open(url, users["alice"])
    bob = await Peer.open(url, users["bob"])
    a0, b0 = await alice.snapshot(), await bob.snapshot()
    # STATUS names the user; each account has its own journal, seq and balances
    assert (a0["STATUS"]["user"], b0["STATUS"]["user"]) == ("alice", "bob")
    assert a0["ORDERS"]["journal_id"] != b0["ORDERS"]["journal_id"]
    assert a0["PORTFOLIO_UPDATE"]["portfolio"]["initial_balance"] == 5000
    assert b0["PORTFOLIO_UPDATE"]["portfolio"]["initial_balance"] == 7000
    bob_seq = b0["ORDERS"]["seq"]

    # market data is shared: both get BTCUSDT's prices
    subscribed = await alice.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await bob.reply({"action": "subscribe_ticker", "symbol": "btcusdt"})
    tick = await alice.until(lambda m: m["type"] == "MARKET_UPDATE")
    await bob.until(lambda m: m["type"] == "MARKET_UPDATE")

    # alice trades: an open limit order, a filled market order (a position), an alert
    limit = await alice.reply(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": 0.01,
            "price": below(tick["price"], subscribed["symbol_info"]["tick_size"]),
        }
    )
    assert limit["order"]["status"] == "NEW", limit
    market = await alice.reply(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": 0.01,
        }
    )
    filled = (
        market
        if market["order"]["status"] == "FILLED"
        else await alice.until(
            lambda m: m["type"] == "ORDER_UPDATE" and m["order"]["status"] == "FILLED"
        )
    )
    alert = await alice.reply(
        {"action": "set_alert", "symbol": "BTCUSDT", "above": tick["price"] * 10}
    )
    positions = await alice.reply({"action": "get_positions"})
    assert positions["positions"], positions
    position_id = positions["positions"][0]["id"]

    # bob sees none of it, and cannot touch it
    assert (await bob.reply({"action": "get_orders"}))["orders"] == []
    assert (await bob.reply({"action": "get_positions"}))["positions"] == []
    portfolio = (await bob.reply({"action": "get_portfolio"}))["portfolio"]
    assert (portfolio["balance"], portfolio["positions_count"]) == (7000, 0)
    cancel = await bob.reply({"action": "cancel_order", "order_id": limit["order"]["id"]})
    assert cancel["code"] == "NOT_FOUND"
    close = await bob.reply({"action": "close_position", "position_id": position_id})
    assert close["code"] == "NOT_FOUND"
    cancel_alert = await bob.reply({"action": "cancel_alert", "alert_id": alert["alert_id"]})
    assert cancel_alert["type"] == "ERROR"
    # resume: bob's seq did not move; alice's journal id means nothing on bob's account
    resumed = await bob.reply({"action": "resume", "since": bob_seq})
    assert (resumed["type"], resumed["count"]) == ("RESUMED", 0)
    reset = await bob.reply(
        {"action": "resume", "since": 0, "journal_id": a0["ORDERS"]["journal_id"]}
    )
    assert reset["code"] == "RESUME_RESET"
    # a marker through bob's own stream: everything before it has been delivered
    await bob.reply({"action": "ping"})

    alice_ids = {limit["order"]["id"], market["order"]["id"], filled["order"]["id"]}
    alice_journal = a0["ORDERS"]["journal_id"]
    for message in bob.seen:
        assert message["type"] not in ("ORDER_UPDATE", "ALERT", "ALERT_SET"), message
        assert message.get("user", "bob") == "bob", message
        assert not alice_ids & _ids_in(message), message
        if message["type"] in ("STATUS", "ORDERS", "RESUMED"):
            assert message.get("journal_id") != alice_journal or message["type"] == "ERROR"
    for message in bob.seen:
        if message["type"] == "POSITION_UPDATE":
            assert message["positions"] == []
    await alice.close()
    await bob.close()

    # a third connection of alice sees her account: the open order, the position
    again = await Peer.open(url, users["alice"])
    snapshot = await again.snapshot()
    assert [o["id"] for o in snapshot["ORDERS"]["orders"]] == [limit["order"]["id"]]
    assert snapshot["ORDERS"]["seq"] >= 3
    await again.close()


async def test_tokens_open_only_their_own_account(
    served: tuple[Team, str], users: dict[str, str]
) -> None:
    _, url = served
    for token in (None, "nope", users["alice"] + "x", users["alice"].split(".")[0]):
        with pytest.raises(InvalidStatus) as refused:
            await Peer.open(url, token)
        assert refused.value.response.status_code == 401
    # the token in the Authorization header instead of the URL
    websocket = await connect(url, additional_headers={"Authorization": f"Bearer {users['bob']}"})
    status = Peer(websocket)
    assert (await status.snapshot())["STATUS"]["user"] == "bob"
    await status.close()


async def test_a_rotated_token_or_a_removed_user_loses_its_open_connections(
    served: tuple[Team, str], users: dict[str, str]
) -> None:
    """A connection opened before ``users token --rotate`` (or ``users remove``) kept
    trading on the old token for as long as it stayed open: after a leak, rotating
    refused only new handshakes."""
    _, url = served
    alice, bob = await Peer.open(url, users["alice"]), await Peer.open(url, users["bob"])
    await alice.snapshot()
    await bob.snapshot()
    file = UsersFile(users["file"])
    _, new_token = file.rotate("alice")
    error, code, reason = await alice.closed_after_error()
    assert (error["code"], code, reason) == ("UNAUTHORIZED", 1008, "access revoked")
    assert error["message"] == "access revoked: alice's token was replaced (users token --rotate)"
    # bob's connection is untouched by alice's rotation; the new token opens alice's
    assert (await bob.reply({"action": "ping"}))["type"] == "PONG"
    again = await Peer.open(url, new_token)
    assert (await again.snapshot())["STATUS"]["user"] == "alice"

    file.remove("bob")
    error, code, _ = await bob.closed_after_error()
    assert (error["code"], code) == ("UNAUTHORIZED", 1008)
    assert error["message"] == "access revoked: the user bob was removed"
    assert (await again.reply({"action": "ping"}))["type"] == "PONG"
    await again.close()


async def test_workspace_of_a_user_reads_that_account_of_the_team_journal(
    tmp_path: Path, users: dict[str, str]
) -> None:
    team = Team(users["file"], feed="sim", db=tmp_path / "team.sqlite", engine=FAST)
    await team.start()
    try:
        ws = team.accounts["bob"]
        await ws.subscribe("BTCUSDT")
        await ws.engine.wait_for_book("BTCUSDT")
        order = ws.buy("BTCUSDT", "0.01")
        order_id = order.id
    finally:
        await team.stop()
    assert user_journal_path(tmp_path / "team.sqlite", "bob").exists()
    bob = Workspace(feed="sim", db=tmp_path / "team.sqlite", user="bob")
    await bob.start()
    try:
        assert bob.status["user"] == "bob"
        assert bob.engine.order(order_id).symbol == "BTCUSDT"
        assert bob.engine.status_message()["user"] == "bob"
    finally:
        await bob.stop()
    alice = Workspace(feed="sim", db=tmp_path / "team.sqlite", user="alice", users=users["file"])
    await alice.start()
    try:
        assert alice.engine.seq == 0
        assert alice.portfolio.initial_balance == Decimal("5000")
    finally:
        await alice.stop()


async def test_a_user_with_no_account_in_the_team_journal_is_told_a_new_one_starts(
    tmp_path: Path,
) -> None:
    """``Workspace(db=..., user="alcie")`` opened an empty account without a word: a
    misspelt name looked like an account whose trades had vanished."""
    team = tmp_path / "team.sqlite"

    async def open_and_close(user: str) -> None:
        ws = Workspace(feed="sim", db=team, user=user)
        await ws.start(0)
        await ws.stop()

    with pytest.warns(NewAccountWarning, match="no account of user 'alice'.*it has none yet"):
        await open_and_close("alice")
    await open_and_close("alice")  # its account now exists: nothing said (warnings are errors)
    with pytest.warns(NewAccountWarning, match=r"starting a new one in team\.alcie\.sqlite; "):
        await open_and_close("alcie")
    with pytest.warns(NewAccountWarning, match="the accounts there: alcie, alice$"):
        await open_and_close("bob")


def _ids_in(message: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    order = message.get("order")
    if isinstance(order, dict):
        found.add(str(order.get("id")))
    for item in message.get("orders", []) or []:
        found.add(str(item.get("id")))
    return found


async def test_serve_users_command(tmp_path: Path, users: dict[str, str]) -> None:
    serve = Process(
        "serve",
        [
            "serve",
            "--users",
            users["file"],
            "--port",
            "0",
            "--db",
            str(tmp_path / "t.sqlite"),
            "--max-connections-per-token",
            "1",
        ],
        "serving ",
    )
    await serve.start()
    try:
        alice = await Peer.open(serve.url, users["alice"])
        assert (await alice.snapshot())["STATUS"]["user"] == "alice"
        # the connection caps hold in multi-user mode too: a user's token is capped
        second = await Peer.open(serve.url, users["alice"])
        with pytest.raises(ConnectionClosed) as closed:
            await second.until(lambda m: False)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1008,
            "too many connections with this token (at most 1)",
        )
        await alice.close()
    finally:
        assert await serve.stop() == 0
    assert user_journal_path(tmp_path / "t.sqlite", "alice").exists()
    refused = Process("serve", ["serve", "--users", users["file"], "--token", "x"], "serving ")
    assert "did not start" in await refused_start(refused)
    assert any("tokens and balances come from the users file" in line for line in refused.output)
