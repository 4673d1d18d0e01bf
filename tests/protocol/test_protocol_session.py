"""ProtocolSession on a small fake engine: ordering, id echoes, dedup, alerts, release."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workspace.protocol.commands import PlaceOrder, parse_command
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


def place(engine: Any, quantity: float = 1) -> Message:
    command = parse_command(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": quantity}
    )
    assert isinstance(command, PlaceOrder)
    message: Message = engine.place_order(command.request)
    return message


async def test_resume_delivers_missed_events_once_in_order_then_resumed_then_fresh_state(
    engine: Any,
) -> None:
    for _ in range(3):
        place(engine)
    session = ProtocolSession(engine)
    session.snapshot()  # baseline seq 3
    engine.fill("order-3")  # seq 4, live, not written yet
    await session.handle({"action": "resume", "since": 1, "id": "r"})
    got = [await next_of(session) for _ in range(6)]
    # The live event waits behind the older ones the resume replays: seq order.
    assert [m.get("seq") for m in got[:3]] == [2, 3, 4]
    assert (got[3]["type"], got[3]["count"], got[3]["id"]) == ("RESUMED", 3, "r")
    assert [m["type"] for m in got[4:]] == ["POSITION_UPDATE", "PORTFOLIO_UPDATE"]
    again = await session.request({"action": "resume", "since": 1})
    assert again["count"] == 0  # each seq once per connection
    await session.close()


async def test_opening_with_since_sends_the_snapshot_then_missed_events_then_resumed(
    engine: Any,
) -> None:
    for _ in range(3):
        place(engine)
    session = ProtocolSession(engine)
    await session.open(since=1, journal_id=engine.journal_id)
    engine.fill("order-2")  # live: after RESUMED
    got = [await next_of(session) for _ in range(8)]
    assert [m["type"] for m in got[:4]] == [
        "STATUS",
        "PORTFOLIO_UPDATE",
        "POSITION_UPDATE",
        "ORDERS",
    ]
    assert [m.get("seq") for m in got[4:6]] == [2, 3]
    assert (got[6]["type"], got[6]["count"], got[6]["journal_id"]) == ("RESUMED", 2, "journal-1")
    assert (got[7]["seq"], got[7]["order"]["status"]) == (4, "FILLED")
    await session.close()


@pytest.mark.parametrize(
    ("since", "journal_id"), [(99, None), (0, "another-journal")], ids=["beyond", "journal"]
)
async def test_a_resume_the_server_cannot_honour_is_a_reset_then_a_fresh_snapshot(
    engine: Any, since: int, journal_id: str | None
) -> None:
    place(engine)
    session = ProtocolSession(engine)
    await session.open(since=since, journal_id=journal_id)
    reset = await next_of(session)
    assert (reset["type"], reset["code"], reset["seq"]) == ("ERROR", "RESUME_RESET", 1)
    assert reset["journal_id"] == "journal-1"
    kinds = [(await next_of(session))["type"] for _ in range(4)]
    assert kinds == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    command = {"action": "resume", "since": since, "journal_id": journal_id, "id": 7}
    await session.handle({k: v for k, v in command.items() if v is not None})
    reset = await next_of(session)
    assert (reset["code"], reset["id"]) == ("RESUME_RESET", 7)
    kinds = [(await next_of(session))["type"] for _ in range(4)]
    assert kinds == ["STATUS", "PORTFOLIO_UPDATE", "POSITION_UPDATE", "ORDERS"]
    await session.close()


async def test_the_reply_to_place_order_is_the_engines_answer_in_its_events_place(
    engine: Any,
) -> None:
    session = ProtocolSession(engine)
    session.snapshot()
    place(engine)  # seq 1, another client's
    await session.handle(
        {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": 2, "id": "p"}
    )
    got = [await next_of(session) for _ in range(2)]
    assert [(m["seq"], m.get("id")) for m in got] == [(1, None), (2, "p")]
    assert got[1]["order"]["quantity"] == 2.0
    assert session.outbox.pending == 0  # the broadcast copy is not sent as well
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


async def test_a_replay_is_not_refused_while_an_alert_is_releasing_its_symbol(
    engine: Any,
) -> None:
    """Alert-release tasks once lived in the set meaning "a replay is running"."""
    session = ProtocolSession(engine)
    engine.tick("ETHUSDT", 50.0)
    engine.release_gate = asyncio.Event()  # the release waits (a feed round trip)
    await session.request({"action": "set_alert", "symbol": "ETHUSDT", "above": 60})
    engine.tick("ETHUSDT", 61.0)
    assert (await next_of(session))["type"] == "ALERT"  # its symbol is being released
    reply = await session.request(
        {"action": "replay", "symbol": "ETHUSDT", "start": 0, "end": 2**42, "speed": 0, "id": 1}
    )
    assert (reply["type"], reply["id"]) == ("REPLAY_DONE", 1)
    await session.handle(
        {"action": "replay", "symbol": "ETHUSDT", "start": 0, "end": 2**42, "speed": 0, "id": 2}
    )
    done = [await next_of(session) for _ in range(3)]
    assert [m["type"] for m in done] == ["MARKET_UPDATE", "MARKET_UPDATE", "REPLAY_DONE"]
    assert all(m["replay"] for m in done[:2])
    engine.release_gate.set()
    await session.close()
    assert engine.refs == {}


async def test_an_alert_sees_every_price_even_while_its_client_is_not_reading(
    engine: Any,
) -> None:
    session = ProtocolSession(engine)
    await session.request({"action": "subscribe_ticker", "symbol": "ETHUSDT"})
    await session.request({"action": "set_alert", "symbol": "ETHUSDT", "below": 10})
    for price in (50.0, 9.0, 50.0):  # the dip is conflated away from the client's view
        engine.tick("ETHUSDT", price)
    got = [await next_of(session) for _ in range(2)]
    assert [(m["type"], m.get("trigger_price", m.get("price"))) for m in got] == [
        ("ALERT", 9.0),
        ("MARKET_UPDATE", 50.0),
    ]
    await session.close()


async def test_books_are_subscribed_at_a_depth_and_come_as_book_updates(engine: Any) -> None:
    session = ProtocolSession(engine)
    engine.book("BTCUSDT", top=100.0)
    reply = await session.request(
        {"action": "subscribe_book", "symbol": "btcusdt", "depth": 5, "id": "b"}
    )
    assert (reply["type"], reply["symbol"], reply["book"], reply["id"]) == (
        "SUBSCRIBED",
        "BTCUSDT",
        True,
        "b",
    )
    latest = await next_of(session)  # the engine's latest book, at once
    assert (latest["type"], len(latest["bids"]), len(latest["asks"])) == ("BOOK_UPDATE", 5, 5)
    assert latest["bids"][0][0] > latest["bids"][1][0]
    assert engine.books == {"BTCUSDT": 1}
    gone = await session.request({"action": "unsubscribe_book", "symbol": "BTCUSDT"})
    assert (gone["type"], gone["book"]) == ("UNSUBSCRIBED", True)
    assert engine.books == {}
    engine.book("BTCUSDT", top=101.0)
    assert session.outbox.pending == 0
    await session.close()
    assert engine.refs == {}


async def test_candles_are_a_direct_reply_and_bad_intervals_an_error(engine: Any) -> None:
    session = ProtocolSession(engine)
    reply = await session.request(
        {"action": "get_candles", "symbol": "ethusdt", "interval": "1m", "limit": 2, "id": 3}
    )
    assert (reply["type"], reply["symbol"], reply["interval"], reply["id"]) == (
        "CANDLES",
        "ETHUSDT",
        "1m",
        3,
    )
    assert len(reply["candles"]) == 2
    bad = await session.request({"action": "get_candles", "symbol": "ETHUSDT", "interval": "7m"})
    assert bad["code"] == "INVALID_PARAMS"
    await session.close()
