"""Recorded sessions the simulator can serve instead of the random walk.

Two formats:

* JSONL written by :mod:`workspace.sim.recorder` (and the fixture
  ``session.combined.mainnet-2021-08-14.jsonl``): one ``{"recv_ts": <unix s>,
  "frame": <frame>}`` per line, the frame either combined (``{"stream","data"}``) or
  a raw payload.  Frames are served byte for byte as recorded, in order.
* Binance 1m kline CSVs (or their ``.zip``), or a directory of them: turned into
  ticks by :func:`workspace.sim.klines.kline_records`; each ``aggTrade`` also yields
  the matching ``trade`` and each ``24hrTicker`` the matching ``24hrMiniTicker``.

Event times come from the recording; the pacing of a replay (``speed``) is the
server's business.  The symbols served, and their exchangeInfo filters, are the
ones the recording shows (tick and step sizes inferred from the prices).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from workspace.errors import InvalidParams
from workspace.market.records import MarketRecord, MiniTicker, Ticker, Trade
from workspace.sim.book import SimBook
from workspace.sim.candle import MINUTE_MS
from workspace.sim.candles import CandleStore
from workspace.sim.config import SymbolSpec
from workspace.sim.fixedpoint import SCALE, to_e8
from workspace.sim.klines import infer_step, kline_records, read_klines, symbol_from_filename
from workspace.sim.market import RecentTrade
from workspace.sim.streams import stream_name
from workspace.sim.window import WindowStats, stats_over
from workspace.sim.wire import encode_record

log = logging.getLogger(__name__)

_QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_PRICE_KEYS = ("p", "c", "b", "a", "o", "h", "l")
_QTY_KEYS = ("q", "B", "A", "Q")


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    at_ms: int
    stream: str
    payload: bytes


class _Line(msgspec.Struct):
    recv_ts: float
    frame: msgspec.Raw


class _Combined(msgspec.Struct):
    stream: str
    data: msgspec.Raw


class _Payload(msgspec.Struct):
    e: str | None = None
    s: str | None = None
    u: int | None = None


def _split_symbol(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-4], symbol[-4:]


def _spec(symbol: str, prices: list[Decimal], quantities: list[Decimal]) -> SymbolSpec:
    base, quote = _split_symbol(symbol)
    return SymbolSpec(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        price=prices[-1] if prices else Decimal(1),
        tick_size=infer_step(prices) if prices else Decimal("0.00000001"),
        step_size=infer_step(quantities) if quantities else Decimal("0.00000001"),
        min_notional=Decimal("5") if quote.startswith("USD") else Decimal("0.0001"),
    )


class Replay:
    """A loaded recording: its symbols, first tickers and (re-iterable) events."""

    def __init__(
        self,
        name: str,
        specs: Sequence[SymbolSpec],
        events: Callable[[], Iterator[ReplayEvent]],
        tickers: dict[str, Ticker],
    ) -> None:
        self.name = name
        self._specs = tuple(specs)
        self._events = events
        self._tickers = tickers
        self._trades: dict[str, list[RecentTrade]] | None = None
        self._stores: dict[str, CandleStore] | None = None

    def specs(self) -> Sequence[SymbolSpec]:
        return self._specs

    def events(self) -> Iterator[ReplayEvent]:
        """The events from the beginning (each call starts over)."""
        return self._events()

    def ticker(self, symbol: str, now_ms: int) -> Ticker | None:
        """The recording's first 24 h ticker of ``symbol`` (REST ``ticker/24hr``)."""
        return self._tickers.get(symbol)

    # -- the recording's own trades and klines (REST) -------------------------------

    def recent_trades(self, symbol: str) -> Sequence[RecentTrade]:
        """Every trade of ``symbol`` in the recording (its ``aggTrade`` frames, or its
        ``trade`` frames when it has no aggregate ones)."""
        return self._recorded()[0].get(symbol, ())

    def candles(self, symbol: str) -> CandleStore | None:
        """Klines of every interval built from the recorded trades."""
        return self._recorded()[1].get(symbol)

    def book(self, symbol: str) -> SimBook | None:
        return None  # a recording holds no order book to serve

    def window_stats(self, symbol: str, window_ms: int, now_ms: int) -> WindowStats | None:
        store = self.candles(symbol)
        if store is None or store.last_trade_ms is None:
            return None
        end = store.last_trade_ms
        start = end - window_ms
        return stats_over(store, start - start % MINUTE_MS, end, start - start % MINUTE_MS)

    def avg_price(self, symbol: str) -> tuple[int, int] | None:
        store = self.candles(symbol)
        if store is None or store.last_trade_ms is None:
            return None
        start = store.last_trade_ms - 5 * MINUTE_MS
        candle = store.window(start - start % MINUTE_MS)
        if candle is None or candle.volume == 0:
            return store.last_price, store.last_trade_ms
        average = candle.quote_volume * SCALE // candle.volume
        return min(max(average, candle.low), candle.high), store.last_trade_ms

    def _recorded(self) -> tuple[dict[str, list[RecentTrade]], dict[str, CandleStore]]:
        if self._trades is None:
            self._trades, self._stores = _trades_and_candles(self.events(), self._specs)
        assert self._stores is not None
        return self._trades, self._stores


class _TradeFields(msgspec.Struct):
    e: str
    s: str
    p: str
    q: str
    T: int
    m: bool
    t: int | None = None
    a: int | None = None
    f: int | None = None
    l: int | None = None  # noqa: E741 (Binance's field name)


def _trades_and_candles(
    events: Iterable[ReplayEvent], specs: Sequence[SymbolSpec]
) -> tuple[dict[str, list[RecentTrade]], dict[str, CandleStore]]:
    decoder = msgspec.json.Decoder(_TradeFields)
    aggregated: dict[str, list[RecentTrade]] = {}
    plain: dict[str, list[RecentTrade]] = {}
    for event in events:
        if not event.stream.endswith(("@aggTrade", "@trade")):
            continue
        try:
            fields = decoder.decode(event.payload)
            price, qty = to_e8(fields.p), to_e8(fields.q)
        except (msgspec.DecodeError, ValueError, ArithmeticError):
            continue  # not a trade the simulator can serve; the stream still has it
        if fields.e == "aggTrade" and fields.a is not None:
            last_id = fields.l if fields.l is not None else fields.a
            first_id = fields.f if fields.f is not None else last_id
            trade = RecentTrade(last_id, fields.a, price, qty, fields.T, fields.m, first_id)
            aggregated.setdefault(fields.s, []).append(trade)
        elif fields.e == "trade" and fields.t is not None:
            trade = RecentTrade(fields.t, fields.t, price, qty, fields.T, fields.m)
            plain.setdefault(fields.s, []).append(trade)
    trades = {**plain, **aggregated}
    stores: dict[str, CandleStore] = {}
    by_symbol = {spec.symbol: spec for spec in specs}
    for symbol, rows in trades.items():
        spec = by_symbol.get(symbol)
        if spec is None or not rows:
            continue
        rows.sort(key=lambda r: (r.time_ms, r.trade_id))
        first = rows[0]
        store = CandleStore(
            None,
            tick=to_e8(spec.tick_size),
            step=to_e8(spec.step_size),
            start_ms=first.time_ms - first.time_ms % MINUTE_MS,
            price=first.price,
        )
        for row in rows:
            store.add_trade(
                row.time_ms, row.price, row.qty, row.trade_id, not row.buyer_is_maker, row.first_id
            )
        stores[symbol] = store
    return trades, stores


class ReplayFileError(InvalidParams):
    """A file (or folder) given to replay that holds nothing to replay."""


def load_replay(path: Path) -> Replay:
    """A JSONL session, a kline CSV/zip, or a directory of kline files.  A file that
    is not one, or holds no market data, is a ``ReplayFileError`` (an empty one was
    served as a market that never ticks, until stopped)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".zip"))
        if not files:
            raise ReplayFileError(f"{path}: no kline file (.csv or .zip) in this folder")
        csvs = [p for p in files if p.suffix == ".csv"]
        return load_klines(csvs or files)
    if path.suffix in (".csv", ".zip"):
        return load_klines([path])
    return load_jsonl(path)


def _stream_of(payload: _Payload) -> str | None:
    """The stream a raw (``/ws``) payload belongs to, from its event type."""
    if payload.s is None:
        return None
    kinds = {
        "24hrTicker": "ticker",
        "24hrMiniTicker": "miniTicker",
        "aggTrade": "aggTrade",
        "trade": "trade",
        "depthUpdate": "depth",
        "avgPrice": "avgPrice",
    }
    if payload.e is None:
        return stream_name(payload.s, "bookTicker") if payload.u is not None else None
    kind = kinds.get(payload.e)
    return stream_name(payload.s, kind) if kind is not None else None


def load_jsonl(path: Path) -> Replay:
    decoder_line = msgspec.json.Decoder(_Line)
    decoder_combined = msgspec.json.Decoder(_Combined)
    decoder_payload = msgspec.json.Decoder(_Payload)
    decoder_any = msgspec.json.Decoder()
    decoder_ticker = msgspec.json.Decoder(Ticker)
    events: list[ReplayEvent] = []
    prices: dict[str, list[Decimal]] = {}
    quantities: dict[str, list[Decimal]] = {}
    tickers: dict[str, Ticker] = {}
    skipped = 0
    first_bad = ""
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = decoder_line.decode(line)
            frame = bytes(record.frame)
            if frame.startswith(b'{"stream"'):
                combined = decoder_combined.decode(frame)
                stream, payload = combined.stream, bytes(combined.data)
            else:
                found = _stream_of(decoder_payload.decode(frame))
                if found is None:
                    continue  # replies and events that belong to no stream
                stream, payload = found, frame
            data: Any = decoder_any.decode(payload)
            listed = isinstance(data, dict) and isinstance(data.get("s"), str)
            if listed:
                line_prices = [
                    Decimal(data[k]) for k in _PRICE_KEYS if isinstance(data.get(k), str)
                ]
                line_quantities = [
                    Decimal(data[k]) for k in _QTY_KEYS if isinstance(data.get(k), str)
                ]
                symbol = data["s"]
                if data.get("e") == "24hrTicker" and symbol not in tickers:
                    tickers[symbol] = decoder_ticker.decode(payload)
        except (msgspec.DecodeError, ArithmeticError) as exc:
            # a recorder killed mid-write leaves its last line cut short: the frames
            # before it are still a recording (the engine's replay skips it too)
            skipped += 1
            why = (
                "a price or quantity in it is not a number"
                if isinstance(exc, ArithmeticError)
                else str(exc)
            )
            if skipped == 1:
                first_bad = f"line {number}: {why}"
            if skipped <= 5:  # a damaged file must not flood the log
                log.warning(
                    "%s:%d: skipped a line that is not a recorded frame: %s", path, number, why
                )
            continue
        events.append(ReplayEvent(round(record.recv_ts * 1000), stream, payload))
        if listed:
            prices.setdefault(symbol, []).extend(line_prices)
            quantities.setdefault(symbol, []).extend(line_quantities)
    if not events:
        lines = "1 bad line" if skipped == 1 else f"{skipped} bad lines"
        bad = f"; {lines} skipped, the first at {first_bad}" if skipped else ""
        raise ReplayFileError(
            f"{path}: no frame of a market stream in it (an empty file, or not a recording "
            f"of `python -m workspace record`): nothing to replay{bad}"
        )
    if not prices:
        raise ReplayFileError(
            f"{path}: no trade, ticker or book ticker in it: its symbols have no price to "
            "list them by (record a price stream too)"
        )
    specs = [_spec(s, prices[s], quantities.get(s, [])) for s in prices]
    return Replay(path.name, specs, lambda: iter(events), tickers)


def _kline_events(records: Iterable[MarketRecord]) -> Iterator[ReplayEvent]:
    for record in records:
        if isinstance(record, Trade):
            yield ReplayEvent(
                record.event_time, stream_name(record.symbol, "aggTrade"), encode_record(record)
            )
            trade = Trade(
                event_type="trade",
                event_time=record.event_time,
                symbol=record.symbol,
                trade_id=record.last_trade_id,
                price=record.price,
                quantity=record.quantity,
                trade_time=record.trade_time,
                buyer_is_maker=record.buyer_is_maker,
            )
            yield ReplayEvent(
                record.event_time, stream_name(record.symbol, "trade"), encode_record(trade)
            )
        elif isinstance(record, Ticker):
            yield ReplayEvent(
                record.event_time, stream_name(record.symbol, "ticker"), encode_record(record)
            )
            mini = MiniTicker(
                event_type="24hrMiniTicker",
                event_time=record.event_time,
                symbol=record.symbol,
                last_price=record.last_price,
                open_price_text=record.open_price_text,
                high_price_text=record.high_price_text,
                low_price_text=record.low_price_text,
                volume_text=format(record.volume, "f"),
                quote_volume_text=record.quote_volume_text,
            )
            yield ReplayEvent(
                record.event_time, stream_name(record.symbol, "miniTicker"), encode_record(mini)
            )
        else:
            # A bookTicker has no event time of its own: it shares the second's.
            yield ReplayEvent(-1, stream_name(record.symbol, "bookTicker"), encode_record(record))


def _timed(events: Iterator[ReplayEvent]) -> Iterator[ReplayEvent]:
    last = 0
    for event in events:
        if event.at_ms < 0:
            event = ReplayEvent(last, event.stream, event.payload)
        last = event.at_ms
        yield event


def load_klines(paths: Sequence[Path]) -> Replay:
    by_symbol: dict[str, list[Any]] = {}
    for path in paths:
        by_symbol.setdefault(symbol_from_filename(path), []).extend(read_klines(path))
    specs: list[SymbolSpec] = []
    tickers: dict[str, Ticker] = {}
    for symbol, rows in by_symbol.items():
        rows.sort(key=lambda k: k.open_time)
        spec = _spec(
            symbol,
            [v for k in rows for v in (k.open, k.high, k.low, k.close)],
            [k.volume for k in rows],
        )
        specs.append(spec)
        for record in kline_records(
            rows[:1], symbol, tick_size=spec.tick_size, step_size=spec.step_size
        ):
            if isinstance(record, Ticker):
                tickers[symbol] = record
                break

    def events() -> Iterator[ReplayEvent]:
        streams = [
            _timed(
                _kline_events(
                    kline_records(rows, symbol, tick_size=spec.tick_size, step_size=spec.step_size)
                )
            )
            for (symbol, rows), spec in zip(by_symbol.items(), specs, strict=True)
        ]
        return heapq.merge(*streams, key=lambda e: e.at_ms)

    name = ", ".join(p.name for p in paths)
    return Replay(name, specs, events, tickers)
