"""Orders panel state: open orders, and the history of finished ones (the most recent
``recent_limit``), each sorted by time; partial fills with their average price and
the list of fills (PROTOCOL v2 ``avg_price``, ``fills``)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from widgets.state.numbers import as_float
from widgets.state.wording import format_amount, humanize, split_symbol

Row = dict[str, Any]

FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})
RECENT_LIMIT = 200
"""Finished orders kept in the history tab; older ones live in the journal
(``ws.orders``)."""
TABS = ("open", "history")

PRICE_FIELDS = (
    "price",
    "stop_price",
    "take_profit",
    "stop_loss",
    "trail_percent",
    "trail_amount",
    "trailing_delta",
    "activation_price",
    "current_stop_price",
    "peak_price",
    "fill_price",
    "avg_price",
    "fee",
)


def _fill(fill: dict[str, Any]) -> dict[str, Any]:
    return {
        "price": as_float(fill.get("price")),
        "quantity": as_float(fill.get("quantity")),
        "fee": as_float(fill.get("fee")),
        "fee_asset": str(fill.get("fee_asset") or ""),
        "maker": bool(fill.get("maker")),
        "timestamp": int(as_float(fill.get("timestamp")) or 0),
    }


def order_row(order: dict[str, Any], order_type: str | None = None) -> Row:
    """One order object (PROTOCOL.md) as a flat display row."""
    row: Row = {
        "id": str(order.get("id", "")),
        "symbol": str(order.get("symbol", "")),
        "side": str(order.get("side", "")),
        "type": str(order.get("type") or order_type or ""),
        "status": str(order.get("status", "")),
        "quantity": as_float(order.get("quantity")),
        "filled_quantity": as_float(order.get("filled_quantity")),
        # engine texts in the UI's words: "7,080.89 USDT", "stop price", no raw Decimals
        "reason": humanize(str(order.get("reason") or "")),
        "reason_code": str(order.get("reason_code") or ""),
        # a leg's part in its group (entry / take_profit / stop_loss), PROTOCOL's legs
        "role": str(order.get("role") or ""),
        "timestamp": order.get("timestamp") or order.get("updated_at") or 0,
        "created_at": int(as_float(order.get("created_at")) or 0),
        "updated_at": int(as_float(order.get("updated_at")) or 0),
    }
    for name in PRICE_FIELDS:
        row[name] = as_float(order.get(name))
    # a market order placed by its amount of the quote asset (quoteOrderQty): "100.00 USDT"
    amount = as_float(order.get("quote_quantity"))
    quote = split_symbol(row["symbol"])[1]
    row["quote_amount"] = (
        f"{format_amount(amount, quote)} {quote}".strip() if amount is not None else ""
    )
    if row["avg_price"] is None and row["status"] in ("FILLED", "PARTIALLY_FILLED"):
        row["avg_price"] = row["fill_price"]  # a version-1 engine: one fill, its price
    fills = order.get("fills")
    row["fills"] = (
        [_fill(f) for f in fills if isinstance(f, dict)] if isinstance(fills, list) else []
    )
    legs = order.get("legs")
    row["legs"] = (
        [order_row(leg) for leg in legs if isinstance(leg, dict)] if isinstance(legs, list) else []
    )
    return row


class OrdersState:
    def __init__(self, recent_limit: int = RECENT_LIMIT) -> None:
        # insertion order = first seen; an update keeps an order in place on screen
        self._orders: OrderedDict[str, Row] = OrderedDict()
        self._recent_limit = recent_limit
        self.seq = 0

    def apply(self, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "ORDER_UPDATE":
            order = message.get("order")
            if not isinstance(order, dict):
                return False
            seq = message.get("seq")
            if isinstance(seq, int):
                self.seq = max(self.seq, seq)
            return self._upsert(order_row(order, message.get("orderType")))
        if kind == "ORDERS":
            orders = message.get("orders")
            if not isinstance(orders, list):
                return False
            seq = message.get("seq")
            if isinstance(seq, int):
                self.seq = max(self.seq, seq)
            changed = False
            for order in orders:
                if isinstance(order, dict):
                    changed = self._upsert(order_row(order)) or changed
            return changed
        return False

    def _upsert(self, row: Row) -> bool:
        if not row["id"]:
            return False
        if self._orders.get(row["id"]) == row:
            return False
        self._orders[row["id"]] = row
        self._trim()
        return True

    def _trim(self) -> None:
        finished = [oid for oid, row in self._orders.items() if row["status"] in FINAL_STATUSES]
        for oid in finished[: max(0, len(finished) - self._recent_limit)]:
            del self._orders[oid]

    def get(self, order_id: str) -> Row | None:
        row = self._orders.get(order_id)
        return dict(row) if row is not None else None

    def open_rows(self) -> list[Row]:
        return [dict(r) for r in self._orders.values() if r["status"] not in FINAL_STATUSES]

    def recent_rows(self) -> list[Row]:
        return [dict(r) for r in self._orders.values() if r["status"] in FINAL_STATUSES]

    def rows(self) -> list[Row]:
        """Open orders first (newest first), then finished ones (newest first)."""
        return self.tab_rows("open") + self.tab_rows("history")

    def tab_rows(self, tab: str, newest_first: bool = True) -> list[Row]:
        """The open orders (by the time they were placed) or the finished ones (by the
        time they ended), newest first unless asked otherwise."""
        if tab == "open":
            rows, key = self.open_rows(), "created_at"
        elif tab == "history":
            rows, key = self.recent_rows(), "updated_at"
        else:
            raise ValueError(f"tab must be one of {TABS}, got {tab!r}")
        # insertion order breaks ties (and orders without times keep arrival order)
        ordered = sorted(enumerate(rows), key=lambda item: (item[1][key] or 0, item[0]))
        result = [row for _, row in ordered]
        return result[::-1] if newest_first else result

    def counts(self) -> dict[str, int]:
        open_count = sum(1 for r in self._orders.values() if r["status"] not in FINAL_STATUSES)
        return {"open": open_count, "history": len(self._orders) - open_count}
