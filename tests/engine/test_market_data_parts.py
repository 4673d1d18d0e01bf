"""The engine's market data parts on their own: the candle merge rule and bound, book
messages paced per symbol, and which tick is the first after a gap."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from workspace.engine.books import BookChange, BookMessages, RecordedBooks, book_message
from workspace.engine.candles import CandleSeries, check_request, newer
from workspace.engine.gaps import GapLog
from workspace.errors import InvalidParams
from workspace.journal import Journal
from workspace.market.book import OrderBook
from workspace.market.records import DepthSnapshot, DepthUpdate, Kline
from workspace.market.status import Gap
from workspace.session import Message

from .fakes import ManualClock


def kline(
    open_time: int, close: str, *, n: int, closed: bool = False, e: int | None = None
) -> Kline:
    price = Decimal(close)
    return Kline(
        symbol="BTCUSDT",
        interval="1m",
        open_time=open_time,
        close_time=open_time + 59_999,
        open_price=price,
        high_price=price,
        low_price=price,
        close_price=price,
        volume=Decimal(n),
        quote_volume=price * n,
        trade_count=n,
        taker_buy_volume=Decimal(0),
        taker_buy_quote_volume=Decimal(0),
        closed=closed,
        event_time=e,
    )


def test_a_candle_only_moves_forward_whichever_path_brings_it() -> None:
    forming, later = kline(0, "10", n=5, e=100), kline(0, "11", n=7, e=200)
    final = kline(0, "12", n=9, closed=True)
    assert newer(later, forming)
    assert not newer(forming, later)  # an older stream event arriving late
    assert newer(final, later)
    assert not newer(later, final)  # a closed candle is final
    rest_forming = kline(0, "10.5", n=6)  # REST: no event time, judged by its trades
    assert newer(later, rest_forming)
    assert not newer(rest_forming, later)


def test_a_series_keeps_open_times_in_order_and_at_most_its_bound() -> None:
    series = CandleSeries("BTCUSDT", "1m", max_candles=3)
    for minute in (2, 0, 1, 3):  # a backfill landing after a live candle
        assert series.upsert(kline(minute * 60_000, str(100 + minute), n=1, closed=True))
    assert [k.open_time for k in series.last(10)] == [60_000, 120_000, 180_000]
    assert not series.upsert(kline(0, "1", n=1, closed=True))  # older than the window
    assert series.upsert(kline(180_000, "200", n=2)) is False  # closed stays closed
    assert [k.open_time for k in series.last(2)] == [120_000, 180_000]


@pytest.mark.parametrize(
    ("interval", "limit"), [("1m", 0), ("1m", 1001), ("1m", "5"), ("1m", True), ("7m", 5)]
)
def test_bad_candle_requests(interval: str, limit: object) -> None:
    with pytest.raises(InvalidParams):
        check_request(interval, limit)


def book_with(update_id: int) -> OrderBook:
    return OrderBook.from_snapshot(
        DepthSnapshot(
            symbol="BTCUSDT",
            last_update_id=update_id,
            bid_levels=(("100.00000000", "1.00000000"), ("99.00000000", "2.00000000")),
            ask_levels=(("101.00000000", "3.00000000"),),
        )
    )


def test_book_messages_on_data_time_send_at_most_one_per_interval_and_the_latest() -> None:
    clock = ManualClock(now_ms=1_000_000)
    sent: list[Message] = []
    messages = BookMessages(
        sent.append, lambda: clock.time_ms() / 1000, timers=False, wall_ms=clock.time_ms
    )
    book = book_with(1)
    messages.changed(BookChange("BTCUSDT", book, None))
    assert sent == []  # nobody holds it: nothing built
    messages.acquire("BTCUSDT")
    for update_id in (2, 3, 4):
        book.last_update_id = update_id
        messages.changed(BookChange("BTCUSDT", book, None))
        clock.advance(0.03)
    assert [m["lastUpdateId"] for m in sent] == [2]  # 3 and 4 fell within 100 ms
    assert messages.latest("BTCUSDT")["lastUpdateId"] == 4  # type: ignore[index]
    clock.advance(0.1)
    book.last_update_id = 5
    messages.changed(BookChange("BTCUSDT", book, None))
    assert [m["lastUpdateId"] for m in sent] == [2, 5]
    assert sent[-1] == book_message(book, now_ms=clock.time_ms())
    assert sent[-1]["bids"] == [[100.0, 1.0], [99.0, 2.0]]
    assert messages.release("BTCUSDT")
    messages.changed(BookChange("BTCUSDT", book, None))
    assert len(sent) == 2


async def test_book_messages_live_send_the_change_held_back_when_the_interval_ends() -> None:
    loop = asyncio.get_running_loop()
    sent: asyncio.Queue[Message] = asyncio.Queue()
    messages = BookMessages(sent.put_nowait, loop.time, timers=True, interval_s=0.05)
    messages.acquire("BTCUSDT")
    book = book_with(1)
    messages.changed(BookChange("BTCUSDT", book, None))
    book.last_update_id = 2
    messages.changed(BookChange("BTCUSDT", book, None))  # within the interval: held
    first = await asyncio.wait_for(sent.get(), 5)
    second = await asyncio.wait_for(sent.get(), 5)
    assert (first["lastUpdateId"], second["lastUpdateId"]) == (1, 2)
    messages.close()


def test_the_first_tick_after_a_gap_is_flagged_once(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        gaps = GapLog(journal, ManualClock())
        assert not gaps.after_gap("BTCUSDT")  # the first tick ever is no gap
        assert not gaps.after_gap("ETHUSDT")
        gaps.complete(Gap(1, 2, "depth gap: BTCUSDT: ...", "BTCUSDT"))
        assert [gaps.after_gap("BTCUSDT"), gaps.after_gap("BTCUSDT")] == [True, False]
        assert not gaps.after_gap("ETHUSDT")  # another symbol's book
        assert gaps.open(3, "stalled")
        assert not gaps.open(4, "reconnecting")  # one open gap at a time
        assert gaps.last_message() == {
            "start_ms": 3, "end_ms": None, "reason": "stalled", "symbol": None,
        }  # fmt: skip
        gaps.complete(Gap(3, 9, "stalled"))
        assert gaps.open_gap is None
        assert gaps.after_gap("ETHUSDT")
        assert gaps.after_gap("BTCUSDT")
        assert [g["reason"] for g in gaps.touching("ETHUSDT", 5)] == ["stalled"]
        assert len(gaps.touching("BTCUSDT", 0)) == 2
        assert len(journal.gaps()) == 2
        # a symbol that streams but had not ticked when the feed's gap came
        gaps.watch(["SOLUSDT"])
        gaps.complete(Gap(10, 12, "connection closed (1006)"))
        assert gaps.after_gap("SOLUSDT")
        assert not gaps.after_gap("XRPUSDT")  # never watched, first tick ever


def update(first: int, last: int, ms: int) -> DepthUpdate:
    raw = {
        "e": "depthUpdate", "E": ms, "s": "BTCUSDT", "U": first, "u": last,
        "b": [["100.00000000", f"{last}.00000000"]], "a": [],
    }  # fmt: skip
    return msgspec.json.decode(msgspec.json.encode(raw), type=DepthUpdate)


def test_recorded_books_buffer_until_a_snapshot_and_report_a_gap_when_rebuilt() -> None:
    reported: list[Gap] = []
    books = RecordedBooks(reported.append)
    assert books.on_record(update(9, 11, 1_000)) == []  # buffered: no book yet
    changes = books.on_record(
        DepthSnapshot(symbol="BTCUSDT", last_update_id=10, bid_levels=(), ask_levels=())
    )
    # the snapshot, then the buffered event that continues it (one change each)
    assert [c.event_ms for c in changes] == [None, 1_000]
    assert books.book("BTCUSDT").last_update_id == 11  # type: ignore[union-attr]
    assert books.on_record(update(12, 12, 2_000))[0].book is books.book("BTCUSDT")
    lost = books.on_record(update(15, 16, 3_000))  # 13..14 missed
    assert [c.book for c in lost] == [None]
    assert books.book("BTCUSDT") is None
    books.on_record(
        DepthSnapshot(symbol="BTCUSDT", last_update_id=16, bid_levels=(), ask_levels=())
    )
    assert reported == []  # over only once an event is applied to the new book
    books.on_record(update(17, 17, 4_000))
    assert reported == [Gap(2_000, 4_000, reported[0].reason, "BTCUSDT")]
    assert reported[0].reason.startswith("depth gap: BTCUSDT")
