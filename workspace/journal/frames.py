"""pandas views of a journal, for analysis in a notebook.

Numbers become ``float64`` columns (analysis, not accounting: the journal keeps the
exact values); times become timezone-aware UTC datetimes.  Each view takes a
``Journal`` or any iterable of events (e.g. the events a backtest collected).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import pandas as pd

from workspace.journal.store import GapRow, Journal
from workspace.trading.account import Account
from workspace.trading.config import AccountConfig
from workspace.trading.events import AccountEvent, FillEvent, MarkEvent, OrderEvent, PositionEvent
from workspace.trading.orders import ORDER_NUMBERS, Order
from workspace.trading.positions import Position

Source = Journal | Iterable[AccountEvent]

_ORDER_NUMBERS = ORDER_NUMBERS


def _events(source: Source) -> Iterator[AccountEvent]:
    if isinstance(source, Journal):
        for _, event in source.events():
            yield event
    else:
        yield from source


def _num(value: Decimal | None) -> float:
    return float(value) if value is not None else float("nan")


def _utc(column: pd.Series[Any]) -> pd.Series[Any]:
    return pd.to_datetime(column, unit="ms", utc=True)


def _order_row(order: Order) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": order.id,
        "parent_id": order.parent_id,
        "role": order.role.value if order.role is not None else None,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "status": order.status.value,
        "reason": order.reason,
        "reason_code": order.reason_code,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    for name in _ORDER_NUMBERS:
        row[name] = _num(getattr(order, name))
    return row


def orders_frame(source: Source) -> pd.DataFrame:
    """One row per order and per leg (legs have ``parent_id`` and ``role``) in its
    latest state, indexed by ``id``, in placement order."""
    latest: dict[str, Order] = {}
    for event in _events(source):
        if isinstance(event, OrderEvent):
            latest[event.order.id] = event.order
    rows: list[dict[str, Any]] = []
    for order in latest.values():
        rows.append(_order_row(order))
        rows.extend(_order_row(leg) for leg in order.legs)
    columns = [
        "id",
        "parent_id",
        "role",
        "symbol",
        "side",
        "type",
        "status",
        "reason",
        "reason_code",
    ]
    columns += [*_ORDER_NUMBERS, "created_at", "updated_at"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["created_at"] = _utc(frame["created_at"])
    frame["updated_at"] = _utc(frame["updated_at"])
    return frame.set_index("id")


def fills_frame(source: Source) -> pd.DataFrame:
    """One row per fill, indexed by fill time (UTC), with ``notional`` = qty x price."""
    rows = [
        {
            "time": f.ts_ms,
            "fill_id": f.id,
            "order_id": f.order_id,
            "parent_id": f.parent_id,
            "symbol": f.symbol,
            "side": f.side.value,
            "quantity": float(f.quantity),
            "price": float(f.price),
            "notional": float(f.quantity * f.price),
            "fee": float(f.fee),
            "fee_asset": f.fee_asset,
            "liquidity": f.liquidity.value,
            "realized_pnl": float(f.realized_pnl),
            "position_id": f.position_id,
        }
        for event in _events(source)
        if isinstance(event, FillEvent)
        for f in (event.fill,)
    ]
    columns = [
        "time",
        "fill_id",
        "order_id",
        "parent_id",
        "symbol",
        "side",
        "quantity",
        "price",
        "notional",
        "fee",
        "fee_asset",
        "liquidity",
        "realized_pnl",
        "position_id",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["time"] = _utc(frame["time"])
    return frame.set_index("time")


def positions_frame(source: Source, live: Iterable[Position] = ()) -> pd.DataFrame:
    """One row per position (open and closed) in its latest journaled state, indexed
    by ``id``.  ``current_price``/``unrealized_pnl`` are as of the position's last
    event, unless ``live`` gives the open positions as an account marks them now
    (``Account.positions_at``): then those rows carry the live mark, with
    ``price_ms`` (when the mark's price arrived, UTC) and ``stale`` (older than the
    freshness limit, or restored from the journal).  Journal-only rows: ``stale``
    is true for open positions (their mark is as old as their last event)."""
    latest: dict[str, Any] = {}
    for event in _events(source):
        if isinstance(event, PositionEvent):
            latest[event.position.id] = event.position
    marked = {p.id: p for p in live}
    latest.update({pid: p for pid, p in marked.items() if pid in latest})
    rows = [
        {
            "id": p.id,
            "symbol": p.symbol,
            "type": p.type.value,
            "status": p.status.value,
            "quantity": float(p.quantity),
            "entry_price": float(p.entry_price),
            "current_price": float(p.current_price),
            "unrealized_pnl": float(p.unrealized_pnl),
            "realized_pnl": float(p.realized_pnl),
            "opened_at": p.opened_at,
            "updated_at": p.updated_at,
            "closed_at": p.closed_at,
            "price_ms": p.price_ms,
            "stale": bool(p.stale) if p.id in marked else p.status.value == "open",
        }
        for p in latest.values()
    ]
    columns = [
        "id",
        "symbol",
        "type",
        "status",
        "quantity",
        "entry_price",
        "current_price",
        "unrealized_pnl",
        "realized_pnl",
        "opened_at",
        "updated_at",
        "closed_at",
        "price_ms",
        "stale",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["stale"] = frame["stale"].astype(bool)
    for name in ("opened_at", "updated_at", "closed_at", "price_ms"):
        frame[name] = _utc(frame[name].astype("float64"))
    return frame.set_index("id")


def equity_curve(source: Source, config: AccountConfig | None = None) -> pd.DataFrame:
    """Equity over time, indexed by time (UTC).

    Samples: the state after every position change (so every fill) and every
    ``MarkEvent`` the engine journaled; when several events share a millisecond the
    last state wins.  The events are replayed through a real ``Account`` so the
    numbers are the account's own.  Prices between samples are not in the journal
    (ticks are not stored), so the curve is exact at its samples only.
    """
    if config is None:
        config = source.config if isinstance(source, Journal) else AccountConfig()
    account = Account(config)
    samples: dict[int, tuple[float, float, float, float, float]] = {}
    for event in _events(source):
        account.apply(event)
        if isinstance(event, PositionEvent | MarkEvent):
            p = account.portfolio()
            samples[event.ts_ms] = (
                float(p.equity),
                float(p.balance),
                float(p.realized_pnl),
                float(p.unrealized_pnl),
                float(p.fees_paid),
            )
    frame = pd.DataFrame(
        [(ts, *values) for ts, values in samples.items()],
        columns=["time", "equity", "balance", "realized_pnl", "unrealized_pnl", "fees_paid"],
    )
    frame["time"] = _utc(frame["time"])
    return frame.set_index("time")


GAP_COLUMNS = ("start", "end", "duration_s", "reason", "symbol", "start_ms", "end_ms")


def gaps_frame(gaps: Journal | Iterable[GapRow]) -> pd.DataFrame:
    """The market data feed's gaps, oldest first: ``start`` / ``end`` (UTC; NaT when
    unknown: no data before it, or the feed stopped before data came back),
    ``duration_s``, ``reason``, ``symbol`` (``None``: the whole feed; a symbol: only its
    order book lost events), and the exchange times in ms."""
    rows = gaps.gaps() if isinstance(gaps, Journal) else list(gaps)
    frame = pd.DataFrame(
        [(g.start_ms, g.end_ms, g.reason, g.symbol) for g in rows],
        columns=["start_ms", "end_ms", "reason", "symbol"],
    )
    frame["start_ms"] = frame["start_ms"].astype("Int64")
    frame["end_ms"] = frame["end_ms"].astype("Int64")
    frame["start"] = pd.to_datetime(frame["start_ms"], unit="ms", utc=True)
    frame["end"] = pd.to_datetime(frame["end_ms"], unit="ms", utc=True)
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    return frame[list(GAP_COLUMNS)]
