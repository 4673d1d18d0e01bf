"""The market records every layer downstream of the feed sees.

The structs carry Binance's own wire field names (``s``, ``E``, ``c`` ...) as their
encoded names so that a frame's bytes decode straight into an immutable record without
building an intermediate dict.  Attribute names are the readable ones.

Event times are integer milliseconds since the epoch, as Binance sends them.
``BookTicker`` and the depth snapshots have no event time on the wire; none is invented.

**Exact numbers, decoded when needed.**  Binance sends every price and quantity as a
decimal string.  The numbers the engine and the account read on every record are
decoded into ``Decimal`` fields: a ticker's last price, bid, ask and volume, a book
ticker's bid and ask, a mini ticker's last price, a trade's price and quantity.  The
others (a ticker has eleven more) are kept as the exchange's strings, in ``*_text``
fields (``ticker.high_price_text == "108228.00000000"``), and read as exact ``Decimal``
under the usual names (``ticker.high_price == Decimal("108228.00000000")``): each is
built from the string the first time it is read and kept on the record, so later reads
cost an attribute lookup.  Building all fifteen of a ticker's ``Decimal`` on every
frame was half of the feed's cost.  The feed's sanity checks
(:mod:`workspace.market.sanity`) have checked every string before a record is handed
on.  Construct these records with the strings for the ``*_text`` fields
(``format(decimal, "f")`` gives one for a ``Decimal``).

Order book levels are ``(price, quantity)`` tuples of ``Decimal`` (:data:`Level`); a
quantity of zero in a :class:`DepthUpdate` removes the level.  The book records keep the
exchange's own strings (:data:`WireLevel`, in ``bid_levels`` / ``ask_levels``): a diff
event carries 10-40 numbers, most of which go straight into the local book, which keys
its levels by scaled integers; ``bids`` / ``asks`` turn them into exact ``Decimal``
levels when read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeAlias, overload

import msgspec


class _Exact:
    """A ``Decimal`` view of a record's wire-string field.

    A non-data descriptor: the first read builds the ``Decimal`` and stores it in the
    record's ``__dict__`` under the view's own name, which then shadows the descriptor,
    so every later read is a plain attribute read.  The records are frozen (their
    fields cannot change), so the kept value can never go stale;
    ``msgspec.structs.replace`` makes a new record with nothing kept.
    """

    __slots__ = ("_name", "_text")

    def __init__(self, text_field: str) -> None:
        self._text = text_field
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, record: None, owner: type | None = None) -> _Exact: ...
    @overload
    def __get__(self, record: object, owner: type | None = None) -> Decimal: ...
    def __get__(self, record: object, owner: type | None = None) -> Decimal | _Exact:
        if record is None:
            return self
        value = record.__dict__[self._name] = Decimal(getattr(record, self._text))
        return value


class _ExactOrNone:
    """Like :class:`_Exact`, for a field the event may not carry (``None``)."""

    __slots__ = ("_name", "_text")

    def __init__(self, text_field: str) -> None:
        self._text = text_field
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, record: None, owner: type | None = None) -> _ExactOrNone: ...
    @overload
    def __get__(self, record: object, owner: type | None = None) -> Decimal | None: ...
    def __get__(self, record: object, owner: type | None = None) -> Decimal | _ExactOrNone | None:
        if record is None:
            return self
        text = getattr(record, self._text)
        value = record.__dict__[self._name] = None if text is None else Decimal(text)
        return value


class Ticker(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A ``<symbol>@ticker`` (``24hrTicker``) or ``@ticker_<w>`` (``1hTicker``...) event.

    Sample payload::

        {"e":"24hrTicker","E":1737510248866,"s":"BTCUSDT","p":"4434.00000000",
         "P":"4.376","w":"98412.56689980","x":"101372.11000000","c":"105766.00000000",
         "Q":"0.00015000","b":"105498.24000000","B":"0.00172000","a":"105766.00000000",
         "A":"0.00025000","o":"101332.00000000","h":"108228.00000000",
         "l":"25262.00000000","v":"310.58183000","q":"30565155.12273710",
         "O":1737423848866,"C":1737510248866,"F":1029731,"L":1174610,"n":144880}

    Rolling-window tickers (``1hTicker``) carry no ``x``, ``Q``, ``b``, ``B``, ``a``, ``A``
    (those fields and views are ``None``).  ``last_price``, ``bid_price``, ``ask_price``
    and ``volume`` are decoded; the other numbers are kept as the exchange's strings
    (``open_price_text``) and read as exact ``Decimal`` (``open_price``), built on first
    read (module docstring).
    """

    event_type: str = msgspec.field(name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    price_change_text: str = msgspec.field(name="p")
    price_change_percent_text: str = msgspec.field(name="P")
    weighted_avg_price_text: str = msgspec.field(name="w")
    last_price: Decimal = msgspec.field(name="c")
    open_price_text: str = msgspec.field(name="o")
    high_price_text: str = msgspec.field(name="h")
    low_price_text: str = msgspec.field(name="l")
    volume: Decimal = msgspec.field(name="v")
    quote_volume_text: str = msgspec.field(name="q")
    open_time: int = msgspec.field(name="O")
    close_time: int = msgspec.field(name="C")
    first_trade_id: int = msgspec.field(name="F")
    last_trade_id: int = msgspec.field(name="L")
    trade_count: int = msgspec.field(name="n")
    prev_close_price_text: str | None = msgspec.field(default=None, name="x")
    last_quantity_text: str | None = msgspec.field(default=None, name="Q")
    bid_price: Decimal | None = msgspec.field(default=None, name="b")
    bid_qty_text: str | None = msgspec.field(default=None, name="B")
    ask_price: Decimal | None = msgspec.field(default=None, name="a")
    ask_qty_text: str | None = msgspec.field(default=None, name="A")

    price_change = _Exact("price_change_text")
    price_change_percent = _Exact("price_change_percent_text")
    weighted_avg_price = _Exact("weighted_avg_price_text")
    open_price = _Exact("open_price_text")
    high_price = _Exact("high_price_text")
    low_price = _Exact("low_price_text")
    quote_volume = _Exact("quote_volume_text")
    prev_close_price = _ExactOrNone("prev_close_price_text")
    last_quantity = _ExactOrNone("last_quantity_text")
    bid_qty = _ExactOrNone("bid_qty_text")
    ask_qty = _ExactOrNone("ask_qty_text")


class MiniTicker(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A ``<symbol>@miniTicker`` (``24hrMiniTicker``) event.

    Sample payload::

        {"e":"24hrMiniTicker","E":1737450828073,"s":"BTCUSDT","c":"102681.77000000",
         "o":"108240.00000000","h":"108751.78000000","l":"25368.00000000",
         "v":"234.17280000","q":"22492957.53468620"}

    ``last_price`` is decoded; the other numbers are kept as strings and read as exact
    ``Decimal`` (see :class:`Ticker`).
    """

    event_type: str = msgspec.field(name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    last_price: Decimal = msgspec.field(name="c")
    open_price_text: str = msgspec.field(name="o")
    high_price_text: str = msgspec.field(name="h")
    low_price_text: str = msgspec.field(name="l")
    volume_text: str = msgspec.field(name="v")
    quote_volume_text: str = msgspec.field(name="q")

    open_price = _Exact("open_price_text")
    high_price = _Exact("high_price_text")
    low_price = _Exact("low_price_text")
    volume = _Exact("volume_text")
    quote_volume = _Exact("quote_volume_text")


class BookTicker(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A ``<symbol>@bookTicker`` event: best bid and ask.  No event time on the wire.

    Sample payload::

        {"u":5119060,"s":"BTCUSDT","b":"104965.00000000","B":"0.00358000",
         "a":"104965.01000000","A":"0.00393000"}

    ``bid_price`` and ``ask_price`` are decoded; the quantities are kept as strings and
    read as exact ``Decimal`` (see :class:`Ticker`).
    """

    update_id: int = msgspec.field(name="u")
    symbol: str = msgspec.field(name="s")
    bid_price: Decimal = msgspec.field(name="b")
    bid_qty_text: str = msgspec.field(name="B")
    ask_price: Decimal = msgspec.field(name="a")
    ask_qty_text: str = msgspec.field(name="A")

    bid_qty = _Exact("bid_qty_text")
    ask_qty = _Exact("ask_qty_text")


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """A ``<symbol>@trade`` or ``<symbol>@aggTrade`` event (``e`` tells which).

    Sample payloads::

        {"e":"trade","E":1737445349276,"s":"BTCUSDT","t":1075359,"p":"102315.35000000",
         "q":"0.00009000","T":1737445349275,"m":false,"M":true}
        {"e":"aggTrade","E":1628952396573,"s":"FTMUSDT","a":31718372,"p":"0.33993000",
         "q":"99.90000000","f":38248910,"l":38248910,"T":1628952396572,"m":true,"M":true}

    The trade stream's id is ``t``; the aggTrade's is ``a``.  The old trade shape
    (before 2024-06-18) also carried buyer/seller order ids ``b``/``a``; they are kept
    as optional fields and otherwise ignored.  For a ``trade`` event, ``a`` is the
    seller order id, so ``agg_id`` is only meaningful when ``event_type == "aggTrade"``.
    """

    event_type: str = msgspec.field(name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    price: Decimal = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    trade_time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    trade_id: int | None = msgspec.field(default=None, name="t")
    agg_id: int | None = msgspec.field(default=None, name="a")
    first_trade_id: int | None = msgspec.field(default=None, name="f")
    last_trade_id: int | None = msgspec.field(default=None, name="l")
    buyer_order_id: int | None = msgspec.field(default=None, name="b")

    @property
    def id(self) -> int:
        """The trade id (``t``) or aggregate trade id (``a``)."""
        ident = self.agg_id if self.event_type == "aggTrade" else self.trade_id
        return ident if ident is not None else -1


Level: TypeAlias = tuple[Decimal, Decimal]
"""One price level of a book: ``(price, quantity)``, both exact."""

WireLevel: TypeAlias = tuple[str, str]
"""One price level as the exchange wrote it: ``("104920.01000000", "0.00263000")``."""


def to_levels(levels: tuple[WireLevel, ...]) -> tuple[Level, ...]:
    """Wire levels as exact ``Decimal`` pairs (raises ``decimal.InvalidOperation`` for a
    string that is not a number)."""
    return tuple((Decimal(price), Decimal(qty)) for price, qty in levels)


class _Levels:
    """``bids`` / ``asks`` as exact Decimals, for the records that carry wire levels."""

    bid_levels: tuple[WireLevel, ...]
    ask_levels: tuple[WireLevel, ...]

    @property
    def bids(self) -> tuple[Level, ...]:
        """Bid levels as ``(Decimal price, Decimal quantity)``, in wire order (computed on
        each access: keep the result if you read it often)."""
        return to_levels(self.bid_levels)

    @property
    def asks(self) -> tuple[Level, ...]:
        return to_levels(self.ask_levels)


class DepthUpdate(_Levels, msgspec.Struct, frozen=True, kw_only=True):
    """A ``<symbol>@depth`` / ``@depth@100ms`` (``depthUpdate``) event: diff depth.

    Sample payload::

        {"e":"depthUpdate","E":1737541559004,"s":"BTCUSDT","U":5142163,"u":5142171,
         "b":[["104778.32000000","0.00425000"],["104774.76000000","0.00000000"]],
         "a":[["104789.35000000","0.00344000"]]}

    Every level carries the level's new absolute quantity (zero: remove it) as of
    update id ``u``; the event covers the book's update ids ``U`` to ``u``.  The feed
    hands one downstream only once it has been applied to the synchronised local book
    (:mod:`workspace.market.book`), so the ``DepthUpdate`` records of one symbol form
    an unbroken chain after a :class:`DepthSnapshot`.
    """

    event_type: str = msgspec.field(name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    first_update_id: int = msgspec.field(name="U")
    final_update_id: int = msgspec.field(name="u")
    bid_levels: tuple[WireLevel, ...] = msgspec.field(name="b")
    ask_levels: tuple[WireLevel, ...] = msgspec.field(name="a")


class PartialDepth(_Levels, msgspec.Struct, frozen=True, kw_only=True):
    """A ``<symbol>@depth<5|10|20>[@100ms]`` event: the top levels, complete.

    Sample payload (no event type, time or symbol on the wire)::

        {"lastUpdateId":5129092,
         "bids":[["104920.00000000","0.00263000"],["104919.66000000","0.00258000"]],
         "asks":[["104920.01000000","0.00053000"],["104920.58000000","0.00296000"]]}

    ``symbol`` comes from the combined stream's name (``btcusdt@depth5`` ->
    ``"BTCUSDT"``); it is ``""`` for a frame that came without one (a raw
    ``/ws/<stream>`` connection, whose owner knows the symbol).  Bids best first
    (highest), asks best first (lowest), as Binance sends them.
    """

    last_update_id: int = msgspec.field(name="lastUpdateId")
    bid_levels: tuple[WireLevel, ...] = msgspec.field(name="bids")
    ask_levels: tuple[WireLevel, ...] = msgspec.field(name="asks")
    symbol: str = ""


class DepthSnapshot(_Levels, msgspec.Struct, frozen=True, kw_only=True):
    """A ``GET /api/v3/depth`` answer: the book (up to ``limit`` levels a side) as of
    update id ``last_update_id``, from which a local book is (re)built.

    The feed hands one downstream each time a symbol's local book is (re)built, before
    the :class:`DepthUpdate` records that continue it, so that a consumer (or a
    recording) can keep its own copy of the book from records alone.
    ``received_ms`` is the local wall-clock time of the answer (the REST API sends no
    event time).
    """

    symbol: str
    last_update_id: int = msgspec.field(name="lastUpdateId")
    bid_levels: tuple[WireLevel, ...] = msgspec.field(name="bids")
    ask_levels: tuple[WireLevel, ...] = msgspec.field(name="asks")
    received_ms: int | None = None


class Kline(msgspec.Struct, frozen=True, kw_only=True):
    """One candle: the ``k`` object of a ``<symbol>@kline_<interval>`` event, or one row
    of ``GET /api/v3/klines``.

    Sample payload::

        {"e":"kline","E":1628952421387,"s":"FTMUSDT","k":{"t":1628952360000,
         "T":1628952419999,"s":"FTMUSDT","i":"1m","f":38248833,"L":38248914,
         "o":"0.34064000","c":"0.33964000","h":"0.34070000","l":"0.33934000",
         "v":"209224.30000000","n":82,"x":true,"q":"71058.51891400",
         "V":"156133.30000000","Q":"53013.75454200","B":"0"}}

    ``event_time`` is the event's ``E`` (``None`` for a REST row).  A stream kline is
    final when ``closed`` (``x``); a REST row is ``closed`` when its close time is in
    the past.  The REST rows carry no trade ids (``first_trade_id`` /
    ``last_trade_id`` are ``None``); Binance sends ``-1`` for both in a candle without
    trades.
    """

    symbol: str = msgspec.field(name="s")
    interval: str = msgspec.field(name="i")
    open_time: int = msgspec.field(name="t")
    close_time: int = msgspec.field(name="T")
    open_price: Decimal = msgspec.field(name="o")
    high_price: Decimal = msgspec.field(name="h")
    low_price: Decimal = msgspec.field(name="l")
    close_price: Decimal = msgspec.field(name="c")
    volume: Decimal = msgspec.field(name="v")
    quote_volume: Decimal = msgspec.field(name="q")
    trade_count: int = msgspec.field(name="n")
    taker_buy_volume: Decimal = msgspec.field(name="V")
    taker_buy_quote_volume: Decimal = msgspec.field(name="Q")
    closed: bool = msgspec.field(name="x")
    first_trade_id: int | None = msgspec.field(default=None, name="f")
    last_trade_id: int | None = msgspec.field(default=None, name="L")
    event_time: int | None = msgspec.field(default=None, name="E")


MarketRecord: TypeAlias = Ticker | MiniTicker | BookTicker | Trade
"""The tickers, book tickers and trades: what the feed hands downstream for every
subscribed symbol, and what the account marks and fills on."""

BookRecord: TypeAlias = DepthUpdate | PartialDepth | DepthSnapshot
"""Order book records: only for symbols whose book (or partial depth) was asked for."""

FeedRecord: TypeAlias = MarketRecord | BookRecord | Kline
"""Everything the feed hands downstream (``on_record``)."""
