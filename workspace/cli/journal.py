"""``python -m workspace journal check FILE`` / ``journal salvage FILE NEW``: is every
event of a journal applicable, and the recovery path when one is not.

``check`` reads the file (read-only, without its lock: it may run beside the server
that writes it), decodes every event and applies it, in order, to a fresh account from
the stored config, exactly as a reopen does.  Exit status: 0 every event applies, 1 an
event does not (the first one is named, with the reason), 2 the file cannot be read as
a journal.  ``--json`` prints the findings as one JSON object.

``salvage`` writes the events before the first bad one into a new journal (same
config, same seqs; ``NEW`` must not exist) and leaves ``FILE`` untouched: the account
then restarts from the last state that is consistent (docs/trading.md, "Recovery").
"""

from __future__ import annotations

import argparse
import json
import sys

from workspace.journal import Journal, JournalError, Verification

HELP = "check a journal file (every event applies) or salvage its consistent part"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="verify that every event applies (exit 1 if one does not)")
    check.add_argument("file", help="the journal (SQLite file)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    salvage = sub.add_parser(
        "salvage", help="copy the events before the first bad one into a new journal"
    )
    salvage.add_argument("file", help="the journal to read (left untouched)")
    salvage.add_argument("new", help="the journal to write (must not exist)")


def run(args: argparse.Namespace) -> int:
    if args.journal_command == "check":
        return _check(args.file, as_json=args.json)
    return _salvage(args.file, args.new)


def _check(path: str, *, as_json: bool) -> int:
    try:
        with Journal.open(path, read_only=True) as journal:
            found = journal.verify()
    except JournalError as error:
        if as_json:
            print(json.dumps({"file": path, "ok": False, "error": str(error)}))
        else:
            print(f"journal check: {error}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(_as_dict(found)))
    else:
        print(_describe(found))
    return 0 if found.ok else 1


def _salvage(path: str, new: str) -> int:
    try:
        with Journal.open(path, read_only=True) as journal:
            found = journal.copy_valid_prefix(new)
    except JournalError as error:
        print(f"journal salvage: {error}", file=sys.stderr)
        return 2
    dropped = found.events - found.applied
    kept = f"events 1..{found.applied}" if found.applied else "no event"
    print(
        f"wrote {new}: {kept} of {path}"
        + (f"; dropped {dropped} from event {found.first_bad_seq} on" if dropped else "")
    )
    print(_holdings(found))
    return 0


def _as_dict(found: Verification) -> dict[str, object]:
    return {
        "file": str(found.path),
        "ok": found.ok,
        "events": found.events,
        "applied": found.applied,
        "first_bad_seq": found.first_bad_seq,
        "reason": found.reason,
        "open_orders": found.open_orders,
        "positions": found.positions,
        "fills": found.fills,
        "balances": found.balances,
    }


def _holdings(found: Verification) -> str:
    balances = ", ".join(f"{asset} {amount}" for asset, amount in found.balances.items())
    return (
        f"  open orders {found.open_orders}, open positions {found.positions}, "
        f"fills {found.fills}; balances: {balances or 'none'}"
    )


def _describe(found: Verification) -> str:
    if found.ok:
        return f"journal {found.path}: {found.events} events, every one applies\n" + _holdings(
            found
        )
    return (
        f"journal {found.path}: {found.reason} (event {found.first_bad_seq} of {found.events})\n"
        f"  the {found.applied} events before it apply; up to there:\n"
        f"{_holdings(found)}\n"
        f"  recovery: python -m workspace journal salvage {found.path} NEW.sqlite  "
        f"(writes events 1..{found.applied} into NEW.sqlite, leaves this file as it is; "
        "then serve --db NEW.sqlite)"
    )
