"""``python -m workspace journal check`` / ``salvage``: the first event that does not
apply is named (the issue's "illegal transition None -> FILLED" of a journal whose
earlier appends failed but whose later ones did), the exit status says it, and the
salvaged prefix opens as a journal again."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.trading.scripted import trade
from workspace.journal import Journal
from workspace.trading import Account, OrderRequest, OrderType, Side


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workspace", "journal", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _broken_journal(path: Path) -> None:
    """What the first version left after a full disk: the NEW of order-2 never made it
    to the file, its fill and FILLED did."""
    with Journal.open(path) as journal:
        account = Account(journal.config)
        account.on_market(trade("100", 1), 1)
        limit = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal(1),
            price=Decimal(90),
        )
        journal.append(account.place(limit, 2)[1])
        market = OrderRequest(
            symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)
        )
        events = account.place(market, 3)[1]
        assert [e.kind for e in events] == ["order", "fill", "position", "order"]
        journal.append(events[1:])


def test_check_passes_a_sound_journal_even_while_its_writer_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "ok.sqlite"
    with Journal.open(path) as journal:
        account = Account(journal.config)
        account.on_market(trade("100", 1), 1)
        market = OrderRequest(
            symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)
        )
        journal.append(account.place(market, 2)[1])
        done = cli("check", str(path))  # beside the writer: no lock needed to read
    assert done.returncode == 0, done.stderr
    assert "4 events, every one applies" in done.stdout
    assert "open positions 1" in done.stdout
    # the balances as people write them: 10000 - 100 - the 0.1 fee, no trailing zeros
    # of the account's arithmetic (it printed 9899.900)
    assert "balances: BTC 1, USDT 9899.9\n" in done.stdout


def test_salvage_of_a_journal_without_events_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    Journal.open(path).close()
    done = cli("salvage", str(path), str(tmp_path / "copy.sqlite"))
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'copy.sqlite'}: no event of {path}" in done.stdout  # not "1..0"


def test_check_names_the_first_event_that_does_not_apply_and_salvage_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.sqlite"
    _broken_journal(path)
    done = cli("check", str(path))
    assert done.returncode == 1
    assert "event 4 does not apply: order order-2: illegal transition None -> FILLED" in (
        done.stdout
    )
    assert f"python -m workspace journal salvage {path} NEW.sqlite" in done.stdout
    found = json.loads(cli("check", "--json", str(path)).stdout)
    assert (found["ok"], found["first_bad_seq"], found["applied"], found["events"]) == (
        False,
        4,
        3,
        4,
    )
    new = tmp_path / "new.sqlite"
    salvaged = cli("salvage", str(path), str(new))
    assert salvaged.returncode == 0, salvaged.stderr
    assert "events 1..3" in salvaged.stdout
    assert "dropped 1 from event 4 on" in salvaged.stdout
    assert cli("check", str(new)).returncode == 0
    with Journal.open(path, read_only=True) as original:
        config = original.config
    with Journal.open(new) as journal:  # opens and takes appends again
        account = journal.rebuild()
        assert [o.id for o in account.open_orders] == ["order-1"]
        assert journal.config == config
    assert cli("salvage", str(path), str(new)).returncode == 2  # never overwrites


def test_check_says_what_is_wrong_with_a_file_that_is_not_a_journal(tmp_path: Path) -> None:
    missing = cli("check", str(tmp_path / "nope.sqlite"))
    assert missing.returncode == 2
    assert "no journal at" in missing.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    foreign = cli("check", str(text))
    assert foreign.returncode == 2
    assert "damaged or not a journal" in foreign.stderr
