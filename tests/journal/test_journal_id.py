"""The journal's identity: the same file keeps it across reopening, another file (or
the same path wiped) gets another, and it is stored only once someone asks for it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workspace.journal import Journal


def stored_id(path: Path) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
    return None if row is None else str(row[0])


def test_a_journal_keeps_its_id_across_reopening_and_another_file_has_another(
    tmp_path: Path,
) -> None:
    first = Journal.open(tmp_path / "a.sqlite")
    assert stored_id(tmp_path / "a.sqlite") is None  # nothing written until asked
    journal_id = first.journal_id
    first.close()
    assert stored_id(tmp_path / "a.sqlite") == journal_id
    with Journal.open(tmp_path / "a.sqlite") as again:
        assert again.journal_id == journal_id
    with Journal.open(tmp_path / "b.sqlite") as other:
        assert other.journal_id != journal_id
    (tmp_path / "a.sqlite").unlink()
    with Journal.open(tmp_path / "a.sqlite") as wiped:
        assert wiped.journal_id != journal_id
