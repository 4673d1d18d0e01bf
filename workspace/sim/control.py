"""The control messages of a stream connection, as a sans-I/O state machine.

Text in, reply bytes out, no awaits: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
SET_PROPERTY / GET_PROPERTY ``combined``, with Binance's reply and error shapes::

    {"result":null,"id":1}
    {"result":["btcusdt@ticker"],"id":3}
    {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}

Codes as Binance documents them: 0 unknown property, 1 invalid value type, 2 invalid
request (bad id, missing or unknown method, invalid stream...), 3 invalid JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from workspace.sim.streams import StreamName, parse_stream
from workspace.sim.wire import encode_json

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_MAX_INT64 = 2**63 - 1


class ControlError(Exception):
    def __init__(self, code: int, msg: str, request_id: object = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class ControlResult:
    reply: bytes
    added: tuple[StreamName, ...] = ()
    removed: tuple[str, ...] = ()


def error_reply(code: int, msg: str, request_id: object = None) -> bytes:
    return encode_json({"error": {"code": code, "msg": msg}, "id": request_id})


def _valid_id(value: object) -> bool:
    # Binance: "id can be int64, alphanumeric string (36 max), or null".
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_INT64 - 1 <= value <= _MAX_INT64
    return isinstance(value, str) and len(value) <= 36 and value.replace("-", "").isalnum()


class ControlSession:
    """Subscriptions and properties of one connection."""

    def __init__(
        self,
        initial: tuple[StreamName, ...] = (),
        *,
        combined: bool,
        max_streams: int = 1024,
        max_message_bytes: int = 65_536,
    ) -> None:
        self.combined = combined
        self._max_streams = max_streams
        self._max_message_bytes = max_message_bytes
        self._streams: dict[str, StreamName] = {s.name: s for s in initial}

    @property
    def streams(self) -> tuple[StreamName, ...]:
        return tuple(self._streams.values())

    def is_subscribed(self, stream: str) -> bool:
        return stream in self._streams

    def handle(self, message: str | bytes) -> ControlResult:
        """One control message -> the reply (never raises for bad input)."""
        try:
            return self._handle(message)
        except ControlError as exc:
            return ControlResult(error_reply(exc.code, exc.msg, exc.request_id))

    def _handle(self, message: str | bytes) -> ControlResult:
        if len(message) > self._max_message_bytes:
            raise ControlError(2, "Invalid request: message too large")
        try:
            request: Any = msgspec.json.decode(message)
        except msgspec.DecodeError as exc:
            raise ControlError(3, f"Invalid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise ControlError(2, "Invalid request: expected a JSON object")
        request_id = request.get("id")
        if not _valid_id(request_id):
            raise ControlError(2, "Invalid request: request ID must be an unsigned integer")
        if "method" not in request:
            raise ControlError(2, "Invalid request: missing field `method`", request_id)
        method = request["method"]
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            raise ControlError(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of {expected}",
                request_id,
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            raise ControlError(2, "Invalid request: params must be an array", request_id)
        if method == "SUBSCRIBE":
            return self._subscribe(params, request_id)
        if method == "UNSUBSCRIBE":
            return self._unsubscribe(params, request_id)
        if method == "LIST_SUBSCRIPTIONS":
            return ControlResult(encode_json({"result": list(self._streams), "id": request_id}))
        if method == "SET_PROPERTY":
            return self._set_property(params, request_id)
        return self._get_property(params, request_id)

    def _parse_all(self, params: list[Any], request_id: object) -> list[StreamName]:
        parsed = [parse_stream(p) for p in params]
        valid = [p for p in parsed if p is not None]
        if len(valid) != len(parsed):
            raise ControlError(2, "Invalid request: invalid stream", request_id)
        return valid

    def _subscribe(self, params: list[Any], request_id: object) -> ControlResult:
        # All or nothing, like Binance: one bad name and nothing is subscribed.
        streams = self._parse_all(params, request_id)
        new = {s.name: s for s in streams if s.name not in self._streams}
        if len(self._streams) + len(new) > self._max_streams:
            raise ControlError(
                2,
                f"Invalid request: too many streams (max {self._max_streams} per connection)",
                request_id,
            )
        self._streams.update(new)
        return ControlResult(encode_json({"result": None, "id": request_id}), tuple(new.values()))

    def _unsubscribe(self, params: list[Any], request_id: object) -> ControlResult:
        streams = self._parse_all(params, request_id)
        removed = tuple(s.name for s in streams if self._streams.pop(s.name, None) is not None)
        return ControlResult(encode_json({"result": None, "id": request_id}), removed=removed)

    def _property_name(self, params: list[Any], request_id: object) -> None:
        if not params or not isinstance(params[0], str):
            raise ControlError(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            raise ControlError(0, "Unknown property", request_id)

    def _set_property(self, params: list[Any], request_id: object) -> ControlResult:
        self._property_name(params, request_id)
        if len(params) != 2 or not isinstance(params[1], bool):
            raise ControlError(1, "Invalid value type: expected Boolean", request_id)
        self.combined = params[1]
        return ControlResult(encode_json({"result": None, "id": request_id}))

    def _get_property(self, params: list[Any], request_id: object) -> ControlResult:
        self._property_name(params, request_id)
        return ControlResult(encode_json({"result": self.combined, "id": request_id}))
