"""Binance 1m klines -> plausible ticks, as a pure function.

Input: the public data archive's kline CSVs (data.binance.vision, spot, 1m): no
header, 12 columns: open time (ms), open, high, low, close, volume, close time
(ms), quote volume, number of trades, taker buy base volume, taker buy quote
volume, ignore.

Output (:func:`kline_records`): per candle, one simulated second at a time, an
``aggTrade`` (when trades happened in that second), a ``bookTicker`` around the
price and a ``24hrTicker`` with rolling statistics computed from the klines so far.
The price path inside a minute is deterministic: open -> first extreme -> second
extreme -> close, visiting the low first on an up candle and the high first on a
down candle (the usual reading of a candle), moving linearly with time spent in
proportion to the distance travelled.  Every price is tick-rounded and stays within
the candle's low..high; the candle's last tick is its close.  Event times are the
candles' own times (open time + whole seconds), never the wall clock.

The engine's fast deterministic replay and the simulator's ``--replay`` both use this.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from workspace.errors import InvalidParams
from workspace.market.records import BookTicker, MarketRecord, Ticker, Trade
from workspace.sim.fixedpoint import decimal_e8, format_decimal, format_e8, to_e8
from workspace.sim.window import RollingWindow

SECONDS_PER_CANDLE = 60


@dataclass(frozen=True, slots=True)
class Kline:
    """One row of a Binance kline CSV (prices and volumes exact)."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    trades: int
    taker_buy_base: Decimal
    taker_buy_quote: Decimal


COLUMNS = 12
MICROSECONDS_FROM = 10**15
"""A time at or above this is in microseconds: the archive's spot files are since
2025-01-01 (a millisecond time reaches 10**15 only in the year 33658)."""


class KlinesError(InvalidParams):
    """A file that is not the archive's kline CSV (the message names the line)."""


def _ms(text: str) -> int:
    """An open or close time in ms, from the archive's ms or (since 2025) us."""
    value = int(text)
    return value // 1000 if value >= MICROSECONDS_FROM else value


def parse_kline_rows(rows: Iterable[Sequence[str]]) -> list[Kline]:
    """Rows of the 12-column CSV -> klines (an optional header row is skipped).
    Raises ``KlinesError`` naming the first row that is not a kline."""
    klines: list[Kline] = []
    for line, row in enumerate(rows, start=1):
        if not row or not row[0].strip().isdigit():
            continue  # header or blank line
        if len(row) < COLUMNS - 1:  # (the last column, "ignore", may be missing)
            raise KlinesError(
                f"line {line}: not a Binance kline row: expected {COLUMNS} columns (open "
                f"time, open, high, low, close, volume, close time, quote volume, trades, "
                f"taker buy base, taker buy quote, ignore), got {len(row)}"
            )
        try:
            kline = Kline(
                open_time=_ms(row[0]),
                open=Decimal(row[1]),
                high=Decimal(row[2]),
                low=Decimal(row[3]),
                close=Decimal(row[4]),
                volume=Decimal(row[5]),
                close_time=_ms(row[6]),
                quote_volume=Decimal(row[7]),
                trades=int(row[8]),
                taker_buy_base=Decimal(row[9]),
                taker_buy_quote=Decimal(row[10]),
            )
        except (ValueError, ArithmeticError):
            raise KlinesError(
                f"line {line}: not a Binance kline row: a field is not a number: "
                f"{','.join(row)[:80]!r}"
            ) from None
        prices = (kline.open, kline.high, kline.low, kline.close)
        if not all(p.is_finite() and p > 0 for p in prices) or not (
            kline.low <= min(kline.open, kline.close) <= max(kline.open, kline.close) <= kline.high
        ):
            raise KlinesError(
                f"line {line}: not a kline: its prices must be > 0 with low <= open, close "
                f"<= high: {','.join(row[1:5])!r}"
            )
        klines.append(kline)
    return klines


def read_klines(path: Path) -> list[Kline]:
    """A kline ``.csv`` or the archive's ``.zip`` holding one.  Raises ``KlinesError``
    (the file and line named) for anything else, or a file without a kline."""
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith(".csv")), None)
                if name is None:
                    raise KlinesError("the archive holds no .csv")
                text = archive.read(name).decode()
        else:
            text = path.read_text()
        klines = parse_kline_rows(csv.reader(io.StringIO(text)))
    except KlinesError as error:
        raise KlinesError(f"{path}: {error}") from None
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise KlinesError(f"{path}: not a kline CSV or its .zip: {error}") from None
    if not klines:
        raise KlinesError(f"{path}: no kline in it (Binance's 12-column kline CSV expected)")
    return klines


def symbol_from_filename(path: Path) -> str:
    """``BTCUSDT-1m-2020-01-01.csv`` -> ``BTCUSDT``."""
    return path.name.split("-", 1)[0].upper()


def infer_step(values: Iterable[Decimal]) -> Decimal:
    """The coarsest power of ten every value is a multiple of (a tick or step size)."""
    step = Decimal(1)
    for value in values:
        while step > Decimal("1e-8") and value % step != 0:
            step /= 10
    return step.normalize() if step >= 1 else step


def _waypoints(kline: Kline) -> tuple[list[int], list[int]]:
    """The e8 prices open, first extreme, second extreme, close and the seconds
    (0, a, b, 59 with 0 < a < b < 59) at which the path reaches them."""
    o, h, low, c = (to_e8(kline.open), to_e8(kline.high), to_e8(kline.low), to_e8(kline.close))
    first, second = (low, h) if c >= o else (h, low)
    points = [o, first, second, c]
    legs = [abs(b - a) for a, b in itertools.pairwise(points)]
    total = sum(legs) or 1
    last = SECONDS_PER_CANDLE - 1
    # Time in proportion to the distance travelled, each waypoint on its own second.
    a = min(max(1, round(last * legs[0] / total)), last - 2)
    b = min(max(a + 1, round(last * (legs[0] + legs[1]) / total)), last - 1)
    return points, [0, a, b, last]


def candle_path(kline: Kline, tick_e8: int) -> list[int]:
    """The e8 prices of the 60 seconds of a candle: open first, close last, the high
    and the low each reached exactly, every price tick-rounded within low..high."""
    points, at = _waypoints(kline)
    low, high = to_e8(kline.low), to_e8(kline.high)
    prices: list[int] = []
    for second in range(SECONDS_PER_CANDLE):
        leg = 0
        while leg < 2 and second > at[leg + 1]:
            leg += 1
        start, end = at[leg], at[leg + 1]
        frac = (second - start) / (end - start)
        raw = points[leg] + (points[leg + 1] - points[leg]) * frac
        price = round(raw / tick_e8) * tick_e8
        prices.append(min(max(price, low), high))
    for second, point in zip(at, points, strict=True):
        prices[second] = point  # exact, whatever the rounding
    return prices


def trade_counts(kline: Kline) -> list[int]:
    """How many of the candle's trades fall in each of its 60 seconds.

    With fewer than 60 trades some seconds are quiet; the close, the two extremes
    and the open are traded first, so the trades alone reproduce the candle.
    """
    n = kline.trades
    if n >= SECONDS_PER_CANDLE:
        return _split(n, SECONDS_PER_CANDLE, 1)
    _, at = _waypoints(kline)
    chosen: list[int] = []
    for second in [at[3], at[1], at[2], at[0]] + [
        round(i * (SECONDS_PER_CANDLE - 1) / max(1, n - 1)) for i in range(n)
    ]:
        if len(chosen) < n and second not in chosen:
            chosen.append(second)
    for second in range(SECONDS_PER_CANDLE):  # rounding collisions: fill from the start
        if len(chosen) < n and second not in chosen:
            chosen.append(second)
    counts = [0] * SECONDS_PER_CANDLE
    for second in chosen:
        counts[second] = 1
    return counts


def _split(total: int, parts: int, unit: int) -> list[int]:
    """``total`` in ``parts`` multiples of ``unit`` that add up exactly (remainder last)."""
    if parts <= 0:
        return []
    each = total // parts // unit * unit
    shares = [each] * parts
    shares[-1] += total - each * parts
    return shares


def kline_records(
    klines: Iterable[Kline],
    symbol: str,
    *,
    tick_size: Decimal | None = None,
    step_size: Decimal | None = None,
    first_trade_id: int = 1,
) -> Iterator[MarketRecord]:
    """Klines (in time order) -> aggTrade, bookTicker and 24hrTicker records per second.

    Per candle the ``trades`` count is spread over its seconds (aggTrade ``f``..``l``),
    and its volume over the seconds that have trades, so each candle's trades add up
    to its volume and trade count exactly.  ``tick_size``/``step_size`` default to the
    coarsest ones the data allows.
    """
    rows = list(klines)
    tick = to_e8(tick_size or infer_step(v for k in rows for v in (k.open, k.high, k.low, k.close)))
    step = to_e8(step_size or infer_step(k.volume for k in rows))
    window = RollingWindow()
    trade_id = first_trade_id - 1
    agg_id = first_trade_id - 1
    book_id = first_trade_id
    prev_price: int | None = None
    last_qty = 0
    for kline in rows:
        path = candle_path(kline, tick)
        counts = trade_counts(kline)
        trading = [i for i, n in enumerate(counts) if n > 0]
        volumes = dict(zip(trading, _split(to_e8(kline.volume), len(trading), step), strict=True))
        for second, price in enumerate(path):
            now = kline.open_time + second * 1000
            seller_hit = prev_price is not None and price < prev_price
            prev_price = price
            count = counts[second]
            if count > 0:
                agg_id += 1
                first = trade_id + 1
                trade_id += count
                last_qty = volumes[second]
                window.add_trade(now, price, last_qty, trade_id, first_id=first)
                yield Trade(
                    event_type="aggTrade",
                    event_time=now,
                    symbol=symbol,
                    agg_id=agg_id,
                    price=decimal_e8(price),
                    quantity=decimal_e8(last_qty),
                    first_trade_id=first,
                    last_trade_id=trade_id,
                    trade_time=now,
                    buyer_is_maker=seller_hit,
                )
            # The trade hit the bid on a down move, lifted the ask otherwise.
            bid, ask = (price, price + tick) if seller_hit else (price - tick, price)
            book_qty = max(step, to_e8(kline.volume) // SECONDS_PER_CANDLE // step * step)
            book_id += 1
            yield BookTicker(
                update_id=book_id,
                symbol=symbol,
                bid_price=decimal_e8(bid),
                bid_qty_text=format_e8(book_qty),
                ask_price=decimal_e8(ask),
                ask_qty_text=format_e8(book_qty),
            )
            if window.last_price is None:
                continue  # no trade yet: nothing to compute a 24 h ticker from
            stats = window.stats(now)
            yield Ticker(
                event_type="24hrTicker",
                event_time=now,
                symbol=symbol,
                price_change_text=format_decimal(stats.price_change),
                price_change_percent_text=format_decimal(stats.price_change_percent),
                weighted_avg_price_text=format_decimal(stats.weighted_avg),
                prev_close_price_text=format_decimal(stats.prev_close),
                last_price=stats.last,
                last_quantity_text=format_e8(last_qty),
                bid_price=decimal_e8(bid),
                bid_qty_text=format_e8(book_qty),
                ask_price=decimal_e8(ask),
                ask_qty_text=format_e8(book_qty),
                open_price_text=format_decimal(stats.open),
                high_price_text=format_decimal(stats.high),
                low_price_text=format_decimal(stats.low),
                volume=stats.volume,
                quote_volume_text=format_decimal(stats.quote_volume),
                open_time=max(stats.open_time, rows[0].open_time),
                close_time=stats.close_time,
                first_trade_id=stats.first_id,
                last_trade_id=stats.last_id,
                trade_count=stats.count,
            )


__all__ = [
    "Kline",
    "KlinesError",
    "candle_path",
    "infer_step",
    "kline_records",
    "parse_kline_rows",
    "read_klines",
    "symbol_from_filename",
    "trade_counts",
]
