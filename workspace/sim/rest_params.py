"""Binance's REST parameter rules and error answers, for the simulator's endpoints.

Errors are Binance's (errors.md): HTTP 400 with ``{"code": C, "msg": "..."}``.  The
messages follow the documented templates; where Binance's exact wording for a case
is not documented the closest documented message is used (docs/simulator.md lists
them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_SYMBOLS_LEGAL = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
# Timestamps "can be passed in milliseconds or microseconds" (rest-api.md): anything
# beyond year 5138 in ms is taken as microseconds.
_MICROSECONDS_FROM = 10**14

Query = Mapping[str, list[str]]


class RestError(Exception):
    """A request Binance would refuse: HTTP status, Binance code, message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def bad_symbol() -> RestError:
    return RestError(400, -1121, "Invalid symbol.")


def illegal(name: str, legal: str) -> RestError:
    return RestError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def mandatory(name: str) -> RestError:
    return RestError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_valid(name: str) -> RestError:
    return RestError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def bad_combination() -> RestError:
    return RestError(400, -1128, "Combination of optional parameters invalid.")


def one(query: Query, name: str) -> str | None:
    """The parameter's value (None when absent); sent twice is Binance's -1101."""
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise RestError(400, -1101, "Duplicate values for a parameter detected.")
    return values[0]


def symbol_value(value: str, name: str = "symbol") -> str:
    if not _SYMBOL.fullmatch(value):
        raise illegal(name, "^[A-Z0-9-_.]{1,20}$")
    return value


def required_symbol(query: Query) -> str:
    value = one(query, "symbol")
    if not value:
        raise mandatory("symbol")
    return symbol_value(value)


def symbols_list(query: Query) -> list[str] | None:
    """``symbols=["A","B"]`` (JSON, as Binance takes it) or None when absent."""
    raw = one(query, "symbols")
    if raw is None:
        return None
    try:
        names = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise illegal("symbols", _SYMBOLS_LEGAL) from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise illegal("symbols", _SYMBOLS_LEGAL)
    checked = [symbol_value(n, "symbols") for n in names]
    if len(set(checked)) != len(checked):
        raise RestError(400, -1151, "Symbol is present multiple times in the list.")
    return checked


def symbol_or_symbols(query: Query) -> tuple[str | None, list[str] | None]:
    """``symbol`` xor ``symbols`` (neither = all symbols)."""
    single = one(query, "symbol")
    many = symbols_list(query)
    if single is not None and many is not None:
        raise bad_combination()
    if single is not None:
        if not single:
            raise mandatory("symbol")
        return symbol_value(single), None
    return None, many


def integer(query: Query, name: str) -> int | None:
    value = one(query, name)
    if value is None or value == "":
        return None
    if not _DIGITS.fullmatch(value):
        raise illegal(name, "^[0-9]{1,20}$")
    return int(value)


def timestamp(query: Query, name: str) -> int | None:
    value = integer(query, name)
    if value is not None and value >= _MICROSECONDS_FROM:
        return value // 1000
    return value


def limit(query: Query, *, default: int, maximum: int) -> int:
    """``limit``: at least 1; above the maximum Binance answers the maximum."""
    value = integer(query, "limit")
    if value is None:
        return default
    if value < 1:
        raise not_valid("limit")
    return min(value, maximum)


def choice(query: Query, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = one(query, name)
    if value is None:
        return default
    if value not in allowed:
        if name == "type":
            raise RestError(400, -1139, "Invalid ticker type.")
        raise not_valid(name)
    return value
