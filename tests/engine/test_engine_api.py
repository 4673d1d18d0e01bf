"""The EngineApi the protocol layer consumes, on a live engine, plus serve/dashboard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from workspace.notebook.workspace import Workspace
from workspace.session import Message
from workspace.trading.requests import OrderRequest, OrderType, Side

from .conftest import make_workspace
from .test_workspace_live import collect, next_message


def request(symbol: str = "BTCUSDT", **fields: object) -> OrderRequest:
    fields.setdefault("type", OrderType.LIMIT)
    fields.setdefault("side", Side.BUY)
    fields.setdefault("quantity", 1)
    return OrderRequest(symbol=symbol, **fields)  # type: ignore[arg-type]


async def priced(ws: Workspace, symbol: str = "BTCUSDT") -> Message:
    messages = collect(ws, [symbol])
    await ws.subscribe(symbol)
    return await next_message(messages, "MARKET_UPDATE")


async def test_place_order_replies_with_the_new_orders_update_and_publishes_it(
    ws: Workspace,
) -> None:
    from decimal import Decimal

    market = Decimal(str((await priced(ws))["price"]))
    messages = collect(ws)
    # A resting buy well below the market, within BTCUSDT's PERCENT_PRICE_BY_SIDE band.
    price = ws.round_price("BTCUSDT", market * Decimal("0.9"))
    reply = ws.engine.place_order(request(price=price, quantity=Decimal("0.01")))
    assert reply["type"] == "ORDER_UPDATE"
    assert reply["orderType"] == "LIMIT"
    assert reply["order"]["status"] == "NEW"
    assert reply["seq"] == ws.engine.seq
    assert await next_message(messages, "ORDER_UPDATE") == reply


async def test_rejected_order_reply_carries_the_reason(ws: Workspace) -> None:
    from decimal import Decimal

    reply = ws.engine.place_order(request(price=Decimal(-5), quantity=Decimal(1)))
    assert reply["order"]["status"] == "REJECTED"
    assert reply["order"]["reason"]


async def test_orders_message_lists_open_orders_with_seq_and_filters_by_status(
    ws: Workspace,
) -> None:
    await priced(ws)
    resting = ws.limit("BTCUSDT", "BUY", "0.001", "50000")
    filled = ws.buy("BTCUSDT", "0.001")
    engine = ws.engine
    open_orders = engine.orders_message()
    assert open_orders["type"] == "ORDERS"
    assert open_orders["seq"] == engine.seq
    assert [o["id"] for o in open_orders["orders"]] == [resting.id]
    assert [o["id"] for o in engine.orders_message("filled")["orders"]] == [filled.id]
    assert len(engine.orders_message("ALL")["orders"]) == 2


async def test_order_events_since_replays_the_journal_in_order(ws: Workspace) -> None:
    await priced(ws)
    messages = collect(ws)
    start = ws.engine.seq
    ws.buy("BTCUSDT", "0.001")
    order = ws.limit("BTCUSDT", "BUY", "0.001", "50000")
    ws.cancel(order.id)
    live = [await next_message(messages, "ORDER_UPDATE") for _ in range(4)]
    resumed = ws.engine.order_events_since(start)
    assert [m["seq"] for m in resumed] == [m["seq"] for m in live]
    assert [m["order"]["status"] for m in resumed] == [m["order"]["status"] for m in live]
    assert ws.engine.order_events_since(ws.engine.seq) == []


async def test_snapshots_have_the_protocol_shapes(ws: Workspace) -> None:
    await priced(ws)
    ws.buy("BTCUSDT", "0.001")
    engine = ws.engine
    status = engine.status_message()
    assert (status["type"], status["feed"], status["source"]) == ("STATUS", "connected", "sim")
    assert "order_event_p99_ms" in status["metrics"]
    portfolio = engine.portfolio_message()["portfolio"]
    assert {"balance", "total_pnl", "positions_count", "realized_pnl"} <= set(portfolio)
    (position,) = engine.positions_message()["positions"]
    assert {"id", "symbol", "type", "quantity", "entry_price", "current_price"} <= set(position)
    assert position["status"] == "open"
    assert engine.market_update("btcusdt") is not None
    assert engine.market_update("NOPEUSDT") is None


async def test_close_position_reply_is_the_closing_order(ws: Workspace) -> None:
    await priced(ws)
    ws.buy("BTCUSDT", "0.002")
    position_id = ws.account.positions[0].id
    reply = ws.engine.close_position(position_id)
    assert reply["type"] == "ORDER_UPDATE"
    assert reply["order"]["side"] == "SELL"


async def test_serve_streams_the_same_engine_to_a_websocket_client(ws: Workspace) -> None:
    server = await ws.serve(port=0)
    url = f"ws://127.0.0.1:{server.port}/api/ws/realtime"
    async with websockets.connect(url) as client:
        first = json.loads(await asyncio.wait_for(client.recv(), timeout=10))
        assert first["type"] == "STATUS"
        await client.send(json.dumps({"action": "subscribe_ticker", "symbol": "btcusdt"}))
        while True:
            message = json.loads(await asyncio.wait_for(client.recv(), timeout=10))
            if message["type"] == "MARKET_UPDATE":
                break
        ws.buy("BTCUSDT", "0.001")
        while True:
            message = json.loads(await asyncio.wait_for(client.recv(), timeout=10))
            if message["type"] == "ORDER_UPDATE":
                break
    assert message["order"]["symbol"] == "BTCUSDT"
    assert ws.status["servers"] == [server.port]


async def test_dashboard_is_built_on_the_workspace_session(ws: Workspace) -> None:
    board = ws.dashboard()
    assert board is not None


async def test_stop_publishes_one_last_status_that_says_stopped(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "journal.sqlite")
    await ws.start()
    statuses: list[Message] = []
    ws.engine.subscribe_messages(
        listener=lambda m: statuses.append(m) if m["type"] == "STATUS" else None
    )
    engine = ws.engine
    await engine.stop()  # the feed reports its own shutdown meanwhile: it must not follow
    assert statuses, "no STATUS at all"
    assert statuses[-1]["feed"] == "stopped"
    assert [s["feed"] for s in statuses].count("stopped") == 1
    assert engine.feed_state == "stopped"
    await ws.stop()
