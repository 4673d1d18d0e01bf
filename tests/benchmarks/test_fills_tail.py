"""The fill benchmark's tail figures (its figures are measurements: not asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fills


def test_the_share_over_the_target_counts_samples_at_or_over_it() -> None:
    assert fills.over_target([50.0, 99.9, 100.0, 150.0]) == 50.0
    assert fills.over_target([10.0] * 99 + [101.0]) == 1.0


def test_buys_and_sells_are_the_even_and_odd_samples() -> None:
    # a buy, then a sell, alternately: the sells slow, one buy over the target
    samples: list[fills.Sample] = [(40.0, 40.0, None), (60.0, 60.0, None)] * 50
    samples.append((120.0, 119.0, None))
    p50, p99, cpu_p99, tail = fills.walk_figures(samples)
    assert (p50, p99, cpu_p99) == (60.0, 60.0, 60.0)  # one sample of 101 is under 1 %
    assert tail["buy_p50_us"] == 40.0
    assert tail["buy_p99_us"] == 120.0  # one of 51
    assert tail["sell_p50_us"] == 60.0
    assert tail["buy_over_target_pct"] == round(100 / 51, 2)
    assert tail["sell_over_target_pct"] == 0.0
    assert tail["over_target_pct"] == round(100 / 101, 2)


def test_the_pause_share_is_the_samples_length_times_the_pauses_per_second() -> None:
    # 50 us samples on a machine pausing 400 times a second: 2 % of them meet one
    assert fills.pause_share(50.0, {"gaps_per_s": 400.0}) == 2.0


def test_a_triggered_stop_walks_the_twenty_levels_in_every_sample() -> None:
    # each sample checks its own events: the stop FILLED by 20 fills, buys and sells
    samples = fills.trigger_samples(4, keep=3, warm=3)
    assert len(samples) == 4
    assert all(wall > 0 and cpu >= 0 for wall, cpu, _ in samples)
