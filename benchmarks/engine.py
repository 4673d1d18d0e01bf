"""Engine benchmark: 50 symbols from the simulator, 1,000 resting orders, one strategy.

First the engine alone (records straight into ``Engine.on_record``) and a replay of
real klines, then two live phases, each on a fresh engine with the simulator in a
separate process (so the simulator's own work does not count as engine time):

- ``binance``: Binance's real rates (24 h ticker every 1 s, trades and book every
  100 ms per symbol): the latency targets apply here (order event p99 < 1 ms,
  event-loop lag p99 < 10 ms);
- ``direct``: the same rates with ``direct_sync_callbacks=True`` (the strategy runs
  straight from the feed callback instead of in its own task);
- ``max``: the simulator's highest rate (1 ms intervals): throughput (ticks/s).

Each live phase freezes the heap once its set-up is done (``workspace/heap.py``), as
``serve``, ``engine`` and ``gateway`` do once started.

The 1,000 resting orders are 950 far limit orders and one wide trailing stop per
symbol (its stop follows every new peak, so ticks cause order events in the engine:
"tick -> order event", from the tick reaching the engine to the ORDER_UPDATE being
published).  The strategy reacts to every tick; on every 20th it places a limit order
far from the market and cancels it: "tick -> strategy order" also includes the wait
for the strategy's turn on the loop (callbacks run in their own task).

    .venv/bin/python benchmarks/engine.py [--seconds 8] [--symbols 50] [--candles 120]
        [--profile] [--slow-ms 50]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import logging
import multiprocessing
import pstats
import tempfile
import time
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workspace.engine.config import EngineConfig
from workspace.engine.core import Engine
from workspace.engine.ticks import Tick
from workspace.heap import settle_heap
from workspace.journal import Journal
from workspace.market.records import BookTicker, MarketRecord, Ticker, Trade
from workspace.notebook.workspace import Workspace
from workspace.trading.requests import OrderRequest, OrderType, Side

RESTING_ORDERS = 1000


class CallbackCpu:
    """CPU time (``thread_time``) of every event-loop callback while active.

    Loop lag is wall time: on a shared machine it mostly measures how long the process
    sat descheduled.  The CPU time each callback held the loop is what the code
    controls, so the longest ones say whether work per loop turn is bounded.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.slow: list[tuple[float, float, str]] = []  # (wall, cpu, what), over 10 ms wall
        self.gc_pauses: list[float] = []  # seconds per garbage collection
        self._gc_started = 0.0
        self._original = asyncio.events.Handle._run

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # A full collection lands inside whichever callback allocated last: count it apart.
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)

    def __enter__(self) -> CallbackCpu:
        original, samples, slow = self._original, self.samples, self.slow
        cpu_clock, wall_clock = time.thread_time, time.perf_counter

        def timed_run(handle: asyncio.Handle) -> None:
            callback = handle._callback  # type: ignore[attr-defined]  # cleared if cancelled
            started, wall_started = cpu_clock(), wall_clock()
            original(handle)
            cpu = cpu_clock() - started
            samples.append(cpu)
            wall = wall_clock() - wall_started
            if wall > 0.010:
                slow.append((wall, cpu, _describe(callback)))

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign, assignment]
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)

    def percentile_ms(self, p: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000.0


def _describe(callback: object) -> str:
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        return f"task {task.get_name()}"
    return getattr(callback, "__qualname__", repr(callback))


def symbol_names(count: int) -> list[str]:
    return [f"X{i:02d}USDT" for i in range(count)]


def run_simulator(conn: Connection, count: int, intervals: tuple[float, float, float]) -> None:
    """Child process: serve ``count`` symbols until the parent says stop."""
    from workspace.sim import DEFAULT_SYMBOLS, ExchangeSimulator, SimConfig, SymbolSpec

    specs = []
    for i, name in enumerate(symbol_names(count)):
        template = DEFAULT_SYMBOLS[i % len(DEFAULT_SYMBOLS)]
        specs.append(
            SymbolSpec(
                symbol=name,
                base_asset=name[:-4],
                quote_asset="USDT",
                price=template.price,
                tick_size=template.tick_size,
                step_size=template.step_size,
                volatility=template.volatility,
                daily_volume=template.daily_volume,
            )
        )
    ticker, trade, book = intervals
    config = SimConfig(
        symbols=tuple(specs),
        seed=11,
        ticker_interval_s=ticker,
        trade_interval_s=trade,
        book_interval_s=book,
    )

    async def serve() -> None:
        sim = ExchangeSimulator(config)
        await sim.start(host="127.0.0.1", port=0)
        conn.send((sim.stream_url, sim.rest_url))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # wait for "stop"
        await sim.stop()

    asyncio.run(serve())


async def phase(
    name: str,
    intervals: tuple[float, float, float],
    seconds: float,
    count: int,
    profile: bool,
    direct: bool = False,
) -> dict[str, Any]:
    from workspace.market.config import FeedConfig

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=run_simulator, args=(child, count, intervals), daemon=True)
    process.start()
    stream_url, rest_url = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    ws = Workspace(
        feed="binance",
        feed_config=FeedConfig(stream_url=stream_url, rest_url=rest_url),
        # A spot account: the trailing stops below sell assets it must hold.
        balances={"USDT": 10**12, **{name[:-4]: 10**9 for name in symbol_names(count)}},
        engine=EngineConfig(
            ticks_per_symbol=20_000, loop_lag_interval_s=0.01, direct_sync_callbacks=direct
        ),
    )
    symbols = symbol_names(count)
    seen: set[str] = set()
    all_priced = asyncio.Event()
    ticks = 0

    @ws.on_tick
    def strategy(tick: Tick) -> None:
        nonlocal ticks
        ticks += 1
        if tick.symbol not in seen:
            seen.add(tick.symbol)
            if len(seen) == count:
                all_priced.set()
        if ticks % 20 == 0 and all_priced.is_set():
            far = ws.round_price(tick.symbol, tick.price / 2)
            order = ws.limit(tick.symbol, "BUY", worth(tick.symbol, far), far)
            ws.cancel(order.id)

    def worth(symbol: str, price: Decimal) -> Decimal:
        """A quantity worth about 100 USDT at ``price``: above every minimum order value
        of the simulator's symbols, whatever their price."""
        return max(ws.round_qty(symbol, Decimal(100) / price), Decimal(1))

    await ws.start()
    try:
        await ws.subscribe(*symbols)
        await asyncio.wait_for(all_priced.wait(), timeout=60)
        for i in range(RESTING_ORDERS):
            symbol = symbols[i % count]
            if i < count:
                # One wide trailing stop per symbol: never triggers, but its stop follows
                # every new peak, so ticks keep causing order events inside the engine.
                # 19 %: just inside Binance's TRAILING_DELTA maximum of 2,000 BIPS.
                quote = ws.engine.account.quote(symbol)
                assert quote.last is not None
                order = ws.trailing_stop(
                    symbol, "SELL", worth(symbol, quote.last), trail_percent="19"
                )
            else:
                quote = ws.engine.account.quote(symbol)
                assert quote.last is not None
                far = ws.round_price(symbol, quote.last * Decimal("0.5"))
                order = ws.limit(symbol, "BUY", worth(symbol, far), far)
            assert order.status == "NEW", order.reason
        metrics = ws.engine.metrics
        # the set-up above held the loop (1,000 placements in a row): the loop-lag
        # sample that was sleeping across it lands once the loop is free again.  A
        # settle period lets it land before the windows are cleared; otherwise the
        # window's max was the set-up, not the measurement (a 0.5-0.6 s "max lag")
        settle_heap()  # as serve / engine / gateway do once started (workspace/heap.py)
        await asyncio.sleep(0.2)
        windows = (
            metrics.order_event_ms,
            metrics.strategy_order_ms,
            metrics.loop_lag_ms,
            metrics.feed_latency_ms,
        )
        for window in windows:
            window.clear()
        ticks_before = metrics.ticks.total
        messages_before = metrics.messages.total
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler is not None:
            profiler.enable()
        with CallbackCpu() as callbacks:
            await asyncio.sleep(seconds)  # the measurement window (not a synchronisation)
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        records = max(1, metrics.messages.total - messages_before)
        lags = metrics.loop_lag_ms
        result = {
            "phase": name,
            "ticks_per_s": (metrics.ticks.total - ticks_before) / elapsed,
            "records_per_s": records / elapsed,
            # CPU time, not wall time, is the stable figure on a shared machine.
            "cpu_us_per_record": cpu / records * 1e6,
            "cpu_share": cpu / elapsed,
            "loop_lag_p50_ms": lags.percentile(50),
            "loop_lag_max_ms": lags.percentile(100),
            "callback_cpu_p99_ms": callbacks.percentile_ms(99),
            "callback_cpu_p9999_ms": callbacks.percentile_ms(99.99),
            "callback_cpu_max_ms": callbacks.percentile_ms(100),
            "callbacks_over_10ms_cpu": sum(1 for c in callbacks.samples if c > 0.010),
            "gc_pause_max_ms": max(callbacks.gc_pauses, default=0.0) * 1000.0,
            "gc_pauses_over_10ms": sum(1 for g in callbacks.gc_pauses if g > 0.010),
            "order_event_p50_ms": metrics.order_event_ms.percentile(50),
            "order_event_p99_ms": metrics.order_event_ms.percentile(99),
            "order_events": len(metrics.order_event_ms),
            "strategy_orders": len(metrics.strategy_order_ms),
            "strategy_order_p50_ms": metrics.strategy_order_ms.percentile(50),
            "strategy_order_p99_ms": metrics.strategy_order_ms.percentile(99),
            "loop_lag_p99_ms": metrics.loop_lag_ms.percentile(99),
            "feed_latency_p99_ms": metrics.feed_latency_ms.percentile(99),
            "resting_orders": len(ws.open_orders),
            "callback_errors": metrics.callback_errors,
        }
        if callbacks.slow:
            # Wall >> CPU: the loop was descheduled or blocked in a system call (I/O).
            worst = sorted(callbacks.slow, reverse=True)[:5]
            print(
                f"  {name}: {len(callbacks.slow)} loop callbacks over 10 ms wall; longest: "
                + "; ".join(
                    f"{what} {w * 1e3:.0f} ms wall/{c * 1e3:.1f} ms CPU" for w, c, what in worst
                )
            )
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
            print(f"--- profile of the {name} phase (by own time) ---")
            print("\n".join(out.getvalue().splitlines()[:40]))
        return result
    finally:
        await ws.stop()
        parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def synthetic_records(symbols: list[str], rounds: int) -> list[MarketRecord]:
    """Per symbol and round: a trade and a book ticker; a 24 h ticker every 10th round."""
    records: list[MarketRecord] = []
    for k in range(rounds):
        for symbol in symbols:
            price = Decimal(100 + k % 7)
            at = 1_700_000_000_000 + k
            records.append(
                Trade(
                    event_type="aggTrade",
                    event_time=at,
                    symbol=symbol,
                    price=price,
                    quantity=Decimal(1),
                    trade_time=at,
                    buyer_is_maker=False,
                    agg_id=k,
                )
            )
            records.append(
                BookTicker(
                    update_id=k,
                    symbol=symbol,
                    bid_price=price - 1,
                    bid_qty_text="1",
                    ask_price=price + 1,
                    ask_qty_text="1",
                )
            )
            if k % 10 == 0:
                records.append(
                    Ticker(
                        event_type="24hrTicker",
                        event_time=at,
                        symbol=symbol,
                        price_change_text="1",
                        price_change_percent_text="1",
                        weighted_avg_price_text=str(price),
                        last_price=price,
                        open_price_text=str(price),
                        high_price_text=str(price),
                        low_price_text=str(price),
                        volume=Decimal(1),
                        quote_volume_text="1",
                        open_time=at,
                        close_time=at,
                        first_trade_id=0,
                        last_trade_id=0,
                        trade_count=0,
                    )
                )
    return records


async def engine_only(count: int, profile: bool) -> float:
    """Records straight into ``Engine.on_record`` (no socket, no decoding): the engine's
    own cost per record, with the 1,000 resting orders and one strategy."""
    symbols = symbol_names(count)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.sqlite")
        engine = Engine(account=journal.rebuild(), journal=journal, source="bench")
        await engine.start()
        engine.callbacks.register("tick", lambda tick: None)
        records = synthetic_records(symbols, 400)
        for record in records[: 3 * count]:
            engine.on_record(record)
        for i in range(RESTING_ORDERS):
            engine.place_order(
                OrderRequest(
                    symbol=symbols[i % count],
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=Decimal(1),
                    price=Decimal(50),
                )
            )
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for i, record in enumerate(records):
            engine.on_record(record)
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the callback task run, as the feed would
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        await engine.stop()
        engine.ticks.close()
        journal.close()
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("--- profile of the engine-only phase (by own time) ---")
        print("\n".join(out.getvalue().splitlines()[:34]))
    rate = len(records) / elapsed
    print(f"  engine: {rate:>9,.0f} records/s straight into on_record ({1e6 / rate:.1f} us each)")
    return rate


KLINES = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/binance/replay/klines/BTCUSDT-1m-2020-01-01.csv"
)


async def replay_speed(candles: int) -> float:
    """Replay mode: ``candles`` minutes of real BTCUSDT klines (~180 records each)
    through the engine with a small strategy; records per second, loading excluded."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / KLINES.name
        data.write_text("".join(KLINES.read_text().splitlines(keepends=True)[:candles]))
        ws = Workspace(feed=f"replay:{data}", db=Path(tmp) / "journal.sqlite")
        seen = 0

        @ws.on_tick
        def strategy(tick: Tick) -> None:
            nonlocal seen
            seen += 1
            if seen % 500 == 0:
                ws.buy(tick.symbol, "0.01")
                ws.trailing_stop(tick.symbol, "SELL", "0.01", trail_percent="0.3")

        await ws.start()
        try:
            result = await ws.run()
        finally:
            await ws.stop()
    assert result is not None
    print(
        f"  replay: {result.records_per_s:>9,.0f} records/s ({result.records} records, "
        f"{result.fills} fills, {result.order_events} order events)"
    )
    return result.records_per_s


def show(result: dict[str, Any]) -> None:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f} ms"

    print(
        f"{result['phase']:>8}: {result['ticks_per_s']:>9,.0f} ticks/s | "
        f"tick->order event p50 {ms(result['order_event_p50_ms'])}, "
        f"p99 {ms(result['order_event_p99_ms'])} ({result['order_events']} events) | "
        f"tick->strategy order p50 {ms(result['strategy_order_p50_ms'])}, "
        f"p99 {ms(result['strategy_order_p99_ms'])} ({result['strategy_orders']}) | "
        f"loop lag p50 {ms(result['loop_lag_p50_ms'])}, p99 {ms(result['loop_lag_p99_ms'])}, "
        f"max {ms(result['loop_lag_max_ms'])} | "
        f"feed latency p99 {ms(result['feed_latency_p99_ms'])} | "
        f"resting {result['resting_orders']} | "
        f"loop callback CPU p99 {ms(result['callback_cpu_p99_ms'])}, "
        f"p99.99 {ms(result['callback_cpu_p9999_ms'])}, max {ms(result['callback_cpu_max_ms'])}, "
        f"{result['callbacks_over_10ms_cpu']} over 10 ms | "
        f"GC pauses max {result['gc_pause_max_ms']:.1f} ms, "
        f"{result['gc_pauses_over_10ms']} over 10 ms | "
        f"{result['records_per_s']:,.0f} records/s, "
        f"CPU {result['cpu_us_per_record']:.1f} us/record "
        f"({result['cpu_share']:.0%} of a core)"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.slow_ms:
        # asyncio's debug mode names every callback that holds the loop this long.
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = args.slow_ms / 1000
    engine_rate = await engine_only(args.symbols, args.profile)
    replay_rate = await replay_speed(args.candles)
    binance = await phase("binance", (1.0, 0.1, 0.1), args.seconds, args.symbols, args.profile)
    show(binance)
    direct = await phase(
        "direct", (1.0, 0.1, 0.1), args.seconds, args.symbols, args.profile, direct=True
    )
    show(direct)
    fastest = await phase("max", (0.01, 0.001, 0.001), args.seconds, args.symbols, args.profile)
    show(fastest)
    return {
        "ticks_per_s": round(fastest["ticks_per_s"], 1),
        "order_event_p50_ms": binance["order_event_p50_ms"],
        "order_event_p99_ms": binance["order_event_p99_ms"],
        "loop_lag_p99_ms": binance["loop_lag_p99_ms"],
        "strategy_order_p50_ms": binance["strategy_order_p50_ms"],
        "strategy_order_p99_ms": binance["strategy_order_p99_ms"],
        "direct_strategy_order_p50_ms": direct["strategy_order_p50_ms"],
        "direct_strategy_order_p99_ms": direct["strategy_order_p99_ms"],
        "binance_rate_ticks_per_s": round(binance["ticks_per_s"], 1),
        "max_rate_order_event_p99_ms": fastest["order_event_p99_ms"],
        "max_rate_loop_lag_p99_ms": fastest["loop_lag_p99_ms"],
        "engine_only_records_per_s": round(engine_rate, 1),
        "replay_records_per_s": round(replay_rate, 1),
        "binance_loop_lag_max_ms": binance["loop_lag_max_ms"],
        "max_rate_loop_lag_max_ms": fastest["loop_lag_max_ms"],
        "binance_cpu_us_per_record": round(binance["cpu_us_per_record"], 1),
        "binance_callback_cpu_max_ms": binance["callback_cpu_max_ms"],
        "binance_callback_cpu_p9999_ms": binance["callback_cpu_p9999_ms"],
        "max_rate_callback_cpu_max_ms": fastest["callback_cpu_max_ms"],
        "max_rate_callback_cpu_p9999_ms": fastest["callback_cpu_p9999_ms"],
        "max_rate_callbacks_over_10ms_cpu": fastest["callbacks_over_10ms_cpu"],
        "max_rate_gc_pause_max_ms": round(fastest["gc_pause_max_ms"], 2),
        "binance_gc_pause_max_ms": round(binance["gc_pause_max_ms"], 2),
        "max_rate_cpu_us_per_record": round(fastest["cpu_us_per_record"], 1),
        "max_rate_records_per_s": round(fastest["records_per_s"], 1),
        "symbols": args.symbols,
        "resting_orders": RESTING_ORDERS,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement per phase")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--candles", type=int, default=120, help="kline minutes to replay")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument(
        "--slow-ms", type=float, default=0, help="log loop callbacks slower than this (debug)"
    )
    summary = asyncio.run(main(parser.parse_args()))
    print(json.dumps(summary))
