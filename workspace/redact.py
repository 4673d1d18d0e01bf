"""Tokens never reach a log: a filter on the ``websockets`` library's loggers that
blanks them out of what it logs at DEBUG (each handshake's request line and headers).

Set to DEBUG to find out why a client cannot connect, ``serve`` logged every
client's token in the clear (``< GET /api/ws/realtime?token=...``, ``<
Authorization: Bearer ...``), and a ``RealtimeClient`` its own.  Logs are copied,
shipped and kept longer than secrets should be.
"""

from __future__ import annotations

import logging
import re

LOGGERS = ("websockets.server", "websockets.client")
_QUERY = re.compile(r"([?&](?:token|access_token)=)[^&\s#]+", re.IGNORECASE)
_BEARER = re.compile(r"(authorization:\s*\w+\s+)\S+", re.IGNORECASE)
HIDDEN = "***"


def redacted(text: str) -> str:
    """``text`` with the values of ``token=`` query parameters and of an
    ``Authorization`` header replaced by ``***``."""
    return _BEARER.sub(rf"\g<1>{HIDDEN}", _QUERY.sub(rf"\g<1>{HIDDEN}", text))


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redacted(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactTokens()


def install() -> None:
    """Put the filter on the ``websockets`` loggers (once; a filter on a logger applies
    to every record it makes, whatever handlers the application configured)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
