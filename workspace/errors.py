"""The exceptions the workspace raises to its callers, with PROTOCOL.md's stable codes.

::

    WorkspaceError                 code INTERNAL
    ├── InvalidParams              code INVALID_PARAMS   bad field, type, NaN, <= 0 ...
    ├── InvalidSymbol              code INVALID_SYMBOL   malformed or not listed
    ├── InsufficientBalance        code INSUFFICIENT_BALANCE
    ├── NotFound                   code NOT_FOUND        unknown order/position/alert id
    ├── RateLimited                code RATE_LIMITED
    ├── Unauthorized               code UNAUTHORIZED
    ├── JournalUnavailable         code JOURNAL_UNAVAILABLE  the journal cannot write:
    │                              state-changing commands are refused, nothing changed
    └── EngineUnavailable          code ENGINE_UNAVAILABLE  (scale-out) no engine answered
                                   in time: the command was not executed

Each layer may subclass these (e.g. the feed's ``UnknownSymbolError(InvalidSymbol)``)
so that the protocol layer maps any of them to an ``ERROR`` with the right code.
"""

from __future__ import annotations


class WorkspaceError(Exception):
    code: str = "INTERNAL"


class InvalidParams(WorkspaceError, ValueError):
    code = "INVALID_PARAMS"


class InvalidSymbol(WorkspaceError, ValueError):
    code = "INVALID_SYMBOL"


class InsufficientBalance(WorkspaceError):
    code = "INSUFFICIENT_BALANCE"


class NotFound(WorkspaceError, LookupError):
    code = "NOT_FOUND"


class RateLimited(WorkspaceError):
    code = "RATE_LIMITED"


class Unauthorized(WorkspaceError):
    code = "UNAUTHORIZED"


class JournalUnavailable(WorkspaceError):
    """The account's journal cannot write (a full disk, an I/O error): the command
    changed nothing, and state-changing commands are refused until writing works
    again (the engine probes and recovers by itself).  Reads and market data go on."""

    code = "JOURNAL_UNAVAILABLE"


class EngineUnavailable(WorkspaceError):
    """Scale-out (a gateway): no engine answered the command in time (none runs for
    that account's shard, or it is restarting).  The command was not executed: an
    engine that takes it later finds its deadline passed and drops it."""

    code = "ENGINE_UNAVAILABLE"
