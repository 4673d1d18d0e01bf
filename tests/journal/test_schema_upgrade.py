"""A journal written by the first version (schema 1) opens with today's code: upgraded in
place, its stored config kept (a margin-style account then), and the rebuilt account
says what the first version said about it (tests/journal/fixtures/README.md)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from workspace.journal import Journal, JournalError
from workspace.journal.schema import SCHEMA_VERSION
from workspace.trading import AccountConfig, order_to_wire, portfolio_to_wire, position_to_wire

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def v1_journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    shutil.copyfile(FIXTURES / "journal-v1.sqlite", path)  # opening upgrades it in place
    return path


def test_a_schema_1_journal_is_upgraded_in_place_and_keeps_its_config(v1_journal: Path) -> None:
    con = sqlite3.connect(v1_journal)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    con.close()
    with Journal.open(v1_journal) as journal:
        assert journal.config.allow_short is True  # stored by version 1, kept
        assert journal.config.initial_balance == 10000
        assert journal.last_seq > 0
    con = sqlite3.connect(v1_journal)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT value FROM meta WHERE key = 'upgraded_from'").fetchone() == (b"1",)
    con.close()


def test_the_rebuilt_account_says_what_version_1_said(v1_journal: Path) -> None:
    expected = json.loads((FIXTURES / "journal-v1.expected.json").read_text())
    with Journal.open(v1_journal) as journal:
        account = journal.rebuild()
        # the order events of version 1 are still served to clients that resume
        assert journal.order_events_since(0)
    wire = portfolio_to_wire(account.portfolio())
    old = expected["portfolio"]
    for key in (
        "equity",
        "total_pnl",
        "realized_pnl",
        "unrealized_pnl",
        "fees_paid",
        "initial_balance",
        "positions_count",
        "available",
    ):
        assert wire[key] == pytest.approx(old[key], abs=1e-9), key
    # the wallet view of the same account: the cash is what fills moved
    assert wire["balance"] == pytest.approx(5035.9449)
    assert wire["balances"]["BTC"] == {"free": 0.15, "locked": 0.0}
    assert wire["balances"]["ETH"] == {"free": -0.5, "locked": 0.0}  # a margin-style short
    positions = [position_to_wire(p) for p in account.positions]
    for new, was in zip(positions, expected["positions"], strict=True):
        for key in ("id", "symbol", "type", "quantity", "entry_price", "current_price"):
            assert new[key] == was[key], key
        assert new["stale"] is True  # its price came from the journal
    assert [order_to_wire(o)["id"] for o in account.open_orders] == [
        o["id"] for o in expected["open_orders"]
    ]
    assert len(account.fills) == expected["fills"]


def test_an_upgraded_journal_takes_new_events_and_rebuilds_them(v1_journal: Path) -> None:
    with Journal.open(v1_journal) as journal:
        account = journal.rebuild()
        (oco,) = account.open_orders
        _, events = account.cancel(oco.id, 1_800_000_000_000)
        journal.append(events)
        assert journal.last_order_seq(oco.id) == journal.last_seq
    with Journal.open(v1_journal) as journal:
        again = journal.rebuild()
    assert again.open_orders == []
    assert again.order(oco.id).reason_code == "CANCELED_BY_USER"


def test_reopening_with_a_different_config_is_a_clear_error_not_a_reset(v1_journal: Path) -> None:
    with pytest.raises(JournalError, match="cannot be reopened"):
        Journal.open(v1_journal, config=AccountConfig())  # spot by default: not the stored one
