"""Order ticket (``tw-ticket``): symbol, side, every order type with the prices it needs,
quantity, submit; bad input and rejections shown inline beside the field."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Mapping
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import COMMAND_TIMEOUT_S, Panel
from widgets.state.numbers import as_float, price_text
from widgets.state.ticket import (
    ERROR_FIELDS,
    FIELD_LABELS,
    ORDER_TYPES,
    TRAIL_KINDS,
    TYPE_FIELDS,
    TicketError,
    build_order,
)
from workspace.session import Message, TradingSession

FINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})

TICKET_INTERVAL_S = 0.5
"""The ticket only shows last prices beside the symbol: twice a second is enough."""


class TicketPanel(Panel):
    css_class = "tw-ticket"
    _esm = panel_esm("ticket")
    _css = panel_css("ticket")

    order_types = traitlets.List(traitlets.Unicode(), list(ORDER_TYPES)).tag(sync=True)
    type_fields = traitlets.Dict(
        {k: {"required": list(r), "optional": list(o)} for k, (r, o) in TYPE_FIELDS.items()}
    ).tag(sync=True)
    labels = traitlets.Dict(FIELD_LABELS).tag(sync=True)
    trail_kinds = traitlets.List(traitlets.Unicode(), list(TRAIL_KINDS)).tag(sync=True)
    symbols = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Symbols seen on the session: suggestions for the symbol input."""
    prices = traitlets.Dict().tag(sync=True)
    """Last price per symbol, shown beside the symbol input."""
    form = traitlets.Dict().tag(sync=True)
    """Initial values of the inputs (symbol, side, type, quantity, ...)."""
    errors = traitlets.Dict().tag(sync=True)
    """Field name -> message; ``"form"`` for errors that belong to no single field."""
    last_order = traitlets.Dict().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        session: TradingSession,
        *,
        symbol: str = "",
        known_symbols: Collection[str] | None = None,
        interval: float = TICKET_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        self._known = {s.upper() for s in known_symbols} if known_symbols else None
        self._prices: dict[str, float] = {}
        # the latest ORDER_UPDATE per order id (bounded): a MARKET order's FILLED may
        # arrive before the place_order reply that makes it the ticket's last order
        self._latest: dict[str, dict[str, Any]] = {}
        super().__init__(session, interval=interval, **kwargs)
        self.form = {"symbol": symbol.upper(), "side": "BUY", "type": "MARKET", "quantity": ""}

    def apply(self, message: Message) -> bool:
        if message.get("type") == "ORDER_UPDATE":
            return self._follow(message.get("order"))
        if message.get("type") != "MARKET_UPDATE" or not isinstance(message.get("symbol"), str):
            return False
        price = as_float(message.get("price"))
        if price is None:
            return False
        self._prices[message["symbol"].upper()] = price
        return True

    def _follow(self, order: Any) -> bool:
        """Remember the order's latest state; when it is the last order placed here,
        show its new status ("order-11 MARKET FILLED @ 649.93", REJECTED with reason)."""
        if not isinstance(order, dict) or not isinstance(order.get("id"), str):
            return False
        self._latest[order["id"]] = order
        if len(self._latest) > 100:
            del self._latest[next(iter(self._latest))]
        if order["id"] != self.last_order.get("id"):
            return False
        self._show_order(order)
        return True

    def _show_order(self, order: dict[str, Any], order_type: str = "") -> None:
        self.last_order = order
        status = order.get("status")
        if status == "REJECTED":
            self.errors = {"form": f"Rejected: {order.get('reason') or 'no reason given'}"}
            return
        text = f"{order.get('id')} {order.get('type') or order_type} {status}"
        fill = as_float(order.get("fill_price"))
        if status in ("FILLED", "PARTIALLY_FILLED") and fill is not None:
            text += f" @ {price_text(fill)}"
        self.notice = text

    def push(self) -> None:
        self.symbols = sorted(self._prices)
        self.prices = dict(self._prices)

    async def submit(self, form: Mapping[str, Any]) -> Message:
        """Validate ``form`` and place the order; errors land in ``errors`` by field."""
        try:
            command = build_order(form, self._known)
        except TicketError as exc:
            self.errors = exc.errors
            return {"type": "ERROR", "code": "INVALID_PARAMS", "message": str(exc)}
        self.errors = {}
        self.busy = True
        try:
            reply = await asyncio.wait_for(self.session.request(command), COMMAND_TIMEOUT_S)
        except Exception as exc:
            self.errors = {"form": f"{type(exc).__name__}: {exc}"}
            return {"type": "ERROR", "code": type(exc).__name__, "message": str(exc)}
        finally:
            self.busy = False
        order = reply.get("order") if isinstance(reply.get("order"), dict) else None
        if reply.get("type") == "ERROR":
            field = ERROR_FIELDS.get(str(reply.get("code")), "form")
            self.errors = {field: f"{reply.get('code')}: {reply.get('message')}"}
        elif order is not None:
            # an update already seen for this order (its fill) is newer than the reply
            seen = self._latest.get(str(order.get("id")))
            if seen is None or (order.get("status") in FINAL and seen.get("status") not in FINAL):
                seen = order
            self._show_order(seen, command["type"])
            self.changed()
        return reply

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "submit":
            form = content.get("form")
            return self.submit(form if isinstance(form, dict) else {})
        return super().on_action(action, content)
