"""How much this machine interrupts a running thread: the floor under every p99.

    .venv/bin/python benchmarks/noise_floor.py [--seconds S]

A thread that only reads the clock sees every moment it did not run as a gap between
two reads.  On a virtual machine the host can take the vCPU away for tens of
microseconds at a time without the guest's kernel seeing it (no steal time reported, no
kernel frames in ``perf``), so the guest cannot remove it: a piece of work of ``T`` us
is hit with probability ``T`` / (the mean interval), and its p99 moves by a gap's size
once that probability passes 1 %.  The benchmarks with latency targets print this next
to their figures (``benchmarks/fills.py``).

Figures (the last line is one JSON object): gaps of 5 us and more per second, their
p50 / p99 / max size, the share of time lost, the mean interval between gaps of 16 us
and more; and a fixed ``Decimal`` loop of about 60 us timed 5,000 times: its p50, p99
and their ratio (what the machine alone does to a p99 at that size).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

GAP_NS = 5_000
BIG_GAP_NS = 16_000


INTERRUPTS = Path("/proc/interrupts")


def _interrupt_table() -> str | None:
    """``/proc/interrupts`` (Linux), or None."""
    try:
        return INTERRUPTS.read_text()
    except OSError:
        return None


def timer_interrupts(cpu: int) -> int | None:
    """The local timer interrupts ``cpu`` has taken (Linux), or None."""
    table = _interrupt_table()
    return local_timer_count(table, cpu) if table is not None else None


def local_timer_count(table: str, cpu: int) -> int | None:
    """``cpu``'s count on the ``LOC:`` line of a ``/proc/interrupts`` table."""
    for line in table.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOC:" and len(fields) > cpu + 1 and fields[cpu + 1].isdigit():
            return int(fields[cpu + 1])
    return None


def all_interrupts(cpu: int) -> int | None:
    """Every interrupt ``cpu`` has taken (Linux: the sum of its ``/proc/interrupts``
    column), or None."""
    table = _interrupt_table()
    return interrupt_total(table, cpu) if table is not None else None


def interrupt_total(table: str, cpu: int) -> int | None:
    """The sum of ``cpu``'s column over every line of a ``/proc/interrupts`` table."""
    total: int | None = None
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > cpu + 1 and fields[0].endswith(":") and fields[cpu + 1].isdigit():
            total = (total or 0) + int(fields[cpu + 1])
    return total


def clock_gaps(seconds: float) -> dict[str, float]:
    """Read the clock in a tight loop for ``seconds`` on one CPU; every pause of
    ``GAP_NS`` or more between two reads is a moment this thread did not run.  Also
    counts the CPU's timer interrupts meanwhile (the kernel's tick while it is busy)."""
    clock = time.perf_counter_ns
    pinned = hasattr(os, "sched_getaffinity")
    allowed = os.sched_getaffinity(0) if pinned else set()
    cpu = max(allowed) if allowed else 0
    if pinned:
        os.sched_setaffinity(0, {cpu})
    ticks_before = timer_interrupts(cpu)
    gaps: list[int] = []
    big_at: list[int] = []
    was_enabled = gc.isenabled()
    gc.disable()  # the loop allocates nothing the collector would look at, but be sure
    try:
        start = prev = clock()
        end = start + int(seconds * 1e9)
        while prev < end:
            now = clock()
            gap = now - prev
            if gap >= GAP_NS:
                gaps.append(gap)
                if gap >= BIG_GAP_NS:
                    big_at.append(now)
            prev = now
    finally:
        if was_enabled:
            gc.enable()
        if pinned:
            os.sched_setaffinity(0, allowed)
    ticks_after = timer_interrupts(cpu)
    elapsed = (prev - start) / 1e9
    ordered = sorted(gaps)

    def size(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] / 1000 if ordered else 0.0

    intervals = [b - a for a, b in itertools.pairwise(big_at)]
    return {
        "gaps_per_s": round(len(gaps) / elapsed, 1),
        "gap_p50_us": round(size(0.5), 1),
        "gap_p99_us": round(size(0.99), 1),
        "gap_max_us": round(ordered[-1] / 1000, 1) if ordered else 0.0,
        "time_lost_pct": round(100 * sum(gaps) / (elapsed * 1e9), 2),
        "big_gap_interval_ms": round(statistics.mean(intervals) / 1e6, 2) if intervals else 0.0,
        "timer_interrupts_per_s": (
            round((ticks_after - ticks_before) / elapsed)
            if ticks_before is not None and ticks_after is not None
            else -1
        ),
    }


def fixed_work(samples: int = 5_000) -> dict[str, float]:
    """A fixed ``Decimal`` loop of about 60 us (this machine, 2026-12-06), timed
    ``samples`` times: the p99 / p50 the machine gives work of that size."""
    prices = [Decimal("97000.01") + i for i in range(20)]
    quantity, rate = Decimal("0.05"), Decimal("0.001")

    def work() -> Decimal:
        total = Decimal(0)
        for _ in range(30):
            for price in prices:
                total += price * quantity * rate
        return total

    clock = time.perf_counter_ns
    took: list[float] = []
    for _ in range(samples):
        start = clock()
        work()
        took.append((clock() - start) / 1000)
    took.sort()
    p50 = took[len(took) // 2]
    p99 = took[int(len(took) * 0.99)]
    return {
        "fixed_p50_us": round(p50, 1),
        "fixed_p99_us": round(p99, 1),
        "fixed_p99_over_p50": round(p99 / p50, 2),
    }


def measure(seconds: float = 1.0) -> dict[str, float]:
    return {**clock_gaps(seconds), **fixed_work()}


def describe(figures: dict[str, float]) -> str:
    return (
        f"this machine: {figures['gaps_per_s']:,.0f} pauses/s of >= 5 us (p50 "
        f"{figures['gap_p50_us']} us, p99 {figures['gap_p99_us']} us, max "
        f"{figures['gap_max_us']} us; one of >= 16 us every {figures['big_gap_interval_ms']} "
        f"ms; {figures['time_lost_pct']} % of the time; {figures['timer_interrupts_per_s']} timer "
        f"interrupts/s while busy); a fixed {figures['fixed_p50_us']} us "
        f"loop has p99 {figures['fixed_p99_us']} us ({figures['fixed_p99_over_p50']}x)"
    )


def main() -> None:
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 2.0
    figures = measure(seconds)
    print(describe(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
