"""The local order book and Binance's synchronisation procedure (pure, no I/O)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workspace.market.book import (
    BadLevelError,
    BookGapError,
    BookSync,
    OrderBook,
    Step,
    SyncState,
    units,
)
from workspace.market.decode import decode_frame
from workspace.market.records import DepthSnapshot, DepthUpdate, WireLevel

D = Decimal
SESSION = (
    Path(__file__).parent.parent
    / "fixtures"
    / "binance"
    / "replay"
    / "session.combined.mainnet-2021-08-14.jsonl"
)


def levels(*pairs: tuple[str, str]) -> tuple[WireLevel, ...]:
    return pairs


def snapshot(
    last_id: int, bids: tuple[WireLevel, ...] = (), asks: tuple[WireLevel, ...] = ()
) -> DepthSnapshot:
    return DepthSnapshot(symbol="BTCUSDT", last_update_id=last_id, bid_levels=bids, ask_levels=asks)


def update(
    first: int,
    last: int,
    bids: tuple[WireLevel, ...] = (),
    asks: tuple[WireLevel, ...] = (),
    event_ms: int | None = None,
) -> DepthUpdate:
    return DepthUpdate(
        event_type="depthUpdate",
        event_time=event_ms if event_ms is not None else last * 100,
        symbol="BTCUSDT",
        first_update_id=first,
        final_update_id=last,
        bid_levels=bids,
        ask_levels=asks,
    )


BOOK = snapshot(
    100,
    levels(("99.5", "1"), ("99", "2"), ("100", "3")),  # out of order on purpose
    levels(("101", "4"), ("102.5", "5"), ("101.5", "0")),  # a zero level is no level
)


# -- OrderBook ---------------------------------------------------------------------------


def test_snapshot_levels_come_out_sorted_best_first() -> None:
    book = OrderBook.from_snapshot(BOOK)
    assert book.bids() == [(D("100"), D("3")), (D("99.5"), D("1")), (D("99"), D("2"))]
    assert book.asks() == [(D("101"), D("4")), (D("102.5"), D("5"))]
    assert book.bids(2) == book.bids()[:2]
    assert book.asks(1) == [(D("101"), D("4"))]
    assert book.bids(0) == []
    assert book.asks(-1) == []
    assert book.bids(50) == book.bids()
    assert (book.best_bid(), book.best_ask()) == ((D("100"), D("3")), (D("101"), D("4")))
    assert (book.spread(), book.mid()) == (D("1"), D("100.5"))
    assert (book.bid_depth, book.ask_depth, book.last_update_id) == (3, 2, 100)
    assert book.event_ms is None
    assert not book.crossed


def test_an_update_sets_inserts_and_removes_levels() -> None:
    book = OrderBook.from_snapshot(BOOK)
    applied = book.apply(
        update(
            101,
            103,
            bids=levels(("100", "0"), ("100.2", "7"), ("99", "2.5"), ("98", "0")),
            asks=levels(("101", "0.5"), ("100.8", "1")),
            event_ms=1_700_000_000_123,
        )
    )
    assert applied
    assert book.bids() == [(D("100.2"), D("7")), (D("99.5"), D("1")), (D("99"), D("2.5"))]
    assert book.asks() == [(D("100.8"), D("1")), (D("101"), D("0.5")), (D("102.5"), D("5"))]
    assert (book.last_update_id, book.event_ms) == (103, 1_700_000_000_123)
    assert book.bid_quantity(D("99.5")) == D("1")
    assert book.ask_quantity(D("42")) == 0


def test_prices_stay_the_exchanges_exact_decimals() -> None:
    book = OrderBook("BTCUSDT", 1)
    book.apply(update(2, 2, bids=levels(("104920.01000000", "0.00053000"))))
    [(price, qty)] = book.bids()
    assert (str(price), str(qty)) == ("104920.01000000", "0.00053000")
    # A level written with other trailing zeros is the same level (Decimal equality).
    book.apply(update(3, 3, bids=levels(("104920.01", "0"))))
    assert book.bids() == []


def test_an_event_older_than_the_book_is_ignored() -> None:
    book = OrderBook.from_snapshot(BOOK)
    assert not book.apply(update(90, 100, bids=levels(("100", "0"))))
    assert book.best_bid() == (D("100"), D("3"))


def test_an_event_that_overlaps_the_book_is_applied_whole() -> None:
    """Quantities are absolute as of u, so re-setting the part already applied is exact."""
    book = OrderBook.from_snapshot(BOOK)
    assert book.apply(update(95, 104, asks=levels(("101", "9"))))
    assert (book.best_ask(), book.last_update_id) == ((D("101"), D("9")), 104)


def test_an_event_that_skips_ids_raises_and_changes_nothing() -> None:
    book = OrderBook.from_snapshot(BOOK)
    with pytest.raises(BookGapError, match=r"ids 101\.\.104 missed"):
        book.apply(update(105, 106, bids=levels(("100", "0"))))
    assert book.best_bid() == (D("100"), D("3"))
    assert book.last_update_id == 100


@pytest.mark.parametrize(
    ("price", "qty"),
    [("-1.00000000", "1"), ("abc", "1"), ("1e5", "1"), ("1.000000001", "1"), ("1", "-2"),
     ("0", "1"), ("0.00000000", "1"), ("92233720368.54775808", "1"), ("1_0.5", "1"),
     ("１.00000000", "1"), (" 1.00000000", "1")],
)  # fmt: skip
def test_a_level_that_is_not_a_number_the_exchange_can_send_changes_nothing(
    price: str, qty: str
) -> None:
    book = OrderBook.from_snapshot(BOOK)
    with pytest.raises(BadLevelError):
        book.apply(update(101, 101, bids=levels(("99.8", "1"), (price, qty))))
    assert book.last_update_id == 100
    assert book.bid_quantity(D("99.8")) == 0  # the good level before it was not applied


def test_levels_are_keyed_exactly_whatever_the_number_of_decimals() -> None:
    book = OrderBook("BTCUSDT")
    book.apply(update(1, 1, bids=levels(("97000.5", "1"), ("97000.10000000", "2"))))
    book.apply(update(2, 2, bids=levels(("97000.50000000", "3"), ("97000.1", "0"))))
    assert book.bids() == [(D("97000.5"), D("3"))]
    assert str(book.bids()[0][0]) == "97000.5"  # as the exchange first wrote it
    assert units("0.00000001") == 1
    assert units("104920.01000000") == 10492001000000


def test_crossed_and_empty_books_say_so() -> None:
    empty = OrderBook("BTCUSDT")
    assert (empty.best_bid(), empty.best_ask(), empty.spread(), empty.mid()) == (
        None,
        None,
        None,
        None,
    )
    book = OrderBook.from_snapshot(snapshot(1, levels(("101", "1")), levels(("100", "1"))))
    assert book.crossed


def test_a_copy_does_not_follow_later_updates() -> None:
    book = OrderBook.from_snapshot(BOOK)
    frozen = book.copy()
    book.apply(update(101, 101, bids=levels(("100", "0"))))
    assert frozen.best_bid() == (D("100"), D("3"))
    assert book.best_bid() == (D("99.5"), D("1"))


# Wire strings as exchanges write them: 8 decimals, fewer, or none.
prices = st.integers(min_value=1, max_value=400).map(
    lambda n: str(D(n) / 4) if n % 3 else f"{D(n) / 4:.8f}"
)
quantities = st.one_of(
    st.sampled_from(["0", "0.00000000"]),
    st.integers(min_value=1, max_value=10**6).map(lambda n: f"{D(n) / 1000:.8f}"),
)
side_changes = st.lists(st.tuples(prices, quantities), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(side_changes, side_changes), max_size=40))
def test_the_book_matches_a_plain_dict_model_after_any_updates(
    events: list[tuple[list[WireLevel], list[WireLevel]]],
) -> None:
    book = OrderBook.from_snapshot(BOOK)
    bids = {p: q for p, q in BOOK.bids if q}
    asks = {p: q for p, q in BOOK.asks if q}
    for number, (bid_changes, ask_changes) in enumerate(events, start=101):
        book.apply(update(number, number, tuple(bid_changes), tuple(ask_changes)))
        for model, changes in ((bids, bid_changes), (asks, ask_changes)):
            for price, qty in changes:
                if D(qty):
                    model[D(price)] = D(qty)
                else:
                    model.pop(D(price), None)
        _ends_are_live(book)
    assert book.bids() == sorted(bids.items(), reverse=True)
    assert book.asks() == sorted(asks.items())
    assert book.bids(5) == sorted(bids.items(), reverse=True)[:5]


def _ends_are_live(book: OrderBook) -> None:
    """Once the best levels were read, no dead key is left at either side's best end
    (where reads and walks start); the dead count is the listed keys that are not live."""
    for side in (book._bids, book._asks):
        assert side.dead == len(side.prices) - len(side.qty)
    book.best_bid()
    book.best_ask()
    bids, asks = book._bids, book._asks
    if bids.prices:
        assert bids.prices[-1] in bids.qty
    if asks.prices:
        assert asks.prices[0] in asks.qty
    for side in (bids, asks):
        assert side.dead == len(side.prices) - len(side.qty)
        assert len(side.keys) == len(side.prices) == len(side.listed)


def test_the_recorded_mainnet_diff_stream_applies_without_a_gap() -> None:
    """546 real events: starting from a book at the first event's U - 1 (empty: the
    session has no snapshot), every later event of each symbol applies in order and the
    book equals the levels the events set last."""

    class Line(msgspec.Struct):
        frame: msgspec.Raw

    decoder = msgspec.json.Decoder(Line)
    books: dict[str, OrderBook] = {}
    model: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    applied = 0
    for line in SESSION.read_bytes().splitlines():
        record = decode_frame(decoder.decode(line).frame, all_records=True)
        if not isinstance(record, DepthUpdate):
            continue
        book = books.setdefault(record.symbol, OrderBook(record.symbol, record.first_update_id - 1))
        assert book.apply(record)
        applied += 1
        bids, asks = model.setdefault(record.symbol, ({}, {}))
        for side, changes in ((bids, record.bids), (asks, record.asks)):
            for price, qty in changes:
                side[price] = qty
    assert applied == 546
    for symbol, book in books.items():
        bids, asks = model[symbol]
        assert book.bids() == sorted(((p, q) for p, q in bids.items() if q), reverse=True)
        assert book.asks() == sorted((p, q) for p, q in asks.items() if q)


# -- BookSync: Binance's procedure -----------------------------------------------------------


def build(sync: BookSync, snap: DepthSnapshot) -> Step:
    """What the feed does with a snapshot: take it, then replay the buffered events one
    by one; returns one Step with every record handed downstream, in order."""
    step = sync.on_snapshot(snap)
    records = list(step.records)
    for event in step.replay:
        records.extend(sync.on_update(event).records)
    return Step(records=records, need_snapshot=step.need_snapshot, gap=step.gap)


def test_events_are_buffered_until_a_snapshot_and_one_snapshot_is_asked_for() -> None:
    sync = BookSync("BTCUSDT")
    assert sync.state is SyncState.WAITING
    first = sync.on_update(update(95, 98))
    assert first.need_snapshot
    assert not first.records
    second = sync.on_update(update(99, 101))
    assert not second.need_snapshot  # one request for the whole buffer
    assert sync.state is SyncState.BUFFERING  # type: ignore[comparison-overlap]
    assert sync.book is None
    assert sync.buffered == 2


def test_the_snapshot_drops_old_events_and_starts_from_the_one_that_spans_it() -> None:
    sync = BookSync("BTCUSDT")
    old = update(95, 98, bids=levels(("1", "1")))  # u <= lastUpdateId: dropped
    spanning = update(99, 101, asks=levels(("101", "7")))  # spans 100 + 1
    following = update(102, 104, bids=levels(("100", "0")))
    for event in (old, spanning, following):
        sync.on_update(event)
    step = build(sync, BOOK)
    assert step.records == [BOOK, spanning, following]
    assert not step.need_snapshot
    assert step.gap is None
    assert sync.state is SyncState.SYNCED
    book = sync.book
    assert book is not None
    assert (book.last_update_id, book.best_ask(), book.best_bid()) == (
        104,
        (D("101"), D("7")),
        (D("99.5"), D("1")),
    )
    assert sync.snapshots_applied == 1
    assert sync.buffered == 0


def test_after_a_snapshot_the_buffered_events_are_replayed_one_by_one() -> None:
    sync = BookSync("BTCUSDT")
    spanning = update(99, 101, asks=levels(("101", "7")))
    following = update(102, 104)
    sync.on_update(spanning)
    sync.on_update(following)
    step = sync.on_snapshot(BOOK)
    assert (step.records, step.replay) == ([BOOK], [spanning, following])
    book = sync.book
    assert book is not None
    assert book.last_update_id == 100  # the book as of the snapshot until they are replayed
    assert sync.on_update(spanning).records == [spanning]
    assert book.last_update_id == 101


def test_a_snapshot_older_than_the_buffered_events_is_refused_and_asked_again() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(105, 110))
    step = build(sync, BOOK)  # lastUpdateId 100: event 101..104 never seen
    assert step.need_snapshot
    assert not step.records
    assert sync.state is SyncState.BUFFERING
    newer = build(sync, snapshot(107, levels(("100", "1")), levels(("101", "1"))))
    assert [type(r).__name__ for r in newer.records] == ["DepthSnapshot", "DepthUpdate"]
    assert sync.book is not None
    assert sync.book.last_update_id == 110


def test_a_snapshot_newer_than_every_buffered_event_waits_for_the_next_one() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(90, 95))
    step = build(sync, BOOK)
    assert step.records == [BOOK]
    assert sync.on_update(update(96, 99)).records == []  # older than the snapshot
    assert sync.on_update(update(100, 102)).records  # spans 101
    assert sync.book is not None
    assert sync.book.last_update_id == 102


def test_once_synced_every_event_applies_in_order_and_repeats_are_ignored() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(101, 101))
    build(sync, BOOK)
    nxt = update(102, 103, bids=levels(("100", "5")))
    assert sync.on_update(nxt).records == [nxt]
    assert sync.on_update(nxt).records == []  # the same event again (another connection)
    book = sync.book
    assert book is not None
    assert (book.best_bid(), book.last_update_id) == ((D("100"), D("5")), 103)


def test_a_skipped_id_discards_the_book_and_asks_for_a_new_snapshot() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(101, 101))
    build(sync, BOOK)
    step = sync.on_update(update(103, 105))  # 102 missed
    assert step.gap is not None
    assert "102..102 missed" in step.gap
    assert step.need_snapshot
    assert not step.records
    assert sync.book is None
    assert (sync.state, sync.gaps, sync.buffered) == (SyncState.BUFFERING, 1, 1)
    again = build(sync, snapshot(104, levels(("90", "1"))))
    assert [type(r).__name__ for r in again.records] == ["DepthSnapshot", "DepthUpdate"]
    assert sync.book is not None
    assert sync.book.best_bid() == (D("90"), D("1"))


def test_a_break_inside_the_buffer_keeps_only_what_follows_it() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(90, 95))
    sync.on_update(update(97, 99))  # 96 missed while buffering: 90..95 is useless now
    assert sync.buffered == 1
    assert build(sync, snapshot(94)).need_snapshot  # cannot join 97
    assert build(sync, snapshot(96)).records


def test_a_snapshot_after_a_reset_is_ignored() -> None:
    sync = BookSync("BTCUSDT")
    sync.on_update(update(101, 101))
    sync.reset()
    assert build(sync, BOOK).records == []
    assert sync.state is SyncState.WAITING
    assert sync.on_update(update(150, 151)).need_snapshot


def test_the_buffer_is_bounded_and_keeps_the_newest_events() -> None:
    sync = BookSync("BTCUSDT", max_buffered=3)
    for n in range(1, 11):
        sync.on_update(update(n, n))
    assert sync.buffered == 3
    assert build(sync, snapshot(5)).need_snapshot  # 6, 7 fell out of the buffer
    assert build(sync, snapshot(7)).records[1:] == [update(8, 8), update(9, 9), update(10, 10)]


# -- the quick path (levels written the exchange's way) and the exact path agree -----------

# Mostly the exchange's spelling (8 decimals), near a touch so levels go and come back
# (dead keys, compaction), with other spellings of the same numbers now and then.
e8_prices = st.integers(min_value=9_990, max_value=10_010).map(lambda n: f"{n}.50000000")
e8_quantities = st.one_of(
    st.just("0.00000000"),
    st.integers(min_value=1, max_value=10**9).map(lambda n: f"{D(n) / 10**8:.8f}"),
    st.sampled_from(["0", "00.00000000", "0.0", "7", "7.5", "+1.00000000", "1.10000000"]),
)
e8_changes = st.lists(st.tuples(e8_prices, e8_quantities), max_size=8)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(e8_changes, e8_changes), min_size=1, max_size=120))
def test_the_quick_and_exact_paths_keep_the_same_book(
    events: list[tuple[list[WireLevel], list[WireLevel]]],
) -> None:
    book = OrderBook("BTCUSDT", 0)
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for number, (bid_changes, ask_changes) in enumerate(events, start=1):
        # Asks above the bids, so the book never crosses.
        ask_changes = [(str(D(p) + 100), q) for p, q in ask_changes]
        book.apply(update(number, number, tuple(bid_changes), tuple(ask_changes)))
        for model, changes in ((bids, bid_changes), (asks, ask_changes)):
            for price, qty in changes:
                if D(qty):
                    model[D(price)] = D(qty)
                else:
                    model.pop(D(price), None)
        if number % 17 == 0:
            assert book.bids(3) == sorted(bids.items(), reverse=True)[:3]
        _ends_are_live(book)
    assert book.bids() == sorted(bids.items(), reverse=True)
    assert book.asks() == sorted(asks.items())
    assert (book.bid_depth, book.ask_depth) == (len(bids), len(asks))
    assert book.best_bid() == (max(bids.items()) if bids else None)
    assert book.best_ask() == (min(asks.items()) if asks else None)
    assert not book.crossed
    for bid_price, bid_qty in bids.items():
        assert book.bid_quantity(bid_price) == bid_qty
    assert book.copy().bids() == book.bids()


def test_levels_that_go_and_come_back_are_read_in_order_after_many_turns() -> None:
    """Removed prices stay listed (dead) until they outnumber the live ones; reads skip
    them, and the list is compacted without losing a level."""
    book = OrderBook.from_snapshot(
        snapshot(0, tuple((f"{100 + i}.00000000", "1.00000000") for i in range(10)))
    )
    for number in range(1, 401):
        price = f"{100 + number % 300}.00000000"
        qty = "0.00000000" if number % 2 else f"{number}.00000000"
        book.apply(update(number, number, bids=levels((price, qty))))
    model = {D(f"{100 + i}"): D(1) for i in range(10)}
    for number in range(1, 401):
        at, size = D(100 + number % 300), D(0 if number % 2 else number)
        if size:
            model[at] = size
        else:
            model.pop(at, None)
    assert book.bids() == sorted(model.items(), reverse=True)
    assert book.bids(2) == sorted(model.items(), reverse=True)[:2]
    assert book.bid_depth == len(model)


@pytest.mark.parametrize(
    "qty", ["0.000000001", "-1.00000000", "NaN", "Infinity", "1e-9", "abc", "", "1.0.0",
            "92233720368.54775808", "1e20"],
)  # fmt: skip
def test_a_quantity_the_exchange_cannot_hold_changes_nothing_on_either_path(qty: str) -> None:
    book = OrderBook.from_snapshot(BOOK)
    for price in ("99.80000000", "99.8"):  # the quick path's spelling, and the exact path's
        with pytest.raises(BadLevelError):
            book.apply(update(101, 101, bids=levels(("99.70000000", "1.00000000"), (price, qty))))
        assert book.last_update_id == 100
        assert book.bid_quantity(D("99.7")) == 0


def test_a_level_read_twice_is_built_once_and_rebuilt_when_it_changes() -> None:
    book = OrderBook.from_snapshot(BOOK)
    first = book.best_bid()
    assert book.best_bid() is first
    book.apply(update(101, 101, bids=levels(("100.00000000", "4.00000000"))))
    assert book.best_bid() == (D("100"), D("4.00000000"))
    assert str(book.best_bid()[1]) == "4.00000000"  # type: ignore[index]


@pytest.mark.parametrize("qty", ["1e5", "+1.00000000", "1.5", "100000"])
def test_a_quantity_is_any_exact_number_the_exchange_can_hold_however_spelled(qty: str) -> None:
    """Quantities are not keys: any spelling of a number of at most 8 decimals within the
    exchange's 64 bits is read exactly (prices, which are keys, must be plain decimals)."""
    book = OrderBook.from_snapshot(BOOK)
    book.apply(update(101, 101, bids=levels(("99.80000000", qty))))
    assert book.bid_quantity(D("99.8")) == D(qty)


def test_dead_keys_at_the_best_end_are_unlisted_by_the_next_read_or_walk() -> None:
    """A market that moves removes the best levels again and again: the next read (or
    a taker's walk) unlists the dead keys at the best end, so reads do not step over
    them again; a level removed inside the book stays listed (dead) until compaction."""
    prices = [f"{100 + i}.00000000" for i in range(10)]
    book = OrderBook.from_snapshot(snapshot(0, (), tuple((p, "1.00000000") for p in prices)))
    gone = tuple((p, "0.00000000") for p in prices[:4])  # the four best asks
    inside = ((prices[6], "0.00000000"),)
    book.apply(update(1, 1, asks=levels(*gone, *inside)))
    asks = book._asks
    assert asks.prices == prices  # a change lists nothing and unlists nothing
    assert asks.dead == 5
    assert book.best_ask() == (D(104), D(1))
    assert asks.prices == prices[4:]  # the read trimmed the best end; 106 stays, dead
    assert asks.dead == 1
    book.apply(update(2, 2, asks=levels((prices[0], "2.00000000"))))  # the touch returns
    assert book.best_ask() == (D(100), D(2))
    assert [p for p, _ in book.asks()] == [D(p) for p in (100, 104, 105, 107, 108, 109)]
    book.apply(update(3, 3, asks=levels((prices[0], "0.00000000"), (prices[4], "0.00000000"))))
    walked = [level for _, level in book.taker_levels(buy=True)]
    assert walked[0] == (D(105), D(1))
    assert asks.prices[0] == prices[5]  # the walk trimmed first
    _ends_are_live(book)
