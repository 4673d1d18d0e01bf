"""Order ticket (``tw-ticket``): symbol, side, every order type with the prices it needs,
quantity with 25/50/75/100 % of what the order spends, the balance available for it,
submit; bad input and rejections shown inline beside the field, in the UI's words.

The ticket learns each symbol's ``symbol_info`` (tick, step, minimums, base and quote
asset) from the ``SUBSCRIBED`` reply of ``subscribe_ticker``, which it sends itself
for a symbol it has no info for (the symbol's last price comes with it), and the
wallet from ``PORTFOLIO_UPDATE`` (``balances`` {asset: {free, locked}}, ``available``).
When the workspace stops (``STATUS`` ``feed: "stopped"``) or a remote session loses
its server, the ticket is disabled with a short reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import traitlets

from widgets.assets import panel_css, panel_esm
from widgets.panel import COMMAND_TIMEOUT_S, Panel, listen_link, panel_symbol, panel_symbols
from widgets.state.numbers import as_float
from widgets.state.ticket import (
    FIELD_LABELS,
    ORDER_TYPES,
    TRAIL_KINDS,
    TRAIL_LABELS,
    TYPE_FIELDS,
    TYPE_LABELS,
    SizingInputs,
    TicketError,
    build_order,
    error_field,
    in_quote_asset,
    size_for,
    sizing_missing,
)
from widgets.state.wording import format_amount, format_price, humanize, split_symbol
from workspace.session import Message, TradingSession

FINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})

TICKET_INTERVAL_S = 0.5
"""The ticket only shows last prices beside the symbol: twice a second is enough."""

LINK_REASONS = {
    "reconnecting": "Not connected to the server (reconnecting)",
    "connecting": "Connecting to the server",
    "closed": "Disconnected from the server",
}


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class TicketPanel(Panel):
    # (a class default: ipywidgets' __del__ closes a panel whose __init__ refused its
    # arguments before this was set)
    _unlink: Callable[[], None] | None = None
    css_class = "tw-ticket"
    _esm = panel_esm("ticket")
    _css = panel_css("ticket")

    order_types = traitlets.List(traitlets.Unicode(), list(ORDER_TYPES)).tag(sync=True)
    type_labels = traitlets.Dict(TYPE_LABELS).tag(sync=True)
    type_fields = traitlets.Dict(
        {k: {"required": list(r), "optional": list(o)} for k, (r, o) in TYPE_FIELDS.items()}
    ).tag(sync=True)
    labels = traitlets.Dict(FIELD_LABELS).tag(sync=True)
    trail_kinds = traitlets.List(traitlets.Unicode(), list(TRAIL_KINDS)).tag(sync=True)
    trail_labels = traitlets.Dict(TRAIL_LABELS).tag(sync=True)
    symbols = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Symbols seen on the session: suggestions for the symbol input."""
    prices = traitlets.Dict().tag(sync=True)
    """Last price per symbol, shown beside the symbol input."""
    infos = traitlets.Dict().tag(sync=True)
    """Per symbol: ``symbol_info`` (tick_size, step_size, ..., base_asset, quote_asset);
    without the engine's info, only the assets guessed from the symbol's name."""
    wallet = traitlets.Dict().tag(sync=True)
    """``{"balances": {ASSET: {"free", "locked"}}, "available": quote free}``."""
    form = traitlets.Dict().tag(sync=True)
    """Values the kernel puts into the inputs (initial values, a price picked in the
    book, a % button's quantity); ``nonce`` changes with each such change."""
    errors = traitlets.Dict().tag(sync=True)
    """Field name -> message; ``"form"`` for errors that belong to no single field."""
    last_order = traitlets.Dict().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    disabled = traitlets.Unicode("").tag(sync=True)
    """Why orders cannot be placed now ("Workspace stopped"); "" when they can."""

    def __init__(
        self,
        session: TradingSession,
        *,
        symbol: str = "",
        known_symbols: Collection[str] | None = None,
        interval: float = TICKET_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        self._known = set(panel_symbols(known_symbols)) if known_symbols else None
        self._initial_symbol = panel_symbol(symbol)
        self._prices: dict[str, float] = {}
        self._infos: dict[str, dict[str, Any]] = {}
        self._asking: set[str] = set()
        self._nonce = 0
        # the latest ORDER_UPDATE per order id (bounded): a MARKET order's FILLED may
        # arrive before the place_order reply that makes it the ticket's last order
        self._latest: dict[str, dict[str, Any]] = {}
        self._unlink: Callable[[], None] | None = None
        self._stopped = False
        self._link = ""
        super().__init__(session, interval=interval, **kwargs)
        self.form = {
            "symbol": self._initial_symbol,
            "side": "BUY",
            "type": "MARKET",
            "quantity": "",
            "quantity_unit": "base",
            "nonce": 0,
        }

    def start(self) -> None:
        self._unlink = listen_link(self.session, self._on_link)
        self.spawn(self._portfolio(), "get_portfolio")
        if self._initial_symbol:
            self.spawn(self.learn_symbol(self._initial_symbol), "symbol")

    async def _portfolio(self) -> None:
        self.feed(await self.command({"action": "get_portfolio"}))

    # -- what the ticket follows -----------------------------------------------------
    def apply(self, message: Message) -> bool:
        kind = message.get("type")
        if kind == "ORDER_UPDATE":
            return self._urgently(self._follow(message.get("order")))
        if kind == "PORTFOLIO_UPDATE":
            return self._urgently(self._wallet(message.get("portfolio")))
        if kind == "STATUS":
            if message.get("feed") == "stopped" and not self._stopped:
                self._stopped = True
                self._update_disabled()
                return True
            return False
        if kind == "SUBSCRIBED" and isinstance(message.get("symbol"), str):
            return self._learn_info(message["symbol"], message.get("symbol_info"))
        if kind != "MARKET_UPDATE" or not isinstance(message.get("symbol"), str):
            return False
        price = as_float(message.get("price"))
        if price is None:
            return False
        symbol = message["symbol"].upper()
        self._prices[symbol] = price
        if symbol not in self._infos:
            self._learn_info(symbol, None)
        return True

    def _urgently(self, changed: bool) -> bool:
        """The last order's status and the balance it moved show when the orders and
        portfolio panels show them, not at the ticket's price cadence."""
        if changed:
            self.changed_urgently()
        return False  # (flushed by the urgent mark, not the ordinary one)

    def _on_link(self, state: str) -> None:
        self._link = state
        self._update_disabled()

    def _update_disabled(self) -> None:
        if self._stopped:
            reason = "Workspace stopped: start it again to trade"
        else:
            reason = LINK_REASONS.get(self._link, "")
        if reason != self.disabled:
            self.disabled = reason
            self.changed()

    def _wallet(self, portfolio: Any) -> bool:
        if not isinstance(portfolio, dict):
            return False
        balances: dict[str, dict[str, float | None]] = {}
        raw = portfolio.get("balances")
        if isinstance(raw, dict):
            for asset, amounts in raw.items():
                if isinstance(amounts, dict):
                    balances[str(asset).upper()] = {
                        "free": as_float(amounts.get("free")),
                        "locked": as_float(amounts.get("locked")),
                    }
        available = as_float(portfolio.get("available"))
        if available is None and not balances:
            # a version-1 engine: the cash balance is what a buy can spend
            available = as_float(portfolio.get("balance"))
        wallet = {"balances": balances, "available": available}
        if wallet == self.wallet:
            return False
        self.wallet = wallet
        return True

    def _learn_info(self, symbol: str, info: Any) -> bool:
        symbol = symbol.upper()
        known = dict(info) if isinstance(info, Mapping) else {}
        if not known and symbol in self._infos:
            return False
        base, quote = split_symbol(symbol, known)
        known.setdefault("base_asset", base)
        known.setdefault("quote_asset", quote)
        if self._infos.get(symbol) == known:
            return False
        self._infos[symbol] = known
        return True

    async def learn_symbol(self, symbol: str) -> Message | None:
        """The symbol's info (and a last price) through ``subscribe_ticker``, once; an
        unknown symbol shows beside the symbol input."""
        symbol = symbol.strip().upper()
        if not symbol or symbol in self._asking:
            return None
        if self._infos.get(symbol, {}).get("tick_size") is not None:
            return None
        self._asking.add(symbol)
        try:
            reply = await self.command({"action": "subscribe_ticker", "symbol": symbol})
        finally:
            self._asking.discard(symbol)
        if reply.get("type") == "ERROR":
            self.error = ""  # shown beside the input instead of the panel's error bar
            self.errors = {"symbol": humanize(str(reply.get("message") or reply.get("code")))}
        else:
            self._learn_info(str(reply.get("symbol") or symbol), reply.get("symbol_info"))
            if self.errors.get("symbol"):
                self.errors = {k: v for k, v in self.errors.items() if k != "symbol"}
            self.changed()
        return reply

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
        kind = str(order.get("type") or order_type)
        if status == "REJECTED":
            reason = humanize(str(order.get("reason") or "no reason given"))
            field = error_field(str(order.get("reason_code") or ""), kind)
            self.errors = {field: f"Rejected: {reason}"}
            return
        info = self._infos.get(str(order.get("symbol") or "").upper())
        text = f"{order.get('id')} {kind} {status}"
        fill = order.get("avg_price", order.get("fill_price"))
        if status in ("FILLED", "PARTIALLY_FILLED") and as_float(fill) is not None:
            text += f" @ {format_price(fill, info)}"
        self.notice = text

    def push(self) -> None:
        self.symbols = sorted(self._prices)
        self.prices = dict(self._prices)
        self.infos = {symbol: dict(info) for symbol, info in self._infos.items()}

    # -- what the ticket does ----------------------------------------------------------
    def _set_form(self, **values: Any) -> None:
        self._nonce += 1
        self.form = {**self.form, **values, "nonce": self._nonce}

    def select_symbol(self, symbol: str) -> None:
        """Show ``symbol`` in the ticket (the dashboard's chart switched to it)."""
        symbol = symbol.strip().upper()
        self._set_form(symbol=symbol)
        self.spawn(self.learn_symbol(symbol), "symbol")

    def set_price(self, price: float, symbol: str | None = None) -> None:
        """Put ``price`` into the ticket (a price clicked in the order book): a market
        ticket becomes a limit ticket at that price."""
        info = self._infos.get((symbol or self.form.get("symbol") or "").upper())
        values: dict[str, Any] = {"price": format_price(price, info).replace(",", "")}
        if symbol:
            values["symbol"] = symbol.upper()
        if self.form.get("type", "MARKET") == "MARKET":
            values["type"] = "LIMIT"
        self._set_form(**values)

    def _sizing(self, form: Mapping[str, Any]) -> SizingInputs:
        """What the % buttons size ``form``'s order from: its side, the two assets, their
        free balances and the price (the form's, else the last one)."""
        symbol = str(form.get("symbol") or "").strip().upper()
        info = self._infos.get(symbol) or {}
        base, quote = split_symbol(symbol, info)
        balances = self.wallet.get("balances") or {}

        def free(asset: str) -> Decimal | None:
            entry = balances.get(asset)
            return _decimal(entry.get("free")) if isinstance(entry, dict) else None

        quote_free = free(quote) if quote in balances else _decimal(self.wallet.get("available"))
        price = next(
            (
                _decimal(form.get(name))
                for name in ("price", "stop_price")
                if _decimal(form.get(name)) is not None
            ),
            _decimal(self._prices.get(symbol)),
        )
        return SizingInputs(
            side=str(form.get("side") or "BUY").upper(),
            base=base,
            quote=quote,
            base_free=free(base),
            quote_free=quote_free,
            price=price,
            step=_decimal(info.get("step_size")),
            in_quote=in_quote_asset(form),
        )

    def sized_quantity(self, fraction: float, form: Mapping[str, Any]) -> Decimal | None:
        """The quantity for ``fraction`` (0.25 ... 1) of what ``form``'s order spends (an
        amount of the quote asset when the form gives its quantity as one)."""
        return size_for(Decimal(str(fraction)), self._sizing(form))

    def size(self, fraction: float, form: Mapping[str, Any]) -> None:
        inputs = self._sizing(form)
        quantity = size_for(Decimal(str(fraction)), inputs)
        if quantity is None:
            missing = sizing_missing(inputs)
            self.errors = {"quantity": f"Cannot size the order: {missing} not known yet"}
            return
        self.errors = {k: v for k, v in self.errors.items() if k != "quantity"}
        # an amount of the quote asset is written as money (to the cent)
        text = format_amount(quantity, inputs.quote if inputs.in_quote else "").replace(",", "")
        self._set_form(**{**dict(form), "quantity": text})

    async def submit(self, form: Mapping[str, Any]) -> Message:
        """Validate ``form`` and place the order; errors land in ``errors`` by field."""
        if self.disabled:
            self.errors = {"form": self.disabled}
            return {"type": "ERROR", "code": "UNAVAILABLE", "message": self.disabled}
        symbol = str(form.get("symbol") or "").strip().upper()
        info = dict(self._infos.get(symbol) or {})
        if symbol in self._prices:
            info.setdefault("last_price", self._prices[symbol])
        try:
            command = build_order(form, self._known, info or None)
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
            field = error_field(str(reply.get("code")), command["type"])
            self.errors = {field: humanize(f"{reply.get('code')}: {reply.get('message')}")}
        elif order is not None:
            # an update already seen for this order (its fill) is newer than the reply
            seen = self._latest.get(str(order.get("id")))
            if seen is None or (order.get("status") in FINAL and seen.get("status") not in FINAL):
                seen = order
            self._show_order(seen, command["type"])
            self.changed()
        return reply

    def on_action(self, action: str, content: dict[str, Any]) -> Awaitable[object] | None:
        form = content.get("form")
        form = form if isinstance(form, dict) else {}
        if action == "submit":
            return self.submit(form)
        if action == "symbol":
            return self.learn_symbol(str(content.get("symbol") or ""))
        if action == "size":
            fraction = as_float(content.get("fraction"))
            if fraction is None or not 0 < fraction <= 1:
                raise ValueError(f"size: fraction must be in (0, 1], got {content!r}")
            self.size(fraction, form)
            return None
        return super().on_action(action, content)

    def close(self) -> None:
        if self._unlink is not None:
            self._unlink()
            self._unlink = None
        super().close()
