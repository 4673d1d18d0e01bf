"""The journal: appends get seqs, reopening rebuilds the exact account, bad files and
newer schemas are clear errors, the stored config wins."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.trading.scripted import Script, buy, same_positions, sell
from workspace.journal import Journal, JournalError
from workspace.journal.schema import SCHEMA_VERSION
from workspace.trading import AccountConfig, AccountEvent, OrderEvent, OrderType


def _session(journal: Journal) -> Script:
    """A small session with a resting limit, a trailing stop and a position."""
    s = Script(config=journal.config)
    steps: tuple[Callable[[], list[AccountEvent]], ...] = (
        lambda: s.trades("100"),
        lambda: s.place(buy(OrderType.MARKET, "2"))[1],
        lambda: s.place(buy(OrderType.LIMIT, "1", price="95"))[1],
        lambda: s.place(sell(OrderType.TRAILING_STOP, "1", trail_percent="2"))[1],
        lambda: s.place(sell(OrderType.OCO, "1", take_profit="120", stop_price="90"))[1],
        lambda: s.trades("103", "104.5", "103"),
    )
    for step in steps:
        journal.append(step())
    return s


def test_append_returns_consecutive_seqs_and_last_seq(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        s = Script()
        s.trades("100")
        _, events = s.place(buy(OrderType.MARKET, "1"))
        assert journal.append(events) == [1, 2, 3, 4]
        assert journal.append([]) == []
        assert journal.last_seq == 4


def test_reopening_rebuilds_balances_positions_open_orders_and_trailing_peaks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        s = _session(journal)
        journal.append([s.account.mark(s.tick())])
    with Journal.open(path) as journal:
        rebuilt = journal.rebuild()
    live = s.account
    assert rebuilt.portfolio() == live.portfolio()
    assert same_positions(rebuilt.positions, live.positions)
    # prices from the journal are never fresh: the rebuilt marks say so
    assert all(p.stale and p.price_ms is None for p in rebuilt.positions)
    assert rebuilt.open_orders == live.open_orders
    trailing = next(o for o in rebuilt.open_orders if o.type is OrderType.TRAILING_STOP)
    assert (trailing.peak_price, trailing.current_stop_price) == (
        Decimal("104.5"),
        Decimal("102.41"),
    )
    # and the next order id continues the sequence
    s2_order, _ = rebuilt.place(buy(OrderType.MARKET, "1"), 2)
    s1_order, _ = live.place(buy(OrderType.MARKET, "1"), 2)
    assert s2_order.id == s1_order.id


def test_order_events_since_serves_resume_in_order(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        _session(journal)
        everything = journal.order_events_since(0)
        seqs = [seq for seq, _ in everything]
        assert seqs == sorted(seqs)
        assert all(isinstance(e, OrderEvent) for _, e in everything)
        later = journal.order_events_since(seqs[2])
        assert later == everything[3:]
        assert journal.order_events_since(journal.last_seq) == []


def test_wal_mode_is_on(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_the_config_is_stored_and_used_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    config = AccountConfig(initial_balance=Decimal(500), taker_fee=Decimal("0.00075"))
    Journal.open(path, config=config).close()
    with Journal.open(path) as journal:
        assert journal.config == config
        assert journal.rebuild().portfolio().initial_balance == Decimal(500)


def test_reopening_with_a_different_config_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path, config=AccountConfig(initial_balance=Decimal(500))).close()
    with pytest.raises(JournalError, match="cannot be reopened with") as refused:
        Journal.open(path, config=AccountConfig())
    # the settings that differ, not both configs whole (nine fields each, repr'd)
    assert str(refused.value) == (
        f"journal {path} was created with initial_balance 500; it cannot be reopened with "
        "initial_balance 10000: give none of the account settings to use the stored ones "
        "(--balance, --allow-short; in Python config=None), or another journal file"
    )


def test_a_journal_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(JournalError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Journal.open(path)


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="damaged or not a journal"):
        Journal.open(path)
    assert path.read_bytes() == b"this is not sqlite at all" * 100


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x)")
    con.close()
    with pytest.raises(JournalError, match="not a journal"):
        Journal.open(path)


def test_a_damaged_event_is_a_clear_error_not_a_silent_skip(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        _session(journal)
    con = sqlite3.connect(path)
    con.execute("UPDATE events SET body = x'c1c1c1' WHERE seq = 3")
    con.commit()
    con.close()
    with Journal.open(path) as journal, pytest.raises(JournalError, match="event 3 is damaged"):
        journal.rebuild()


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        for _ in range(20):
            _session(journal)
    # fold the WAL into the main file, then cut the file in half
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(JournalError):
        _open_and_rebuild(path)


def _open_and_rebuild(path: Path) -> None:
    with Journal.open(path) as journal:
        journal.rebuild()


def test_ids_continue_identically_after_a_rebuild_even_after_refused_groups(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as journal:
        s = Script()
        journal.append(s.trades("100"))
        # an OCO too big for the balance: its legs are built, then the whole is refused
        refused, events = s.place(buy(OrderType.OCO, "1000", take_profit="90", stop_price="110"))
        assert refused.reason_code == "INSUFFICIENT_BALANCE"
        journal.append(events)
    with Journal.open(path) as journal:
        rebuilt = journal.rebuild()
    live_order, _ = s.account.place(buy(OrderType.MARKET, "1"), 5)
    again_order, _ = rebuilt.place(buy(OrderType.MARKET, "1"), 5)
    assert again_order.id == live_order.id
