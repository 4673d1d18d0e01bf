"""The hub and the outbox: the delivery rules of PROTOCOL.md ("Delivery") and the
engine_api.Subscription contract."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace.engine.hub import Hub
from workspace.protocol.conflation import SubscriptionClosed, SubscriptionOverflow
from workspace.protocol.outbox import Outbox
from workspace.session import Message

TIMEOUT = 5


def market(symbol: str, price: float) -> Message:
    return {"type": "MARKET_UPDATE", "symbol": symbol, "price": price, "timestamp": 1}


def order(seq: int, order_id: str | None = None) -> Message:
    return {
        "type": "ORDER_UPDATE",
        "seq": seq,
        "order": {"id": order_id or f"o{seq}"},
        "timestamp": 1,
    }


def book(symbol: str, top: float, levels: int = 20) -> Message:
    return {
        "type": "BOOK_UPDATE",
        "symbol": symbol,
        "bids": [[top - n, 1.0] for n in range(levels)],
        "asks": [[top + 1 + n, 1.0] for n in range(levels)],
        "lastUpdateId": int(top),
        "timestamp": 1,
    }


def drain(outbox: Outbox) -> list[Message]:
    out: list[Message] = []
    while batch := outbox.take(1000):
        out += batch
    return out


def test_market_updates_conflate_per_symbol_latest_wins() -> None:
    hub = Hub()
    sub = hub.subscribe()
    for price in (1.0, 2.0, 3.0):
        hub.publish(market("BTCUSDT", price))
        hub.publish(market("ETHUSDT", price * 10))
    got = drain(sub)
    assert [(m["symbol"], m["price"]) for m in got] == [("BTCUSDT", 3.0), ("ETHUSDT", 30.0)]
    assert sub.conflated == 4


def test_order_events_come_first_in_order_and_are_never_conflated() -> None:
    hub = Hub()
    sub = hub.subscribe()
    for seq in range(1, 101):
        hub.publish(market("BTCUSDT", float(seq)))
        hub.publish(order(seq))
    got = drain(sub)
    assert [m["seq"] for m in got[:100]] == list(range(1, 101))
    assert [(m["type"], m["price"]) for m in got[100:]] == [("MARKET_UPDATE", 100.0)]


def test_position_portfolio_and_status_conflate_per_type_after_urgent_messages() -> None:
    hub = Hub()
    sub = hub.subscribe()
    for n in range(5):
        hub.publish({"type": "POSITION_UPDATE", "positions": [], "n": n})
        hub.publish({"type": "PORTFOLIO_UPDATE", "portfolio": {}, "n": n})
        hub.publish({"type": "STATUS", "feed": "connected", "n": n})
    sub.put({"type": "PONG", "n": 9})
    got = drain(sub)
    assert [(m["type"], m["n"]) for m in got] == [
        ("PONG", 9),
        ("POSITION_UPDATE", 4),
        ("PORTFOLIO_UPDATE", 4),
        ("STATUS", 4),
    ]


def test_a_reply_replaces_an_older_queued_broadcast_of_its_type() -> None:
    hub = Hub()
    sub = hub.subscribe()
    hub.publish({"type": "POSITION_UPDATE", "positions": [], "n": 1})
    sub.reply({"type": "POSITION_UPDATE", "positions": [], "n": 2, "id": "q"})
    assert [m["n"] for m in drain(sub)] == [2]


def test_symbol_filter_applies_to_market_updates_only_and_can_change() -> None:
    hub = Hub()
    sub = hub.subscribe(["btcusdt"])
    hub.publish(market("ETHUSDT", 1.0))
    hub.publish(market("BTCUSDT", 2.0))
    hub.publish(order(1))
    assert [m["type"] for m in drain(sub)] == ["ORDER_UPDATE", "MARKET_UPDATE"]
    sub.symbols = {"ETHUSDT"}
    hub.publish(market("BTCUSDT", 3.0))
    hub.publish(market("ETHUSDT", 4.0))
    assert [m["price"] for m in drain(sub)] == [4.0]


def test_unsubscribing_drops_the_symbols_queued_update() -> None:
    hub = Hub()
    sub = hub.subscribe(["BTCUSDT", "ETHUSDT"])
    hub.publish(market("BTCUSDT", 1.0))
    hub.publish(market("ETHUSDT", 2.0))
    sub.symbols = {"ETHUSDT"}
    assert [m["symbol"] for m in drain(sub)] == ["ETHUSDT"]


def test_publishing_touches_only_the_symbols_holders() -> None:
    hub = Hub()
    others = [hub.subscribe([f"X{n}USDT"]) for n in range(500)]
    holder = hub.subscribe(["BTCUSDT"])
    hub.publish(market("BTCUSDT", 1.0))
    assert holder.pending == 1
    assert all(o.pending == 0 for o in others)
    assert hub.indexed_symbols == 501


def test_put_reaches_only_that_subscriber() -> None:
    hub = Hub()
    one, other = hub.subscribe(), hub.subscribe()
    one.put({"type": "ALERT", "alert_id": "a1"})
    assert len(drain(one)) == 1
    assert drain(other) == []


def test_a_slow_subscriber_is_closed_at_max_pending_without_holding_back_a_fast_one() -> None:
    hub = Hub(max_pending=50)
    slow, fast = hub.subscribe(), hub.subscribe()
    received = []
    for seq in range(1, 201):
        hub.publish(order(seq))
        received.extend(drain(fast))
    assert len(received) == 200
    assert slow.overflowed
    assert slow.close_reason == "fell behind"
    assert hub.subscribers == 1


async def test_an_overflowing_subscriber_learns_it_missed_messages() -> None:
    hub = Hub(max_pending=3)
    sub = hub.subscribe()
    for seq in range(1, 5):
        hub.publish(order(seq))
    with pytest.raises(SubscriptionOverflow):
        async for _ in sub:
            pass


async def test_async_for_ends_when_the_subscription_closes() -> None:
    hub = Hub()
    sub = hub.subscribe()
    got: list[Message] = []

    async def consume() -> None:
        async for message in sub:
            got.append(message)
            if len(got) == 2:
                sub.close()

    consumer = asyncio.create_task(consume())
    for seq in (1, 2, 3):
        hub.publish(order(seq))
    await asyncio.wait_for(consumer, TIMEOUT)
    assert [m["seq"] for m in got] == [1, 2]
    assert hub.subscribers == 0


async def test_get_waits_for_the_next_message() -> None:
    hub = Hub()
    sub = hub.subscribe()
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)  # let it park; yields control, does not synchronise on time
    assert not waiting.done()
    hub.publish(order(7))
    assert (await asyncio.wait_for(waiting, TIMEOUT))["seq"] == 7


async def test_closing_the_hub_ends_every_subscription() -> None:
    hub = Hub()
    subs = [hub.subscribe() for _ in range(3)]
    waiters = [asyncio.create_task(s.get()) for s in subs]
    await asyncio.sleep(0)
    hub.close()
    for waiter in waiters:
        with pytest.raises(SubscriptionClosed):
            await asyncio.wait_for(waiter, TIMEOUT)


async def test_a_burst_rings_each_consumer_once_after_the_publishing_step() -> None:
    hub = Hub()
    subs = [hub.subscribe(["BTCUSDT", "ETHUSDT"]) for _ in range(3)]
    rings = [0, 0, 0]
    for n, sub in enumerate(subs):
        sub.on_ready = lambda n=n: rings.__setitem__(n, rings[n] + 1)
    for price in range(10):
        hub.publish(market("BTCUSDT", float(price)))
        hub.publish(market("ETHUSDT", float(price)))
        hub.publish(order(price + 1))
    assert rings == [0, 0, 0]  # nothing is written in the middle of the engine's step
    await asyncio.sleep(0)  # one loop turn: the doorbell
    assert rings == [1, 1, 1]


def test_a_reply_takes_the_place_of_its_queued_live_event() -> None:
    hub = Hub()
    sub = hub.subscribe()
    hub.publish(order(1))
    hub.publish(order(2, "placed"))  # the engine publishes the event, then replies
    hub.publish(order(3, "placed"))
    sub.reply({**order(2, "placed"), "id": "cmd"})
    got = drain(sub)
    assert [(m["seq"], m.get("id")) for m in got] == [(1, None), (2, "cmd"), (3, None)]


def test_a_reply_whose_event_is_gone_is_sent_on_its_own() -> None:
    hub = Hub()
    sub = hub.subscribe()
    hub.publish(order(1, "other"))
    sub.reply({**order(1, "mine"), "id": "cmd"})  # same seq, another order: not its event
    assert [(m["order"]["id"], m.get("id")) for m in drain(sub)] == [
        ("other", None),
        ("mine", "cmd"),
    ]


def test_live_events_are_taken_out_in_seq_order_for_a_resume() -> None:
    hub = Hub()
    sub = hub.subscribe()
    sub.put({"type": "PONG"})
    for seq in (5, 6, 7):
        hub.publish(order(seq))
    assert [m["seq"] for m in sub.take_events()] == [5, 6, 7]
    assert [m["type"] for m in drain(sub)] == ["PONG"]


def test_each_live_seq_is_queued_once_and_none_before_the_baseline() -> None:
    hub = Hub()
    sub = hub.subscribe()
    sub.live_seq = 3
    for seq in (2, 3, 4, 4, 5):
        hub.publish(order(seq))
    assert [m["seq"] for m in drain(sub)] == [4, 5]


async def test_books_are_sliced_per_depth_and_paced_per_symbol() -> None:
    hub = Hub(book_interval_s=0.05)
    five, twenty = hub.subscribe(()), hub.subscribe(())
    five.set_book("BTCUSDT", 5)
    twenty.set_book("BTCUSDT", 20)
    hub.publish(book("BTCUSDT", 100.0))
    first_five, first_twenty = drain(five), drain(twenty)
    assert [len(m["bids"]) for m in first_five] == [5]
    assert [len(m["asks"]) for m in first_twenty] == [20]
    hub.publish(book("BTCUSDT", 101.0))  # within the interval: held back ...
    hub.publish(book("BTCUSDT", 102.0))  # ... and replaced by the latest
    assert drain(five) == []
    paced = await asyncio.wait_for(five.get(), TIMEOUT)
    assert paced["lastUpdateId"] == 102
    assert len(paced["bids"]) == 5
    five.set_book("BTCUSDT", None)
    hub.publish(book("BTCUSDT", 103.0))
    assert drain(five) == []


async def test_a_market_watcher_sees_every_price_however_far_behind_its_consumer_is() -> None:
    hub = Hub()
    sub = hub.subscribe(())
    seen: list[float] = []
    sub.watch({"ETHUSDT"}, lambda message: seen.append(message["price"]))
    for price in range(100):
        hub.publish(market("ETHUSDT", float(price)))
        hub.publish(market("BTCUSDT", float(price)))
    assert seen == [float(p) for p in range(100)]
    assert sub.pending == 0  # watching is not subscribing
    sub.watch((), None)
    hub.publish(market("ETHUSDT", 1.0))
    assert len(seen) == 100


def test_a_failing_watcher_closes_its_subscriber_not_the_engine() -> None:
    hub = Hub()
    bad, good = hub.subscribe(()), hub.subscribe(["ETHUSDT"])

    def failing(message: Message) -> None:
        raise ZeroDivisionError("a watcher bug")

    bad.watch({"ETHUSDT"}, failing)
    hub.publish(market("ETHUSDT", 1.0))
    assert bad.closed
    assert [m["price"] for m in drain(good)] == [1.0]


async def test_bulk_waits_for_room_and_keeps_its_order_after_everything_else() -> None:
    outbox = Outbox(bulk_limit=2)
    for n in range(2):
        assert await outbox.push_bulk({"type": "MARKET_UPDATE", "replay": True, "n": n})
    third = asyncio.create_task(outbox.push_bulk({"type": "REPLAY_DONE", "n": 2}))
    await asyncio.sleep(0)
    assert not third.done()  # no room: paced by the consumer
    outbox.put({"type": "PONG"})
    assert [m["type"] for m in outbox.take(2)] == ["PONG", "MARKET_UPDATE"]
    assert await asyncio.wait_for(third, TIMEOUT)
    assert [m["n"] for m in outbox.take(10)] == [1, 2]


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("m"), st.sampled_from(["A", "B", "C"]), st.integers(0, 1000)),
            st.tuples(st.just("o"), st.none(), st.integers(0, 1000)),
            st.tuples(st.just("p"), st.none(), st.integers(0, 1000)),
            st.tuples(st.just("read"), st.none(), st.integers(0, 3)),
        ),
        max_size=200,
    )
)
def test_any_interleaving_keeps_every_order_event_and_the_latest_market_value(
    steps: list[tuple[str, str | None, int]],
) -> None:
    hub = Hub()
    sub = hub.subscribe()
    published_orders: list[int] = []
    latest: dict[str, int] = {}
    received: list[Message] = []
    for n, (kind, symbol, value) in enumerate(steps, start=1):
        if kind == "m":
            assert symbol is not None
            hub.publish(market(symbol, float(value)))
            latest[symbol] = value
        elif kind == "o":
            hub.publish(order(n))
            published_orders.append(n)
        elif kind == "p":
            hub.publish({"type": "POSITION_UPDATE", "positions": [], "n": n})
        else:
            received += sub.take(value)
        # Bounded: the order events not read yet, one position, one price per symbol.
        lanes = sub.lanes()
        assert lanes["market"] <= 3
        assert lanes["state"] <= 1
    received.extend(drain(sub))
    assert [m["seq"] for m in received if m["type"] == "ORDER_UPDATE"] == published_orders
    last_seen: dict[str, float] = {}
    for message in received:
        if message["type"] == "MARKET_UPDATE":
            last_seen[message["symbol"]] = message["price"]
    assert last_seen == {symbol: float(value) for symbol, value in latest.items()}
    assert sub.pending == 0
