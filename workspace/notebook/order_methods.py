"""The order-entry methods of ``Workspace`` (``buy``, ``sell``, ``limit``, ``limit_maker``,
``stop_loss``, ``take_profit``, ``oco``, ``trailing_stop``, ``bracket``): each builds an
``OrderRequest`` from notebook-friendly arguments and hands it to ``place``.

Numbers may be int, float, str or Decimal and are converted exactly
(``Decimal(str(x))``); anything else reaches the account as given, which rejects the
order with a reason that quotes it (``order_field``) instead of this layer raising.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from workspace.decimals import NOT_FINITE, decimal_text, read_decimal, to_decimal
from workspace.errors import InvalidParams
from workspace.trading.orders import Order
from workspace.trading.requests import OrderRequest, OrderType, Side

Number = int | float | str | Decimal
MAX_TEXT_GIVEN = 200
"""A longer string is judged by its first 200 characters (and is refused by its size)."""


def exact(value: Number | None, name: str = "value") -> Decimal | None:
    """``read_decimal`` for the notebook's other numbers (balances, a close's quantity,
    ``round_qty``): ``None`` stays "not given"; NaN and the infinities pass as such, for
    the caller's own check; what is not a number at all, or one beyond the range any
    price or quantity takes, raises ``InvalidParams`` naming ``name`` and the value."""
    if value is None:
        return None
    number = read_decimal(value)
    if isinstance(number, Decimal):
        return number
    if number == NOT_FINITE:
        return Decimal(str(value).strip())
    raise InvalidParams(f"{name} {number}, got {value!r:.60}")


def order_field(value: object) -> object:
    """An order method's number as the account is to judge it: exact when it reads as
    one (``Decimal(str(x))``), else as given.  So every bad value comes back as a
    REJECTED order whose reason quotes it: "got 'abc'", "got Infinity", a number
    beyond any price or quantity by its size (not "got NaN" for all of them)."""
    if value is None:
        return None
    number = to_decimal(value)
    if number is not None:
        return number
    if isinstance(value, int | float | str | Decimal) and not isinstance(value, bool):
        try:
            return decimal_text(str(value).strip()[:MAX_TEXT_GIVEN])
        except InvalidOperation:
            return value
    return value


def to_side(side: str | Side) -> Side:
    try:
        return Side(str(side).upper())
    except ValueError:
        raise InvalidParams(f"side must be 'BUY' or 'SELL', got {side!r}") from None


class OrderMethods:
    """Mixed into ``Workspace``, which provides ``place``.

    Every method takes ``client_order_id=`` (1-36 of ``A-Z a-z 0-9 . : / _ -``): while
    an order placed with it is open, placing again with the same id returns that order
    instead of a second one, so a cell run twice does not trade twice.

    A MARKET order (``buy``, ``sell``, a bracket without ``price``) returns at once: FILLED
    when a fresh price is known, else NEW, and it fills on the first fresh price or
    expires (``NO_MARKET_DATA``) after ``AccountConfig.market_wait_ms`` (5 s);
    ``ws.order(order.id)`` shows it as it stands.
    """

    def place(self, request: OrderRequest) -> Order:
        raise NotImplementedError

    def _order(
        self,
        type_: OrderType,
        symbol: str,
        side: str | Side,
        quantity: Number | None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
        **prices: Any,
    ) -> Order:
        if client_order_id is not None and not isinstance(client_order_id, str):
            raise InvalidParams(f"client_order_id must be a string, got {client_order_id!r}")
        if time_in_force is not None and not isinstance(time_in_force, str):
            raise InvalidParams(
                f"time_in_force must be 'GTC', 'IOC' or 'FOK', got {time_in_force!r}"
            )
        numbers: dict[str, Any] = {name: order_field(value) for name, value in prices.items()}
        request = OrderRequest(
            symbol=symbol.upper() if isinstance(symbol, str) else symbol,
            side=to_side(side),
            type=type_,
            quantity=order_field(quantity),  # type: ignore[arg-type]  # the account judges it
            client_order_id=client_order_id,
            time_in_force=time_in_force,
            **numbers,
        )
        return self.place(request)

    def buy(
        self,
        symbol: str,
        quantity: Number | None = None,
        *,
        quote_quantity: Number | None = None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Market buy of ``quantity``, or of what ``quote_quantity`` (the quote
        currency, e.g. ``quote_quantity=100`` USDT; Binance's ``quoteOrderQty``) buys
        now, on the lot step, fee on top.  With the symbol's order book it walks the
        book; what the book cannot fill waits for more (GTC), expires
        (``time_in_force="IOC"``), or nothing executes (``"FOK"``)."""
        return self._market(
            Side.BUY, symbol, quantity, quote_quantity, client_order_id, time_in_force
        )

    def sell(
        self,
        symbol: str,
        quantity: Number | None = None,
        *,
        quote_quantity: Number | None = None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Market sell of ``quantity``, or of as much as ``quote_quantity`` (the quote
        currency) is worth now (a spot account sells only what it holds);
        ``time_in_force`` as for ``buy``."""
        return self._market(
            Side.SELL, symbol, quantity, quote_quantity, client_order_id, time_in_force
        )

    def _market(
        self,
        side: Side,
        symbol: str,
        quantity: Number | None,
        quote_quantity: Number | None,
        client_order_id: str | None,
        time_in_force: str | None,
    ) -> Order:
        quote = {} if quote_quantity is None else {"quote_quantity": quote_quantity}
        return self._order(
            OrderType.MARKET, symbol, side, quantity, client_order_id, time_in_force, **quote
        )

    def limit(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        price: Number,
        *,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Limit order: what crosses the book executes at once (taker), the rest rests
        (GTC), expires (IOC), or nothing executes unless all of it can (FOK)."""
        return self._order(
            OrderType.LIMIT, symbol, side, quantity, client_order_id, time_in_force, price=price
        )

    def limit_maker(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        price: Number,
        *,
        client_order_id: str | None = None,
    ) -> Order:
        """Post-only limit order (Binance's LIMIT_MAKER): it rests at ``price`` and only
        ever fills as a maker (maker fee); REJECTED ``WOULD_TAKE`` when it would take
        liquidity at once."""
        return self._order(
            OrderType.LIMIT_MAKER, symbol, side, quantity, client_order_id, None, price=price
        )

    def stop_loss(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        stop_price: Number,
        price: Number | None = None,
        *,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Stop (market, or stop-limit with ``price``).  A SELL on a spot account locks
        the asset it will sell and ends with the holding (docs/trading.md).
        ``time_in_force`` applies once it triggers."""
        return self._order(
            OrderType.STOP_LOSS,
            symbol,
            side,
            quantity,
            client_order_id,
            time_in_force,
            stop_price=stop_price,
            price=price,
        )

    def take_profit(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        stop_price: Number,
        price: Number | None = None,
        *,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        return self._order(
            OrderType.TAKE_PROFIT,
            symbol,
            side,
            quantity,
            client_order_id,
            time_in_force,
            stop_price=stop_price,
            price=price,
        )

    def oco(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        take_profit: Number,
        stop_price: Number,
        *,
        client_order_id: str | None = None,
    ) -> Order:
        """One-cancels-the-other: a take-profit and a stop; the first to fill cancels
        the other."""
        return self._order(
            OrderType.OCO,
            symbol,
            side,
            quantity,
            client_order_id,
            take_profit=take_profit,
            stop_price=stop_price,
        )

    def trailing_stop(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        *,
        trail_percent: Number | None = None,
        trail_amount: Number | None = None,
        trailing_delta: Number | None = None,
        activation_price: Number | None = None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Give exactly one of ``trail_percent`` (1 = 1 %), ``trail_amount`` (price
        units) or ``trailing_delta`` (BIPS, 100 = 1 %)."""
        return self._order(
            OrderType.TRAILING_STOP,
            symbol,
            side,
            quantity,
            client_order_id,
            time_in_force,
            trail_percent=trail_percent,
            trail_amount=trail_amount,
            trailing_delta=trailing_delta,
            activation_price=activation_price,
        )

    def bracket(
        self,
        symbol: str,
        side: str | Side,
        quantity: Number,
        take_profit: Number,
        stop_loss: Number,
        price: Number | None = None,
        *,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Entry (market, or limit at ``price``) with a take-profit and a stop-loss;
        ``time_in_force`` applies to the entry (the exits rest until one executes)."""
        return self._order(
            OrderType.BRACKET,
            symbol,
            side,
            quantity,
            client_order_id,
            time_in_force,
            take_profit=take_profit,
            stop_loss=stop_loss,
            price=price,
        )
