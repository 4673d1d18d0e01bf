"""The feed's exceptions, as subclasses of :mod:`workspace.errors`.

::

    WorkspaceError
    ├── FeedError                    the feed could not do what was asked
    │   ├── FeedFatalError           will not get better by retrying (bad URL, HTTP 4xx)
    │   ├── SubscriptionError        the server answered a SUBSCRIBE/UNSUBSCRIBE with an error
    │   ├── ExchangeInfoError        /api/v3/exchangeInfo could not be fetched or read
    │   └── RestError                a REST request (depth snapshot, klines) failed
    ├── InvalidSymbol
    │   ├── MalformedSymbolError     not a symbol at all ("btc usdt", 42)
    │   └── UnknownSymbolError       well formed, but not listed (or not trading)
    └── InvalidParams
        └── TooManyStreamsError      more than 1024 streams on one connection
"""

from __future__ import annotations

from workspace.errors import InvalidParams, InvalidSymbol, WorkspaceError


class FeedError(WorkspaceError):
    pass


class FeedFatalError(FeedError):
    pass


class SubscriptionError(FeedError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = code


class ExchangeInfoError(FeedError):
    pass


class RestError(FeedError):
    """A REST request failed: unreachable, an HTTP error, or Binance's error answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = code
        """Binance's error code (``-1121`` invalid symbol, ``-1003`` too many requests ...)."""
        self.retry_after_s = retry_after_s


class MalformedSymbolError(InvalidSymbol):
    pass


class UnknownSymbolError(InvalidSymbol):
    pass


class TooManyStreamsError(InvalidParams):
    pass
