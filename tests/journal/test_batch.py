"""Batched appends (a replay): several steps per transaction, the same rows as one
transaction per step, durable when the batch commits, never half a step."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.trading.scripted import Script, buy, same_positions, sell
from workspace.journal import Journal, JournalError
from workspace.trading import AccountEvent, OrderType


def _steps() -> tuple[Script, list[list[AccountEvent]]]:
    """A session whose trailing stop moves on most trades: many small steps."""
    s = Script()
    steps = [s.trades("100")]
    steps.append(s.place(buy(OrderType.MARKET, "2"))[1])
    steps.append(s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="1"))[1])
    steps.append(s.place(buy(OrderType.LIMIT, "1", price="90"))[1])
    for price in ("100.5", "101", "101.7", "102", "103.1", "102.2", "101.9"):
        steps.append(s.trades(price))
    return s, [step for step in steps if step]


def _rows(path: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT seq, ts_ms, kind, order_id, body FROM events").fetchall()
    finally:
        con.close()


def _stored(path: Path) -> int:
    """Rows another connection can see: what is committed."""
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        con.close()


def test_a_batch_stores_exactly_the_rows_of_one_transaction_per_step(tmp_path: Path) -> None:
    _, steps = _steps()
    assert len(steps) >= 8
    with Journal.open(tmp_path / "one.db") as journal:
        one_by_one = [journal.append(step) for step in steps]
    with Journal.open(tmp_path / "batch.db") as journal, journal.batch(max_appends=3):
        batched = [journal.append(step) for step in steps]
    assert batched == one_by_one
    assert _rows(tmp_path / "batch.db") == _rows(tmp_path / "one.db")


def test_batched_appends_become_visible_to_other_readers_when_the_batch_commits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal:
        journal.append(steps[0])
        committed = journal.last_seq
        with journal.batch(max_appends=3):
            journal.append(steps[1])
            journal.append(steps[2])
            # written (this connection reads them back) but not committed yet
            assert journal.last_seq > committed
            assert journal.committed_seq == committed
            assert _stored(path) == committed
            assert [seq for seq, _ in journal.events(since=committed)]
            journal.append(steps[3])  # the third append commits
            assert journal.committed_seq == journal.last_seq
            assert _stored(path) == journal.last_seq
            journal.append(steps[4])
            assert _stored(path) < journal.last_seq
        assert journal.committed_seq == journal.last_seq
        assert _stored(path) == journal.last_seq


def test_append_steps_returns_each_steps_seqs_and_is_durable_when_it_returns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal:
        seqs = journal.append_steps(steps)
        assert [len(s) for s in seqs] == [len(step) for step in steps]
        assert [seq for step in seqs for seq in step] == list(range(1, journal.last_seq + 1))
        assert _stored(path) == journal.last_seq == journal.committed_seq
        assert journal.append_steps([]) == []


def test_a_batched_journal_rebuilds_the_same_account(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    script, steps = _steps()
    with Journal.open(path) as journal:
        with journal.batch():
            for step in steps:
                journal.append(step)
        journal.append([script.account.mark(script.tick())])
    with Journal.open(path) as journal:
        rebuilt = journal.rebuild()
    assert rebuilt.portfolio() == script.account.portfolio()
    assert same_positions(rebuilt.positions, script.account.positions)
    assert dict(rebuilt.orders) == dict(script.account.orders)


def _append_then_fail(journal: Journal, steps: list[list[AccountEvent]]) -> None:
    with journal.batch():
        for step in steps:
            journal.append(step)
        raise RuntimeError("strategy failed")


def test_a_batch_left_by_an_exception_still_commits_its_whole_steps(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal:
        with pytest.raises(RuntimeError, match="strategy failed"):
            _append_then_fail(journal, steps[:2])
        assert _stored(path) == len(steps[0]) + len(steps[1]) == journal.committed_seq


def test_a_failed_batched_append_that_loses_accepted_steps_refuses_every_later_append(
    tmp_path: Path,
) -> None:
    """The open transaction held a step already counted as appended (and applied to an
    account): once the failure took it back, the file and that account disagree, so
    the journal refuses to build on it until it is reopened (and rebuilt)."""
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal:
        journal.append(steps[0])
        committed = journal.last_seq
        accepted = committed + len(steps[1])
        con = sqlite3.connect(path)
        con.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.seq > {accepted} "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        con.commit()
        with journal.batch():
            journal.append(steps[1])  # accepted, not committed
            with pytest.raises(JournalError, match="disk says no"):
                journal.append(steps[2])
            # the whole open transaction is gone: seqs are back at the durable one
            assert journal.last_seq == journal.committed_seq == committed
            con.execute("DROP TRIGGER refuse")
            con.commit()
            assert journal.broken is not None
            with pytest.raises(JournalError, match="reopen the journal"):
                journal.append(steps[1])
        con.close()
        assert _stored(path) == journal.last_seq == committed
    with Journal.open(path) as journal:  # reopened: the file's own history, writable
        assert journal.rebuild().portfolio() is not None
        assert journal.append(steps[1])[0] == committed + 1


def test_a_failed_append_that_was_the_first_of_its_batch_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal:
        journal.append(steps[0])
        committed = journal.last_seq
        con = sqlite3.connect(path)
        con.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        con.commit()
        with journal.batch():
            with pytest.raises(JournalError, match="disk says no"):
                journal.append(steps[1])
            con.execute("DROP TRIGGER refuse")
            con.commit()
            assert journal.broken is None
            assert journal.append(steps[1])[0] == committed + 1
        con.close()
        assert _stored(path) == journal.last_seq == committed + len(steps[1])


def test_closing_inside_a_batch_commits_it(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    journal = Journal.open(path)
    with journal.batch():
        journal.append(steps[0])
        journal.close()
    assert _stored(path) == len(steps[0])


def test_nested_batches_join_the_outer_one(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _, steps = _steps()
    with Journal.open(path) as journal, journal.batch():
        with journal.batch(max_appends=1):
            journal.append(steps[0])
        assert journal.committed_seq == 0  # the inner block neither commits nor resizes
        journal.append(steps[1])
    assert _stored(path) == len(steps[0]) + len(steps[1])


def test_a_batch_needs_a_positive_size(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        batch = journal.batch(max_appends=0)
        with pytest.raises(ValueError, match="max_appends"):
            batch.__enter__()
