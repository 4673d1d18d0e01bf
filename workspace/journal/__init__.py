"""The account's durable event log (SQLite, WAL) and pandas views of it."""

from workspace.journal.errors import JournalError
from workspace.journal.frames import equity_curve, fills_frame, orders_frame, positions_frame
from workspace.journal.store import Journal

__all__ = [
    "Journal",
    "JournalError",
    "equity_curve",
    "fills_frame",
    "orders_frame",
    "positions_frame",
]
