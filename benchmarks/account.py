"""Account and journal throughput, on the spot account with the exchange's filters and
the wallet in place.

    .venv/bin/python benchmarks/account.py [--quick] [--profile] [--compare REF]

``--compare REF`` (e.g. ``main``) first runs the benchmark of ``REF``'s code (extracted
with ``git archive`` into a temporary directory, run in a subprocess), then this one
the same way, and prints both side by side with their ratios: "before" and "after" in
the same run conditions.  The repository is left untouched.  A tree from before the
compiled account core (workspace/native.py) runs on plain Python, and this one on the
compiled core when it is current: set ``WORKSPACE_PURE=1`` to compare the code alone
(both sides on plain Python); each side's form is printed.

Figures (the last line is one JSON object):

- ticks_per_s: trades through an account holding 10,000 resting orders over 100
  symbols (limits and stops at 1..50 % from the market; the sells lock base assets
  the account holds), prices wandering +-0.3 % so that most ticks trigger nothing:
  the cost of a tick that has to *not* scan.
- tick_to_event p50/p99: time of the ``on_market`` call whose trade fills a resting
  limit (trade in -> fill, position and order events out), with the 10,000 orders;
  wall and CPU (thread time), the cycle collections that ran during the samples, and
  the wall p99 again with the collector off (``_nogc``): if GC pauses drove the p99,
  the two would differ.
- mtm_10k_ms: full mark-to-market of 10,000 positions (one per symbol over 10,000
  symbols): ``Account.revalue()`` re-marks every position from its latest price and
  re-sums the unrealized P&L.  In normal running this never happens: each price
  re-marks its own position incrementally (O(1)) and ``portfolio()`` is O(1); that
  path is ``mtm_ticks_10k_ms`` (10,000 MiniTickers, one per symbol, then the
  ``portfolio()`` read that settles their marks) and ``portfolio_us``.
- journal_appends_per_s: ``Journal.append`` transactions of 4 events (one market
  order: NEW, fill, position, FILLED) to a WAL file with synchronous=NORMAL; and
  journal_events_per_s for batches of 100; journal_batched_appends_per_s: the same
  4-event steps appended inside ``Journal.batch()`` (a replay: one transaction per
  1,000 steps).
- journal first (issue 16), side by side in this run on the same 10,000-order account,
  tick -> durable fill events p50/p99 wall: ``apply_then_append`` (the order before:
  ``on_market`` applies, then ``Journal.append``), ``journal_first`` (the account with
  the journal as its sink: the step is applied with an undo log, appended, kept), and
  ``undo_log_only`` (a sink that writes nothing: the undo log's own cost against the
  plain ``tick_to_event``).  The target stays p99 < 1 ms.
- retention: memory (tracemalloc) of an account that places and cancels limit orders,
  from the first fifth of the run to its end: with ``Account.retain(2_000)`` (the engine
  keeps 10,000; a smaller bound is reached before the measured part) final orders
  beyond the bound leave memory and the growth stays ~0; without it every final order
  stays (the first version's linear growth).
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from figures_of import figures_of

from workspace import native
from workspace.journal import Journal
from workspace.market.exchange_info import SymbolInfo
from workspace.market.records import MiniTicker, Trade
from workspace.trading import Account, AccountConfig, OrderRequest, OrderType, Side

SYMBOLS = [f"S{i:03d}USDT" for i in range(100)]
# a spot account holding every base asset it sells, plenty of USDT for what it buys
CONFIG = AccountConfig(
    initial_balance=Decimal(10) ** 12,
    balances={s.removesuffix("USDT"): Decimal(10) ** 6 for s in SYMBOLS},
)
RETAINED = 2_000  # final orders the retention figure keeps in memory
QUANTITY = Decimal("0.1")  # 0.1 x 51..149 USDT: above the 5 USDT minimum order value


def rules(symbols: list[str]) -> dict[str, SymbolInfo]:
    """Binance-like filters for every symbol: tick 0.01, step 0.001, min value 5 USDT,
    percent-price bounds 0.2 .. 5 x the market."""
    d = Decimal
    return {
        s: SymbolInfo(
            symbol=s,
            status="TRADING",
            base_asset=s.removesuffix("USDT"),
            quote_asset="USDT",
            tick_size=d("0.01"),
            min_price=d("0.01"),
            max_price=d(1000000),
            step_size=d("0.001"),
            min_qty=d("0.001"),
            max_qty=d(9000000),
            min_notional=d(5),
            max_notional=d(9000000),
            bid_multiplier_up=d(5),
            bid_multiplier_down=d("0.2"),
            ask_multiplier_up=d(5),
            ask_multiplier_down=d("0.2"),
        )
        for s in symbols
    }


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
        open_price_text=str(price),
        high_price_text=str(price),
        low_price_text=str(price),
        volume_text="1",
        quote_volume_text=str(price),
    )


def loaded_account() -> Account:
    """10,000 resting orders: per symbol 25 buy limits, 25 sell limits, 25 buy stops,
    25 sell stops, at 1..50 % from a market of 100."""
    account = Account(CONFIG, rules=rules(SYMBOLS))
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
                    quantity=QUANTITY,
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


def bench_tick_to_event(
    account: Account, n: int, then: Callable[[list[Any]], object] | None = None
) -> tuple[float, float, float, float, int]:
    """p50 and p99 wall time, p99 and p99.9 CPU time of this thread, and the number of
    cycle collections during the samples: on a shared machine the wall p99 measures
    the scheduler (a preempted sample), the CPU p99 the code.  ``then``: called with
    the tick's events inside the timed window (the journal append of the old order)."""
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
                quantity=QUANTITY,
                price=Decimal("99.5"),
            )
            account.place(request, t)
            record = _trade(symbol, Decimal("99.4"), t)
            start = time.perf_counter_ns()
            cpu_start = time.thread_time_ns()
            events = account.on_market(record, t)
            if then is not None:
                then(events)
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


def bench_journal_first(account: Account, n: int) -> dict[str, float]:
    """Tick -> durable fill events three ways on the same account (see the docstring):
    p50 / p99 wall ms of each."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, Journal.open(Path(tmp) / "j.db", CONFIG) as journal:
        ways: tuple[tuple[str, Callable[[list[Any]], object] | None, Any], ...] = (
            ("apply_then_append", journal.append, None),
            ("journal_first", None, journal.append),
            ("undo_log_only", None, lambda events: None),
        )
        for name, then, sink in ways:
            account.attach_journal(sink)
            try:
                p50, p99, _, _, _ = bench_tick_to_event(account, n, then)
            finally:
                account.attach_journal(None)
            figures[f"{name}_p50_ms"] = round(p50, 4)
            figures[f"{name}_p99_ms"] = round(p99, 4)
    return figures


def bench_retention(n: int, keep: int | None) -> tuple[float, float]:
    """Bytes per order cycle (place + cancel) between a fifth of ``n`` cycles and ``n``,
    and the final orders still in memory."""
    account = Account(CONFIG, rules=rules(["S000USDT"]))
    account.retain(keep)
    account.on_market(_trade("S000USDT", Decimal(100), 1), 1)
    request = OrderRequest(
        symbol="S000USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=QUANTITY, price=Decimal(90)
    )
    tracemalloc.start()
    try:
        start = 0
        for i in range(n):
            order, _ = account.place(request, 2 + i)
            account.cancel(order.id, 2 + i)
            if i == n // 5:
                gc.collect()
                start = tracemalloc.get_traced_memory()[0]
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (end - start) / (n - n // 5), float(len(account.orders))


def bench_mtm(rounds: int) -> tuple[float, float, float, float]:
    symbols = [f"M{i:05d}USDT" for i in range(10_000)]
    account = Account(AccountConfig(initial_balance=Decimal(10) ** 12), rules=rules(symbols))
    for symbol in symbols:
        account.on_market(_trade(symbol, Decimal(100), 1), 1)
        request = OrderRequest(
            symbol=symbol, side=Side.BUY, type=OrderType.MARKET, quantity=Decimal("0.5")
        )
        order, _ = account.place(request, 1)
        assert order.status.value == "FILLED", order.reason
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
        # the ticks only note prices; reading the total settles them: timed together
        incremental = account.portfolio().unrealized_pnl
        ticks.append((time.perf_counter() - start) * 1000)
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
    account = Account(CONFIG, rules=rules(["BTCUSDT"]))
    account.on_market(_trade("BTCUSDT", Decimal(100), 1), 1)
    batches = []
    for i in range(n):
        side = Side.SELL if i % 2 else Side.BUY
        request = OrderRequest(
            symbol="BTCUSDT", side=side, type=OrderType.MARKET, quantity=QUANTITY
        )
        # each step at the time of its price: fills need a fresh one
        account.on_market(_trade("BTCUSDT", Decimal(100), 2 + i), 2 + i)
        order, events = account.place(request, 2 + i)
        assert order.status.value == "FILLED", order.reason
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


COMPARED = (
    "ticks_per_s",
    "tick_to_event_p50_ms",
    "tick_to_event_p99_ms",
    "tick_to_event_p99_cpu_ms",
    "journal_first_p99_ms",
    "mtm_10k_ms",
    "mtm_ticks_10k_ms",
    "portfolio_us",
    "journal_appends_per_s",
)


def _run_script(root: Path, flags: list[str]) -> dict[str, Any]:
    """Run ``root``'s benchmarks/account.py in a subprocess; its last line, parsed."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = str(root / "benchmarks" / "account.py")
    return figures_of([sys.executable, script, *flags], env=env, cwd=root)


def compare(ref: str, flags: list[str]) -> None:
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        archive = Path(tmp) / "ref.tar"
        with archive.open("wb") as out:
            subprocess.run(
                ["git", "archive", ref, "workspace", "benchmarks"],
                cwd=repo,
                stdout=out,
                check=True,
            )
        before_root = Path(tmp) / "ref"
        with tarfile.open(archive) as tar:
            tar.extractall(before_root, filter="data")
        before = _run_script(before_root, flags)  # first: main's code
    after = _run_script(repo, flags)
    forms = (before.get("account_core", "plain"), after.get("account_core", "plain"))
    print(f"account core: before {forms[0]}, after {forms[1]}")
    print(f"{'figure':<28} {'before (' + ref + ')':>18} {'after':>14} {'after/before':>13}")
    ratios: dict[str, float | None] = {}
    for key in COMPARED:
        b, a = before.get(key), after.get(key)
        ratio = a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None
        ratios[key] = None if ratio is None else round(ratio, 3)
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        print(f"{key:<28} {b!s:>18} {a!s:>14} {shown:>13}")
    print(json.dumps({"ref": ref, "before": before, "after": after, "ratios": ratios}))


def main() -> None:
    if "--compare" in sys.argv:
        at = sys.argv.index("--compare")
        ref = sys.argv[at + 1] if at + 1 < len(sys.argv) else "main"
        flags = [f for f in sys.argv[1:] if f in ("--quick",)]
        compare(ref, flags)
        return
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
    durable = bench_journal_first(account, samples)
    cycles = 20_000 if quick else 60_000
    kept_per_order, kept = bench_retention(cycles, RETAINED)
    all_per_order, all_kept = bench_retention(cycles, None)
    mtm_full, mtm_cpu, mtm_ticks, portfolio_us = bench_mtm(3 if quick else 10)
    appends, events_per_s, batched, append_cpu, batched_cpu = bench_journal(
        2_000 if quick else 20_000
    )
    print(f"account core: {native.state().describe()}")
    print(f"ticks through 10,000 resting orders / 100 symbols: {ticks_per_s:,.0f} ticks/s")
    print(
        f"tick -> order event (fill of a resting limit): p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms wall, p99 {p99_cpu:.3f} ms CPU, p99.9 {p999_cpu:.3f} ms CPU; "
        f"{collections} GC collections in {samples} samples; "
        f"p99 with GC off {p99_nogc:.3f} ms wall"
    )
    print(
        "tick -> durable fill events, p50 / p99 wall: "
        + "; ".join(
            f"{way} {durable[way + '_p50_ms']:.3f} / {durable[way + '_p99_ms']:.3f} ms"
            for way in ("apply_then_append", "journal_first", "undo_log_only")
        )
        + f" (plain, no journal: {p50:.3f} / {p99:.3f} ms)"
    )
    print(
        f"{cycles:,} orders placed and canceled: memory per order after the first fifth "
        f"{kept_per_order:,.0f} bytes with retain({RETAINED:,}) ({kept:,.0f} orders in memory), "
        f"{all_per_order:,.0f} bytes keeping every final order ({all_kept:,.0f} in memory)"
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
                "account_core": "compiled" if native.state().compiled else "plain",
                "ticks_per_s": round(ticks_per_s),
                "tick_to_event_p50_ms": round(p50, 4),
                "tick_to_event_p99_ms": round(p99, 4),
                "tick_to_event_p99_cpu_ms": round(p99_cpu, 4),
                "tick_to_event_p999_cpu_ms": round(p999_cpu, 4),
                "tick_to_event_gc_collections": collections,
                "tick_to_event_p99_nogc_ms": round(p99_nogc, 4),
                **durable,
                "retained_bytes_per_order": round(kept_per_order, 1),
                "unbounded_bytes_per_order": round(all_per_order, 1),
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
