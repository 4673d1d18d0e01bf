"""Orders panel (``tw-orders``): open and recent orders, trailing stop and peak live,
a cancel button per open order, the reason of rejected ones."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import Panel
from widgets.state.orders import OrdersState
from workspace.session import Message, TradingSession


class OrdersPanel(Panel):
    css_class = "tw-orders"
    _esm = panel_esm("orders")
    _css = panel_css("orders")

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    canceling = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, session: TradingSession, **kwargs: Any) -> None:
        self.state = OrdersState()
        super().__init__(session, **kwargs)

    def start(self) -> None:
        self.spawn(self.refresh(), "get_orders")

    async def refresh(self) -> None:
        self.feed(await self.command({"action": "get_orders"}))

    def apply(self, message: Message) -> bool:
        return self.state.apply(message)

    def push(self) -> None:
        self.rows = self.state.rows()

    async def cancel(self, order_id: str) -> Message:
        self.canceling = [*self.canceling, order_id]
        try:
            reply = await self.command({"action": "cancel_order", "order_id": order_id})
        finally:
            self.canceling = [o for o in self.canceling if o != order_id]
        if reply.get("type") == "ORDER_UPDATE":
            self.feed(reply)
            self.notice = f"canceled {order_id}"
        return reply

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        if action == "cancel":
            return self.cancel(str(content.get("order_id") or ""))
        return super().on_action(action, content)
