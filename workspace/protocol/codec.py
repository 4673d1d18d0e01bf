"""Frame encoding: JSON text frames by default, MessagePack binary frames for a client
that negotiated the ``workspace.msgpack`` subprotocol.

msgspec does both encodings; ``decimal_format="number"`` keeps a stray ``Decimal`` a
JSON number rather than a string, so the wire never changes type by accident.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from websockets.frames import Frame, Opcode

MSGPACK_SUBPROTOCOL = "workspace.msgpack"
# Commands are flat objects; nothing legitimate nests this deep.  Deeper documents are
# refused as INVALID_JSON (and the decoder's own recursion limit never shows as a crash).
MAX_DEPTH = 32
# A frame on a msgpack connection that starts with a byte beyond ASCII is MessagePack
# (a map, or an array or string that is then refused as "not a map"): no JSON document
# starts with one.

_json_encoder = msgspec.json.Encoder(decimal_format="number")
_msgpack_encoder = msgspec.msgpack.Encoder(decimal_format="number")
_json_decoder = msgspec.json.Decoder()
_msgpack_decoder = msgspec.msgpack.Decoder()


class DecodeError(ValueError):
    """The frame is not a JSON (or MessagePack) document."""


def encode_json(message: dict[str, Any]) -> str:
    return _json_encoder.encode(message).decode()


def encode_msgpack(message: dict[str, Any]) -> bytes:
    return _msgpack_encoder.encode(message)


def decode_frame(frame: str | bytes, *, msgpack: bool = False) -> Any:
    """One received frame to a Python value.  ``str`` is JSON.  ``bytes`` are UTF-8
    JSON, except on a msgpack connection when they start beyond ASCII, as MessagePack
    maps, arrays and strings do and no JSON does (the server reads every frame as
    bytes, text or binary, so that invalid UTF-8 is an answer and not a dropped
    connection).
    Raises ``DecodeError`` for anything that is not a document, or nests deeper than
    the decoder can follow."""
    try:
        if isinstance(frame, str):
            return _json_decoder.decode(frame)
        if msgpack and frame[:1] and frame[0] >= 0x80:
            return _msgpack_decoder.decode(frame)
        return _json_decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(_words(frame, exc)) from exc
    except RecursionError:
        raise DecodeError(f"nested deeper than {MAX_DEPTH} levels") from None


# half of a UTF-16 surrogate pair written as a \\u escape: the decoder refuses it as
# "Input data was truncated", which sends the sender looking for a cut frame
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _words(frame: str | bytes, exc: Exception) -> str:
    """Why the decoder refused ``frame``, in the words that point at the cause."""
    data = frame.encode(errors="surrogatepass") if isinstance(frame, str) else bytes(frame)
    found = _LONE_SURROGATE.search(data)
    if found is not None:
        escape = found.group().decode()
        return f"{escape} is half of a UTF-16 surrogate pair, not a character"
    return str(exc)


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists or objects more than ``limit`` levels deep
    (iterative: a deep document cannot exhaust the stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class Codec:
    """The encoder chosen for one connection."""

    def __init__(self, subprotocol: str | None) -> None:
        self.msgpack = subprotocol == MSGPACK_SUBPROTOCOL

    def encode(self, message: dict[str, Any]) -> str | bytes:
        return encode_msgpack(message) if self.msgpack else encode_json(message)

    def decode(self, frame: str | bytes) -> Any:
        return decode_frame(frame, msgpack=self.msgpack)


class EncodeCache:
    """Encodes each broadcast message once for all connections: the hub hands the same
    dict object to every subscriber, so the object's identity is the key (the entry
    keeps the object alive, so an id is never reused while cached).

    Both encodings are bytes: JSON as UTF-8, sent as a text frame without being
    decoded to ``str`` and re-encoded once per connection."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._json: dict[int, tuple[dict[str, Any], bytes]] = {}
        self._msgpack: dict[int, tuple[dict[str, Any], bytes]] = {}
        self._json_frames: dict[int, tuple[dict[str, Any], bytes]] = {}
        self._msgpack_frames: dict[int, tuple[dict[str, Any], bytes]] = {}

    def frame(self, message: dict[str, Any], msgpack: bool) -> bytes:
        """The complete server-to-client WebSocket frame of ``message`` (text for JSON,
        binary for MessagePack).  Server frames are not masked, so without a
        compression extension the bytes are the same for every connection."""
        return self.msgpack_frame(message) if msgpack else self.json_frame(message)

    def json_frame(self, message: dict[str, Any]) -> bytes:
        """``frame(message, msgpack=False)``, for a connection to bind once: it runs for
        every message delivered."""
        hit = self._json_frames.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        return self._new_frame(message, False, self._json_frames)

    def msgpack_frame(self, message: dict[str, Any]) -> bytes:
        hit = self._msgpack_frames.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        return self._new_frame(message, True, self._msgpack_frames)

    def _new_frame(
        self,
        message: dict[str, Any],
        msgpack: bool,
        frames: dict[int, tuple[dict[str, Any], bytes]],
    ) -> bytes:
        payload = self.encode(message, msgpack)
        opcode = Opcode.BINARY if msgpack else Opcode.TEXT
        frame = Frame(opcode, payload).serialize(mask=False)
        if len(frames) >= self._size:
            for old in list(frames)[: self._size // 4]:
                del frames[old]
        frames[id(message)] = (message, frame)
        return frame

    def encode(self, message: dict[str, Any], msgpack: bool) -> bytes:
        cache = self._msgpack if msgpack else self._json
        key = id(message)
        hit = cache.get(key)
        if hit is not None and hit[0] is message:
            return hit[1]
        encoded = _msgpack_encoder.encode(message) if msgpack else _json_encoder.encode(message)
        if len(cache) >= self._size:
            # dicts keep insertion order: drop the oldest quarter in one go.
            for old in list(cache)[: self._size // 4]:
                del cache[old]
        cache[key] = (message, encoded)
        return encoded
