"""ProtocolSession on a small fake engine: ordering, id echoes, dedup, alerts, release."""

from __future__ import annotations

import asyncio
from typing import Any

from workspace.protocol.session import ProtocolSession
from workspace.session import Message

TIMEOUT = 5


async def next_of(session: ProtocolSession) -> Message:
    return await asyncio.wait_for(session.next_message(), TIMEOUT)


async def test_snapshot_is_status_portfolio_positions_orders_with_seq(engine: Any) -> None:
    session = ProtocolSession(engine)
    kinds = [m["type"] for m in session.snapshot()]
    assert kinds == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    await session.close()


async def test_market_updates_only_for_subscribed_symbols(engine: Any) -> None:
    session = ProtocolSession(engine)
    await session.handle({"action": "subscribe_ticker", "symbol": "btcusdt", "id": "s"})
    reply = await next_of(session)
    assert (reply["type"], reply["symbol"], reply["id"]) == ("SUBSCRIBED", "BTCUSDT", "s")
    engine.tick("ETHUSDT", 10.0)
    engine.tick("BTCUSDT", 20.0)
    update = await next_of(session)
    assert (update["type"], update["symbol"]) == ("MARKET_UPDATE", "BTCUSDT")
    await session.close()
    assert engine.refs == {}


async def test_placed_order_event_arrives_once_carrying_the_commands_id(engine: Any) -> None:
    session = ProtocolSession(engine)
    session.snapshot()
    await session.handle(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1, "id": 42}
    )
    engine.fill("order-1")
    first, second = await next_of(session), await next_of(session)
    assert (first["type"], first["id"], first["seq"]) == ("ORDER_UPDATE", 42, 1)
    assert (second["seq"], second["order"]["status"], "id" in second) == (2, "FILLED", False)
    await session.close()


async def test_resume_delivers_missed_events_once_then_resumed_then_fresh_state(
    engine: Any,
) -> None:
    for _ in range(3):
        engine.place_order(
            __import__("workspace.protocol.commands", fromlist=["x"])
            .parse_command(
                {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
            )
            .request  # type: ignore[union-attr]
        )
    session = ProtocolSession(engine)
    session.snapshot()  # baseline seq 3
    engine.fill("order-3")  # seq 4, live
    await session.handle({"action": "resume", "since": 1, "id": "r"})
    got = [await next_of(session) for _ in range(6)]
    assert [m.get("seq") for m in got[:3]] == [4, 2, 3]
    assert (got[3]["type"], got[3]["count"], got[3]["id"]) == ("RESUMED", 2, "r")
    assert [m["type"] for m in got[4:]] == ["POSITION_UPDATE", "PORTFOLIO_UPDATE"]
    await session.close()


async def test_bad_input_gets_error_with_code_and_id(engine: Any) -> None:
    session = ProtocolSession(engine)
    reply = await session.request({"action": "cancel_order", "order_id": "nope", "id": 5})
    assert (reply["type"], reply["code"], reply["id"]) == ("ERROR", "NOT_FOUND", 5)
    reply = await session.request({"action": "subscribe_ticker", "symbol": "XRPUSDT", "id": 6})
    assert (reply["code"], reply["id"]) == ("INVALID_SYMBOL", 6)
    reply = await session.request("{oops")
    assert reply["code"] == "INVALID_JSON"
    await session.close()


async def test_alert_fires_once_when_crossed_and_releases_its_symbol(engine: Any) -> None:
    session = ProtocolSession(engine)
    reply = await session.request(
        {"action": "set_alert", "symbol": "ethusdt", "above": 100, "id": 1}
    )
    assert (reply["type"], reply["symbol"], reply["condition"]) == ("ALERT_SET", "ETHUSDT", "above")
    assert engine.refs == {"ETHUSDT": 1}
    engine.tick("ETHUSDT", 99.0)
    engine.tick("ETHUSDT", 101.0)
    alert = await next_of(session)
    assert (alert["type"], alert["alert_id"], alert["price"]) == ("ALERT", reply["alert_id"], 100.0)
    engine.tick("ETHUSDT", 102.0)
    ping = await session.request({"action": "ping"})
    assert ping["type"] == "PONG"
    await session.close()


async def test_symbol_limit_per_connection(engine: Any) -> None:
    session = ProtocolSession(engine, max_symbols=1)
    assert (await session.request({"action": "subscribe_ticker", "symbol": "BTCUSDT"}))["type"] == (
        "SUBSCRIBED"
    )
    reply = await session.request({"action": "subscribe_ticker", "symbol": "ETHUSDT", "id": 2})
    assert (reply["code"], reply["id"]) == ("INVALID_PARAMS", 2)
    await session.close()


def _shape(message: Message) -> tuple[Any, ...]:
    return (message["type"], message.get("symbol"), message.get("seq"), message.get("id"))


async def test_drain_ready_fast_path_keeps_the_order_of_next_message(engine: Any) -> None:
    """Market updates take drain_ready's fast path; order events and alerts still go
    through the session's routing, in the same position, each seq once."""
    from workspace.protocol.commands import parse_command

    sessions = [ProtocolSession(engine) for _ in range(4)]
    for session in sessions:
        session.snapshot()
        await session.request({"action": "subscribe_ticker", "symbol": "BTCUSDT"})
        await session.request({"action": "subscribe_ticker", "symbol": "BNBUSDT"})
    await sessions[3].request({"action": "set_alert", "symbol": "ETHUSDT", "above": 50})
    place = parse_command(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 1}
    )
    engine.tick("BTCUSDT", 20.0)
    engine.place_order(place.request)  # type: ignore[union-attr]
    engine.tick("ETHUSDT", 60.0)  # not subscribed: only sessions[3]'s alert sees it
    engine.fill("order-1")
    engine.tick("BNBUSDT", 5.0)
    engine.tick("BTCUSDT", 21.0)  # conflated into the first one's place (the hub's queue)

    one_by_one: list[Message] = []
    while True:
        try:
            one_by_one.append(await asyncio.wait_for(sessions[0].next_message(), 0.2))
        except TimeoutError:
            break
    in_pairs: list[Message] = []
    while batch := sessions[1].drain_ready(2):
        assert len(batch) <= 2
        in_pairs += batch
    everything = sessions[2].drain_ready(1 << 20)
    expected = [
        ("MARKET_UPDATE", "BTCUSDT", None),
        ("ORDER_UPDATE", None, 1),
        ("ORDER_UPDATE", None, 2),
        ("MARKET_UPDATE", "BNBUSDT", None),
    ]
    assert [_shape(m)[:3] for m in one_by_one] == expected
    assert [_shape(m)[:3] for m in in_pairs] == expected
    assert [_shape(m)[:3] for m in everything] == expected
    assert [m["price"] for m in everything if m["type"] == "MARKET_UPDATE"] == [21.0, 5.0]
    with_alert = [_shape(m)[:3] for m in sessions[3].drain_ready(1 << 20)]
    assert with_alert == [*expected[:2], ("ALERT", "ETHUSDT", None), *expected[2:]]
    for session in sessions:
        await session.close()
