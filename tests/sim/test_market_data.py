"""The random walk's frames: Binance's shapes, consistent numbers, reproducible runs."""

from __future__ import annotations

import asyncio
import random
import re
from decimal import Decimal

import msgspec
from websockets.asyncio.client import connect

from workspace.market.records import BookTicker, MiniTicker, Ticker, Trade
from workspace.sim import DEFAULT_SYMBOLS, ExchangeSimulator, ManualClock
from workspace.sim.market import RandomWalkMarket, ticker_phase_ms

from .conftest import START_MS, TIMEOUT, clock_of, manual_config, recv_text, request

ALL_KINDS = ("ticker", "miniTicker", "bookTicker", "aggTrade", "trade")
EIGHT_DECIMALS = r"^-?\d+\.\d{8}$"


async def collect(sim: ExchangeSimulator, streams: list[str], advance_ms: int) -> list[bytes]:
    """Every raw frame the streams produce while the clock moves by ``advance_ms``."""
    frames: list[bytes] = []
    async with connect(f"{sim.stream_url}/ws") as ws:
        await request(ws, {"method": "SUBSCRIBE", "params": streams, "id": 1})
        await clock_of(sim).advance(advance_ms)
        await sim.caught_up()
        # The reply is queued behind every frame of the period.
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":4}')
        while True:
            message = await asyncio.wait_for(ws.recv(), TIMEOUT)
            data = message.encode() if isinstance(message, str) else message
            if data.startswith(b'{"result"'):
                if b'"id":4' in data:
                    return frames
                continue
            frames.append(data)


async def test_every_frame_decodes_into_the_market_records(sim: ExchangeSimulator) -> None:
    streams = [f"btcusdt@{kind}" for kind in ALL_KINDS]
    frames = await collect(sim, streams, 3000)
    decoded = {
        b'"24hrTicker"': Ticker,
        b'"24hrMiniTicker"': MiniTicker,
        b'"aggTrade"': Trade,
        b'"trade"': Trade,
    }
    kinds = set()
    for frame in frames:
        record_type = next((t for key, t in decoded.items() if key in frame), BookTicker)
        record = msgspec.json.decode(frame, type=record_type)
        kinds.add(getattr(record, "event_type", "bookTicker"))
        assert record.symbol == "BTCUSDT"
    assert kinds == {"24hrTicker", "24hrMiniTicker", "bookTicker", "aggTrade", "trade"}


async def test_prices_are_8_decimal_strings_rounded_to_the_tick(sim: ExchangeSimulator) -> None:
    frames = await collect(sim, ["ethusdt@aggTrade", "ethusdt@bookTicker"], 2000)
    tick = Decimal("0.01")
    for frame in frames:
        payload = msgspec.json.decode(frame)
        keys = ("p",) if payload.get("e") == "aggTrade" else ("b", "a")  # aggTrade "a" is an id
        for key in keys:
            assert isinstance(payload[key], str)
            assert re.fullmatch(EIGHT_DECIMALS, payload[key])
            assert Decimal(payload[key]) % tick == 0


async def test_24h_ticker_statistics_are_consistent(sim: ExchangeSimulator) -> None:
    frames = await collect(sim, ["btcusdt@ticker", "ethusdt@ticker"], 5000)
    tickers = [msgspec.json.decode(f, type=Ticker) for f in frames]
    assert len(tickers) == 10
    for t in tickers:
        assert t.price_change == t.last_price - t.open_price
        expected_percent = (t.price_change / t.open_price * 100).quantize(Decimal("0.001"))
        assert t.price_change_percent == expected_percent
        assert t.high_price >= max(t.last_price, t.open_price)
        assert t.low_price <= min(t.last_price, t.open_price)
        assert t.low_price <= t.weighted_avg_price <= t.high_price
        assert t.trade_count == t.last_trade_id - t.first_trade_id + 1
        assert t.close_time - t.open_time == 86_400_000
        assert t.close_time == t.event_time
        assert t.bid_price is not None
        assert t.ask_price is not None
        assert t.bid_price < t.ask_price
        assert t.volume > 0
        assert t.quote_volume > 0


async def test_ticker_comes_every_second_of_simulated_time(sim: ExchangeSimulator) -> None:
    frames = await collect(sim, ["btcusdt@ticker"], 4000)
    times = [msgspec.json.decode(f, type=Ticker).event_time for f in frames]
    phase = ticker_phase_ms(7, "BTCUSDT", 1000)
    assert times == [START_MS + phase + 1000 * k for k in range(4)]


def test_each_symbols_ticker_has_its_own_phase_within_one_interval() -> None:
    phases = {spec.symbol: ticker_phase_ms(7, spec.symbol, 1000) for spec in DEFAULT_SYMBOLS}
    assert all(1 <= phase <= 1000 for phase in phases.values())
    assert len(set(phases.values())) > len(phases) // 2  # not one burst of every symbol


def test_ticker_phases_depend_on_the_seed_and_symbol_only() -> None:
    first = RandomWalkMarket(DEFAULT_SYMBOLS, random.Random(1), START_MS, seed=5)
    again = RandomWalkMarket(DEFAULT_SYMBOLS[:3], random.Random(2), START_MS, seed=5)
    other = RandomWalkMarket(DEFAULT_SYMBOLS, random.Random(1), START_MS, seed=6)
    names = [spec.symbol for spec in DEFAULT_SYMBOLS]
    three = names[:3]
    assert [first.next_ticker_ms(s) for s in three] == [again.next_ticker_ms(s) for s in three]
    assert [first.next_ticker_ms(s) for s in names] != [other.next_ticker_ms(s) for s in names]


def test_unstaggered_tickers_all_come_at_the_same_instant() -> None:
    market = RandomWalkMarket(DEFAULT_SYMBOLS, random.Random(1), START_MS, stagger=False)
    assert {market.next_ticker_ms(spec.symbol) for spec in DEFAULT_SYMBOLS} == {START_MS + 1000}
    while market.next_due_ms() < START_MS + 1000:
        market.step()
    tickers = [e.record for e in market.step() if e.stream.endswith("@ticker")]
    symbols = []
    for ticker in tickers:
        assert isinstance(ticker, Ticker)
        symbols.append(ticker.symbol)
    assert symbols == [spec.symbol for spec in DEFAULT_SYMBOLS]


def test_staggering_never_changes_a_price() -> None:
    def prices(stagger: bool) -> list[str]:
        market = RandomWalkMarket(
            DEFAULT_SYMBOLS, random.Random(4), START_MS, stagger=stagger, seed=4
        )
        out = []
        while market.next_due_ms() <= START_MS + 5000:
            out += [str(e.record.price) for e in market.step() if isinstance(e.record, Trade)]
        return out

    assert prices(True) == prices(False)


def test_a_market_that_skips_a_gap_keeps_each_tickers_phase() -> None:
    market = RandomWalkMarket(DEFAULT_SYMBOLS, random.Random(1), START_MS, seed=3)
    before = {spec.symbol: market.next_ticker_ms(spec.symbol) for spec in DEFAULT_SYMBOLS}
    market.skip_to(START_MS + 3_600_000 + 1)
    for symbol, due in before.items():
        after = market.next_ticker_ms(symbol)
        assert (after - due) % 1000 == 0
        assert START_MS + 3_600_000 + 1 < after <= START_MS + 3_601_001


async def test_trades_are_faster_than_tickers_and_ids_increase(sim: ExchangeSimulator) -> None:
    frames = await collect(sim, ["btcusdt@aggTrade", "btcusdt@trade"], 3000)
    trades = [msgspec.json.decode(f, type=Trade) for f in frames]
    agg = [t for t in trades if t.event_type == "aggTrade"]
    plain = [t for t in trades if t.event_type == "trade"]
    assert len(agg) > 3
    assert len(agg) == len(plain)
    assert [t.id for t in agg] == list(range(agg[0].id, agg[0].id + len(agg)))
    assert [t.trade_id for t in plain] == [t.first_trade_id for t in agg]


async def test_default_symbols_start_at_realistic_levels() -> None:
    market = RandomWalkMarket(DEFAULT_SYMBOLS, random.Random(1), START_MS)
    names = set(market.symbols)
    assert {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"} <= names
    btc = market.ticker("BTCUSDT", START_MS)
    assert btc is not None
    assert Decimal(50_000) < btc.last_price < Decimal(200_000)
    assert btc.open_time == START_MS - 86_400_000


async def run_session(seed: int) -> list[bytes]:
    sim = ExchangeSimulator(manual_config(seed=seed, clock=ManualClock(START_MS)))
    await sim.start()
    try:
        return await collect(
            sim, ["btcusdt@ticker", "btcusdt@aggTrade", "ethusdt@bookTicker"], 3000
        )
    finally:
        await sim.stop()


async def test_same_seed_and_same_clock_give_identical_frames() -> None:
    first = await run_session(11)
    second = await run_session(11)
    assert len(first) > 20
    assert first == second


async def test_a_different_seed_gives_different_prices() -> None:
    assert await run_session(11) != await run_session(12)


async def test_the_feeds_decoder_reads_every_combined_frame(sim: ExchangeSimulator) -> None:
    from workspace.market.decode import decode_frame

    streams = [f"ethusdt@{kind}" for kind in ALL_KINDS]
    frames: list[bytes] = []
    async with connect(f"{sim.stream_url}/stream?streams={'/'.join(streams)}") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await clock_of(sim).advance(2000)
        await sim.caught_up()
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":2}')
        while not (frame := (await recv_text(ws)).encode()).startswith(b'{"result"'):
            frames.append(frame)
    records = [decode_frame(f) for f in frames]
    assert {type(r) for r in records} == {Ticker, MiniTicker, BookTicker, Trade}
    assert all(getattr(r, "symbol", None) == "ETHUSDT" for r in records)


async def test_a_long_gap_is_skipped_not_replayed_event_by_event(sim: ExchangeSimulator) -> None:
    clock = clock_of(sim)
    async with connect(f"{sim.stream_url}/ws/btcusdt@ticker") as ws:
        await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await clock.advance(3_600_000)  # an hour asleep: 36 000 trade steps not generated
        await sim.caught_up()
        await clock.advance(1000)
        ticker = msgspec.json.decode(await asyncio.wait_for(ws.recv(), TIMEOUT), type=Ticker)
    # The first ticker after the gap is on BTCUSDT's own phase, right after the gap.
    assert ticker.event_time == START_MS + 3_600_000 + ticker_phase_ms(7, "BTCUSDT", 1000)
    assert ticker.price_change == ticker.last_price - ticker.open_price
