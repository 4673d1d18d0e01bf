"""Positions panel (``tw-positions``): tabs Open and Closed (this session), newest
first, in a box of fixed height that scrolls; P&L coloured, a stale mark flagged (its
P&L is not live), a Close button per open position."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, reference
from widgets.state.positions import TABS, PositionsState
from workspace.decimals import read_decimal
from workspace.errors import InvalidParams
from workspace.session import Message, TradingSession


class PositionsPanel(Panel):
    css_class = "tw-positions"
    _esm = panel_esm("positions")
    _css = panel_css("positions")

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The rows of the current tab, newest first."""
    counts = traitlets.Dict().tag(sync=True)
    tab = traitlets.Enum(TABS, default_value="open").tag(sync=True)
    closing = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Position ids with a close request in flight (their button is disabled)."""

    def __init__(self, session: TradingSession, **kwargs: Any) -> None:
        self.state = PositionsState()
        super().__init__(session, **kwargs)
        self.observe(lambda _change: self.changed(), names=["tab"])

    def start(self) -> None:
        self.spawn(self.refresh(), "get_positions")

    async def refresh(self) -> None:
        reply = await self.command({"action": "get_positions"})
        self.feed(reply)

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.rows = self.state.tab_rows(self.tab)
        self.counts = self.state.counts()

    async def close_position(self, position_id: str, quantity: float | None = None) -> Message:
        """Close a position (all of it unless ``quantity``) with a market order."""
        position_id = reference(position_id, "position_id", "pos-1")
        command: dict[str, Any] = {"action": "close_position", "position_id": position_id}
        if quantity is not None:
            amount = read_decimal(quantity)
            if not isinstance(amount, Decimal):
                raise InvalidParams(f"quantity {amount}, got {quantity!r:.40}")
            command["quantity"] = float(amount)
        self.closing = [*self.closing, position_id]
        try:
            reply = await self.command(command)
        finally:
            self.closing = [p for p in self.closing if p != position_id]
        order: dict[str, Any] = reply["order"] if isinstance(reply.get("order"), dict) else {}
        if reply.get("type") == "ORDER_UPDATE" and order.get("status") == "REJECTED":
            self.error = f"close {position_id}: rejected: {order.get('reason')}"
        elif reply.get("type") == "ORDER_UPDATE":
            self.notice = f"closing {position_id}: {order.get('id')} {order.get('status')}"
        # POSITION_UPDATE comes every second; ask now so the row goes at once
        await self.refresh()
        return reply

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "close":
            return self.close_position(str(content.get("position_id") or ""))
        return super().on_action(action, content)
