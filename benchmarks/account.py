"""Account and journal throughput.

    .venv/bin/python benchmarks/account.py [--quick] [--profile]

Figures (the last line is one JSON object):

- ticks_per_s: trades through an account holding 10,000 resting orders over 100
  symbols (limits and stops at 1..50 % from the market), prices wandering +-0.3 %
  so that most ticks trigger nothing: the cost of a tick that has to *not* scan.
- tick_to_event p50/p99: time of the ``on_market`` call whose trade fills a resting
  limit (trade in -> fill, position and order events out), with the 10,000 orders;
  wall and CPU (thread time), the cycle collections that ran during the samples, and
  the wall p99 again with the collector off (``_nogc``): if GC pauses drove the p99,
  the two would differ.
- mtm_10k_ms: full mark-to-market of 10,000 positions (one per symbol over 10,000
  symbols): ``Account.revalue()`` re-marks every position from its latest price and
  re-sums the unrealized P&L.  In normal running this never happens: each price
  re-marks its own position incrementally (O(1)) and ``portfolio()`` is O(1); that
  path is ``mtm_ticks_10k_ms`` (10,000 MiniTickers, one per symbol) and
  ``portfolio_us``.
- journal_appends_per_s: ``Journal.append`` transactions of 4 events (one market
  order: NEW, fill, position, FILLED) to a WAL file with synchronous=NORMAL; and
  journal_events_per_s for batches of 100; journal_batched_appends_per_s: the same
  4-event steps appended inside ``Journal.batch()`` (a replay: one transaction per
  1,000 steps).
"""

from __future__ import annotations

import cProfile
import gc
import json
import pstats
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from workspace.journal import Journal
from workspace.market.records import MiniTicker, Trade
from workspace.trading import Account, AccountConfig, OrderRequest, OrderType, Side

SYMBOLS = [f"S{i:03d}USDT" for i in range(100)]
CONFIG = AccountConfig(initial_balance=Decimal(10) ** 12)


def _trade(symbol: str, price: Decimal, t: int) -> Trade:
    return Trade(
        event_type="aggTrade",
        event_time=t,
        symbol=symbol,
        price=price,
        quantity=Decimal(1),
        trade_time=t,
        buyer_is_maker=False,
    )


def _mini(symbol: str, price: Decimal, t: int) -> MiniTicker:
    return MiniTicker(
        event_type="24hrMiniTicker",
        event_time=t,
        symbol=symbol,
        last_price=price,
        open_price=price,
        high_price=price,
        low_price=price,
        volume=Decimal(1),
        quote_volume=price,
    )


def loaded_account() -> Account:
    """10,000 resting orders: per symbol 25 buy limits, 25 sell limits, 25 buy stops,
    25 sell stops, at 1..50 % from a market of 100."""
    account = Account(CONFIG)
    t = 1
    for symbol in SYMBOLS:
        account.on_market(_trade(symbol, Decimal(100), t), t)
    for symbol in SYMBOLS:
        for k in range(25):
            d = Decimal(2 * k + 1)
            for side, kind, field, price in (
                (Side.BUY, OrderType.LIMIT, "price", 100 - d),
                (Side.SELL, OrderType.LIMIT, "price", 100 + d),
                (Side.BUY, OrderType.STOP_LOSS, "stop_price", 100 + d),
                (Side.SELL, OrderType.STOP_LOSS, "stop_price", 100 - d),
            ):
                request = OrderRequest(
                    symbol=symbol,
                    side=side,
                    type=kind,
                    quantity=Decimal("0.01"),
                    **{field: price},  # type: ignore[arg-type]
                )
                order, _ = account.place(request, t)
                assert order.status.value == "NEW", order.reason
    assert len(account.open_orders) == 10_000
    return account


def bench_ticks(account: Account, n: int) -> float:
    prices = [Decimal(100) + Decimal((i * 7919) % 61 - 30) / 100 for i in range(n)]
    records = [_trade(SYMBOLS[i % 100], prices[i], 10 + i) for i in range(n)]
    start = time.perf_counter()
    for i, record in enumerate(records):
        account.on_market(record, 10 + i)
    elapsed = time.perf_counter() - start
    assert len(account.open_orders) == 10_000  # nothing fired
    return n / elapsed


def bench_tick_to_event(account: Account, n: int) -> tuple[float, float, float, float, int]:
    """p50 and p99 wall time, p99 and p99.9 CPU time of this thread, and the number of
    cycle collections during the samples: on a shared machine the wall p99 measures
    the scheduler (a preempted sample), the CPU p99 the code."""
    samples: list[float] = []
    cpu: list[float] = []
    collections = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal collections
        collections += phase == "start"

    gc.callbacks.append(count)
    t = 10_000_000 + (0 if gc.isenabled() else n)
    try:
        for i in range(n):
            symbol = SYMBOLS[i % 100]
            t += 1
            request = OrderRequest(
                symbol=symbol,
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=Decimal("0.01"),
                price=Decimal("99.5"),
            )
            account.place(request, t)
            record = _trade(symbol, Decimal("99.4"), t)
            start = time.perf_counter_ns()
            cpu_start = time.thread_time_ns()
            events = account.on_market(record, t)
            cpu.append((time.thread_time_ns() - cpu_start) / 1e6)
            samples.append((time.perf_counter_ns() - start) / 1e6)
            assert any(e.kind == "fill" for e in events)
            account.on_market(_trade(symbol, Decimal(100), t), t)
    finally:
        gc.callbacks.remove(count)
    samples.sort()
    cpu.sort()
    p99 = int(len(samples) * 0.99) - 1
    p999 = int(len(samples) * 0.999) - 1
    return statistics.median(samples), samples[p99], cpu[p99], cpu[p999], collections


def bench_mtm(rounds: int) -> tuple[float, float, float, float]:
    account = Account(CONFIG)
    symbols = [f"M{i:05d}USDT" for i in range(10_000)]
    for i, symbol in enumerate(symbols):
        account.on_market(_trade(symbol, Decimal(100), 1), 1)
        side = Side.BUY if i % 2 else Side.SELL
        request = OrderRequest(
            symbol=symbol, side=side, type=OrderType.MARKET, quantity=Decimal("0.5")
        )
        account.place(request, 1)
    assert account.portfolio().positions_count == 10_000
    full: list[float] = []
    full_cpu: list[float] = []
    ticks: list[float] = []
    for r in range(rounds):
        price = Decimal("100.5") + Decimal(r) / 100
        records = [_mini(symbol, price, 2 + r) for symbol in symbols]
        start = time.perf_counter()
        for record in records:
            account.on_market(record, 2 + r)
        ticks.append((time.perf_counter() - start) * 1000)
        incremental = account.portfolio().unrealized_pnl
        start = time.perf_counter()
        cpu_start = time.thread_time()
        total = account.revalue()
        full_cpu.append((time.thread_time() - cpu_start) * 1000)
        full.append((time.perf_counter() - start) * 1000)
        assert total == incremental
    start = time.perf_counter()
    for _ in range(1000):
        account.portfolio()
    portfolio_us = (time.perf_counter() - start) * 1000
    return (
        statistics.median(full),
        statistics.median(full_cpu),
        statistics.median(ticks),
        portfolio_us,
    )


def bench_journal(n: int) -> tuple[float, float, float, float, float]:
    """Appends/s (wall) of one 4-event step per transaction, events/s in appends of
    100, appends/s inside ``Journal.batch()``; and the CPU time per append (us) of
    the first and the last (SQLite's work in this process; the WAL write is I/O)."""
    account = Account(CONFIG)
    account.on_market(_trade("BTCUSDT", Decimal(100), 1), 1)
    batches = []
    for i in range(n):
        side = Side.BUY if i % 2 else Side.SELL
        request = OrderRequest(
            symbol="BTCUSDT", side=side, type=OrderType.MARKET, quantity=Decimal("0.01")
        )
        _, events = account.place(request, 2 + i)
        batches.append(events)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Journal.open(Path(tmp) / "bench.db", config=CONFIG) as journal,
    ):
        start, cpu_start = time.perf_counter(), time.process_time()
        for events in batches:
            journal.append(events)
        appends = n / (time.perf_counter() - start)
        append_cpu_us = (time.process_time() - cpu_start) / n * 1e6
        flat = [e for events in batches for e in events]
        big = [flat[i : i + 100] for i in range(0, len(flat), 100)]
        start = time.perf_counter()
        for chunk in big:
            journal.append(chunk)
        events_per_s = len(flat) / (time.perf_counter() - start)
        start, cpu_start = time.perf_counter(), time.process_time()
        with journal.batch():
            for events in batches:
                journal.append(events)
        batched = n / (time.perf_counter() - start)
        batched_cpu_us = (time.process_time() - cpu_start) / n * 1e6
    return appends, events_per_s, batched, append_cpu_us, batched_cpu_us


def main() -> None:
    quick = "--quick" in sys.argv
    profile = "--profile" in sys.argv
    account = loaded_account()
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
    ticks_per_s = bench_ticks(account, 20_000 if quick else 200_000)
    samples = 1_000 if quick else 5_000
    p50, p99, p99_cpu, p999_cpu, collections = bench_tick_to_event(account, samples)
    if profile:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    gc.disable()
    try:
        _, p99_nogc, _, _, _ = bench_tick_to_event(account, samples)
    finally:
        gc.enable()
    mtm_full, mtm_cpu, mtm_ticks, portfolio_us = bench_mtm(3 if quick else 10)
    appends, events_per_s, batched, append_cpu, batched_cpu = bench_journal(
        2_000 if quick else 20_000
    )
    print(f"ticks through 10,000 resting orders / 100 symbols: {ticks_per_s:,.0f} ticks/s")
    print(
        f"tick -> order event (fill of a resting limit): p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms wall, p99 {p99_cpu:.3f} ms CPU, p99.9 {p999_cpu:.3f} ms CPU; "
        f"{collections} GC collections in {samples} samples; "
        f"p99 with GC off {p99_nogc:.3f} ms wall"
    )
    print(
        f"full mark-to-market of 10,000 positions (revalue): {mtm_full:.2f} ms wall, "
        f"{mtm_cpu:.2f} ms CPU"
    )
    print(f"10,000 price ticks re-marking one position each: {mtm_ticks:.2f} ms")
    print(f"portfolio() with 10,000 positions: {portfolio_us:.2f} us")
    print(
        f"journal: {appends:,.0f} appends/s (4 events each), {events_per_s:,.0f} events/s "
        f"in batches of 100, {batched:,.0f} appends/s inside Journal.batch(); "
        f"CPU per append {append_cpu:.1f} us alone, {batched_cpu:.1f} us batched"
    )
    print(
        json.dumps(
            {
                "ticks_per_s": round(ticks_per_s),
                "tick_to_event_p50_ms": round(p50, 4),
                "tick_to_event_p99_ms": round(p99, 4),
                "tick_to_event_p99_cpu_ms": round(p99_cpu, 4),
                "tick_to_event_p999_cpu_ms": round(p999_cpu, 4),
                "tick_to_event_gc_collections": collections,
                "tick_to_event_p99_nogc_ms": round(p99_nogc, 4),
                "mtm_10k_ms": round(mtm_full, 3),
                "mtm_10k_cpu_ms": round(mtm_cpu, 3),
                "mtm_ticks_10k_ms": round(mtm_ticks, 3),
                "portfolio_us": round(portfolio_us, 3),
                "journal_appends_per_s": round(appends),
                "journal_events_per_s": round(events_per_s),
                "journal_batched_appends_per_s": round(batched),
                "journal_append_cpu_us": round(append_cpu, 1),
                "journal_batched_append_cpu_us": round(batched_cpu, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
