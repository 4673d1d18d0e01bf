"""Kline -> ticks: the real 1m candles become a plausible, deterministic tick path."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.market.records import BookTicker, Ticker, Trade
from workspace.sim.fixedpoint import to_e8
from workspace.sim.klines import (
    Kline,
    KlinesError,
    candle_path,
    infer_step,
    kline_records,
    read_klines,
    symbol_from_filename,
)

from .conftest import FIXTURES

KLINES = FIXTURES / "replay" / "klines"
BTC_DAY = KLINES / "BTCUSDT-1m-2020-01-01.csv"


@pytest.fixture(scope="module")
def btc_klines() -> list[Kline]:
    return read_klines(BTC_DAY)


def test_csv_rows_parse_into_exact_klines(btc_klines: list[Kline]) -> None:
    first = btc_klines[0]
    assert len(btc_klines) == 1440
    assert first.open_time == 1577836800000
    assert first.close_time == 1577836859999
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("7195.24"),
        Decimal("7196.25"),
        Decimal("7183.14"),
        Decimal("7186.68"),
    )
    assert first.trades == 493


def test_the_zip_from_the_archive_reads_like_its_csv() -> None:
    assert read_klines(KLINES / "BTCUSDT-1m-2020-01-02.zip") == read_klines(
        KLINES / "BTCUSDT-1m-2020-01-02.csv"
    )


def test_symbol_and_tick_size_come_from_the_file(btc_klines: list[Kline]) -> None:
    assert symbol_from_filename(BTC_DAY) == "BTCUSDT"
    prices = [v for k in btc_klines for v in (k.open, k.high, k.low, k.close)]
    assert infer_step(prices) == Decimal("0.01")


def test_candle_path_runs_open_to_close_within_low_and_high(btc_klines: list[Kline]) -> None:
    tick = to_e8(Decimal("0.01"))
    for kline in btc_klines:
        path = candle_path(kline, tick)
        assert len(path) == 60
        assert path[0] == to_e8(kline.open)
        assert path[-1] == to_e8(kline.close)
        assert min(path) == to_e8(kline.low)
        assert max(path) == to_e8(kline.high)


def test_down_candle_visits_the_high_before_the_low(btc_klines: list[Kline]) -> None:
    down = next(k for k in btc_klines if k.close < k.open and k.high > k.open)
    path = candle_path(down, to_e8(Decimal("0.01")))
    assert path.index(to_e8(down.high)) < path.index(to_e8(down.low))


def test_replay_yields_the_recorded_closes_in_order_and_stays_in_each_candle(
    btc_klines: list[Kline],
) -> None:
    candles = btc_klines[:120]
    by_minute = {k.open_time: k for k in candles}
    last_trade_of_minute: dict[int, Decimal] = {}
    event_times = []
    for record in kline_records(candles, "BTCUSDT"):
        if isinstance(record, Trade):
            minute = by_minute[record.event_time - record.event_time % 60_000]
            assert minute.low <= record.price <= minute.high
            last_trade_of_minute[minute.open_time] = record.price
            event_times.append(record.event_time)
        elif isinstance(record, BookTicker):
            assert record.bid_price < record.ask_price
    assert list(last_trade_of_minute) == [k.open_time for k in candles]
    assert list(last_trade_of_minute.values()) == [k.close for k in candles]
    assert event_times == sorted(event_times)
    assert event_times[0] == candles[0].open_time


def test_each_candles_trades_add_up_to_its_volume_and_trade_count(
    btc_klines: list[Kline],
) -> None:
    candles = btc_klines[:30]
    volume: dict[int, Decimal] = {}
    count: dict[int, int] = {}
    for record in kline_records(candles, "BTCUSDT"):
        if isinstance(record, Trade):
            minute = record.event_time - record.event_time % 60_000
            volume[minute] = volume.get(minute, Decimal(0)) + record.quantity
            assert record.first_trade_id is not None
            assert record.last_trade_id is not None
            count[minute] = count.get(minute, 0) + record.last_trade_id - record.first_trade_id + 1
    assert [volume[k.open_time] for k in candles] == [k.volume for k in candles]
    assert [count[k.open_time] for k in candles] == [k.trades for k in candles]


def test_replay_tickers_carry_consistent_rolling_statistics(btc_klines: list[Kline]) -> None:
    candles = btc_klines[:90]
    tickers = [r for r in kline_records(candles, "BTCUSDT") if isinstance(r, Ticker)]
    assert len(tickers) == 90 * 60
    for t in tickers[::97]:
        assert t.price_change == t.last_price - t.open_price
        assert t.low_price <= min(t.last_price, t.open_price)
        assert t.high_price >= max(t.last_price, t.open_price)
        assert t.trade_count == t.last_trade_id - t.first_trade_id + 1
    final = tickers[-1]
    assert final.open_price == candles[0].open
    assert final.high_price == max(k.high for k in candles)
    assert final.low_price == min(k.low for k in candles)
    assert final.volume == sum((k.volume for k in candles), Decimal(0))


def test_conversion_is_deterministic(btc_klines: list[Kline]) -> None:
    candles = btc_klines[:20]
    assert list(kline_records(candles, "BTCUSDT")) == list(kline_records(candles, "BTCUSDT"))


def test_eth_klines_of_another_year_convert_too() -> None:
    candles = read_klines(KLINES / "ETHUSDT-1m-2022-08-14.csv")[:10]
    trades = [r for r in kline_records(candles, "ETHUSDT") if isinstance(r, Trade)]
    assert trades[-1].price == candles[-1].close
    assert all(r.symbol == "ETHUSDT" for r in trades)


def test_a_file_path_is_not_needed_rows_parse_from_any_iterable(tmp_path: Path) -> None:
    from workspace.sim.klines import parse_kline_rows

    rows = [
        ["open time", "open"],  # a header some tools add
        ["60000", "1.0", "2.0", "0.5", "1.5", "10", "119999", "15", "4", "5", "7", "0"],
    ]
    (kline,) = parse_kline_rows(rows)
    assert kline.close == Decimal("1.5")


def test_the_archives_microsecond_times_since_2025_read_as_milliseconds(tmp_path: Path) -> None:
    """data.binance.vision writes spot times in microseconds from 2025-01-01; read as
    milliseconds they would put the candles in the year 57000."""
    rows = (KLINES / "BTCUSDT-1m-2020-01-01.csv").read_text().splitlines()[:3]
    in_us = []
    for row in rows:
        fields = row.split(",")
        fields[0] += "000"
        fields[6] += "999"
        in_us.append(",".join(fields))
    path = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    path.write_text("\n".join(in_us) + "\n")
    assert read_klines(path) == read_klines(KLINES / "BTCUSDT-1m-2020-01-01.csv")[:3]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a,b\n1,2\n", "line 2: not a Binance kline row: expected 12 columns"),
        (
            "1577836800000,7195.24,abc,7183.14,7186.68,51.642812,1577836859999,371233.57,493,"
            "19.24,138337.70,0\n",
            "line 1: not a Binance kline row: a field is not a number",
        ),
        (
            "1577836800000,7195.24,7100,7183.14,7186.68,51.642812,1577836859999,371233.57,493,"
            "19.24,138337.70,0\n",
            "line 1: not a kline: its prices must be > 0 with low <= open, close <= high",
        ),
        ("open_time,open\n", "no kline in it"),
    ],
)
def test_a_file_that_is_not_klines_is_refused_naming_its_line(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "BTCUSDT-1m-2020-01-01.csv"
    path.write_text(text)
    with pytest.raises(KlinesError) as refused:
        read_klines(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert words in str(refused.value)


def test_an_archive_without_a_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2020-01-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "no klines here")
    with pytest.raises(KlinesError, match=r"the archive holds no \.csv"):
        read_klines(path)
    path.write_text("not a zip")
    with pytest.raises(KlinesError, match=r"not a kline CSV or its \.zip"):
        read_klines(path)
