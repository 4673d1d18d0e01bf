"""How messages and commands sit in stream entries (field names are one letter: every
entry carries them).

- market streams: ``m`` = the message (``MARKET_UPDATE`` / ``BOOK_UPDATE``) as JSON;
- a user's event stream: entry id ``{seq}-0``; ``k`` = the event's kind, ``e`` = the
  event exactly as the journal stores it (msgpack), ``m`` = the ``ORDER_UPDATE`` of an
  order event (JSON), ``r`` = ``{gateway}/{request}`` when this event is the direct
  reply to a command;
- state streams: ``m`` = ``POSITION_UPDATE`` / ``PORTFOLIO_UPDATE`` / ``STATUS``;
- commands: ``g`` gateway, ``q`` request number, ``a`` action, ``u`` user (account
  commands), ``d`` deadline (ms since the epoch: after it the gateway has answered the
  client itself, so the engine must not act on it), ``c`` the arguments (JSON);
- replies: ``q``, then ``m`` (JSON result) or ``x`` (``{"code", "message"}``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from workspace.session import Message

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder()

Fields = dict[bytes, bytes]


def dumps(value: Any) -> bytes:
    return _encoder.encode(value)


def loads(data: bytes | str) -> Any:
    return _decoder.decode(data)


def message_of(fields: Fields) -> Message | None:
    """The message an entry carries (``m``), or ``None``."""
    data = fields.get(b"m")
    if data is None:
        return None
    try:
        value = loads(data)
    except msgspec.DecodeError:
        return None  # (something else wrote to the key: not ours to read)
    return value if isinstance(value, dict) else None


def seq_of(entry_id: bytes | str) -> int:
    """The ``seq`` of an event-stream entry (its id is ``{seq}-0``)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def event_id(seq: int) -> str:
    return f"{seq}-0"


def stream_id_key(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id as a number pair, for comparing ids (``"12-3"`` -> ``(12, 3)``)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
