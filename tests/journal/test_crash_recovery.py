"""A process that trades and journals is killed with SIGKILL; the journal loses no
event it had acknowledged, and reopening rebuilds the state it had acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from workspace.journal import Journal
from workspace.trading import Account

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).parents[2]


def _run_and_kill(path: Path, acks_wanted: int) -> list[tuple[int, str, str]]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    acks: list[tuple[int, str, str]] = []
    try:
        assert child.stdout is not None
        while len(acks) < acks_wanted:
            line = child.stdout.readline()
            assert line, f"child exited early with {child.wait()}"
            seq, balance, fees = line.split()
            acks.append((int(seq), balance, fees))
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acks


def _state_at(journal: Journal, seq: int) -> Account:
    account = Account(journal.config)
    for row_seq, event in journal.events():
        if row_seq > seq:
            break
        account.apply(event)
    return account


def test_sigkilled_process_loses_no_acknowledged_event_and_reopens_to_the_same_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    acks = _run_and_kill(path, 300)
    with Journal.open(path) as journal:
        last_ack = acks[-1][0]
        assert journal.last_seq >= last_ack
        seqs = [seq for seq, _ in journal.events()]
        assert seqs == list(range(1, journal.last_seq + 1))  # none lost, none twice
        for seq, balance, fees in acks[-20:]:
            p = _state_at(journal, seq).portfolio()
            assert (p.balance, p.fees_paid) == (Decimal(balance), Decimal(fees))
        rebuilt = journal.rebuild()
        assert rebuilt.fills  # the session did trade
        p = rebuilt.portfolio()
        assert p.equity == p.initial_balance + p.realized_pnl + p.unrealized_pnl - p.fees_paid

    # a second life on the same journal continues the same seq and id sequences
    more = _run_and_kill(path, 50)
    assert more[0][0] > last_ack
    with Journal.open(path) as journal:
        seqs = [seq for seq, _ in journal.events()]
        assert seqs == list(range(1, journal.last_seq + 1))
        account = journal.rebuild()
        ids = [o.id for o in account.orders.values()]
        assert len(ids) == len(set(ids))
