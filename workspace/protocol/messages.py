"""Builders for the messages the protocol layer itself originates (replies that do not
come from the engine).  Every message has ``type`` and an integer ``timestamp`` in ms.
"""

from __future__ import annotations

import time
from typing import Any

from workspace.protocol.commands import CommandId
from workspace.session import Message


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def message(kind: str, command_id: CommandId = None, **fields: Any) -> Message:
    built: Message = {"type": kind, **fields}
    built.setdefault("timestamp", now_ms())
    if command_id is not None:
        built["id"] = command_id
    return built


def with_id(msg: Message, command_id: CommandId) -> Message:
    """A copy of an engine message carrying the command's ``id`` (engine messages may
    be shared by every subscriber, so they are never mutated)."""
    if command_id is None:
        return msg
    return {**msg, "id": command_id}


def error(code: str, text: str, command_id: CommandId = None) -> Message:
    return message("ERROR", command_id, code=code, message=text)


def subscribed(symbol: str, command_id: CommandId = None, **fields: Any) -> Message:
    return message("SUBSCRIBED", command_id, symbol=symbol, **fields)


def unsubscribed(symbol: str, command_id: CommandId = None, **fields: Any) -> Message:
    return message("UNSUBSCRIBED", command_id, symbol=symbol, **fields)


def pong(command_id: CommandId = None) -> Message:
    return message("PONG", command_id)


def resumed(
    since: int, count: int, seq: int, journal_id: str, command_id: CommandId = None
) -> Message:
    return message("RESUMED", command_id, since=since, count=count, seq=seq, journal_id=journal_id)


def resume_reset(journal_id: str, seq: int, reason: str, command_id: CommandId = None) -> Message:
    """The server cannot resume from what the client asked (another journal, or a
    ``since`` beyond its ``seq``): a fresh snapshot follows; the client starts over."""
    return message(
        "ERROR",
        command_id,
        code="RESUME_RESET",
        message=f"cannot resume: {reason}; a fresh snapshot follows",
        journal_id=journal_id,
        seq=seq,
    )


def replay_done(
    symbol: str, start: int, end: int, count: int, command_id: CommandId = None
) -> Message:
    return message("REPLAY_DONE", command_id, symbol=symbol, start=start, end=end, count=count)
