"""Bad and abusive input: each is answered or closed with the documented code, and
neither the connection's neighbours nor the engine notice."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.server.ws_peer import TIMEOUT, Peer, PeerFactory
from workspace import Workspace
from workspace.server import RealtimeServer, ServerLimits

STABLE_CODES = {
    "INVALID_JSON",
    "UNKNOWN_ACTION",
    "INVALID_PARAMS",
    "INVALID_SYMBOL",
    "INSUFFICIENT_BALANCE",
    "NOT_FOUND",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "RESUME_RESET",
}


async def closed_code(peer: Peer) -> int | None:
    """Read until the server closes; the close code."""
    try:
        while True:
            await asyncio.wait_for(peer.ws.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_invalid_json_unknown_action_and_bad_params_keep_the_connection(
    peer: PeerFactory,
) -> None:
    client = await peer()
    cases: list[tuple[Any, str]] = [
        ("{not json", "INVALID_JSON"),
        ("[1, 2, 3]", "INVALID_JSON"),
        (b"\xff\x00\x01", "INVALID_JSON"),
        ({"action": "explode", "id": 1}, "UNKNOWN_ACTION"),
        ({"id": 2}, "UNKNOWN_ACTION"),
        ({"action": "subscribe_ticker", "id": 3}, "INVALID_PARAMS"),
        ({"action": "subscribe_ticker", "symbol": "BTC/USDT", "id": 4}, "INVALID_SYMBOL"),
        ({"action": "subscribe_ticker", "symbol": "NOPEUSDT", "id": 5}, "INVALID_SYMBOL"),
        (
            {
                "action": "place_order",
                "symbol": "BTCUSDT",
                "side": "BUY",
                "quantity": "NaN",
                "id": 6,
            },
            "INVALID_PARAMS",
        ),
        (
            {"action": "place_order", "symbol": "BTCUSDT", "side": "BUY", "quantity": -1, "id": 7},
            "INVALID_PARAMS",
        ),
        ({"action": "resume", "since": -5, "id": 8}, "INVALID_PARAMS"),
        ({"action": "cancel_alert", "alert_id": "alert-999", "id": 9}, "NOT_FOUND"),
    ]
    for frame, code in cases:
        await client.send(frame)
        error = await client.until(lambda m: m["type"] == "ERROR")
        assert error["code"] == code, (frame, error)
        if isinstance(frame, dict) and "id" in frame:
            assert error["id"] == frame["id"]
    assert (await client.reply({"action": "ping"}))["type"] == "PONG"


async def test_a_flood_gets_rate_limited_then_closed_with_1008(
    peer: PeerFactory, server: RealtimeServer
) -> None:
    flooder, bystander = await peer(), await peer()

    async def flood() -> None:
        try:
            for n in range(2000):
                await flooder.send({"action": "ping", "id": n})
        except ConnectionClosed:
            pass

    sender = asyncio.create_task(flood())
    limited = await flooder.until(lambda m: m.get("code") == "RATE_LIMITED")
    assert limited["type"] == "ERROR"
    assert await closed_code(flooder) == 1008
    await sender
    assert server.close_reasons.get("flooding") == 1
    assert (await bystander.reply({"action": "ping"}))["type"] == "PONG"


async def test_a_2_mib_frame_closes_with_1009_and_others_carry_on(
    peer: PeerFactory, server: RealtimeServer
) -> None:
    big, bystander = await peer(), await peer()
    await big.send(json.dumps({"action": "ping", "pad": "x" * (2 * 2**20)}))
    assert await closed_code(big) == 1009
    assert (await bystander.reply({"action": "ping"}))["type"] == "PONG"
    again = await peer()
    assert (await again.reply({"action": "get_portfolio"}))["type"] == "PORTFOLIO_UPDATE"


async def test_a_frame_just_under_64_kib_is_answered(peer: PeerFactory) -> None:
    client = await peer()
    reply = await client.reply({"action": "ping", "pad": "x" * (60 * 1024)})
    assert reply["type"] == "PONG"


def test_default_limits_are_the_protocols() -> None:
    limits = ServerLimits()
    assert limits.max_frame_bytes == 64 * 1024
    assert limits.commands_per_s == 20
    assert limits.max_symbols == 200


@pytest.mark.parametrize("limits", [ServerLimits(max_symbols=2)])
async def test_symbols_per_connection_are_capped(peer: PeerFactory, limits: ServerLimits) -> None:
    client = await peer()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert (await client.reply({"action": "subscribe_ticker", "symbol": symbol}))[
            "type"
        ] == "SUBSCRIBED"
    reply = await client.reply({"action": "subscribe_ticker", "symbol": "BNBUSDT", "id": "3rd"})
    assert (reply["type"], reply["code"], reply["id"]) == ("ERROR", "INVALID_PARAMS", "3rd")
    # Unsubscribing frees a slot.
    await client.reply({"action": "unsubscribe_ticker", "symbol": "BTCUSDT"})
    reply = await client.reply({"action": "subscribe_ticker", "symbol": "BNBUSDT"})
    assert reply["type"] == "SUBSCRIBED"


# -- fuzzing over the socket --------------------------------------------------------

# NaN and infinities are not JSON: they belong to the garbage frames below.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
fields = st.sampled_from(
    [
        "symbol",
        "side",
        "type",
        "quantity",
        "price",
        "stop_price",
        "since",
        "start",
        "end",
        "speed",
        "above",
        "below",
        "order_id",
        "alert_id",
        "position_id",
        "status",
        "take_profit",
        "stop_loss",
        "trail_percent",
        "trailing_delta",
    ]
)
actions = st.sampled_from(
    [
        "subscribe_ticker",
        "unsubscribe_ticker",
        "get_positions",
        "get_portfolio",
        "get_orders",
        "place_order",
        "cancel_order",
        "close_position",
        "set_alert",
        "cancel_alert",
        "resume",
        "replay",
        "ping",
    ]
) | st.text(max_size=10)
symbols = st.sampled_from(["BTCUSDT", "btcusdt", "ETHUSDT", "XYZ", "", "BTC USDT"])
commands = st.fixed_dictionaries(
    {"action": actions}, optional={"symbol": symbols | json_values}
).flatmap(
    lambda base: st.dictionaries(fields, json_values, max_size=4).map(lambda d: {**d, **base})
)
garbage = st.binary(max_size=64) | st.text(max_size=64)


async def messages_until_id(client: Peer, command_id: str) -> list[dict[str, Any]]:
    received = [await client.recv()]
    while received[-1].get("id") != command_id:
        received.append(await client.recv())
    return received


def answering(command_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("id") == command_id


def collect(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    found: list[Any] = []

    @settings(max_examples=count, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def keep(value: Any) -> None:
        found.append(value)

    keep()
    return found


@pytest.mark.parametrize("limits", [ServerLimits(commands_per_s=1e6, command_burst=1e6)])
async def test_fuzzed_commands_are_each_answered_and_nothing_crashes(
    peer: PeerFactory, server: RealtimeServer, limits: ServerLimits, workspace: Workspace
) -> None:
    client = await peer()
    for n, command in enumerate(collect(commands, 300)):
        command["id"] = f"f{n}"
        await client.send(command)
        reply = await client.until(answering(f"f{n}"))
        if reply["type"] == "ERROR":
            assert reply["code"] in STABLE_CODES, (command, reply)
    for n, frame in enumerate(collect(garbage, 200)):
        await client.send(frame)
        await client.send({"action": "ping", "id": f"g{n}"})
        before_pong = await messages_until_id(client, f"g{n}")
        answers = [m for m in before_pong if m["type"] == "ERROR" or "id" in m]
        assert len(answers) == 2, (frame, before_pong)  # the frame's reply and the PONG
    assert server.clients == 1
    assert workspace.running


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(ServerLimits)])
@pytest.mark.parametrize("value", [math.nan, -1, 0])
def test_a_limit_that_is_not_a_positive_number_is_refused(name: str, value: float) -> None:
    """ServerLimits took anything: a NaN rate would have refused every command, a
    negative frame size every frame."""
    # (a count given a NaN is not a whole number: that is said first)
    words = f"ServerLimits.{name} must be (a number > 0|a whole number)"
    with pytest.raises(ValueError, match=words):
        ServerLimits(**{name: value})  # type: ignore[arg-type]


def test_none_is_no_limit_only_where_it_says_so() -> None:
    assert ServerLimits(max_connections_per_address=None).max_connections_per_address is None
    with pytest.raises(ValueError, match="max_frame_bytes must be a whole number, got None"):
        ServerLimits(max_frame_bytes=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="command_burst and rejection_burst must be >= 1"):
        ServerLimits(command_burst=0.5)
