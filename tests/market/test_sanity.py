"""Upstream sanity (pure): which records are too wrong to hand to an account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workspace.market.decode import decode_frame, parse_depth_snapshot
from workspace.market.records import FeedRecord
from workspace.market.sanity import SanityLimits, problem

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance"
NOW_MS = 1_737_600_000_000  # a day after the testnet recordings
LIMITS = SanityLimits()


def fixture(name: str, **changes: object) -> FeedRecord:
    """A real recorded frame, with some payload fields replaced."""
    loaded = json.loads((FIXTURES / name).read_bytes())
    data = loaded.get("data", loaded)
    for key, value in changes.items():
        if key == "k":
            assert isinstance(value, dict)
            data["k"].update(value)
        else:
            data[key] = value
    record = decode_frame(json.dumps(loaded), all_records=True)
    assert record is not None
    assert not isinstance(record, tuple)
    return record  # type: ignore[return-value]


@pytest.mark.parametrize(
    "name",
    [
        p.name
        for p in sorted(FIXTURES.glob("*.json"))
        if "arr" not in p.name and "avg" not in p.name
    ],
)
def test_every_real_recorded_record_is_sane(name: str) -> None:
    record = decode_frame((FIXTURES / name).read_bytes(), all_records=True)
    assert record is not None
    assert problem(record, NOW_MS, LIMITS) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("trade.raw.testnet-2025-01.json", {"p": "-5"}, "not a positive number"),
        ("trade.raw.testnet-2025-01.json", {"p": "0"}, "not a positive number"),
        ("trade.raw.testnet-2025-01.json", {"p": "0E-8"}, "not a positive number"),
        ("trade.raw.testnet-2025-01.json", {"p": "1e999999"}, "not a positive number"),
        ("trade.raw.testnet-2025-01.json", {"p": "92233720368.54775808"}, "not a positive"),
        ("trade.raw.testnet-2025-01.json", {"q": "-0.001"}, "quantity"),
        ("trade.raw.testnet-2025-01.json", {"q": "0"}, "quantity"),
        ("aggTrade.raw.testnet-2025-01.json", {"E": 1_737_600_400_000}, "ahead of the clock"),
        ("bookTicker.raw.testnet-2025-01.json", {"b": "105766.00", "a": "105000"}, "above"),
        ("bookTicker.raw.testnet-2025-01.json", {"a": "0"}, "not positive"),
        ("bookTicker.raw.testnet-2025-01.json", {"B": "-1"}, "quantity"),
        ("ticker.raw.testnet-2025-01.json", {"c": "-5"}, "last price"),
        ("ticker.raw.testnet-2025-01.json", {"b": "200000"}, "above the ask"),
        ("ticker.raw.testnet-2025-01.json", {"h": "-1"}, "high_price"),
        ("ticker.raw.testnet-2025-01.json", {"v": "1e40"}, "volume"),
        ("ticker.raw.testnet-2025-01.json", {"o": "NaN"}, "not a number"),
        ("ticker.raw.testnet-2025-01.json", {"E": 2**63 - 1}, "ahead of the clock"),
        ("miniTicker.raw.testnet-2025-01.json", {"c": "0"}, "last price"),
        # A diff event's levels are checked by the book as it applies them (test_book).
        ("depthUpdate.raw.testnet-2025-01.json", {"E": 1_737_600_400_000}, "ahead"),
        ("depth5.raw.testnet-2025-01.json", {"bids": [["200000", "1"]]}, "best bid"),
        ("kline_1m.raw.testnet-2025-01.json", {"k": {"l": "200000"}}, "do not contain"),
        ("kline_1m.raw.testnet-2025-01.json", {"k": {"o": "0"}}, "not all positive"),
        ("kline_1m.raw.testnet-2025-01.json", {"k": {"v": "-3"}}, "volume"),
    ],
)
def test_wrong_records_say_what_is_wrong(
    name: str, changes: dict[str, object], message: str
) -> None:
    wrong = problem(fixture(name, **changes), NOW_MS, LIMITS)
    assert wrong is not None
    assert message in wrong


def test_a_zero_quantity_level_is_a_removal_not_a_problem() -> None:
    record = fixture("depthUpdate.raw.testnet-2025-01.json", a=[["104789.35", "0"]])
    assert problem(record, NOW_MS, LIMITS) is None


def test_ticker_fields_zero_in_a_window_without_trades_are_accepted() -> None:
    record = fixture("ticker_1h.raw.testnet-2025-01.json", o="0.00000000", w="0", v="0")
    assert problem(record, NOW_MS, LIMITS) is None


def test_event_time_limits_are_configurable() -> None:
    record = fixture("trade.raw.testnet-2025-01.json")  # 2025-01-21, a day before NOW_MS
    assert problem(record, NOW_MS, SanityLimits(max_event_age_ms=3_600_000)) is not None
    assert problem(record, NOW_MS, SanityLimits(max_event_age_ms=None)) is None
    future = fixture("trade.raw.testnet-2025-01.json", E=NOW_MS + 10_000)
    assert problem(future, NOW_MS, SanityLimits(max_future_skew_ms=5_000)) is not None
    assert problem(future, NOW_MS, SanityLimits(max_future_skew_ms=None)) is None
    assert problem(future, NOW_MS, LIMITS) is None  # 10 s: within the default 5 minutes


@pytest.mark.parametrize(
    "body",
    [
        b'{"lastUpdateId":1,"bids":[["NaN","1"]],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[["abc","1"]],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[],"asks":[["1","-1"]]}',
        b'{"lastUpdateId":1,"bids":[["1e999999","1"]],"asks":[]}',
    ],
)
def test_snapshots_and_partial_depth_with_bad_levels_are_refused(body: bytes) -> None:
    wrong = problem(parse_depth_snapshot("BTCUSDT", body), NOW_MS, LIMITS)
    assert wrong is not None


def test_a_crossed_snapshot_is_refused() -> None:
    body = b'{"lastUpdateId":1,"bids":[["101","1"]],"asks":[["100","1"]]}'
    snapshot = parse_depth_snapshot("BTCUSDT", body)
    wrong = problem(snapshot, NOW_MS, LIMITS)
    assert wrong is not None
    assert "best bid 101 is above the best ask 100" in wrong
