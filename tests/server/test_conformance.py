"""PROTOCOL.md conformance over a real socket: every command, every message, shapes,
types, id echoes and the 1 s / 2 s cadences (shortened by configuration)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from tests.server.ws_peer import TIMEOUT, PeerFactory
from workspace import Workspace
from workspace.server import RealtimeServer

NUMBER = (int, float)


def is_number(value: Any) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool)


def assert_market_update(message: dict[str, Any], symbol: str) -> None:
    assert message["type"] == "MARKET_UPDATE"
    assert message["symbol"] == symbol
    for field in ("price", "priceChange", "priceChangePercent", "high", "low", "volume"):
        assert is_number(message[field]), field
    assert isinstance(message["timestamp"], int)


def assert_order(order: dict[str, Any]) -> None:
    for field in ("id", "symbol", "side", "type", "quantity", "filled_quantity", "status"):
        assert field in order, field
    assert order["status"] in {
        "NEW",
        "TRIGGERED",
        "PARTIALLY_FILLED",
        "FILLED",
        "CANCELED",
        "REJECTED",
        "EXPIRED",
    }
    assert order["symbol"] == order["symbol"].upper()


async def test_connect_sends_status_portfolio_positions_and_open_orders_with_seq(
    peer: PeerFactory,
) -> None:
    client = await peer(snapshot=False)
    status, portfolio, positions, orders = await client.snapshot()
    assert status["type"] == "STATUS"
    assert status["feed"] in {"connected", "reconnecting", "down"}
    assert status["source"] == "sim"
    assert portfolio["type"] == "PORTFOLIO_UPDATE"
    for field in ("balance", "total_pnl", "positions_count", "realized_pnl"):
        assert is_number(portfolio["portfolio"][field]), field
    assert positions["type"] == "POSITION_UPDATE"
    assert positions["positions"] == []
    assert orders["type"] == "ORDERS"
    assert orders["orders"] == []
    assert isinstance(orders["seq"], int)


async def test_guide_session_get_positions_get_portfolio_subscribe_ticker(
    peer: PeerFactory,
) -> None:
    client = await peer()
    await client.send({"action": "get_positions"})
    positions = await client.until(lambda m: m["type"] == "POSITION_UPDATE")
    assert isinstance(positions["positions"], list)
    await client.send({"action": "get_portfolio"})
    portfolio = await client.until(lambda m: m["type"] == "PORTFOLIO_UPDATE")
    assert is_number(portfolio["portfolio"]["balance"])
    await client.send({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    update = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    assert_market_update(update, "BTCUSDT")


async def test_subscribe_replies_subscribed_with_id_and_upper_case_symbol(
    peer: PeerFactory,
) -> None:
    client = await peer()
    reply = await client.reply({"action": "subscribe_ticker", "symbol": "ethusdt", "id": 1})
    assert (reply["type"], reply["symbol"], reply["id"]) == ("SUBSCRIBED", "ETHUSDT", 1)
    update = await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    assert_market_update(update, "ETHUSDT")
    assert {"bid", "ask"} <= set(update) or True  # extensions, when the book is known


async def test_market_updates_go_only_to_that_symbols_subscribers(peer: PeerFactory) -> None:
    btc, eth = await peer(), await peer()
    await btc.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await eth.reply({"action": "subscribe_ticker", "symbol": "ETHUSDT"})
    for _ in range(3):
        assert_market_update(await btc.until(lambda m: m["type"] == "MARKET_UPDATE"), "BTCUSDT")
        assert_market_update(await eth.until(lambda m: m["type"] == "MARKET_UPDATE"), "ETHUSDT")


async def test_unsubscribe_replies_unsubscribed_and_stops_updates(peer: PeerFactory) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    reply = await client.reply({"action": "unsubscribe_ticker", "symbol": "btcusdt", "id": "u"})
    assert (reply["type"], reply["symbol"], reply["id"]) == ("UNSUBSCRIBED", "BTCUSDT", "u")
    # Flush with two pings: after the second PONG no BTC update may follow.
    await client.reply({"action": "ping"})
    client.seen.clear()
    await client.reply({"action": "ping"})
    await client.until(lambda m: m["type"] == "POSITION_UPDATE")
    await client.until(lambda m: m["type"] == "PORTFOLIO_UPDATE")
    assert not [m for m in client.seen if m["type"] == "MARKET_UPDATE"]


async def test_get_positions_and_get_portfolio_echo_the_id(peer: PeerFactory) -> None:
    client = await peer()
    positions = await client.reply({"action": "get_positions", "id": "p"})
    assert (positions["type"], positions["id"]) == ("POSITION_UPDATE", "p")
    portfolio = await client.reply({"action": "get_portfolio", "id": 12})
    assert (portfolio["type"], portfolio["id"]) == ("PORTFOLIO_UPDATE", 12)
    for field in ("equity", "unrealized_pnl", "initial_balance"):
        assert is_number(portfolio["portfolio"][field]), field


async def test_position_updates_every_interval_and_portfolio_updates_every_two(
    peer: PeerFactory,
) -> None:
    # The fixture's engine uses 0.1 s / 0.2 s instead of 1 s / 2 s.
    client = await peer()
    client.seen.clear()
    while sum(m["type"] == "PORTFOLIO_UPDATE" for m in client.seen) < 10:
        await client.recv()
    positions = sum(m["type"] == "POSITION_UPDATE" for m in client.seen)
    assert 12 <= positions <= 32  # about 20: twice as many as portfolio updates


async def test_limit_order_then_cancel_gives_order_updates_with_seq_and_ids(
    peer: PeerFactory,
) -> None:
    client = await peer()
    placed = await client.reply(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": 0.001,
            "price": 50000,  # 50 USDT: above the exchange's minimum order value
            "id": "o1",
        }
    )
    assert (placed["type"], placed["orderType"], placed["id"]) == ("ORDER_UPDATE", "LIMIT", "o1")
    assert_order(placed["order"])
    assert placed["order"]["status"] == "NEW"
    assert placed["order"]["price"] == 50000
    orders = await client.reply({"action": "get_orders", "id": "g"})
    assert orders["type"] == "ORDERS"
    assert [o["id"] for o in orders["orders"]] == [placed["order"]["id"]]
    canceled = await client.reply(
        {"action": "cancel_order", "order_id": placed["order"]["id"], "id": "c"}
    )
    assert (canceled["type"], canceled["order"]["status"]) == ("ORDER_UPDATE", "CANCELED")
    assert canceled["seq"] > placed["seq"]
    again = await client.reply({"action": "cancel_order", "order_id": placed["order"]["id"]})
    assert (again["type"], again["code"]) == ("ERROR", "INVALID_PARAMS")
    missing = await client.reply({"action": "cancel_order", "order_id": "nope", "id": 5})
    assert (missing["type"], missing["code"], missing["id"]) == ("ERROR", "NOT_FOUND", 5)


async def test_order_events_reach_every_client_at_once(peer: PeerFactory) -> None:
    trader, watcher = await peer(), await peer()
    placed = await trader.reply(
        {
            "action": "place_order",
            "symbol": "ETHUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "quantity": 0.01,
            "price": 1_000_000,
        }
    )
    seen = await watcher.until(lambda m: m["type"] == "ORDER_UPDATE")
    assert seen["seq"] == placed["seq"]
    assert "id" not in seen


async def test_an_order_that_waited_for_its_first_price_reaches_its_sender_once(
    peer: PeerFactory,
) -> None:
    """Nobody watched ETHUSDT: the order waits for its first price, is judged
    (REJECTED: far below the market), and the engine lets the symbol go.  The release
    was awaited before the reply, so the connection wrote the live event first, then
    the reply with the same ``seq``: the sender got the event twice."""
    client = await peer()
    reply = await client.reply(
        {
            "action": "place_order",
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": 0.1,
            "price": 100,
        }
    )
    assert reply["order"]["reason_code"] == "PERCENT_PRICE", reply
    events = [m for m in client.seen if m["type"] == "ORDER_UPDATE"]
    assert events == [reply]


async def test_market_order_fills_and_close_position_closes_it(peer: PeerFactory) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    placed = await client.reply(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01}
    )
    assert placed["orderType"] == "MARKET"
    filled = await client.until(
        lambda m: m["type"] == "ORDER_UPDATE" and m["order"]["status"] == "FILLED"
    )
    assert is_number(filled["order"]["fill_price"])
    assert is_number(filled["order"]["fee"])
    positions = await client.reply({"action": "get_positions"})
    (position,) = positions["positions"]
    assert (position["symbol"], position["type"], position["status"]) == ("BTCUSDT", "buy", "open")
    for field in ("quantity", "entry_price", "current_price", "current_pnl"):
        assert is_number(position[field]), field
    assert isinstance(position["timestamp"], str)
    closing = await client.reply(
        {"action": "close_position", "position_id": position["id"], "id": "x"}
    )
    assert (closing["type"], closing["id"], closing["order"]["side"]) == (
        "ORDER_UPDATE",
        "x",
        "SELL",
    )
    missing = await client.reply({"action": "close_position", "position_id": "nope"})
    assert missing["code"] == "NOT_FOUND"


async def test_rejected_order_carries_a_reason(peer: PeerFactory) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    await client.until(lambda m: m["type"] == "MARKET_UPDATE")  # judged against a fresh price
    reply = await client.reply(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1000}
    )
    if reply["type"] == "ORDER_UPDATE":
        assert reply["order"]["status"] == "REJECTED"
        assert reply["order"]["reason"]
    else:
        assert reply["code"] == "INSUFFICIENT_BALANCE"


async def test_every_order_type_is_accepted(peer: PeerFactory) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BNBUSDT"})
    market: float = (await client.until(lambda m: m["type"] == "MARKET_UPDATE"))["price"]

    def price(factor: float) -> float:  # on BNBUSDT's 0.01 tick, as the filter demands
        return round(market * factor, 2)

    base = {"action": "place_order", "symbol": "BNBUSDT", "quantity": 0.1}
    # A spot account sells only what it holds: the four sells below lock 0.4 BNB.
    bought = await client.reply({**base, "type": "MARKET", "side": "BUY", "quantity": 0.5})
    assert bought["order"]["status"] != "REJECTED", bought
    await client.until(
        lambda m: (
            m["type"] == "ORDER_UPDATE"
            and m["order"]["id"] == bought["order"]["id"]
            and m["order"]["status"] == "FILLED"
        )
    )
    orders = [
        {"type": "LIMIT", "side": "BUY", "price": price(0.5)},
        {"type": "STOP_LOSS", "side": "SELL", "stop_price": price(0.5)},
        {"type": "TAKE_PROFIT", "side": "SELL", "stop_price": price(2)},
        {"type": "OCO", "side": "SELL", "take_profit": price(2), "stop_price": price(0.5)},
        {"type": "TRAILING_STOP", "side": "SELL", "trail_percent": 1.0},
        {
            "type": "BRACKET",
            "side": "BUY",
            "price": price(0.5),
            "take_profit": price(1),
            "stop_loss": price(0.4),
        },
    ]
    for fields in orders:
        reply = await client.reply({**base, **fields})
        assert reply["type"] == "ORDER_UPDATE", reply
        assert reply["orderType"] == fields["type"]
        assert_order(reply["order"])
        assert reply["order"]["status"] != "REJECTED", str(reply["order"])
        if fields["type"] in {"OCO", "BRACKET"}:
            assert all("id" in leg and "status" in leg for leg in reply["order"]["legs"])


async def test_set_alert_then_alert_when_crossed_and_cancel_alert(peer: PeerFactory) -> None:
    client = await peer()
    set_reply = await client.reply(
        {"action": "set_alert", "symbol": "btcusdt", "above": 1, "id": "a"}
    )
    assert (set_reply["type"], set_reply["symbol"], set_reply["id"]) == (
        "ALERT_SET",
        "BTCUSDT",
        "a",
    )
    alert = await client.until(lambda m: m["type"] == "ALERT")
    assert (alert["alert_id"], alert["symbol"], alert["condition"]) == (
        set_reply["alert_id"],
        "BTCUSDT",
        "above",
    )
    assert is_number(alert["price"])
    pending = await client.reply({"action": "set_alert", "symbol": "BTCUSDT", "below": 1})
    canceled = await client.reply(
        {"action": "cancel_alert", "alert_id": pending["alert_id"], "id": 3}
    )
    assert (canceled["type"], canceled["id"]) == ("ALERT_CANCELED", 3)
    again = await client.reply({"action": "cancel_alert", "alert_id": pending["alert_id"]})
    assert again["code"] == "NOT_FOUND"
    # An alert-only symbol never sends MARKET_UPDATEs to the client.
    assert not [m for m in client.seen if m["type"] == "MARKET_UPDATE"]


async def test_ping_gets_pong_with_server_timestamp(peer: PeerFactory) -> None:
    client = await peer()
    pong = await client.reply({"action": "ping", "id": "p"})
    assert (pong["type"], pong["id"]) == ("PONG", "p")
    assert isinstance(pong["timestamp"], int)


async def test_resume_replays_missed_order_events_then_resumed_then_fresh_state(
    peer: PeerFactory,
) -> None:
    client = await peer()
    first = await client.reply(
        {
            "action": "place_order",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": 0.001,
            "price": 50000,  # 50 USDT: above the exchange's minimum order value
        }
    )
    since = first["seq"] - 1
    later = await peer()  # connected after the event: the snapshot reflects it
    await later.send({"action": "resume", "since": since, "id": "r"})
    replayed = await later.until(lambda m: m["type"] == "ORDER_UPDATE")
    assert replayed["seq"] == first["seq"]
    resumed = await later.until(lambda m: m["type"] == "RESUMED")
    assert (resumed["since"], resumed["count"], resumed["id"]) == (since, 1, "r")
    assert (await later.recv())["type"] == "POSITION_UPDATE"
    # A second resume from the same point sends nothing twice.
    again = await later.reply({"action": "resume", "since": since})
    assert again["count"] == 0


async def test_replay_sends_recorded_ticks_marked_replay_then_replay_done(
    peer: PeerFactory,
) -> None:
    client = await peer()
    await client.reply({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
    live = [await client.until(lambda m: m["type"] == "MARKET_UPDATE") for _ in range(3)]
    # The engine writes recorded ticks in batches; ask until they are there.
    start, end = live[0]["timestamp"], live[-1]["timestamp"]
    for _ in range(100):
        await client.send(
            {
                "action": "replay",
                "symbol": "btcusdt",
                "start": start,
                "end": end,
                "speed": 0,
                "id": "rp",
            }
        )
        done = await client.until(
            lambda m: m["type"] in {"REPLAY_DONE", "ERROR"} and m.get("id") == "rp"
        )
        assert done["type"] == "REPLAY_DONE"
        if done["count"] >= 2:
            break
        await client.until(lambda m: m["type"] == "MARKET_UPDATE")
    replayed = [m for m in client.seen if m.get("replay") is True]
    assert len(replayed) >= 2
    for message in replayed:
        assert_market_update(message, "BTCUSDT")
        assert start <= message["timestamp"] <= end


async def test_msgpack_subprotocol_gets_the_same_objects_as_binary_frames(
    server: RealtimeServer,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    async with connect(server.url, subprotocols=[Subprotocol("workspace.msgpack")]) as websocket:
        assert websocket.subprotocol == "workspace.msgpack"
        frame = await asyncio.wait_for(websocket.recv(), TIMEOUT)
        assert isinstance(frame, bytes)
        assert msgpack.unpackb(frame)["type"] == "STATUS"
        await websocket.send(msgpack.packb({"action": "ping", "id": 1}))
        while True:
            message = msgpack.unpackb(await asyncio.wait_for(websocket.recv(), TIMEOUT))
            if message.get("id") == 1:
                assert message["type"] == "PONG"
                break


async def test_permessage_deflate_is_negotiated_when_offered(server: RealtimeServer) -> None:
    from websockets.asyncio.client import connect

    async with connect(server.url) as websocket:  # websockets offers deflate by default
        assert websocket.response is not None  # the handshake is done
        extensions = websocket.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in extensions
    async with connect(server.url, compression=None) as websocket:
        assert websocket.response is not None
        assert "Sec-WebSocket-Extensions" not in websocket.response.headers


async def test_status_reports_the_number_of_connected_clients(
    peer: PeerFactory, server: RealtimeServer, workspace: Workspace
) -> None:
    await peer()
    await peer()
    assert server.clients == 2
    assert workspace.engine.server_clients == 2
