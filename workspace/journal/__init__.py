"""The account's durable event log (SQLite, WAL) and pandas views of it."""

from workspace.journal.errors import JournalError, JournalLocked
from workspace.journal.frames import (
    equity_curve,
    fills_frame,
    gaps_frame,
    orders_frame,
    positions_frame,
)
from workspace.journal.store import GapRow, Journal, Verification

__all__ = [
    "GapRow",
    "Journal",
    "JournalError",
    "JournalLocked",
    "Verification",
    "equity_curve",
    "fills_frame",
    "gaps_frame",
    "orders_frame",
    "positions_frame",
]
