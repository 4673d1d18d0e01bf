"""Turn one Binance stream frame (bytes or text) into the workspace's market records.

Pure functions, no I/O: the live feed, the replay and the engine all call
:func:`decode_frame`.  Decoding goes straight from the frame's bytes into the frozen
records of :mod:`workspace.market.records` with one pre-built ``msgspec`` decoder per
record type; a combined-stream frame (``{"stream": ..., "data": ...}``) is first split
with ``msgspec.Raw`` (the payload is not parsed twice) and dispatched on the stream
name's suffix (``btcusdt@ticker`` -> ``ticker``).

What a frame becomes:

========================================  ==============================================
frame                                     result
========================================  ==============================================
``@ticker`` / ``@ticker_<w>``             :class:`~workspace.market.records.Ticker`
``@miniTicker``                           :class:`~workspace.market.records.MiniTicker`
``@bookTicker``                           :class:`~workspace.market.records.BookTicker`
``@trade`` / ``@aggTrade``                :class:`~workspace.market.records.Trade`
``@depth`` / ``@depth@100ms``             :class:`~workspace.market.records.DepthUpdate`
``@depth<5|10|20>[@100ms]``               :class:`~workspace.market.records.PartialDepth`
``@kline_<interval>``                     :class:`~workspace.market.records.Kline`
``!ticker@arr`` style arrays              ``tuple`` of the above
``{"result": ..., "id": N}`` / error      :class:`ControlReply`
``{"e": "serverShutdown", ...}``          :class:`ServerShutdown`
avgPrice, other streams                   ``None`` (recognised, not normalised)
anything else                             raises :class:`FrameError`
========================================  ==============================================

A partial depth payload carries no symbol: it is taken from the combined stream's name
(``""`` for a raw frame).  :func:`parse_depth_snapshot` and :func:`parse_klines` read the
REST answers (``/api/v3/depth``, ``/api/v3/klines``) into the same records.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar, overload

import msgspec

from workspace.market.decimal_text import plain_decimals
from workspace.market.records import (
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FeedRecord,
    Kline,
    MarketRecord,
    MiniTicker,
    PartialDepth,
    Ticker,
    Trade,
    WireLevel,
)
from workspace.market.subscriptions import KLINE_INTERVALS, PARTIAL_DEPTH_LEVELS

_R = TypeVar("_R")


class FrameError(ValueError):
    """A frame that is not JSON, or does not have the shape its stream promises."""


class BadRecordError(FrameError):
    """A frame that reads as a record, but with a value no record may hold (NaN,
    Infinity); the feed counts it as a bad record, not an unreadable frame."""


class ControlReply(msgspec.Struct, frozen=True):
    """The answer to a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request.

    ``{"result": null, "id": 3}`` is a success; ``{"error": {"code": 2, "msg": "..."},
    "id": 3}`` a failure (``error_code``/``error_msg`` set).  ``id`` may be ``None`` when
    the server could not read the request's id at all.
    """

    id: int | str | None
    result: Any = None
    error_code: int | None = None
    error_msg: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None and self.error_msg is None


class ServerShutdown(msgspec.Struct, frozen=True):
    """``{"e": "serverShutdown", "E": ...}``: the server is about to close this connection."""

    event_time: int | None


Decoded: TypeAlias = FeedRecord | tuple[FeedRecord, ...] | ControlReply | ServerShutdown | None
"""Everything :func:`decode_frame` can return."""

RECORD_TYPES: Final = frozenset(
    {Ticker, MiniTicker, BookTicker, Trade, DepthUpdate, PartialDepth, DepthSnapshot, Kline}
)
"""The record classes; ``type(x) in RECORD_TYPES`` is the feed's hot-path test."""


class _ErrorBody(msgspec.Struct):
    code: int | None = None
    msg: str | None = None


class _Envelope(msgspec.Struct):
    """Every top-level object frame: combined envelope, control reply or bare payload.

    Unknown keys are skipped by msgspec, so a bare payload's other fields cost nothing.
    """

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    id: int | str | None = None
    result: Any = None
    error: _ErrorBody | None = None
    e: str | None = None
    E: int | None = None
    u: int | None = None
    lastUpdateId: int | None = None


class _EventOnly(msgspec.Struct):
    """Just the event type and time, to route a payload whose stream name is unknown."""

    e: str | None = None
    E: int | None = None
    u: int | None = None
    lastUpdateId: int | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_EVENT_ONLY: Final = msgspec.json.Decoder(_EventOnly)
_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])
_TICKER: Final = msgspec.json.Decoder(Ticker)
_MINI: Final = msgspec.json.Decoder(MiniTicker)
_BOOK: Final = msgspec.json.Decoder(BookTicker)
_TRADE: Final = msgspec.json.Decoder(Trade)
_DEPTH: Final = msgspec.json.Decoder(DepthUpdate)
_PARTIAL: Final = msgspec.json.Decoder(PartialDepth)


class _KlineEvent(msgspec.Struct):
    """``{"e": "kline", "E": ..., "s": ..., "k": {...}}``: the candle is in ``k``."""

    E: int
    k: Kline


_KLINE: Final = msgspec.json.Decoder(_KlineEvent)


def _read_kline(payload: bytes | msgspec.Raw, stream: str | None) -> Kline:
    event = _KLINE.decode(payload)
    return msgspec.structs.replace(event.k, event_time=event.E)


def _read_partial(payload: bytes | msgspec.Raw, stream: str | None) -> PartialDepth:
    record = _PARTIAL.decode(payload)
    if stream is None:
        return record
    symbol = stream.partition("@")[0].upper()
    return msgspec.structs.replace(record, symbol=symbol)


_Reader: TypeAlias = Callable[[bytes | msgspec.Raw, str | None], FeedRecord]
"""Decodes the payloads whose record needs more than the payload: a symbol from the
stream name (partial depth) or a field from outside the nested object (kline)."""


_RecordDecoder: TypeAlias = msgspec.json.Decoder[Any]

# Stream-name suffix (after the first "@") -> decoder.  ``None`` = recognised stream we
# deliberately do not normalise.
_BY_SUFFIX: Final[dict[str, _RecordDecoder | None]] = {
    "ticker": _TICKER,
    "miniTicker": _MINI,
    "bookTicker": _BOOK,
    "aggTrade": _TRADE,
    "trade": _TRADE,
    "depth": _DEPTH,
    "depth@100ms": _DEPTH,
    "avgPrice": None,
}
_SKIPPED_PREFIXES: Final = ("avgPrice",)

# Stream-name suffix -> reader, for the records that need the stream name or the outer
# event (see _Reader).
_READERS: Final[dict[str, _Reader]] = {
    **{f"kline_{interval}": _read_kline for interval in KLINE_INTERVALS},
    **{f"depth{n}": _read_partial for n in PARTIAL_DEPTH_LEVELS},
    **{f"depth{n}@100ms": _read_partial for n in PARTIAL_DEPTH_LEVELS},
}

# Payload event type ("e") -> decoder, for raw (non-combined) frames and array items.
_BY_EVENT: Final[dict[str, _RecordDecoder | None]] = {
    "24hrTicker": _TICKER,
    "24hrMiniTicker": _MINI,
    "aggTrade": _TRADE,
    "trade": _TRADE,
    "depthUpdate": _DEPTH,
    "avgPrice": None,
}

_SERVER_SHUTDOWN: Final = "serverShutdown"


def _decoder_for_suffix(suffix: str) -> _RecordDecoder | bool | None:
    """The decoder for a stream suffix, ``None`` to skip it, ``False`` if unknown."""
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    if suffix.startswith("ticker_"):  # rolling-window tickers: ticker_1h, ticker_4h ...
        return _TICKER
    if suffix.startswith(_SKIPPED_PREFIXES):
        return None
    return False


def _reader_for_suffix(suffix: str) -> _Reader | None:
    reader = _READERS.get(suffix)
    if reader is None and suffix.startswith("kline_"):
        # Klines with a time zone offset (kline_1m@+08:00) have the same payload.
        reader = _READERS.get(suffix.partition("@")[0])
    return reader


def _decoder_for_event(event_type: str) -> _RecordDecoder | bool | None:
    if event_type in _BY_EVENT:
        return _BY_EVENT[event_type]
    if event_type.endswith("Ticker") and event_type[:1].isdigit():  # 1hTicker, 4hTicker
        return _TICKER
    return False


def _decode_payload(payload: bytes | msgspec.Raw, stream: str | None) -> Decoded:
    """Decode a bare payload (no envelope): an object or an array of objects."""
    first = bytes(memoryview(payload)[:64]).lstrip()[:1]
    if first == b"[":
        items = _ARRAY.decode(payload)
        records: list[FeedRecord] = []
        for item in items:
            one = _decode_payload(item, stream)
            if type(one) in RECORD_TYPES:
                records.append(one)  # type: ignore[arg-type]
            elif one is not None:
                raise FrameError(f"unexpected item in an array frame: {one!r}")
        return tuple(records)
    head = _EVENT_ONLY.decode(payload)
    if head.e == _SERVER_SHUTDOWN:
        return ServerShutdown(head.E)
    if head.e == "kline":
        return _checked(_read_kline(payload, stream))
    if head.e is not None:
        decoder = _decoder_for_event(head.e)
        if decoder is False:
            if stream is not None:
                return None  # a stream we never normalise, with an event type we don't know
            raise FrameError(f"unknown event type {head.e!r}")
    elif head.u is not None:
        decoder = _BOOK  # bookTicker is the only payload with an update id and no "e"
    elif head.lastUpdateId is not None:
        return _checked(_read_partial(payload, stream))  # partial depth: no "e", no "s"
    else:
        return None
    return _checked(decoder.decode(payload)) if decoder is not None else None  # type: ignore[union-attr]


def _checked(record: FeedRecord) -> FeedRecord:
    """Refuse what the records must never hold: a number string that is not a decimal
    at all (``"abc"``), and NaN / Infinity in the numbers downstream code computes with.

    ``Decimal`` reads ``"NaN"``; one such price would poison every P&L it touches.  The
    tickers' and book tickers' strings are checked in one pass when they are the
    exchange's plain decimals (:func:`plain_decimals`), and one by one otherwise.
    Only the fields the engine and the account use must be finite, to keep this short.
    """
    try:
        if isinstance(record, Trade):
            ok = record.price.is_finite() and record.quantity.is_finite()
        elif isinstance(record, BookTicker):
            if not plain_decimals(("", record.bid_qty_text, record.ask_qty_text, ""), _DIGITS):
                record.bid_qty.is_finite()  # built: raises InvalidOperation for a non-number
                record.ask_qty.is_finite()
            ok = record.bid_price.is_finite() and record.ask_price.is_finite()
        elif isinstance(record, Ticker):
            texts = tuple(
                text.removeprefix("-")  # only the price changes may be negative
                for text in (getattr(record, name) for name in _TICKER_TEXTS)
                if text is not None
            )
            if not plain_decimals(("", *texts, ""), _DIGITS):
                for name in _TICKER_VIEWS:
                    getattr(record, name)  # raises InvalidOperation for a non-number
            bid, ask = record.bid_price, record.ask_price
            ok = (
                record.last_price.is_finite()
                and record.volume.is_finite()
                and (bid is None or bid.is_finite())
                and (ask is None or ask.is_finite())
            )
        elif isinstance(record, MiniTicker):
            if not plain_decimals(
                ("", record.open_price_text, record.high_price_text, record.low_price_text,
                 record.volume_text, record.quote_volume_text, ""),
                _DIGITS,
            ):  # fmt: skip
                for value in (record.open_price, record.high_price, record.low_price,
                              record.volume, record.quote_volume):  # fmt: skip
                    value.is_finite()  # built: raises InvalidOperation for a non-number
            ok = record.last_price.is_finite()
        elif isinstance(record, DepthUpdate | PartialDepth | DepthSnapshot):
            return record  # wire strings: the book and the sanity checks read them
        else:
            ok = all(
                price.is_finite()
                for price in (record.open_price, record.high_price, record.low_price,
                              record.close_price, record.volume)
            )  # fmt: skip
    except ArithmeticError:
        raise FrameError(
            f"a number in a {type(record).__name__} for {record.symbol} is not a decimal"
        ) from None
    if not ok:
        raise BadRecordError(
            f"non-finite price or quantity in a {type(record).__name__} for {record.symbol}"
        )
    return record


_DIGITS: Final = 40
"""Runs of digits :func:`_checked` lets through unchecked (finiteness is all it asks)."""
_TICKER_VIEWS: Final = (
    "price_change", "price_change_percent", "weighted_avg_price", "open_price", "high_price",
    "low_price", "quote_volume", "prev_close_price", "last_quantity", "bid_qty", "ask_qty",
)  # fmt: skip
_TICKER_TEXTS: Final = tuple(f"{name}_text" for name in _TICKER_VIEWS)


Frame: TypeAlias = bytes | bytearray | memoryview | str

MarketDecoded: TypeAlias = (
    MarketRecord | tuple[MarketRecord, ...] | ControlReply | ServerShutdown | None
)
"""What :func:`decode_frame` returns without ``all_records``: book and kline records
are ``None`` there (recognised, not normalised), as before they existed."""

_TICK_TYPES: Final = frozenset({Ticker, MiniTicker, BookTicker, Trade})


@overload
def decode_frame(data: Frame) -> MarketDecoded: ...
@overload
def decode_frame(data: Frame, *, all_records: Literal[False]) -> MarketDecoded: ...
@overload
def decode_frame(data: Frame, *, all_records: Literal[True]) -> Decoded: ...
@overload
def decode_frame(data: Frame, *, all_records: bool) -> Decoded: ...


def decode_frame(data: Frame, *, all_records: bool = False) -> Decoded:
    """Decode one server frame.  Raises :class:`FrameError` for anything unreadable.

    With ``all_records=True`` (the feed) depth and kline frames become their records;
    without it (the replay, whose engine takes tickers and trades) they are ``None``.

    >>> decode_frame(b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT",'
    ...              b'"b":"1.5","B":"2","a":"1.6","A":"3"}}').bid_price
    Decimal('1.5')
    """
    try:
        decoded = _decode(data)
    except FrameError:
        raise
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise FrameError(f"unreadable frame: {exc}") from exc
    if all_records or type(decoded) in _TICK_TYPES:
        return decoded
    if isinstance(decoded, DepthUpdate | PartialDepth | DepthSnapshot | Kline):
        return None
    return decoded


def _decode(data: Frame) -> Decoded:
    try:
        envelope = _ENVELOPE.decode(data)
    except msgspec.ValidationError:
        # Not an object (an array frame, or a scalar): fall back to the payload path,
        # which says precisely what is wrong.
        if isinstance(data, str):
            data = data.encode()
        stripped = bytes(data[:64]).lstrip()
        if stripped[:1] == b"[":
            return _decode_payload(bytes(data), None)
        raise FrameError(f"frame is not a JSON object or array: {bytes(data[:80])!r}") from None
    stream = envelope.stream
    if stream is not None:
        # Hot path: a combined-stream frame.
        payload = envelope.data
        if not payload:
            raise FrameError(f"combined frame for {stream!r} has no data")
        _, at, suffix = stream.partition("@")
        decoder = _BY_SUFFIX.get(suffix, False) if at else False
        if decoder is False:
            decoder = _decoder_for_suffix(suffix)
        if decoder is False:
            reader = _reader_for_suffix(suffix)
            if reader is not None:
                return _checked(reader(payload, stream))
            # A stream we do not know by name: route on its payload instead.
            return _decode_payload(payload, stream)
        if decoder is None:
            return None
        return _checked(decoder.decode(payload))  # type: ignore[union-attr]
    if envelope.id is not None or envelope.error is not None or envelope.result is not None:
        error = envelope.error
        if error is not None:
            return ControlReply(envelope.id, None, error.code, error.msg or "error")
        return ControlReply(envelope.id, envelope.result)
    if envelope.e == _SERVER_SHUTDOWN:
        return ServerShutdown(envelope.E)
    if envelope.e is None and envelope.u is None and envelope.lastUpdateId is None:
        if envelope.data:
            raise FrameError("frame has data but no stream name")
        raise FrameError("frame is neither a stream event nor a control reply")
    if isinstance(data, str):
        data = data.encode()
    return _decode_payload(bytes(data), None)


# -- REST answers --------------------------------------------------------------------


class _DepthBody(msgspec.Struct):
    lastUpdateId: int
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]


_DEPTH_BODY: Final = msgspec.json.Decoder(_DepthBody)

_KlineRow: TypeAlias = tuple[
    int, Decimal, Decimal, Decimal, Decimal, Decimal, int, Decimal, int, Decimal, Decimal, Any
]
_KLINE_ROWS: Final = msgspec.json.Decoder(list[_KlineRow])


def parse_depth_snapshot(symbol: str, body: bytes, received_ms: int | None = None) -> DepthSnapshot:
    """Read a ``GET /api/v3/depth`` answer; raises :class:`FrameError`."""
    try:
        depth = _DEPTH_BODY.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"unreadable depth snapshot for {symbol}: {exc}") from exc
    snapshot = DepthSnapshot(
        symbol=symbol,
        last_update_id=depth.lastUpdateId,
        bid_levels=depth.bids,
        ask_levels=depth.asks,
        received_ms=received_ms,
    )
    _checked(snapshot)
    return snapshot


def parse_klines(symbol: str, interval: str, body: bytes, now_ms: int) -> list[Kline]:
    """Read a ``GET /api/v3/klines`` answer (rows of 12 values); raises :class:`FrameError`.

    A row is ``closed`` when its close time is before ``now_ms``: Binance's last row is
    the candle still forming.
    """
    try:
        rows = _KLINE_ROWS.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"unreadable klines for {symbol} {interval}: {exc}") from exc
    klines = []
    for open_ms, o, h, low, c, v, close_ms, q, n, taker_v, taker_q, _ in rows:
        kline = Kline(
            symbol=symbol,
            interval=interval,
            open_time=open_ms,
            close_time=close_ms,
            open_price=o,
            high_price=h,
            low_price=low,
            close_price=c,
            volume=v,
            quote_volume=q,
            trade_count=n,
            taker_buy_volume=taker_v,
            taker_buy_quote_volume=taker_q,
            closed=close_ms < now_ms,
        )
        _checked(kline)
        klines.append(kline)
    return klines


class _Combined(msgspec.Struct, Generic[_R]):
    """A combined-stream frame whose payload type is known from its stream name (the
    name itself is not decoded again: msgspec skips the key)."""

    data: _R


_COMBINED_PREFIX: Final = b'{"stream":"'
_COMBINED_BY_SUFFIX: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "ticker": msgspec.json.Decoder(_Combined[Ticker]),
    "miniTicker": msgspec.json.Decoder(_Combined[MiniTicker]),
    "bookTicker": msgspec.json.Decoder(_Combined[BookTicker]),
    "aggTrade": msgspec.json.Decoder(_Combined[Trade]),
    "trade": msgspec.json.Decoder(_Combined[Trade]),
    "depth": msgspec.json.Decoder(_Combined[DepthUpdate]),
    "depth@100ms": msgspec.json.Decoder(_Combined[DepthUpdate]),
}
_COMBINED_BY_STREAM: dict[bytes, msgspec.json.Decoder[Any] | None] = {}
"""A frame's head up to its stream name's closing quote (``b'{"stream":"btcusdt@ticker'``)
-> the decoder of the whole frame (``None``: not one of the hot kinds), learned as names
arrive.  Keyed by the whole head, so a hit also says the frame starts as Binance's do."""
_MAX_STREAM_NAMES: Final = 8192


def _combined_decoder(head: bytes) -> msgspec.json.Decoder[Any] | None:
    """The decoder of a whole frame whose head is ``head``, remembered for the next one."""
    decoder = None
    if head.startswith(_COMBINED_PREFIX):
        _, at, suffix = head[len(_COMBINED_PREFIX) :].partition(b"@")
        if at:
            decoder = _COMBINED_BY_SUFFIX.get(suffix.decode("ascii", "replace"))
    if len(_COMBINED_BY_STREAM) >= _MAX_STREAM_NAMES:
        _COMBINED_BY_STREAM.clear()  # more names than any connection carries: start over
    _COMBINED_BY_STREAM[head] = decoder
    return decoder


def decode_feed_frame(data: Frame) -> Decoded:
    """The feed's hot path: :func:`decode_frame` with ``all_records=True``, except that
    the value checks are left to :func:`workspace.market.sanity.problem`, which the feed
    applies to every record (and which checks more).

    A frame as Binance writes it (``{"stream":"btcusdt@ticker","data":{...}}``, no
    spaces) is decoded in one pass: the stream name is read off the bytes to pick the
    decoder of the whole frame.  Anything else takes :func:`decode_frame`'s path.
    """
    end = data.find(b'"', 11, 140) if type(data) is bytes else -1
    if end > 0:
        head = data[:end]  # up to the stream name's closing quote
        try:
            decoder = _COMBINED_BY_STREAM[head]  # type: ignore[index]
        except KeyError:
            decoder = _combined_decoder(head)  # type: ignore[arg-type]
        if decoder is not None:
            try:
                return decoder.decode(data).data  # type: ignore[no-any-return]
            except msgspec.DecodeError:
                pass  # the general path says what is wrong
    try:
        envelope = _ENVELOPE.decode(data)
    except msgspec.ValidationError:
        return decode_frame(data, all_records=True)
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise FrameError(f"unreadable frame: {exc}") from exc
    stream = envelope.stream
    if stream is not None and envelope.data:
        _, at_sign, suffix = stream.partition("@")
        decoder = _BY_SUFFIX.get(suffix) if at_sign else None
        if decoder is not None:
            try:
                return decoder.decode(envelope.data)  # type: ignore[no-any-return]
            except msgspec.DecodeError as exc:
                raise FrameError(f"unreadable frame: {exc}") from exc
    return decode_frame(data, all_records=True)
