"""The hub's delivery rules (engine_api.Subscription)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace.protocol.conflation import ConflatingQueue, SubscriptionClosed, SubscriptionOverflow
from workspace.engine.hub import Hub
from workspace.session import Message


def market(symbol: str, price: float) -> Message:
    return {"type": "MARKET_UPDATE", "symbol": symbol, "price": price, "timestamp": 1}


def order(seq: int) -> Message:
    return {"type": "ORDER_UPDATE", "seq": seq, "order": {"id": f"o{seq}"}, "timestamp": 1}


def drain(subscription: object) -> list[Message]:
    out: list[Message] = []
    while True:
        try:
            out.append(subscription.get_nowait())  # type: ignore[attr-defined]
        except (asyncio.QueueEmpty, SubscriptionClosed):
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


def test_order_updates_are_never_conflated_and_keep_their_order() -> None:
    hub = Hub()
    sub = hub.subscribe()
    for seq in range(1, 101):
        hub.publish(order(seq))
        hub.publish(market("BTCUSDT", float(seq)))
    got = drain(sub)
    assert [m["seq"] for m in got if m["type"] == "ORDER_UPDATE"] == list(range(1, 101))
    assert [m["price"] for m in got if m["type"] == "MARKET_UPDATE"] == [100.0]


def test_position_portfolio_and_status_conflate_per_type() -> None:
    hub = Hub()
    sub = hub.subscribe()
    for n in range(5):
        hub.publish({"type": "POSITION_UPDATE", "positions": [], "n": n})
        hub.publish({"type": "PORTFOLIO_UPDATE", "portfolio": {}, "n": n})
        hub.publish({"type": "STATUS", "feed": "connected", "n": n})
    got = drain(sub)
    assert [(m["type"], m["n"]) for m in got] == [
        ("POSITION_UPDATE", 4),
        ("PORTFOLIO_UPDATE", 4),
        ("STATUS", 4),
    ]


def test_symbol_filter_applies_to_market_updates_only() -> None:
    hub = Hub()
    sub = hub.subscribe(["btcusdt"])
    hub.publish(market("ETHUSDT", 1.0))
    hub.publish(market("BTCUSDT", 2.0))
    hub.publish(order(1))
    assert [m["type"] for m in drain(sub)] == ["MARKET_UPDATE", "ORDER_UPDATE"]


def test_symbols_can_change_after_subscribing() -> None:
    hub = Hub()
    sub = hub.subscribe(set())
    hub.publish(market("BTCUSDT", 1.0))
    assert sub.symbols is not None
    sub.symbols.add("BTCUSDT")
    hub.publish(market("BTCUSDT", 2.0))
    assert [m["price"] for m in drain(sub)] == [2.0]


def test_put_reaches_only_that_subscriber() -> None:
    hub = Hub()
    one, other = hub.subscribe(), hub.subscribe()
    one.put({"type": "ALERT", "alert_id": "a1"})
    assert len(drain(one)) == 1
    assert drain(other) == []


def test_a_slow_subscriber_does_not_hold_back_a_fast_one() -> None:
    hub = Hub(max_pending=50)
    slow, fast = hub.subscribe(), hub.subscribe()
    received = []
    for seq in range(200):
        hub.publish(order(seq))
        received.extend(drain(fast))
    assert len(received) == 200
    assert slow.overflowed
    assert hub.subscribers == 1


async def test_overflowing_subscriber_learns_it_missed_messages() -> None:
    hub = Hub(max_pending=3)
    sub = hub.subscribe()
    for seq in range(4):
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
    hub.publish(order(1))
    hub.publish(order(2))
    hub.publish(order(3))
    await asyncio.wait_for(consumer, timeout=5)
    assert [m["seq"] for m in got] == [1, 2]
    assert hub.subscribers == 0


async def test_get_waits_for_the_next_message() -> None:
    hub = Hub()
    sub = hub.subscribe()
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)  # let it park; yields control, does not synchronise on time
    assert not waiting.done()
    hub.publish(order(7))
    assert (await asyncio.wait_for(waiting, timeout=5))["seq"] == 7


async def test_closing_the_hub_ends_every_subscription() -> None:
    hub = Hub()
    subs = [hub.subscribe() for _ in range(3)]
    waiters = [asyncio.create_task(s.get()) for s in subs]
    await asyncio.sleep(0)
    hub.close()
    for waiter in waiters:
        with pytest.raises(SubscriptionClosed):
            await asyncio.wait_for(waiter, timeout=5)


def test_conflating_queue_rejects_after_close() -> None:
    queue: ConflatingQueue[int] = ConflatingQueue()
    queue.close()
    assert queue.put(1) is False
    with pytest.raises(SubscriptionClosed):
        queue.get_nowait()


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
    for n, (kind, symbol, value) in enumerate(steps):
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
            for _ in range(value):
                try:
                    received.append(sub.get_nowait())
                except asyncio.QueueEmpty:
                    break
    received.extend(drain(sub))
    assert [m["seq"] for m in received if m["type"] == "ORDER_UPDATE"] == published_orders
    last_seen: dict[str, float] = {}
    for message in received:
        if message["type"] == "MARKET_UPDATE":
            last_seen[message["symbol"]] = message["price"]
    assert last_seen == {symbol: float(value) for symbol, value in latest.items()}
    # Bounded: never more than one pending market update per symbol.
    assert sub.pending == 0
