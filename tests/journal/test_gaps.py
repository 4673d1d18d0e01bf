"""The journal keeps the market data feed's gaps (schema 3): beside the account's events,
never read by a rebuild, kept across reopening, added to older journals in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from workspace.journal import GapRow, Journal, gaps_frame
from workspace.journal.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).parent / "fixtures"

STALL = GapRow(1_700_000_000_000, 1_700_000_004_250, "stalled", None, 1_700_000_004_300)
DEPTH = GapRow(1_700_000_010_000, 1_700_000_010_400, "depth gap: BTCUSDT: ...", "BTCUSDT", 5)
CUT = GapRow(None, None, "connection closed (1006)", None, 9)


def test_gaps_are_kept_in_order_across_reopening_and_no_event_is_added(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        for gap in (STALL, DEPTH, CUT):
            journal.record_gap(gap)
        assert journal.last_seq == 0  # not account events: no seq spent
    with Journal.open(path) as journal:
        assert journal.gaps() == [STALL, DEPTH, CUT]
        assert journal.gaps(limit=2) == [DEPTH, CUT]
        assert list(journal.events()) == []
        journal.rebuild()  # the gaps are no events to apply


def test_a_gap_recorded_inside_a_batch_is_committed_with_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal, journal.batch():
        journal.record_gap(STALL)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT reason FROM gaps").fetchall() == [("stalled",)]


def test_an_older_journal_gains_the_gaps_table_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    shutil.copyfile(FIXTURES / "journal-v1.sqlite", path)
    with Journal.open(path) as journal:
        assert journal.gaps() == []
        journal.record_gap(DEPTH)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    with Journal.open(path) as journal:
        assert journal.gaps() == [DEPTH]


def test_the_gaps_frame_has_times_durations_and_unknown_ends() -> None:
    frame = gaps_frame([STALL, DEPTH, CUT])
    assert list(frame.columns) == [
        "start", "end", "duration_s", "reason", "symbol", "start_ms", "end_ms",
    ]  # fmt: skip
    assert frame["duration_s"].iloc[0] == 4.25
    assert str(frame["start"].dt.tz) == "UTC"
    assert frame["symbol"].iloc[1] == "BTCUSDT"
    assert frame["end"].isna().iloc[2]
    assert frame["duration_s"].isna().iloc[2]
    assert gaps_frame([]).empty
