"""A pure price-alert book: one per session.  No I/O, no clock: prices and times come
in with the market updates.

An alert fires once, on the first market update whose price is at or beyond its
level (``above``: price >= level, ``below``: price <= level), and is then removed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from workspace.errors import NotFound
from workspace.session import Message

CONDITIONS = ("above", "below")


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    symbol: str
    condition: str
    price: Decimal

    def crossed(self, price: Decimal) -> bool:
        return price >= self.price if self.condition == "above" else price <= self.price

    def to_wire(self) -> dict[str, object]:
        return {
            "alert_id": self.alert_id,
            "symbol": self.symbol,
            "price": float(self.price),
            "condition": self.condition,
        }


class AlertBook:
    def __init__(self, max_alerts: int = 200) -> None:
        self.max_alerts = max_alerts
        self._alerts: dict[str, Alert] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._alerts)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(alert.symbol for alert in self._alerts.values())

    def add(self, symbol: str, condition: str, price: Decimal) -> Alert:
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}")
        alert = Alert(f"alert-{next(self._ids)}", symbol, condition, price)
        self._alerts[alert.alert_id] = alert
        return alert

    def cancel(self, alert_id: str) -> Alert:
        try:
            return self._alerts.pop(alert_id)
        except KeyError:
            raise NotFound(f"no alert {alert_id!r}") from None

    def on_market(self, update: Message) -> list[tuple[Alert, Decimal]]:
        """The alerts this MARKET_UPDATE fires (removed from the book), with the price
        that fired them."""
        if not self._alerts:
            return []
        symbol = update.get("symbol")
        raw = update.get("price")
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            return []
        price = Decimal(str(raw))
        fired = [
            alert
            for alert in self._alerts.values()
            if alert.symbol == symbol and alert.crossed(price)
        ]
        for alert in fired:
            del self._alerts[alert.alert_id]
        return [(alert, price) for alert in fired]

    def symbol_in_use(self, symbol: str) -> bool:
        return any(alert.symbol == symbol for alert in self._alerts.values())
