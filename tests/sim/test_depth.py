"""Depth over the wire: diff and partial streams, REST snapshots, Binance's sync procedure."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from workspace.sim import ExchangeSimulator

from .conftest import FIXTURES, advance_and_drain, clock_of, data_of, http_get, request


def fixture_keys(name: str) -> set[str]:
    data = json.loads(Path(FIXTURES / name).read_text())
    return set(data_of(data))


async def snapshot(sim: ExchangeSimulator, limit: int = 1000) -> dict[str, Any]:
    response = await http_get(sim, f"/api/v3/depth?symbol=BTCUSDT&limit={limit}")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict)
    return body


class LocalBook:
    """Binance's documented local order book procedure (web-socket-streams.md)."""

    def __init__(self) -> None:
        self.buffer: list[dict[str, Any]] = []
        self.update_id: int | None = None
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.resyncs = 0

    def on_event(self, event: dict[str, Any]) -> bool:
        """Apply (or buffer) one event; False when a gap means: resync."""
        if self.update_id is None:
            self.buffer.append(event)
            return True
        if event["u"] < self.update_id:
            return True
        if event["U"] > self.update_id + 1:
            self.update_id = None
            self.buffer = [event]
            self.resyncs += 1
            return False
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for price, qty in event[key]:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        self.update_id = event["u"]
        return True

    def load(self, snap: dict[str, Any]) -> None:
        first_u = self.buffer[0]["U"]
        assert snap["lastUpdateId"] >= first_u  # else: fetch again
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        self.update_id = snap["lastUpdateId"]
        pending, self.buffer = self.buffer, []
        pending = [e for e in pending if e["u"] > snap["lastUpdateId"]]
        if pending:  # else the next event starts at lastUpdateId + 1
            assert pending[0]["U"] <= snap["lastUpdateId"] + 1 <= pending[0]["u"]
        for event in pending:
            assert self.on_event(event)

    def top(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return (
            [[f"{p:.8f}", f"{q:.8f}"] for p, q in bids],
            [[f"{p:.8f}", f"{q:.8f}"] for p, q in asks],
        )


@pytest.mark.parametrize("stream", ["btcusdt@depth@100ms", "btcusdt@depth"])
async def test_binance_sync_procedure_rebuilds_the_simulators_book(
    sim: ExchangeSimulator, stream: str
) -> None:
    local = LocalBook()
    async with connect(f"{sim.stream_url}/ws/{stream}") as ws:
        for event in await advance_and_drain(sim, ws, 2000):
            local.on_event(event)
        local.load(await snapshot(sim))
        events = await advance_and_drain(sim, ws, 3000)
        for event in events:
            assert local.on_event(event)
        final = await snapshot(sim)
    assert len(events) >= 3
    assert final["lastUpdateId"] == local.update_id
    bids, asks = local.top(100)
    assert bids == final["bids"][:100]
    assert asks == final["asks"][:100]


async def test_diff_events_are_contiguous_with_binances_fields(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@depth@100ms") as ws:
        events = await advance_and_drain(sim, ws, 2000)
    assert len(events) >= 18  # one per 100 ms once the stream is attached
    assert all(set(e) == fixture_keys("depthUpdate.raw.testnet-2025-01.json") for e in events)
    for before, after in itertools.pairwise(events):
        assert after["U"] == before["u"] + 1
        assert after["E"] - before["E"] == 100
    for event in events:
        assert event["e"] == "depthUpdate"
        assert event["s"] == "BTCUSDT"
        assert event["U"] <= event["u"]
        for price, qty in event["b"] + event["a"]:
            assert Decimal(price) % Decimal("0.01") == 0
            assert Decimal(qty) >= 0


async def test_the_1000ms_diff_stream_sums_ten_100ms_ones(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/stream?streams=btcusdt@depth/btcusdt@depth@100ms") as ws:
        messages = await advance_and_drain(sim, ws, 3000)
    slow = [m["data"] for m in messages if m["stream"] == "btcusdt@depth"]
    fast = [m["data"] for m in messages if m["stream"] == "btcusdt@depth@100ms"]
    assert len(slow) >= 2
    for event in slow[1:]:
        covered = [f for f in fast if event["U"] <= f["U"] and f["u"] <= event["u"]]
        assert covered[0]["U"] == event["U"]
        assert covered[-1]["u"] == event["u"]
        final: dict[str, str] = {}
        for f in covered:
            final.update((p, q) for p, q in f["b"])
        assert dict(event["b"]) == final


@pytest.mark.parametrize(
    ("stream", "levels", "every_ms"),
    [
        ("btcusdt@depth5", 5, 1000),
        ("btcusdt@depth10@100ms", 10, 100),
        ("btcusdt@depth20@1000ms", 20, 1000),
    ],
)
async def test_partial_depth_streams_send_the_top_levels(
    sim: ExchangeSimulator, stream: str, levels: int, every_ms: int
) -> None:
    async with connect(f"{sim.stream_url}/ws/{stream}") as ws:
        frames = await advance_and_drain(sim, ws, 3000)
        snap = await snapshot(sim, levels)
    assert len(frames) == 3000 // every_ms
    for frame in frames:
        assert set(frame) == fixture_keys("depth5.raw.testnet-2025-01.json")
        assert len(frame["bids"]) == len(frame["asks"]) == levels
        assert Decimal(frame["bids"][0][0]) < Decimal(frame["asks"][0][0])
    assert frames[-1] == snap  # nothing changed since: the same book, the same id


async def test_partial_depth_combined_envelope_matches_the_fixture(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/stream?streams=btcusdt@depth5@100ms") as ws:
        frames = await advance_and_drain(sim, ws, 200)
    fixture = json.loads((FIXTURES / "depth5_100ms.combined.testnet-2025-01.json").read_text())
    assert {f["stream"] for f in frames} == {fixture["stream"]}
    assert set(frames[0]["data"]) == set(fixture["data"])


async def test_a_skipped_update_shows_as_a_gap_and_the_procedure_resyncs(
    sim: ExchangeSimulator,
) -> None:
    local = LocalBook()
    async with connect(f"{sim.stream_url}/ws/btcusdt@depth@100ms") as ws:
        before = await advance_and_drain(sim, ws, 1000)
        for event in before:
            local.on_event(event)
        local.load(await snapshot(sim))
        await sim.skip_depth_updates("BTCUSDT", events=1)
        events = await advance_and_drain(sim, ws, 1000)
        seen = before + events
        gaps = [(a["u"], b["U"]) for a, b in itertools.pairwise(seen) if b["U"] != a["u"] + 1]
        for event in events:
            local.on_event(event)
        assert local.resyncs == 1
        local.load(await snapshot(sim))  # resync: a fresh snapshot
        for event in await advance_and_drain(sim, ws, 1000):
            assert local.on_event(event)
        final = await snapshot(sim, 50)
    assert len(gaps) == 1
    assert local.top(50) == (final["bids"], final["asks"])


async def test_book_ticker_is_the_top_of_the_depth(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.stream_url}/ws/btcusdt@bookTicker") as ws:
        tickers = await advance_and_drain(sim, ws, 1000)
        snap = await snapshot(sim, 5)
    last = tickers[-1]
    assert [last["b"], last["B"]] == snap["bids"][0]
    assert [last["a"], last["A"]] == snap["asks"][0]
    assert last["u"] <= snap["lastUpdateId"]


async def test_the_book_records_changes_only_while_somebody_listens(
    sim: ExchangeSimulator,
) -> None:
    market = sim.market
    assert market is not None
    book = market.book("BTCUSDT")
    assert book is not None
    await clock_of(sim).advance(300)
    await sim.caught_up()
    assert book.recorders == []
    async with connect(f"{sim.stream_url}/ws") as ws:
        params = ["btcusdt@depth@100ms", "btcusdt@depth"]
        await request(ws, {"method": "SUBSCRIBE", "params": params, "id": 1})
        await advance_and_drain(sim, ws, 300)
        assert len(book.recorders) == 2
        await request(ws, {"method": "UNSUBSCRIBE", "params": params, "id": 2})
        await advance_and_drain(sim, ws, 300)
        assert book.recorders == []
    assert market.book("ETHUSDT").recorders == []  # type: ignore[union-attr]


async def test_rest_depth_limits_and_weights(sim: ExchangeSimulator) -> None:
    default = await http_get(sim, "/api/v3/depth?symbol=BTCUSDT")
    three = await http_get(sim, "/api/v3/depth?symbol=BTCUSDT&limit=3")
    many = await http_get(sim, "/api/v3/depth?symbol=ETHUSDT&limit=9000")
    assert len(default.json()["bids"]) == len(default.json()["asks"]) == 100
    assert len(three.json()["bids"]) == 3
    assert len(many.json()["bids"]) == 1000  # the simulator keeps 1000 levels a side
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (default, three, many)]
    assert used == [5, 10, 260]  # 5 (limit <= 100), 5, 250 (limit > 1000)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", -1102),
        ("symbol=NOPEUSDT", -1121),
        ("symbol=btcusdt", -1100),
        ("symbol=BTCUSDT&limit=0", -1130),
        ("symbol=BTCUSDT&limit=ten", -1100),
    ],
)
async def test_rest_depth_errors_are_binances(
    sim: ExchangeSimulator, query: str, code: int
) -> None:
    response = await http_get(sim, f"/api/v3/depth?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code


async def synced_book_and_trades(
    sim: ExchangeSimulator, advance_ms: int
) -> tuple[LocalBook, list[dict[str, Any]]]:
    """A client's book of BTCUSDT synchronised by Binance's procedure, and the diff
    and trade frames of the next ``advance_ms`` (the book not yet applied to them)."""
    local = LocalBook()
    streams = "btcusdt@depth@100ms/btcusdt@trade"
    async with connect(f"{sim.stream_url}/stream?streams={streams}") as ws:
        for frame in await advance_and_drain(sim, ws, 1000):
            if frame["stream"].endswith("@100ms"):
                local.on_event(frame["data"])
        local.load(await snapshot(sim))
        frames = await advance_and_drain(sim, ws, advance_ms)
    return local, frames


async def test_every_trade_prints_at_the_touch_of_the_book_a_client_holds(
    sim: ExchangeSimulator,
) -> None:
    """A trade takes the best level's liquidity: after the diff of its own 100 ms (the
    same event time), the client's book has its best bid at or below the trade's price
    and its best ask at or above it, strictly on the side the taker took from."""
    local, frames = await synced_book_and_trades(sim, 20_000)
    trades: dict[int, list[dict[str, Any]]] = {}
    checked = 0
    for frame in frames:
        data = frame["data"]
        if data["e"] == "trade":
            trades.setdefault(data["T"], []).append(data)
            continue
        assert local.on_event(data)
        for trade in trades.pop(data["E"], []):
            price = Decimal(trade["p"])
            best_bid, best_ask = max(local.bids), min(local.asks)
            assert best_bid <= price <= best_ask, (trade, best_bid, best_ask)
            if trade["m"]:  # a taker sold into the bids: it printed below every ask
                assert price < best_ask
            else:  # a taker bought from the asks: above every bid
                assert price > best_bid
            checked += 1
    assert checked >= 100  # ~0.7 trades per 100 ms


async def test_the_last_trade_stays_inside_the_spread_until_the_next_trade(
    sim: ExchangeSimulator,
) -> None:
    """The quote moves only with a trade (a taker moves the price, as on the exchange):
    between two trades, the book's churn and refills keep the last trade's price
    between the best bid and the best ask, so a ladder that draws the last trade
    between them never shows it outside."""
    local, frames = await synced_book_and_trades(sim, 30_000)
    last: Decimal | None = None
    outside: list[tuple[Decimal, Decimal, Decimal]] = []
    steps = 0
    for frame in frames:
        data = frame["data"]
        if data["e"] == "trade":
            last = Decimal(data["p"])
            continue
        assert local.on_event(data)
        if last is not None:
            steps += 1
            best_bid, best_ask = max(local.bids), min(local.asks)
            if not best_bid <= last <= best_ask:
                outside.append((best_bid, last, best_ask))
    assert steps >= 250
    assert outside == []
