"""Parse and validate client commands: a frame (bytes, str or an already decoded dict)
becomes one typed, immutable command, or a ``ProtocolError`` with a stable code.

Pure: no I/O, no clock, no engine.  Every failure names the field at fault and keeps
the command's ``id`` (when the ``id`` itself is well formed) so that the ERROR reply
can echo it.  Unknown extra fields are ignored: a newer client stays compatible.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias

import msgspec

from workspace.decimals import MAX_INT, read_decimal
from workspace.errors import WorkspaceError
from workspace.market.errors import MalformedSymbolError
from workspace.market.subscriptions import normalize_symbol
from workspace.protocol.codec import MAX_DEPTH, DecodeError, decode_frame, deeper_than
from workspace.trading.requests import (
    ALLOWED_PRICES,
    PRICE_FIELDS,
    REQUIRED_PRICES,
    TRAIL_FIELDS,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)

CommandId: TypeAlias = str | int | None

MAX_ID_LENGTH = 128
MAX_REF_LENGTH = 64
BOOK_DEPTHS = (5, 10, 20)
# Binance's kline intervals (GET /api/v3/klines).
CANDLE_INTERVALS = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h"}
    | {"1d", "3d", "1w", "1M"}
)
MAX_CANDLES = 1000
ORDER_STATUSES = frozenset(
    {"NEW", "TRIGGERED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"}
)
ORDER_STATUS_FILTERS = ORDER_STATUSES | {"OPEN", "ALL"}


class ProtocolError(WorkspaceError):
    """A command that cannot be executed; becomes ``ERROR {code, message, id}``."""

    def __init__(self, code: str, message: str, command_id: CommandId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = command_id


# -- the commands ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeTicker:
    symbol: str
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeTicker:
    symbol: str
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetPositions:
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetPortfolio:
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetOrders:
    status: str | None = None
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    request: OrderRequest
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order_id: str
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosePosition:
    position_id: str
    quantity: Decimal | None = None
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAlert:
    symbol: str
    condition: str  # "above" | "below"
    price: Decimal
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAlert:
    alert_id: str
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    since: int
    journal_id: str | None = None
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeBook:
    symbol: str
    depth: int = 20
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeBook:
    symbol: str
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetCandles:
    symbol: str
    interval: str
    limit: int = 500
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    symbol: str
    start: int
    end: int
    speed: float = 1.0
    id: CommandId = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    id: CommandId = None


Command: TypeAlias = (
    SubscribeTicker
    | UnsubscribeTicker
    | GetPositions
    | GetPortfolio
    | GetOrders
    | PlaceOrder
    | CancelOrder
    | ClosePosition
    | SetAlert
    | CancelAlert
    | Resume
    | Replay
    | Ping
    | SubscribeBook
    | UnsubscribeBook
    | GetCandles
)

COMMAND_TYPES = (
    SubscribeTicker,
    UnsubscribeTicker,
    GetPositions,
    GetPortfolio,
    GetOrders,
    PlaceOrder,
    CancelOrder,
    ClosePosition,
    SetAlert,
    CancelAlert,
    Resume,
    Replay,
    Ping,
    SubscribeBook,
    UnsubscribeBook,
    GetCandles,
)


# -- field readers ----------------------------------------------------------------


class _Fields:
    """Typed access to one command's fields; every failure is a ProtocolError."""

    def __init__(self, data: Mapping[str, Any], command_id: CommandId) -> None:
        self.data = data
        self.id = command_id

    def fail(self, message: str, code: str = "INVALID_PARAMS") -> ProtocolError:
        return ProtocolError(code, message, self.id)

    def symbol(self, name: str = "symbol") -> str:
        value = self.data.get(name)
        if value is None:
            raise self.fail(f"'{name}' is required")
        if not isinstance(value, str):
            raise self.fail(f"'{name}' must be a string")
        try:
            return normalize_symbol(value)
        except MalformedSymbolError:
            raise self.fail(f"malformed symbol {value[:40]!r}", "INVALID_SYMBOL") from None

    def decimal(
        self, name: str, *, required: bool = False, positive: bool = True
    ) -> Decimal | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(f"'{name}' is required")
            return None
        number = read_decimal(value)
        if isinstance(number, str):
            raise self.fail(f"'{name}' {number}, got {_quoted(value)}")
        if number < 0 or (positive and number == 0):
            raise self.fail(f"'{name}' must be {'positive' if positive else 'non-negative'}")
        return number

    def integer(
        self,
        name: str,
        *,
        required: bool = True,
        default: int = 0,
        bounds: tuple[int, int] | None = (0, MAX_INT),
    ) -> int:
        """A whole number within ``bounds`` (inclusive; ``None``: any, for a field the
        caller checks against its own set), one message for every value out of range,
        so a client sees the range the field really takes."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(f"'{name}' is required")
            return default
        whole = _whole(value)
        if whole is None:
            raise self.fail(f"'{name}' must be an integer, got {_quoted(value)}")
        value = whole
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise self.fail(f"'{name}' must be between {bounds[0]} and {bounds[1]}")
        return value

    def reference(self, name: str) -> str:
        """An order, position or alert id: a non-empty string (an integer is accepted
        and turned into its decimal string)."""
        value = self.data.get(name)
        if value is None:
            raise self.fail(f"'{name}' is required")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(f"'{name}' must be a string")
        text = str(value)
        if not text or len(text) > MAX_REF_LENGTH:
            raise self.fail(f"'{name}' must have 1 to {MAX_REF_LENGTH} characters")
        return text

    def choice(self, name: str, allowed: frozenset[str], *, required: bool = True) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(f"'{name}' is required")
            return None
        if not isinstance(value, str) or value.upper() not in allowed:
            raise self.fail(f"'{name}' must be one of {', '.join(sorted(allowed))}")
        return value.upper()


# -- per-action parsers -------------------------------------------------------------

_TRAILING_FIELDS = TRAIL_FIELDS
_PRICE_FIELDS = PRICE_FIELDS
_REQUIRED_BY_TYPE = REQUIRED_PRICES


def _place_order(f: _Fields) -> PlaceOrder:
    symbol = f.symbol()
    side = Side(f.choice("side", frozenset(Side)) or "")
    order_type = OrderType(
        f.choice("type", frozenset(OrderType), required=False) or OrderType.MARKET
    )
    quantity, quote_quantity = _quantities(f, order_type)
    prices: dict[str, Any] = {name: f.decimal(name) for name in _PRICE_FIELDS}
    for name in _REQUIRED_BY_TYPE[order_type]:
        if prices[name] is None:
            raise f.fail(f"{order_type} order needs '{name}'")
    allowed = ALLOWED_PRICES[order_type]
    for name in _PRICE_FIELDS:
        if prices[name] is not None and name not in allowed:
            raise f.fail(f"{order_type} order takes no '{name}'")
    trailing = [name for name in _TRAILING_FIELDS if prices[name] is not None]
    if order_type is OrderType.BRACKET and prices["activation_price"] is not None and not trailing:
        raise f.fail(
            "'activation_price' is for a BRACKET's trailing stop leg: give one of "
            + ", ".join(_TRAILING_FIELDS)
        )
    if order_type is OrderType.TRAILING_STOP and len(trailing) != 1:
        raise f.fail("TRAILING_STOP needs exactly one of " + ", ".join(_TRAILING_FIELDS))
    if len(trailing) > 1:
        raise f.fail("at most one of " + ", ".join(_TRAILING_FIELDS))
    client_order_id = _client_order_id(f)
    request = OrderRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=quantity,
        client_order_id=client_order_id,
        time_in_force=_time_in_force(f, order_type),
        quote_quantity=quote_quantity,
        **prices,
    )
    return PlaceOrder(request=request, id=f.id)


def _quantities(f: _Fields, order_type: OrderType) -> tuple[Decimal | None, Decimal | None]:
    """``quantity``, or for a MARKET order ``quote_quantity`` instead (Binance's
    ``quoteOrderQty``, accepted under that name too): exactly one of them."""
    ours, binance = f.data.get("quote_quantity"), f.data.get("quoteOrderQty")
    if ours is not None and binance is not None and ours != binance:
        raise f.fail("'quote_quantity' and 'quoteOrderQty' differ")
    name = "quoteOrderQty" if ours is None and binance is not None else "quote_quantity"
    quote = f.decimal(name)
    if quote is None:
        return f.decimal("quantity", required=True), None
    if f.data.get("quantity") is not None:
        raise f.fail(f"give 'quantity' or '{name}', not both")
    if order_type is not OrderType.MARKET:
        raise f.fail(f"'{name}' is for MARKET orders only")
    return None, quote


def _time_in_force(f: _Fields, order_type: OrderType) -> TimeInForce | None:
    """``time_in_force``, or Binance's ``timeInForce`` (the same thing under the
    exchange's name); GTC, IOC or FOK, and GTC only for an OCO (both legs rest)."""
    ours, binance = f.data.get("time_in_force"), f.data.get("timeInForce")
    if ours is not None and binance is not None and ours != binance:
        raise f.fail("'time_in_force' and 'timeInForce' differ")
    value = ours if ours is not None else binance
    if value is None:
        return None
    name = "time_in_force" if ours is not None else "timeInForce"
    if not isinstance(value, str) or value.upper() not in TimeInForce.__members__:
        raise f.fail(f"'{name}' must be one of GTC, IOC, FOK")
    tif = TimeInForce(value.upper())
    if order_type is OrderType.OCO and tif is not TimeInForce.GTC:
        raise f.fail(f"an OCO rests both its legs: '{name}' can only be GTC")
    return tif


def _client_order_id(f: _Fields) -> str | None:
    """``client_order_id``, or Binance's ``newClientOrderId`` (the same thing under the
    exchange's name, so a Binance-shaped order works as is); both must agree."""
    ours, binance = f.data.get("client_order_id"), f.data.get("newClientOrderId")
    if ours is not None and binance is not None and ours != binance:
        raise f.fail("'client_order_id' and 'newClientOrderId' differ")
    value = ours if ours is not None else binance
    name = "client_order_id" if ours is not None else "newClientOrderId"
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_REF_LENGTH):
        raise f.fail(f"'{name}' must be a string of 1 to {MAX_REF_LENGTH} characters")
    return value


def _resume(f: _Fields) -> Resume:
    journal_id = f.data.get("journal_id")
    if journal_id is not None and (
        not isinstance(journal_id, str) or not 0 < len(journal_id) <= MAX_REF_LENGTH
    ):
        raise f.fail(f"'journal_id' must be a string of 1 to {MAX_REF_LENGTH} characters")
    return Resume(since=f.integer("since"), journal_id=journal_id, id=f.id)


def _subscribe_book(f: _Fields) -> SubscribeBook:
    symbol = f.symbol()
    # any whole number reaches the check of the three depths, which names them
    depth = f.integer("depth", required=False, default=20, bounds=None)
    if depth not in BOOK_DEPTHS:
        raise f.fail("'depth' must be 5, 10 or 20")
    return SubscribeBook(symbol=symbol, depth=depth, id=f.id)


def _get_candles(f: _Fields) -> GetCandles:
    symbol = f.symbol()
    interval = f.data.get("interval")
    if not isinstance(interval, str) or interval not in CANDLE_INTERVALS:
        raise f.fail("'interval' must be a Binance kline interval (1m, 5m, 15m, 1h, 4h, 1d ...)")
    limit = f.integer("limit", required=False, default=500, bounds=(1, MAX_CANDLES))
    return GetCandles(symbol=symbol, interval=interval, limit=limit, id=f.id)


def _set_alert(f: _Fields) -> SetAlert:
    symbol = f.symbol()
    above = f.decimal("above")
    below = f.decimal("below")
    if (above is None) == (below is None):
        raise f.fail("set_alert needs exactly one of 'above' or 'below'")
    if above is not None:
        return SetAlert(symbol=symbol, condition="above", price=above, id=f.id)
    assert below is not None
    return SetAlert(symbol=symbol, condition="below", price=below, id=f.id)


def _replay(f: _Fields) -> Replay:
    symbol = f.symbol()
    start = f.integer("start")
    end = f.integer("end")
    if end < start:
        raise f.fail("'end' must not be before 'start'")
    speed = f.decimal("speed", positive=False)
    return Replay(
        symbol=symbol, start=start, end=end, speed=1.0 if speed is None else float(speed), id=f.id
    )


def _close_position(f: _Fields) -> ClosePosition:
    return ClosePosition(
        position_id=f.reference("position_id"), quantity=f.decimal("quantity"), id=f.id
    )


_PARSERS: dict[str, Callable[[_Fields], Command]] = {
    "subscribe_ticker": lambda f: SubscribeTicker(symbol=f.symbol(), id=f.id),
    "unsubscribe_ticker": lambda f: UnsubscribeTicker(symbol=f.symbol(), id=f.id),
    "get_positions": lambda f: GetPositions(id=f.id),
    "get_portfolio": lambda f: GetPortfolio(id=f.id),
    "get_orders": lambda f: GetOrders(
        status=f.choice("status", ORDER_STATUS_FILTERS, required=False), id=f.id
    ),
    "place_order": _place_order,
    "cancel_order": lambda f: CancelOrder(order_id=f.reference("order_id"), id=f.id),
    "close_position": _close_position,
    "set_alert": _set_alert,
    "cancel_alert": lambda f: CancelAlert(alert_id=f.reference("alert_id"), id=f.id),
    "resume": _resume,
    "replay": _replay,
    "ping": lambda f: Ping(id=f.id),
    "subscribe_book": _subscribe_book,
    "unsubscribe_book": lambda f: UnsubscribeBook(symbol=f.symbol(), id=f.id),
    "get_candles": _get_candles,
}

ACTIONS = frozenset(_PARSERS)


def _command_id(data: Mapping[str, Any]) -> CommandId:
    raw = data.get("id")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ProtocolError("INVALID_PARAMS", "'id' must be a string or an integer")
    if isinstance(raw, str) and len(raw) > MAX_ID_LENGTH:
        raise ProtocolError("INVALID_PARAMS", f"'id' longer than {MAX_ID_LENGTH} characters")
    if isinstance(raw, int) and abs(raw) > MAX_INT:
        raise ProtocolError(
            "INVALID_PARAMS", f"'id' must be an integer from {-MAX_INT} to {MAX_INT}"
        )
    return raw


def parse_command(raw: bytes | str | Mapping[str, Any], *, msgpack: bool = False) -> Command:
    """One frame or decoded object to a Command; raises ProtocolError."""
    if isinstance(raw, bytes | bytearray | memoryview | str):
        frame = bytes(raw) if not isinstance(raw, str) else raw
        try:
            data = decode_frame(frame, msgpack=msgpack)
        except DecodeError as exc:
            kind = "a JSON or MessagePack document" if msgpack else "a JSON document"
            raise ProtocolError("INVALID_JSON", f"not {kind}: {exc}") from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        kind = "a JSON object or a MessagePack map" if msgpack else "a JSON object"
        raise ProtocolError("INVALID_JSON", f"a command must be {kind}")
    if any(isinstance(value, dict | list) for value in data.values()) and deeper_than(data):
        # (the reply still names the command: a client waits for its id)
        raise ProtocolError(
            "INVALID_JSON", f"nested deeper than {MAX_DEPTH} levels", command_id_of(data)
        )
    command_id = _command_id(data)
    action = data.get("action")
    if not isinstance(action, str) or action not in _PARSERS:
        if action is None:
            # (it said "unknown action missing")
            raise ProtocolError(
                "UNKNOWN_ACTION", "'action' is required: a command names its action", command_id
            )
        raise ProtocolError("UNKNOWN_ACTION", f"unknown action {repr(action)[:40]}", command_id)
    return _PARSERS[action](_Fields(data, command_id))


def command_id_of(raw: object) -> CommandId:
    """The well-formed ``id`` of a decoded command, for replies built elsewhere."""
    if isinstance(raw, Mapping):
        try:
            return _command_id(raw)
        except ProtocolError:
            return None
    return None


def _whole(value: object) -> int | None:
    """A whole number as an int: a JSON integer, a float with nothing after the point,
    or a numeric string of one (``"20"``, ``"1e3"``), as every number of a command may
    be a string; ``None`` for anything else (booleans, fractions, garbage)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        number = read_decimal(value)
        if isinstance(number, Decimal) and number == number.to_integral_value():
            return int(number)
    return None


def _quoted(value: object) -> str:
    """A client's value as its JSON, cut to 40 characters (for a message)."""
    text = json.dumps(value, default=_named)
    return text if len(text) <= 40 else text[:39] + "…"


def _named(value: object) -> str:
    """What JSON cannot show of a MessagePack command's value, in words: its ``str``
    would quote a memory address (``<msgspec.msgpack.Ext object at 0x...>``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes of MessagePack binary>"
    if isinstance(value, msgspec.msgpack.Ext):
        return f"<a MessagePack extension of type {value.code}>"
    return f"<{type(value).__name__}>"
