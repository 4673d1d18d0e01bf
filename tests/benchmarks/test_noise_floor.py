"""The noise-floor probe's own logic (its figures are measurements: not asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import noise_floor

TABLE = """\
           CPU0       CPU1
  1:          9          0   IO-APIC   1-edge      i8042
LOC:    7152959    8111571   Local timer interrupts
SPU:          0          0   Spurious interrupts
"""


def test_the_timer_count_is_read_from_the_cpus_own_column() -> None:
    assert noise_floor.local_timer_count(TABLE, 0) == 7152959
    assert noise_floor.local_timer_count(TABLE, 1) == 8111571


def test_every_interrupt_of_a_cpu_is_its_column_summed() -> None:
    assert noise_floor.interrupt_total(TABLE, 0) == 9 + 7152959
    assert noise_floor.interrupt_total(TABLE, 1) == 8111571
    assert noise_floor.interrupt_total(TABLE, 2) is None


def test_a_table_without_that_cpu_or_line_gives_none() -> None:
    assert noise_floor.local_timer_count(TABLE, 2) is None
    assert noise_floor.local_timer_count("           CPU0\n  1:   9   IO-APIC\n", 0) is None


def test_a_short_probe_reports_every_figure() -> None:
    figures = noise_floor.clock_gaps(0.05)
    assert set(figures) == {
        "gaps_per_s",
        "gap_p50_us",
        "gap_p99_us",
        "gap_max_us",
        "time_lost_pct",
        "big_gap_interval_ms",
        "timer_interrupts_per_s",
    }
    assert 0 <= figures["time_lost_pct"] <= 100
    line = noise_floor.describe({**figures, **noise_floor.fixed_work(samples=20)})
    assert "timer interrupts/s" in line
