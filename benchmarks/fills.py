"""The book fill model's costs (issue 11: a 20-level book walk p99 < 100 us).

    .venv/bin/python benchmarks/fills.py [--quick] [--profile] [--no-plain]
    .venv/bin/python benchmarks/fills.py --interrupts [--quick]

Runs on the account core this process imports: compiled with mypyc when it is current
(``make native``; workspace/native.py), else plain Python.  With the compiled core it
then runs itself again on plain Python (``WORKSPACE_PURE=1``, a subprocess) and prints
those figures too, side by side (``--no-plain`` skips that).

Figures (the last line is one JSON object), on a spot account with Binance-like
filters, the symbol's local book a real ``OrderBook`` of 1,000 levels a side (a
``GET /api/v3/depth?limit=1000`` snapshot's size), fresh:

- walk_20: ``place`` of a MARKET order that walks 20 levels of the book, from the
  request in to its events out (validation, filters, the wallet's check and
  reservation, 20 fills each with its fee and event, the position, the order with its
  20 executions): p50 / p99 wall and p99 CPU (thread time).  Buys and sells
  alternate; before each sample the account is handed one of two identical books,
  the other one than last time: a rebuilt book, so the order meets all of its
  liquidity (what the last order took is forgotten).  Both are built before the run:
  a live book changes a few levels between two orders, it is not reallocated whole,
  and copying 2,000 levels right before each sample put the allocator's churn and a
  cold cache into every figure (p50 ~10 % higher).  Target: p99 < 100 us.
- walk_20_steady: the same samples on an account at the engine's steady state: it
  keeps the engine's bound of final orders in memory (``final_orders_in_memory``,
  10,000; as many fills) and has placed that many orders before the samples, so each
  step lets the oldest order and fills go as it adds its own, after the sample's
  timing, as the engine does it (after its replies are written: ``retain(...,
  owner_trims=True)``); the account of ``walk_20`` is fresh: every sample's objects
  are new memory, 3-4 page faults each.
  Its tail: the share of samples over the target, buys and sells apart (a sell
  also computes each fill's cost share and realized P&L), and the share of samples
  of the p50's length that meet one of the machine's pauses (p50 x the pauses per
  second of ``noise_floor.py``): while that share is over 1 %, the p99 is a paused
  sample, whose caches are cold after the pause.
- stop_fill_20: the fill alone, without a placement around it: a resting STOP_LOSS
  (stop-market) of the same size, triggered by a trade (``on_market``), at the same
  bound; the timing covers the trade in and its events out (the trigger, the walk,
  the 20 fills, the position, the order FILLED); placing the stop is not timed.
  What a stop costs the tick that fires it.
- walk_20_model: the fill model's part alone: ``Depth.walk`` over those 20 levels
  (what the order would get), p50 / p99, one side then the other on the same book.
  A walk parses the levels it reaches and does not keep them (levels already read by
  ``OrderBook.asks`` / ``bids`` are reused), so this is the cost of a walk of levels
  not read yet.
- top_of_book: the same MARKET order on the same account without a book (one fill at
  the best price, the first version's model): p50 / p99, and the walk's ratio to it
  (the price of 19 more fills, measured side by side).
- on_book: ``Account.on_book`` when nothing waits for liquidity (what every depth
  update of a book costs the account): calls/s.
- trades: ``on_market`` trades of a symbol with a book attached (the trade's own
  consumption is noted when the book does not show it yet; ten trades per change of
  the book, which then shows them) and without one: ticks/s each and their ratio.
- machine: the floor this machine puts under any p99 (``noise_floor.py``): how often
  the thread is paused and for how long, and the p99 / p50 of a fixed loop about the
  size of the target.
- ``--interrupts`` (instead of all the above): where the p99 goes.  The steady-state
  samples on one CPU, each between two reads of that CPU's interrupt counts
  (``/proc/interrupts``; the reads themselves are outside the timing but slow the
  loop): p50 / p90 / p99 of the samples with an interrupt in that window and of those
  without, and how many of the slowest 2 % had one.
- least_work: in the same run, the least any account could do for the walk_20 order's
  events (``fills_floor.py``: the 20 levels read, the fills, executions, position,
  orders and four events made, nothing checked or stored) and ``place``'s ratio to
  it: what the account's own machinery costs, measured on the same machine at the
  same moment (the machine's speed changes between days by 2x and more).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import noise_floor
from figures_of import figures_of

from workspace import native
from workspace.engine.config import EngineConfig
from workspace.market.book import OrderBook
from workspace.market.exchange_info import SymbolInfo
from workspace.market.records import DepthSnapshot, Trade
from workspace.trading import (
    Account,
    AccountConfig,
    FillEvent,
    OrderRequest,
    OrderType,
    Side,
)

SYMBOL = "BTCUSDT"
LEVELS = 1_000
LEVEL_QTY = Decimal("0.05")
WALK = 20
QUANTITY = LEVEL_QTY * (WALK - 1) + Decimal("0.01")  # ends inside the 20th level
MID = Decimal(97_000)
TICK = Decimal("0.01")
EVENTS = 4  # the order NEW, one fill event (all its fills), the position, the order FILLED
KEEP = EngineConfig().final_orders_in_memory  # the engine's bound (Account.retain)
TARGET_US = 100  # the p99 target for walk_20


def listing() -> dict[str, SymbolInfo]:
    d = Decimal
    return {
        SYMBOL: SymbolInfo(
            symbol=SYMBOL,
            status="TRADING",
            base_asset="BTC",
            quote_asset="USDT",
            tick_size=TICK,
            min_price=TICK,
            max_price=d(1_000_000),
            step_size=d("0.00001"),
            min_qty=d("0.00001"),
            max_qty=d(9000),
            min_notional=d(5),
            apply_min_to_market=True,
            max_notional=d(9_000_000),
            apply_max_to_market=False,
            bid_multiplier_up=d(5),
            bid_multiplier_down=d("0.2"),
            ask_multiplier_up=d(5),
            ask_multiplier_down=d("0.2"),
        )
    }


def snapshot() -> DepthSnapshot:
    bids = tuple((f"{MID - TICK * (i + 1):.8f}", f"{LEVEL_QTY:.8f}") for i in range(LEVELS))
    asks = tuple((f"{MID + TICK * (i + 1):.8f}", f"{LEVEL_QTY:.8f}") for i in range(LEVELS))
    return DepthSnapshot(symbol=SYMBOL, last_update_id=1, bid_levels=bids, ask_levels=asks)


def trade(price: Decimal, t: int, *, buyer_took: bool = False) -> Trade:
    return Trade(
        event_type="trade",
        event_time=t,
        symbol=SYMBOL,
        price=price,
        quantity=Decimal("0.001"),
        trade_time=t,
        buyer_is_maker=not buyer_took,
        trade_id=t,
    )


def account() -> Account:
    config = AccountConfig(initial_balance=Decimal(10) ** 9, balances={"BTC": Decimal(1000)})
    acct = Account(config, rules=listing())
    acct.on_market(trade(MID, 1), 1)  # values the BTC held, gives a last price
    return acct


def request(side: Side) -> OrderRequest:
    return OrderRequest(symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=QUANTITY)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


Sample = tuple[float, float, int | None]
"""One ``place``: wall and CPU time (us), and the interrupts the CPU took around it
(None when not counted)."""


def place_samples(
    n: int,
    *,
    with_book: bool,
    keep: int | None = None,
    warm: int = 0,
    interrupts: Callable[[], int | None] | None = None,
) -> list[Sample]:
    """``n`` timed ``place``s of the walk_20 order (buys and sells alternate), each
    checked.  ``keep``: the account's bound on final orders in memory
    (``Account.retain``); ``warm``: orders placed before the samples (not timed);
    ``interrupts``: a count read just before and just after each sample."""
    acct = account()
    acct.retain(keep, owner_trims=True)  # as the engine does: freed after the reply
    base = OrderBook.from_snapshot(snapshot())
    books = (base.copy(), base.copy())
    samples: list[Sample] = []
    t = 10
    order, events = acct.place(request(Side.BUY), t)  # a first order (filled at the top)
    for i in range(-warm, n):
        t += 1
        side = Side.BUY if i % 2 == 0 else Side.SELL
        if with_book:
            acct.on_book(SYMBOL, books[i % 2], t)  # a rebuilt book: all liquidity again
        else:
            acct.on_market(trade(MID, t), t)
        req = request(side)
        # the last sample's events go now, not inside this one's timing (the engine
        # frees them after its journal and fan-out, not inside the next placement)
        del order, events
        acct.trim()  # the engine trims once the step's replies are out (_trim_after_replies)
        before = interrupts() if interrupts is not None else None
        start = time.perf_counter_ns()
        cpu_start = time.thread_time_ns()
        order, events = acct.place(req, t)
        cpu_took = (time.thread_time_ns() - cpu_start) / 1000
        took = (time.perf_counter_ns() - start) / 1000
        after = interrupts() if interrupts is not None else None
        if i >= 0:
            hits = after - before if before is not None and after is not None else None
            samples.append((took, cpu_took, hits))
        assert order.status.value == "FILLED", order.reason
        fills = [f for e in events if isinstance(e, FillEvent) for f in e.fills]
        assert len(fills) == (WALK if with_book else 1), len(fills)
        assert len(events) == EVENTS, [e.kind for e in events]
    return samples


def trigger_samples(n: int, *, keep: int | None, warm: int) -> list[Sample]:
    """``n`` timed fills of a triggered stop: a resting STOP_LOSS (stop-market) of the
    walk_20 size waits, and the timing covers ``on_market`` of the trade that reaches
    its stop, from the record in to its events out (the trigger, the walk of 20
    levels, the 20 fills with their fees, the position, the order FILLED).  Placing
    the stop, the trade that sets the price back and the book handed over are not
    timed.  Buys and sells alternate; each sample meets a rebuilt book, as in
    ``place_samples``, which shows the trades (no trade's own quantity is taken)."""
    acct = account()
    acct.retain(keep, owner_trims=True)
    base = OrderBook.from_snapshot(snapshot())
    books = (base.copy(), base.copy())
    samples: list[Sample] = []
    events: list[Any] = []
    t = 10
    for i in range(-warm, n):
        t += 1
        buy = i % 2 == 0
        book = books[i % 2]
        book.event_ms = t + 1  # it shows the two trades below
        acct.on_book(SYMBOL, book, t)
        acct.on_market(trade(MID, t, buyer_took=buy), t)  # the price before the stop
        away = Decimal("0.5") if buy else Decimal("-0.5")
        stop = OrderRequest(
            symbol=SYMBOL,
            side=Side.BUY if buy else Side.SELL,
            type=OrderType.STOP_LOSS,
            quantity=QUANTITY,
            stop_price=MID + away,
        )
        order, _ = acct.place(stop, t)
        assert order.status.value == "NEW", order.reason
        reach = trade(MID + 2 * away, t + 1, buyer_took=buy)
        del events
        acct.trim()
        start = time.perf_counter_ns()
        cpu_start = time.thread_time_ns()
        events = acct.on_market(reach, t + 1)
        cpu_took = (time.thread_time_ns() - cpu_start) / 1000
        took = (time.perf_counter_ns() - start) / 1000
        if i >= 0:
            samples.append((took, cpu_took, None))
        t += 1
        fills = [f for e in events if isinstance(e, FillEvent) for f in e.fills]
        assert len(fills) == WALK, len(fills)
        assert acct.order(order.id).status.value == "FILLED"
    return samples


def bench_walk(
    n: int, *, with_book: bool, keep: int | None = None, warm: int = 0
) -> tuple[float, float, float]:
    """p50 / p99 wall and p99 CPU of ``place`` (us) (``place_samples``)."""
    return walk_figures(place_samples(n, with_book=with_book, keep=keep, warm=warm))[:3]


def walk_figures(samples: list[Sample]) -> tuple[float, float, float, dict[str, float]]:
    """p50 / p99 wall and p99 CPU (us) of ``samples``, and their tail: the share over
    the target, and each side's p50 / p99 and share (buys are the even samples)."""
    wall = [took for took, _, _ in samples]
    cpu = [cpu_took for _, cpu_took, _ in samples]
    tail = {"over_target_pct": over_target(wall)}
    for name, part in (("buy", wall[0::2]), ("sell", wall[1::2])):
        tail[f"{name}_p50_us"] = round(statistics.median(part), 1)
        tail[f"{name}_p99_us"] = round(percentile(part, 0.99), 1)
        tail[f"{name}_over_target_pct"] = over_target(part)
    return statistics.median(wall), percentile(wall, 0.99), percentile(cpu, 0.99), tail


def over_target(wall: list[float]) -> float:
    """The share of ``wall`` (us) over the p99 target, in %."""
    return round(100 * sum(1 for took in wall if took >= TARGET_US) / len(wall), 2)


def pause_share(p50_us: float, machine: dict[str, float]) -> float:
    """The share of samples of ``p50_us`` that meet one of the machine's pauses (5 us
    and more, ``noise_floor.py``), in %: their length times the pauses per second.
    Above 1 % the p99 is a paused sample."""
    return round(100 * p50_us * 1e-6 * machine["gaps_per_s"], 2)


def bench_interrupted(n: int) -> dict[str, Any]:
    """The steady-state samples split by whether the guest took an interrupt around
    them (the window is the sample and the reads of the counts around it)."""
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        samples = place_samples(
            n,
            with_book=True,
            keep=KEEP,
            warm=KEEP,
            interrupts=lambda: noise_floor.all_interrupts(cpu),
        )
    finally:
        os.sched_setaffinity(0, allowed)
    rows = [(took, hits) for took, _, hits in samples if hits is not None]

    def split(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50_us": round(percentile(values, 0.5), 1) if values else 0.0,
            "p90_us": round(percentile(values, 0.9), 1) if values else 0.0,
            "p99_us": round(percentile(values, 0.99), 1) if values else 0.0,
        }

    every = [took for took, _ in rows]
    slow_from = percentile(every, 0.98) if every else 0.0
    slowest = [hits for took, hits in rows if took > slow_from]
    return {
        "all": split(every),
        "interrupted": split([took for took, hits in rows if hits]),
        "clean": split([took for took, hits in rows if not hits]),
        "slowest_2pct_interrupted": sum(1 for hits in slowest if hits),
        "slowest_2pct_clean": sum(1 for hits in slowest if not hits),
    }


def interrupts_main(quick: bool) -> None:
    figures = bench_interrupted(1_000 if quick else 6_000)
    for name in ("all", "interrupted", "clean"):
        f = figures[name]
        print(
            f"{name}: {f['n']} samples, p50 {f['p50_us']} us, p90 {f['p90_us']} us, "
            f"p99 {f['p99_us']} us"
        )
    print(
        f"of the slowest 2 %: {figures['slowest_2pct_interrupted']} had an interrupt in "
        f"their window, {figures['slowest_2pct_clean']} did not"
    )
    print(json.dumps(figures))


def bench_model(n: int) -> tuple[float, float]:
    """p50 / p99 of the walk alone (us)."""
    acct = account()
    acct.on_book(SYMBOL, OrderBook.from_snapshot(snapshot()), 10)
    depth = acct.depth_for(SYMBOL, 10)
    assert depth is not None
    samples: list[float] = []
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        start = time.perf_counter_ns()
        slices = depth.walk(side, QUANTITY, None)
        samples.append((time.perf_counter_ns() - start) / 1000)
        assert len(slices) == WALK
    return statistics.median(samples), percentile(samples, 0.99)


def bench_on_book(n: int) -> float:
    acct = account()
    book = OrderBook.from_snapshot(snapshot())
    start = time.perf_counter()
    for i in range(n):
        acct.on_book(SYMBOL, book, 10 + i)
    return n / (time.perf_counter() - start)


def bench_trades(n: int, *, with_book: bool) -> float:
    """Trades/s through ``on_market``, ten trades per change of the book (a book
    attached: the trades it does not show yet are noted; each change that shows them
    lets them go).  Only the trades are timed."""
    acct = account()
    book = OrderBook.from_snapshot(snapshot())
    if with_book:
        acct.on_book(SYMBOL, book, 10)
    records = [
        trade(MID + TICK * ((i * 7919) % 61 - 30), 11 + i, buyer_took=i % 2 == 0) for i in range(n)
    ]
    elapsed = 0.0
    for start in range(0, n, 10):
        began = time.perf_counter()
        for i in range(start, min(start + 10, n)):
            acct.on_market(records[i], 11 + i)
        elapsed += time.perf_counter() - began
        if with_book:
            book.event_ms = 11 + start + 10  # the change shows these trades
            acct.on_book(SYMBOL, book, 11 + start + 10)
    return n / elapsed


def main() -> None:
    quick = "--quick" in sys.argv
    if "--interrupts" in sys.argv:
        interrupts_main(quick)
        return
    profile = "--profile" in sys.argv
    n = 500 if quick else 5_000
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    walk_p50, walk_p99, walk_cpu = bench_walk(n, with_book=True)
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)
    steady_p50, steady_p99, steady_cpu, steady_tail = walk_figures(
        place_samples(n, with_book=True, keep=KEEP, warm=KEEP)
    )
    trig_p50, trig_p99, trig_cpu, trig_tail = walk_figures(trigger_samples(n, keep=KEEP, warm=KEEP))
    top_p50, top_p99, top_cpu = bench_walk(n, with_book=False)
    model_p50, model_p99 = bench_model(n * 4)
    on_book = bench_on_book(n * 40)
    booked = bench_trades(n * 20, with_book=True)
    bare = bench_trades(n * 20, with_book=False)
    machine = noise_floor.measure()
    import fills_floor  # (here: it imports this module)

    least = fills_floor.measure(n * 4)
    compiled = native.state().compiled
    print(f"account core: {native.state().describe()}")
    print(
        f"place MARKET walking {WALK} levels of a {LEVELS}-level book: p50 {walk_p50:.1f} us, "
        f"p99 {walk_p99:.1f} us wall, p99 {walk_cpu:.1f} us CPU (target p99 < 100 us)"
    )
    print(
        f"the same after {KEEP:,} orders, at the engine's bound on orders in memory "
        f"(the oldest order leaves after each sample, as the engine frees it after its "
        f"reply): p50 {steady_p50:.1f} us, p99 {steady_p99:.1f} us "
        f"wall, p99 {steady_cpu:.1f} us CPU"
    )
    print(
        f"the fill alone: a resting stop-market of the same size triggered by a trade, "
        f"at the same bound (trade in, its events out; no placement): p50 {trig_p50:.1f} us, "
        f"p99 {trig_p99:.1f} us wall, p99 {trig_cpu:.1f} us CPU, "
        f"{trig_tail['over_target_pct']} % over {TARGET_US} us"
    )
    print(
        f"the same order at the top of the book (1 fill): p50 {top_p50:.1f} us, "
        f"p99 {top_p99:.1f} us wall; walk / top of book p50 {walk_p50 / top_p50:.2f}x"
    )
    print(
        f"the walk alone (Depth.walk, {WALK} levels): p50 {model_p50:.2f} us, "
        f"p99 {model_p99:.2f} us"
    )
    print(f"on_book with nothing waiting: {on_book:,.0f} calls/s")
    print(
        f"trades with a book attached: {booked:,.0f} ticks/s; without: {bare:,.0f} ticks/s "
        f"(ratio {booked / bare:.2f})"
    )
    print(
        f"the least work of that order's events (fills_floor.py): p50 {least['floor_p50_us']} us, "
        f"p99 {least['floor_p99_us']} us; place / least work p50 "
        f"{walk_p50 / least['floor_p50_us']:.2f}x, p99 {walk_p99 / least['floor_p99_us']:.2f}x"
    )
    print(noise_floor.describe(machine))
    steady_paused = pause_share(steady_p50, machine)
    print(
        f"at the bound, samples over {TARGET_US} us: {steady_tail['over_target_pct']} % (buys "
        f"{steady_tail['buy_over_target_pct']} %, p50 {steady_tail['buy_p50_us']} us, p99 "
        f"{steady_tail['buy_p99_us']} us; sells {steady_tail['sell_over_target_pct']} %, p50 "
        f"{steady_tail['sell_p50_us']} us, p99 {steady_tail['sell_p99_us']} us); a sample of "
        f"the p50's length meets one of this machine's pauses {steady_paused} % of the time "
        f"(p50 x pauses/s; over 1 % the p99 is a paused sample)"
    )
    plain = _plain_figures(quick) if compiled and "--no-plain" not in sys.argv else None
    if plain is not None:
        print(
            f"the same on plain Python: walk p50 {plain['walk_20_p50_us']} us, "
            f"p99 {plain['walk_20_p99_us']} us; top of book p50 {plain['top_of_book_p50_us']} us; "
            f"compiled / plain walk p50 {walk_p50 / plain['walk_20_p50_us']:.2f}x"
        )
    print(
        json.dumps(
            {
                "account_core": "compiled" if compiled else "plain",
                "walk_20_p50_us": round(walk_p50, 1),
                "walk_20_p99_us": round(walk_p99, 1),
                "walk_20_p99_cpu_us": round(walk_cpu, 1),
                "walk_20_target_p99_us": TARGET_US,
                "walk_20_steady_p50_us": round(steady_p50, 1),
                "walk_20_steady_p99_us": round(steady_p99, 1),
                "walk_20_steady_p99_cpu_us": round(steady_cpu, 1),
                "walk_20_steady_tail": steady_tail,
                "walk_20_steady_pause_share_pct": steady_paused,
                "stop_fill_20_p50_us": round(trig_p50, 1),
                "stop_fill_20_p99_us": round(trig_p99, 1),
                "stop_fill_20_p99_cpu_us": round(trig_cpu, 1),
                "stop_fill_20_tail": trig_tail,
                "walk_20_model_p50_us": round(model_p50, 2),
                "walk_20_model_p99_us": round(model_p99, 2),
                "top_of_book_p50_us": round(top_p50, 1),
                "top_of_book_p99_us": round(top_p99, 1),
                "top_of_book_p99_cpu_us": round(top_cpu, 1),
                "walk_over_top_of_book_p50": round(walk_p50 / top_p50, 2),
                "on_book_per_s": round(on_book),
                "trades_with_book_per_s": round(booked),
                "trades_without_book_per_s": round(bare),
                "trades_book_ratio": round(booked / bare, 3),
                "least_work_p50_us": least["floor_p50_us"],
                "least_work_p99_us": least["floor_p99_us"],
                "walk_over_least_work_p50": round(walk_p50 / least["floor_p50_us"], 2),
                "walk_over_least_work_p99": round(walk_p99 / least["floor_p99_us"], 2),
                "machine": machine,
                "plain": plain,
            }
        )
    )


def _plain_figures(quick: bool) -> dict[str, Any]:
    """This benchmark's JSON figures on plain Python (a subprocess)."""
    args = [sys.executable, __file__, "--no-plain", *(["--quick"] if quick else [])]
    return figures_of(args, env={**os.environ, native.PURE_ENV: "1"})


if __name__ == "__main__":
    main()
