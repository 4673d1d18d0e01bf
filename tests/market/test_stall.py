"""Stall detection (pure): each stream's pace is learned; all silent = stalled."""

from __future__ import annotations

import pytest

from workspace.market.stall import CadenceWatch

TICKER = ("Ticker", "BTCUSDT")
TRADES = ("Trade", "BTCUSDT")
QUIET = ("Trade", "DOGEUSDT")


def watch() -> CadenceWatch[tuple[str, str]]:
    return CadenceWatch(stall_after_s=3.0, factor=3.0, nominal_interval_s={"Ticker": 1.0})


def test_a_stream_with_a_documented_beat_is_judged_from_its_first_message() -> None:
    cadence = watch()
    cadence.tick(100.0, {TICKER: 1})
    assert cadence.threshold_s(TICKER) == 3.0  # max(3 s, 3 x 1 s)
    assert cadence.silent(102.9) == []
    assert cadence.silent(103.1) == [TICKER]
    assert cadence.stalled(103.1)


def test_a_stream_without_a_beat_is_judged_once_its_pace_is_learned() -> None:
    cadence = watch()
    cadence.tick(100.0, {TRADES: 5})
    assert cadence.threshold_s(TRADES) is None
    assert not cadence.stalled(1000.0)  # nothing to judge yet
    cadence.tick(101.0, {TRADES: 15})  # 10 in 1 s: every 0.1 s
    assert cadence.threshold_s(TRADES) == pytest.approx(3.0)
    cadence.tick(105.0, {TRADES: 15})
    assert cadence.silent(105.0) == [TRADES]


def test_a_slow_stream_may_be_quiet_for_longer() -> None:
    cadence = watch()
    cadence.tick(0.0, {QUIET: 1})
    cadence.tick(60.0, {QUIET: 2})  # one trade a minute
    assert cadence.threshold_s(QUIET) == pytest.approx(180.0)
    assert cadence.silent(150.0) == []
    assert cadence.silent(241.0) == [QUIET]


def test_a_measured_pace_replaces_the_documented_beat() -> None:
    cadence = watch()
    cadence.tick(0.0, {TICKER: 1})
    cadence.tick(0.2, {TICKER: 2})  # this ticker stream comes every 0.2 s, not every 1 s
    assert cadence.threshold_s(TICKER) == pytest.approx(3.0)  # the floor
    cadence = CadenceWatch(stall_after_s=0.3, factor=3.0, nominal_interval_s={"Ticker": 1.0})
    cadence.tick(0.0, {TICKER: 1})
    cadence.tick(0.2, {TICKER: 2})
    assert cadence.threshold_s(TICKER) == pytest.approx(0.6)


def test_the_pace_is_a_moving_average() -> None:
    cadence = watch()
    cadence.tick(0.0, {QUIET: 1})
    cadence.tick(10.0, {QUIET: 2})
    cadence.tick(11.0, {QUIET: 3})  # 10 s, then 1 s: the estimate moves toward 1 s
    threshold = cadence.threshold_s(QUIET)
    assert threshold is not None
    assert 3.0 * 1.0 < threshold < 3.0 * 10.0


def test_one_silent_stream_among_flowing_ones_is_reported_not_a_stall() -> None:
    cadence = watch()
    cadence.tick(0.0, {TICKER: 1, ("Ticker", "ETHUSDT"): 1})
    cadence.tick(5.0, {TICKER: 6, ("Ticker", "ETHUSDT"): 1})
    assert cadence.silent(5.0) == [("Ticker", "ETHUSDT")]
    assert not cadence.stalled(5.0)
    cadence.tick(10.0, {TICKER: 6, ("Ticker", "ETHUSDT"): 1})
    assert cadence.stalled(10.0)


def test_a_new_connection_counts_silence_from_its_start() -> None:
    cadence = watch()
    cadence.tick(0.0, {TICKER: 1})
    assert cadence.stalled(50.0)
    cadence.restart(50.0)
    assert not cadence.stalled(52.0)
    assert cadence.stalled(53.5)


def test_unsubscribed_streams_are_forgotten() -> None:
    cadence = watch()
    cadence.tick(0.0, {TICKER: 1, ("Ticker", "ETHUSDT"): 1})
    cadence.forget({TICKER})
    assert cadence.judged() == 1
    cadence.tick(1.0, {TICKER: 2})
    assert not cadence.stalled(1.5)


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="stall_after_s"):
        CadenceWatch(stall_after_s=0)
    with pytest.raises(ValueError, match="factor"):
        CadenceWatch(factor=0.5)
