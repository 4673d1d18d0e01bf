"""Orders panel (``tw-orders``): two tabs, open orders and history, each sorted by time
(newest first, or oldest first with a click on the Time header), in a box of fixed
height that scrolls.  Open orders have a cancel button each and a "cancel all";
partly filled orders show filled / quantity and their average price, and every order
with fills lists them when its row is expanded; a rejected order shows its reason
(wrapped inside its cell) in the UI's words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel, reference
from widgets.state.orders import TABS, OrdersState
from workspace.session import Message, TradingSession


class OrdersPanel(Panel):
    css_class = "tw-orders"
    _esm = panel_esm("orders")
    _css = panel_css("orders")

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The rows of the current tab, sorted."""
    counts = traitlets.Dict().tag(sync=True)
    """{"open": n, "history": m}: the tabs' badges."""
    tab = traitlets.Enum(TABS, default_value="open").tag(sync=True)
    newest_first = traitlets.Bool(True).tag(sync=True)
    canceling = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, session: TradingSession, **kwargs: Any) -> None:
        self.state = OrdersState()
        super().__init__(session, **kwargs)
        self.observe(lambda _change: self.changed(), names=["tab", "newest_first"])

    def start(self) -> None:
        self.spawn(self.refresh(), "get_orders")

    async def refresh(self) -> None:
        self.feed(await self.command({"action": "get_orders"}))

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.rows = self.state.tab_rows(self.tab, self.newest_first)
        self.counts = self.state.counts()

    async def cancel(self, order_id: str) -> Message:
        """Cancel one order (a leg's id cancels its group); returns the reply."""
        order_id = reference(order_id, "order_id", "order-7")
        self.canceling = [*self.canceling, order_id]
        try:
            reply = await self.command({"action": "cancel_order", "order_id": order_id})
        finally:
            self.canceling = [o for o in self.canceling if o != order_id]
        if reply.get("type") == "ORDER_UPDATE":
            self.feed(reply)
            self.notice = f"canceled {order_id}"
        return reply

    async def cancel_all(self) -> list[Message]:
        """Cancel every open order (the protocol cancels one order per command; they go
        out together).  Returns the replies; failures show in the panel."""
        ids = [row["id"] for row in self.state.open_rows()]
        if not ids:
            self.notice = "no open orders"
            return []
        self.canceling = [*self.canceling, *ids]
        try:
            replies = await asyncio.gather(
                *(self.command({"action": "cancel_order", "order_id": oid}) for oid in ids)
            )
        finally:
            self.canceling = [o for o in self.canceling if o not in ids]
        done = 0
        for reply in replies:
            if reply.get("type") == "ORDER_UPDATE":
                self.feed(reply)
                done += 1
        self.notice = f"canceled {done} of {len(ids)} open orders"
        return list(replies)

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "cancel":
            return self.cancel(str(content.get("order_id") or ""))
        if action == "cancel_all":
            return self.cancel_all()
        return super().on_action(action, content)
