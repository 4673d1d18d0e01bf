"""``OrderBook.taker_levels``: the levels a walk reads one by one (with each price in
1e-8 units) are exactly what ``asks()`` / ``bids()`` read, Decimal for Decimal and
spelling for spelling, whatever the book went through: levels spelled another way,
levels removed (dead keys) and added back, compaction, copies, the cache of levels
already read."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice

from hypothesis import given, settings
from hypothesis import strategies as st

from workspace.market.book import OrderBook
from workspace.market.records import DepthSnapshot, DepthUpdate, WireLevel

SCALE = 10**8

# prices as 1e-8 units on a small grid (so levels collide, go and come back)
price_units = st.integers(min_value=1, max_value=60).map(
    lambda n: 9_700_000_000_000 + n * 1_000_000
)
quantity_units = st.sampled_from([0, 0, 1, 5_000_000, 12_345_678, 100_000_000, 250_000_000_000])


def _spelled(units: int, style: int) -> str:
    """``units`` of 1e-8 as the exchange writes it (style 0) or another way Decimal
    reads as the same number (trailing zeros dropped, or fewer decimals)."""
    text = f"{units // SCALE}.{units % SCALE:08d}"
    if style == 1:
        text = text.rstrip("0")
        return text[:-1] if text.endswith(".") else text
    if style == 2 and units % SCALE == 0:
        return str(units // SCALE)
    return text


level = st.tuples(price_units, quantity_units, st.integers(0, 2))
side_levels = st.lists(level, max_size=12)


def _wire(levels: list[tuple[int, int, int]]) -> tuple[WireLevel, ...]:
    return tuple((_spelled(p, s), _spelled(q, s)) for p, q, s in levels)


def _read(book: OrderBook, buy: bool) -> list[tuple[int, str, str]]:
    levels = book.asks() if buy else book.bids()
    return [(int(p * SCALE), str(p), str(q)) for p, q in levels]


def _walked(book: OrderBook, buy: bool, count: int | None = None) -> list[tuple[int, str, str]]:
    return [(k, str(p), str(q)) for k, (p, q) in islice(book.taker_levels(buy), count)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(price_units, quantity_units.filter(bool), st.integers(0, 2)), max_size=15),
    st.lists(st.tuples(price_units, quantity_units.filter(bool), st.integers(0, 2)), max_size=15),
    st.lists(st.tuples(side_levels, side_levels, st.booleans(), st.booleans()), max_size=25),
)
def test_taker_levels_read_exactly_what_the_book_reads(
    bids: list[tuple[int, int, int]],
    asks: list[tuple[int, int, int]],
    changes: list[tuple[list[tuple[int, int, int]], list[tuple[int, int, int]], bool, bool]],
) -> None:
    book = OrderBook.from_snapshot(
        DepthSnapshot(
            symbol="BTCUSDT", last_update_id=1, bid_levels=_wire(bids), ask_levels=_wire(asks)
        )
    )
    next_id = 2
    for new_bids, new_asks, read_first, copied in changes:
        book.apply(
            DepthUpdate(
                event_type="depthUpdate",
                event_time=next_id,
                symbol="BTCUSDT",
                first_update_id=next_id,
                final_update_id=next_id,
                bid_levels=_wire(new_bids),
                ask_levels=_wire(new_asks),
            )
        )
        next_id += 1
        if copied:
            book = book.copy()
        for buy in (True, False):
            if read_first:
                expected = _read(book, buy)  # fills the book's cache of levels first
                walked = _walked(book, buy)
            else:
                walked = _walked(book, buy)
                expected = _read(book, buy)
            assert walked == expected
            # a walk that stops early read the best levels, in order
            assert _walked(book, buy, 3) == expected[:3]


def test_a_level_already_read_is_not_parsed_again_and_prices_keep_their_spelling() -> None:
    book = OrderBook.from_snapshot(
        DepthSnapshot(
            symbol="BTCUSDT",
            last_update_id=1,
            bid_levels=(("97000.5", "1"), ("96999.00000000", "0.50000000")),
            ask_levels=(("97001.00000000", "2.00000000"), ("97002.1", "0.3")),
        )
    )
    cached = book.asks(1)[0]
    walked = list(book.taker_levels(True))
    # the same Decimals (the compiled reader boxes the pair anew, not its numbers)
    assert walked[0][1][0] is cached[0]
    assert walked[0][1][1] is cached[1]
    assert [(k, str(p), str(q)) for k, (p, q) in walked] == [
        (9_700_100_000_000, "97001.00000000", "2.00000000"),
        (9_700_210_000_000, "97002.1", "0.3"),
    ]
    assert [(k, str(p)) for k, (p, _) in book.taker_levels(False)] == [
        (9_700_050_000_000, "97000.5"),
        (9_699_900_000_000, "96999.00000000"),
    ]
    assert list(OrderBook("BTCUSDT").taker_levels(True)) == []
    assert Decimal(9_700_050_000_000) / SCALE == book.bids(1)[0][0]


def test_taker_levels_skip_removed_levels_before_and_after_compaction() -> None:
    asks = tuple((_spelled(9_700_000_000_000 + i * 1_000_000, 0), "1.00000000") for i in range(200))
    book = OrderBook.from_snapshot(
        DepthSnapshot(symbol="BTCUSDT", last_update_id=1, bid_levels=(), ask_levels=asks)
    )
    for i, removed in enumerate((range(0, 60, 2), range(60, 195))):
        book.apply(
            DepthUpdate(
                event_type="depthUpdate",
                event_time=i + 2,
                symbol="BTCUSDT",
                first_update_id=i + 2,
                final_update_id=i + 2,
                bid_levels=(),
                ask_levels=tuple((asks[j][0], "0.00000000") for j in removed),
            )
        )
        assert _walked(book, True) == _read(book, True)
        assert _walked(book, False) == _read(book, False) == []
        if i == 0:
            # removed levels inside the book stay listed, skipped when read; the one at
            # the best end (the first) was unlisted by the reads above
            assert book._asks.dead == 29
    assert book._asks.dead == 0  # the second removal compacted the side
    assert len(_read(book, True)) == 200 - 30 - 135
